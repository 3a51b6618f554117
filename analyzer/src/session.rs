//! The DataFusion session and the tables registered in it.
//!
//! Each table is a `ListingTable` over exactly the live Parquet files of the store (superseded
//! files left by an interrupted compaction and temporary files are never read), with the fixed
//! schema from `faasobs_collector::model`, never inferred. Files are sorted by `function_name` and
//! time and carry page statistics, so filters on those columns prune row groups and pages.
//!
//! Rows acknowledged by a running collector but still only in its write-ahead log are read from
//! the WAL segments and added to each table, so nothing acknowledged is invisible to a query.
//!
//! `invocations` is a view over `invocation_fragments` (the stored rows) that merges the rows of
//! one request id, so a query never sees an invocation twice, whether or not compaction has
//! merged its fragments yet (`views/invocations.sql`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cost::Catalog;
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::Column;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, Expr, SessionConfig, SessionContext, cast};
use faasobs_collector::model::Table;
use faasobs_collector::store::layout::{Listing, list_table};
use faasobs_collector::store::{StoreError, WAL_DIR, local_objects};
use faasobs_collector::wal::{list_segments, read_segment};

/// The table of invocation rows as stored, fragments not yet merged by compaction included.
pub const FRAGMENTS_TABLE: &str = "invocation_fragments";

/// The SQL of the `invocations` view, which merges fragments by request id.
pub const INVOCATIONS_VIEW: &str = include_str!("views/invocations.sql");

/// Errors of the analyzer.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("queries are read-only: {0}")]
    NotReadOnly(String),
    #[error("{0}")]
    InvalidReport(String),
    #[error(transparent)]
    Pricing(#[from] crate::cost::CatalogError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Tuning of the session.
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    /// Threads that execute a query.
    pub target_partitions: usize,
    /// Memory a query may use before it fails cleanly.
    pub memory_limit_bytes: usize,
    /// When set, only the hourly partitions near this window are registered (partition pruning
    /// by time); queries must still filter on time themselves.
    pub window: Option<TimeWindow>,
    /// The prices the cost functions and views use.
    pub catalog: Arc<Catalog>,
}

/// A time window, ns since the epoch; either end may be open.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeWindow {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeWindow {
    /// Fragments of one invocation may sit in neighbouring hours (their sources disagree a little
    /// on its start), so partitions within this margin of the window are kept.
    const MARGIN_NS: i64 = 3_600_000_000_000;

    fn keeps(&self, partition: &faasobs_collector::store::Partition) -> bool {
        let start = partition.hour.saturating_mul(3_600_000_000_000);
        self.since
            .is_none_or(|since| partition.end_ns() > since.saturating_sub(Self::MARGIN_NS))
            && self
                .until
                .is_none_or(|until| start < until.saturating_add(Self::MARGIN_NS))
    }
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_limit_bytes: 2 * 1024 * 1024 * 1024,
            window: None,
            catalog: Arc::new(Catalog::builtin()),
        }
    }
}

/// A DataFusion session over one data directory.
pub struct Analyzer {
    ctx: SessionContext,
    data_dir: PathBuf,
    catalog: Arc<Catalog>,
}

