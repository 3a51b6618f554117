//! Which hour-merged invocation files `invocation_costs` may price from their reported billed
//! durations alone, read from the files' footers.
//!
//! A row with a reported billed duration is priced from it, its memory sizes and its status
//! ([`super::billing::Pricer::selected_total_usd_reported`]). When a file's row group statistics
//! prove that every row has a billed duration, a start time and one provider, and no billing rule
//! of that provider bills the memory used, the cost view reads those files in a branch of their
//! own: without a filter on the billed duration and without the memory used. And when the
//! catalog's prices are the same throughout those files' start times, that branch prices every
//! row at one instant rather than reading the start times. Over 10M invocations the three took
//! the cost query from 0.34 to 0.25 s (benchmarks-history.md, twentieth session).

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::statistics::Statistics;

use super::Catalog;

/// What a file's footer proves of all its rows, for pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedFile {
    /// The provider every row names.
    pub provider: String,
    /// The earliest and latest start time of its rows, ns since the epoch.
    pub start_ns: (i64, i64),
}

impl ReportedFile {
    /// `Some` when the statistics of every row group of `metadata` (an invocations file) prove
    /// that every row has a billed duration, a start time and the same provider; `None` when a
    /// row may not, or the statistics do not say.
    pub fn from_footer(metadata: &ParquetMetaData) -> Option<ReportedFile> {
        let schema = metadata.file_metadata().schema_descr();
        let column = |name: &str| schema.columns().iter().position(|c| c.name() == name);
        let (billed, start, provider) = (
            column("billed_duration_ms")?,
            column("start_time")?,
            column("provider")?,
        );
        let mut file: Option<ReportedFile> = None;
        for row_group in metadata.row_groups() {
            let statistics = |i: usize| {
                row_group
                    .column(i)
                    .statistics()
                    .filter(|s| s.null_count_opt() == Some(0))
            };
            statistics(billed)?;
            let (first, last) = match statistics(start)? {
                Statistics::Int64(s) if s.min_is_exact() && s.max_is_exact() => {
                    (*s.min_opt()?, *s.max_opt()?)
                }
                _ => return None,
            };
            let names = statistics(provider)?;
            let name = names.min_bytes_opt()?;
            if !names.min_is_exact() || !names.max_is_exact() || names.max_bytes_opt()? != name {
                return None;
            }
            let name = std::str::from_utf8(name).ok()?;
            match &mut file {
                None => {
                    file = Some(ReportedFile {
                        provider: name.to_string(),
                        start_ns: (first, last),
                    })
                }
                Some(file) if file.provider == name => {
                    file.start_ns = (file.start_ns.0.min(first), file.start_ns.1.max(last));
                }
                Some(_) => return None,
            }
        }
        file
    }
}

/// The hour-merged files the cost view prices from reported billed durations alone, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportedRows {
    /// The files.
    pub files: Vec<ListingTableUrl>,
    /// The instant at which every row of them is priced, when the catalog's prices are the same
    /// throughout their start times (`None`: each row at its own start time).
    pub priced_at_ns: Option<i64>,
}

impl ReportedRows {
    /// Picks from `files` (each with what its footer proved) those whose rows `catalog` prices
    /// from their reported billed durations alone: a provider none of whose billing rules bills
    /// the memory used. The others are returned as they came.
    pub fn pick(
        catalog: &Catalog,
        files: impl IntoIterator<Item = (ListingTableUrl, Option<ReportedFile>)>,
    ) -> (ReportedRows, Vec<ListingTableUrl>) {
        let mut reported = ReportedRows::default();
        let mut others = Vec::new();
        let mut start_ns: Option<(i64, i64)> = None;
        for (url, file) in files {
            match file.filter(|f| !catalog.may_bill_observed_memory(&f.provider)) {
                Some(file) => {
                    let (first, last) = file.start_ns;
                    start_ns =
                        Some(start_ns.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
                    reported.files.push(url);
                }
                None => others.push(url),
            }
        }
        reported.priced_at_ns = start_ns
            .filter(|(first, last)| catalog.same_prices_between(*first, *last))
            .map(|(first, _)| first);
        (reported, others)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use faasobs_collector::model::Table;
    use faasobs_collector::model::invocation::{Invocation, to_batch};
    use faasobs_collector::store::writer::encode_sorted;

    const NOON: i64 = 1_780_000_000_000_000_000; // 2026-05-28
    const DAY: i64 = 86_400_000_000_000;

    fn row(i: usize, provider: Option<&str>, billed: Option<i64>) -> Invocation {
        Invocation {
            function_name: format!("fn-{}", i % 3),
            request_id: format!("req-{i}"),
            provider: provider.map(str::to_string),
            start_time: NOON + i as i64 * 1_000_000,
            billed_duration_ms: billed,
            memory_size_mb: Some(512),
            ..Default::default()
        }
    }

    fn footer(rows: &[Invocation]) -> Option<ReportedFile> {
        let bytes = encode_sorted(Table::Invocations, &[to_batch(rows)]).unwrap();
        let reader = SerializedFileReader::new(bytes).unwrap();
        ReportedFile::from_footer(reader.metadata())
    }

    #[test]
    fn a_footer_proves_every_row_reported_only_when_no_row_lacks_a_billed_duration_or_a_provider() {
        let rows: Vec<_> = (0..100).map(|i| row(i, Some("aws"), Some(20))).collect();
        assert_eq!(
            footer(&rows),
            Some(ReportedFile {
                provider: "aws".into(),
                start_ns: (NOON, NOON + 99_000_000),
            })
        );
        let mut unreported = rows.clone();
        unreported[40].billed_duration_ms = None;
        assert_eq!(footer(&unreported), None);
        let mut no_provider = rows.clone();
        no_provider[99].provider = None;
        assert_eq!(footer(&no_provider), None);
        let mut two_providers = rows;
        two_providers[0].provider = Some("azure".into());
        assert_eq!(footer(&two_providers), None);
    }

    #[test]
    fn files_of_a_provider_billing_the_memory_used_are_not_picked_and_one_instant_prices_a_span_of_the_same_prices()
     {
        let catalog = Catalog::builtin();
        let file = |provider: &str, start: i64| {
            Some(ReportedFile {
                provider: provider.into(),
                start_ns: (start, start + 1000),
            })
        };
        let url = |name: &str| ListingTableUrl::parse(format!("file:///{name}.parquet")).unwrap();
        let (reported, others) = ReportedRows::pick(
            &catalog,
            [
                (url("a"), file("aws", NOON)),
                (url("b"), file("azure", NOON)),
                (url("c"), None),
                (url("d"), file("gcp", NOON + 2 * DAY)),
            ],
        );
        assert_eq!(reported.files, [url("a"), url("d")]);
        assert_eq!(reported.priced_at_ns, Some(NOON));
        assert_eq!(others, [url("b"), url("c")]);

        // 2025-07-31 and 2025-08-01 (a new AWS billing rule): each row at its own time.
        let change = 1_754_006_400_000_000_000;
        let (reported, _) = ReportedRows::pick(
            &catalog,
            [
                (url("a"), file("aws", change - DAY)),
                (url("b"), file("aws", change)),
            ],
        );
        assert_eq!(reported.files.len(), 2);
        assert_eq!(reported.priced_at_ns, None);
    }
}