impl Analyzer {
    /// Opens the data directory (creating it when missing, so a fresh machine gets empty tables).
    pub async fn open(data_dir: &Path, config: AnalyzerConfig) -> Result<Analyzer, AnalyzerError> {
        let objects = local_objects(data_dir)?;
        let root = objects.local_root.clone().expect("local data directory");
        let mut session = SessionConfig::new()
            .with_target_partitions(config.target_partitions.max(1))
            .with_information_schema(true)
            .with_parquet_pruning(true)
            .with_collect_statistics(true);
        let options = session.options_mut();
        options.execution.parquet.pushdown_filters = true;
        options.execution.parquet.reorder_filters = true;
        options.execution.parquet.enable_page_index = true;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(config.memory_limit_bytes, 1.0)
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(session, runtime);
        ctx.register_udaf(crate::concurrency::peak_concurrency_udaf());
        ctx.register_udaf(crate::concurrency::peak_concurrency_time_udaf());
        let mut listings = Vec::new();
        for table in Table::ALL {
            listings.push((table, list_table(objects.store.as_ref(), table).await?));
        }
        let mut unflushed = unflushed_wal_rows(&root, &listings);
        for (table, mut listing) in listings {
            if let Some(window) = config.window {
                listing.live.retain(|f| window.keeps(&f.partition));
            }
            let schema = table.schema();
            // Invocation rows on disk may still be fragments; `invocations` is the merging view.
            let name = match table {
                Table::Invocations => FRAGMENTS_TABLE,
                other => other.name(),
            };
            let wal_rows = unflushed.remove(&table).unwrap_or_default();
            let stored: Arc<dyn TableProvider> = if listing.live.is_empty() {
                Arc::new(MemTable::try_new(schema.clone(), vec![wal_rows])?)
            } else {
                let urls = listing
                    .live
                    .iter()
                    .map(|f| {
                        let path = f
                            .meta
                            .location
                            .parts()
                            .fold(root.clone(), |acc, p| acc.join(p.as_ref()));
                        ListingTableUrl::parse(format!("file://{}", path.display()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let format = ParquetFormat::default().with_enable_pruning(true);
                let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
                let config = ListingTableConfig::new_with_multi_paths(urls)
                    .with_listing_options(options)
                    .with_schema(schema.clone());
                let parquet: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
                if wal_rows.is_empty() {
                    parquet
                } else {
                    // Acknowledged rows not yet in Parquet: the files plus the WAL's rows.
                    ctx.read_table(parquet)?
                        .union(ctx.read_batches(wal_rows)?)?
                        .into_view()
                }
            };
            ctx.register_table(name, stored)?;
        }
        let view = with_stored_types(
            ctx.sql(INVOCATIONS_VIEW).await?,
            &Table::Invocations.schema(),
        )?
        .into_view();
        ctx.register_table(Table::Invocations.name(), view)?;
        crate::cost::sql::register(&ctx, config.catalog.clone()).await?;
        Ok(Analyzer {
            ctx,
            data_dir: root,
            catalog: config.catalog,
        })
    }

    /// The session, for running queries.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The pricing catalog of this session.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The data directory, canonicalized.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// `frame` with each column cast to the type of the same-named field of `stored`, where they
/// differ: the `invocations` view aggregates ids as variable-length binary (see its SQL) but
/// shows the stored schema.
fn with_stored_types(frame: DataFrame, stored: &Schema) -> Result<DataFrame, DataFusionError> {
    let columns = frame
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = Expr::Column(Column::new_unqualified(field.name()));
            match stored.field_with_name(field.name()) {
                Ok(want) if want.data_type() != field.data_type() => {
                    cast(column, want.data_type().clone()).alias(field.name())
                }
                _ => column,
            }
        })
        .collect::<Vec<_>>();
    frame.select(columns)
}

/// The rows of WAL segments that no Parquet file holds yet (acknowledged, not yet flushed), by
/// table. A segment is flushed when some live file's segment range covers its id; the flusher
/// writes those files before it deletes the segment, so no row is read twice. A segment being
/// appended to is read up to its last whole record.
fn unflushed_wal_rows(
    root: &Path,
    listings: &[(Table, Listing)],
) -> HashMap<Table, Vec<RecordBatch>> {
    let flushed: Vec<_> = listings
        .iter()
        .flat_map(|(_, l)| l.live.iter().map(|f| f.range))
        .collect();
    let mut rows: HashMap<Table, Vec<RecordBatch>> = HashMap::new();
    let segments = match list_segments(&root.join(WAL_DIR)) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("could not list the WAL, querying Parquet only: {e}");
            return rows;
        }
    };
    for (id, path) in segments {
        if flushed.iter().any(|r| r.lo <= id && id <= r.hi) {
            continue;
        }
        match read_segment(&path) {
            Ok(contents) => {
                for (table, batch) in contents.records {
                    rows.entry(table).or_default().push(batch);
                }
            }
            // Flushed and deleted since the listing: its rows are in a file this session
            // did not list; the next query sees them.
            Err(e) => tracing::debug!("WAL segment {id} not read: {e}"),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasobs_collector::store::Partition;

    #[test]
    fn a_window_keeps_its_hours_and_one_hour_either_side() {
        const HOUR: i64 = 3_600_000_000_000;
        let hour = |h: i64| Partition {
            table: Table::Invocations,
            hour: h,
        };
        let window = TimeWindow {
            since: Some(10 * HOUR + 5),
            until: Some(12 * HOUR),
        };
        let kept: Vec<i64> = (0..20).filter(|h| window.keeps(&hour(*h))).collect();
        assert_eq!(kept, vec![9, 10, 11, 12]);
        assert!((0..20).all(|h| TimeWindow::default().keeps(&hour(h))));
    }
}
