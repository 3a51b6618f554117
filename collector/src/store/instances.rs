//! The last fallback of the cold-start evidence: the first invocation a store receives of an
//! instance (an execution environment, `instance_id`) is its cold start.
//!
//! A source that says nothing of cold starts (a span without `faas.coldstart`, a Powertools line
//! without `cold_start`) gives a fragment with `cold_start_inferred` set. Before such rows are
//! written, [`InstancesSeen::infer_cold_starts`] sets their `cold_start`: true for the rows of the
//! first request id the store received of their function's instance, false for the others. Any
//! source's evidence for the same request id beats the inference when fragments merge (a `REPORT`
//! without `Init Duration` is a warm start, whatever the span's instance had been).
//!
//! A row whose evidence says cold start counts as its instance's first request too, so that an
//! instrumentation that sets `faas.coldstart` only when it is true gives one cold start per
//! instance, not two. Rows whose evidence says warm are not remembered: they are nearly every
//! row, and an instance's rows are either all told or all inferred.
//!
//! "First received" is in the order rows reach the store: a request's rows in the order they came
//! (an import's, by function and time), requests in the order they are written. The store
//! remembers the last [`INSTANCES_PER_GENERATION`] to twice as many instances, by a 64-bit hash
//! of their function and instance and of the request id: an instance silent while that many
//! others came is taken as new when it comes back.
//!
//! A store that opens remembers the instances of its newest [`HOURS_REMEMBERED`] hours of
//! invocation files ([`InstancesSeen::remember_stored`]; row groups without an inferred row or a
//! cold start are skipped by their statistics), so that restarting the collector does not take
//! every running instance for a new one. Rows still only in the WAL at open are replayed into
//! those files first. An instance silent for longer than that is taken as new.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use foldhash::fast::FixedState;
use foldhash::{HashMap, HashMapExt};
use futures::TryStreamExt;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

use super::StoreError;
use super::layout::list_table;
use super::writer::Objects;
use crate::model::Table;

/// How many instances a generation remembers before the older generation is forgotten.
pub const INSTANCES_PER_GENERATION: usize = 65_536;

/// A store that opens remembers the instances of its newest this many hours of invocation files.
pub const HOURS_REMEMBERED: i64 = 2;

/// The columns [`InstancesSeen::remember_stored`] reads (a file of schema version 2 has all but
/// the last).
const INSTANCE_COLUMNS: [&str; 5] = [
    "function_name",
    "instance_id",
    "request_id",
    "cold_start",
    "cold_start_inferred",
];

/// The instances a store received inferred rows or cold starts of, each with the request id it
/// came with first.
#[derive(Debug, Default)]
pub struct InstancesSeen {
    generations: Mutex<Generations>,
}

/// Two generations of hashed instances, the current one filling and the one before it, which is
/// forgotten when the current one is full: an instance seen again is moved into the current one.
#[derive(Debug, Default)]
struct Generations {
    current: HashMap<u64, u64>,
    previous: HashMap<u64, u64>,
}

impl Generations {
    /// Whether `request` is the first request received of `instance`, remembering it as the
    /// first when the instance is new.
    fn is_first(&mut self, instance: u64, request: u64) -> bool {
        if let Some(&first) = self.current.get(&instance) {
            return first == request;
        }
        let first = self.previous.remove(&instance).unwrap_or(request);
        if self.current.len() >= INSTANCES_PER_GENERATION {
            self.previous = std::mem::replace(
                &mut self.current,
                HashMap::with_capacity(INSTANCES_PER_GENERATION),
            );
        }
        self.current.insert(instance, first);
        first == request
    }
}

impl InstancesSeen {
    pub fn new() -> Arc<InstancesSeen> {
        Arc::default()
    }

    /// Remembers the instances of the rows stored in the newest [`HOURS_REMEMBERED`] hours of
    /// invocation files that are inferred or cold starts, each with the first of its request ids
    /// read (files in the order of their hours, rows in their files' order); how many rows.
    pub async fn remember_stored(&self, objects: &Objects) -> Result<usize, StoreError> {
        let mut files = list_table(objects.store.as_ref(), Table::Invocations)
            .await?
            .live;
        let Some(newest) = files.iter().map(|f| f.partition.hour).max() else {
            return Ok(0);
        };
        files.retain(|f| f.partition.hour > newest - HOURS_REMEMBERED);
        files.sort_by_key(|f| (f.partition.hour, f.range.lo));
        let mut rows = 0;
        for file in files {
            let mut batches = objects
                .read_rows_where(
                    &file.meta,
                    &INSTANCE_COLUMNS,
                    may_hold_rows_to_remember,
                    &FLAG_COLUMNS,
                    any_flag_set,
                )
                .await?;
            while let Some(batch) = batches.try_next().await? {
                rows += self.remember(&batch);
            }
        }
        Ok(rows)
    }

    /// Remembers the instances of `batch`'s inferred rows and cold starts, in its order; how
    /// many rows.
    fn remember(&self, batch: &RecordBatch) -> usize {
        let Some(columns) = InstanceColumns::of(batch) else {
            return 0;
        };
        let any_inferred = columns.inferred.is_some_and(|i| i.true_count() > 0);
        if !any_inferred && columns.cold.true_count() == 0 {
            return 0;
        }
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows = 0;
        let mut remember_row = |i: usize| {
            if let Some((instance, request, _)) = columns.row_to_remember(i) {
                generations.is_first(instance, request);
                rows += 1;
            }
        };
        if any_inferred {
            (0..batch.num_rows()).for_each(&mut remember_row);
        } else {
            // Only cold starts to remember (the usual batch): visited by their bits.
            columns
                .cold
                .values()
                .set_indices()
                .for_each(&mut remember_row);
        }
        rows
    }

    /// `batch`, of the invocations table, with the `cold_start` of its inferred rows set from the
    /// instances received so far (and this batch's, in its order), its cold starts told
    /// remembered; `None` when no row changed. A row without an instance stays as it is: an
    /// inferred one warm, since nothing tells.
    pub fn infer_cold_starts(&self, batch: &RecordBatch) -> Option<RecordBatch> {
        let columns = InstanceColumns::of(batch)?;
        let inferred = columns.inferred?;
        if inferred.true_count() == 0 {
            // Nothing to infer: only cold starts told to remember.
            self.remember(batch);
            return None;
        }
        let mut values: Vec<bool> = (0..batch.num_rows())
            .map(|i| columns.cold.value(i))
            .collect();
        let mut changed = false;
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        for (i, value) in values.iter_mut().enumerate() {
            match columns.row_to_remember(i) {
                Some((instance, request, true)) => {
                    let first = generations.is_first(instance, request);
                    changed |= first != *value;
                    *value = first;
                }
                // A cold start told: its request is the instance's first.
                Some((instance, request, false)) => {
                    generations.is_first(instance, request);
                }
                None => {}
            }
        }
        drop(generations);
        if !changed {
            return None;
        }
        let (index, _) = batch.schema().column_with_name("cold_start")?;
        let mut columns = batch.columns().to_vec();
        columns[index] = Arc::new(BooleanArray::from(values)) as ArrayRef;
        Some(
            RecordBatch::try_new(batch.schema(), columns).expect("one column replaced by its kind"),
        )
    }
}

/// The columns of invocation rows that say whose instance a row is and whether it is remembered.
struct InstanceColumns<'a> {
    functions: &'a StringArray,
    instances: &'a StringArray,
    requests: &'a StringArray,
    cold: &'a BooleanArray,
    /// `None` in a file of schema version 2: every cold start in it was told.
    inferred: Option<&'a BooleanArray>,
    hasher: FixedState,
}

impl<'a> InstanceColumns<'a> {
    /// The columns of `batch` (the whole table, or [`INSTANCE_COLUMNS`]); `None` when it lacks
    /// one.
    fn of(batch: &'a RecordBatch) -> Option<InstanceColumns<'a>> {
        let text = |name: &str| batch.column_by_name(name)?.as_string_opt::<i32>();
        let flag = |name: &str| batch.column_by_name(name)?.as_boolean_opt();
        Some(InstanceColumns {
            functions: text("function_name")?,
            instances: text("instance_id")?,
            requests: text("request_id")?,
            cold: flag("cold_start")?,
            inferred: flag("cold_start_inferred"),
            hasher: FixedState::default(),
        })
    }

    /// The hashes of row `i`'s instance (with its function) and request id, and whether its
    /// cold start is inferred, when it names an instance and is inferred or a cold start told.
    fn row_to_remember(&self, i: usize) -> Option<(u64, u64, bool)> {
        let inferred = self
            .inferred
            .is_some_and(|inferred| inferred.is_valid(i) && inferred.value(i));
        if !self.instances.is_valid(i) || !(inferred || self.cold.value(i)) {
            return None;
        }
        Some((
            self.hasher
                .hash_one((self.functions.value(i), self.instances.value(i))),
            self.hasher.hash_one(self.requests.value(i)),
            inferred,
        ))
    }
}

/// The columns whose flags make a stored row one to remember (a file of schema version 2 has the
/// first).
const FLAG_COLUMNS: [&str; 2] = ["cold_start", "cold_start_inferred"];

/// Which rows of a batch of [`FLAG_COLUMNS`] have a flag set: cold starts and inferred rows.
fn any_flag_set(flags: RecordBatch) -> Result<BooleanArray, ArrowError> {
    let mut any = BooleanArray::from(vec![false; flags.num_rows()]);
    for column in flags.columns() {
        let flag = column.as_boolean_opt().ok_or_else(|| {
            ArrowError::SchemaError("a cold-start flag that is not a boolean".into())
        })?;
        // A null flag is not set.
        let flag = match flag.null_count() {
            0 => flag.clone(),
            _ => arrow::compute::prep_null_mask_filter(flag),
        };
        any = arrow::compute::or(&any, &flag)?;
    }
    Ok(any)
}

/// Whether a row group may hold a row to remember: not when its statistics say every
/// `cold_start` is false and every `cold_start_inferred` is false (or missing, in a file of
/// schema version 2).
fn may_hold_rows_to_remember(row_group: &RowGroupMetaData) -> bool {
    let may_be_true = |name: &str| {
        let Some(column) = row_group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
        else {
            return false;
        };
        match column.statistics() {
            Some(Statistics::Boolean(values)) => values.max_opt().is_none_or(|max| *max),
            _ => true,
        }
    };
    may_be_true("cold_start") || may_be_true("cold_start_inferred")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invocation::{Invocation, Source, Sources, from_batch, to_batch};

    fn fragment(request: &str, instance: Option<&str>, inferred: bool) -> Invocation {
        Invocation {
            function_name: "resize".into(),
            request_id: request.into(),
            instance_id: instance.map(str::to_string),
            cold_start_inferred: inferred,
            sources: Sources::of(Source::OtlpSpan),
            ..Default::default()
        }
    }

    fn cold_starts(seen: &InstancesSeen, rows: &[Invocation]) -> Vec<bool> {
        let batch = to_batch(rows);
        let batch = seen.infer_cold_starts(&batch).unwrap_or(batch);
        from_batch(&batch)
            .unwrap()
            .iter()
            .map(|row| row.cold_start)
            .collect()
    }

    #[test]
    fn the_first_request_received_of_an_instance_is_its_cold_start() {
        let seen = InstancesSeen::new();
        let rows = [
            fragment("a1", Some("env-a"), true),
            fragment("a1", Some("env-a"), true),
            fragment("a2", Some("env-a"), true),
            fragment("b1", Some("env-b"), true),
            fragment("n1", None, true),
        ];
        assert_eq!(
            cold_starts(&seen, &rows),
            [true, true, false, true, false],
            "both rows of the first request, not the second; no instance, no inference"
        );
        // Later writes: the first request again (a retry, a late log line) is still the one.
        let later = [
            fragment("a3", Some("env-a"), true),
            fragment("a1", Some("env-a"), true),
        ];
        assert_eq!(cold_starts(&seen, &later), [false, true]);
        // The same instance name in another function is another instance.
        let other = Invocation {
            function_name: "thumbnail".into(),
            ..fragment("t1", Some("env-a"), true)
        };
        assert_eq!(cold_starts(&seen, &[other]), [true]);
    }

    #[test]
    fn rows_with_evidence_are_left_as_they_are() {
        let seen = InstancesSeen::new();
        let warm = fragment("a1", Some("env-a"), false);
        let batch = to_batch(std::slice::from_ref(&warm));
        assert!(seen.infer_cold_starts(&batch).is_none());
        // A warm start told is not remembered: an inferred row of the instance is its first.
        assert_eq!(
            cold_starts(&seen, &[warm, fragment("a2", Some("env-a"), true)]),
            [false, true]
        );
    }

    /// An instrumentation that sets `faas.coldstart` only when it is true: the instance's cold
    /// start is told, and its later spans, inferred, are warm.
    #[test]
    fn a_cold_start_told_is_its_instances_first_request() {
        let seen = InstancesSeen::new();
        let told = Invocation {
            cold_start: true,
            ..fragment("b1", Some("env-b"), false)
        };
        assert_eq!(cold_starts(&seen, &[told]), [true]);
        assert_eq!(
            cold_starts(&seen, &[fragment("b2", Some("env-b"), true)]),
            [false]
        );
    }

    #[test]
    fn inferring_twice_gives_the_same_rows() {
        let seen = InstancesSeen::new();
        let batch = to_batch(&[
            fragment("a1", Some("env-a"), true),
            fragment("a2", Some("env-a"), true),
        ]);
        let once = seen.infer_cold_starts(&batch).unwrap();
        assert!(seen.infer_cold_starts(&once).is_none(), "nothing changes");
    }

    /// Restarting the collector does not make every running instance new: a store that opens
    /// remembers the instances of its newest hours' inferred rows (and forgets older ones).
    #[tokio::test]
    async fn a_reopened_store_remembers_the_instances_of_its_newest_inferred_rows() {
        use crate::model::{NANOS_PER_HOUR, Records};
        use crate::store::writer::decode_parquet_batches;
        use crate::store::{Store, StoreConfig, local_objects};

        const HOUR: i64 = 490_000;
        let dir = tempfile::tempdir().unwrap();
        let at = |hour: i64, request: &str, instance: &str| Invocation {
            start_time: hour * NANOS_PER_HOUR,
            ..fragment(request, Some(instance), true)
        };
        let write = |rows: Vec<Invocation>| async {
            let store = Store::open(StoreConfig::new(dir.path())).await.unwrap();
            let records = Records {
                invocations: rows,
                ..Default::default()
            };
            store.handle().write(&records).await.unwrap();
            store.close().await.unwrap();
        };
        write(vec![
            at(HOUR - 5, "old-1", "env-old"),
            at(HOUR - 1, "a-1", "env-a"),
            at(HOUR, "b-1", "env-b"),
            // Evidence of a warm start: not remembered.
            Invocation {
                cold_start_inferred: false,
                ..at(HOUR, "d-1", "env-d")
            },
            // Evidence of a cold start: remembered.
            Invocation {
                cold_start: true,
                cold_start_inferred: false,
                ..at(HOUR, "e-1", "env-e")
            },
        ])
        .await;
        write(vec![
            at(HOUR, "a-2", "env-a"),
            at(HOUR, "b-2", "env-b"),
            at(HOUR, "old-2", "env-old"),
            at(HOUR, "c-1", "env-c"),
            at(HOUR, "d-2", "env-d"),
            at(HOUR, "e-2", "env-e"),
        ])
        .await;

        let objects = local_objects(dir.path()).unwrap();
        let mut cold: Vec<(String, bool)> = Vec::new();
        for file in list_table(objects.store.as_ref(), Table::Invocations)
            .await
            .unwrap()
            .live
        {
            let bytes = objects.get(&file.meta.location).await.unwrap();
            for batch in decode_parquet_batches(Table::Invocations, bytes).unwrap() {
                let rows = from_batch(&batch).unwrap();
                cold.extend(rows.into_iter().map(|r| (r.request_id, r.cold_start)));
            }
        }
        cold.sort();
        let expected = [
            ("a-1", true),
            ("a-2", false),
            ("b-1", true),
            ("b-2", false),
            ("c-1", true),
            ("d-1", false),
            ("d-2", true),
            ("e-1", true),
            ("e-2", false),
            ("old-1", true),
            // Its instance's rows are older than the hours remembered: taken as new.
            ("old-2", true),
        ]
        .map(|(id, cold)| (id.to_string(), cold));
        assert_eq!(cold, expected);
    }

    /// A file of schema version 2 (no `cold_start_inferred`) still tells its cold starts' instances.
    #[tokio::test]
    async fn the_cold_starts_of_a_file_of_schema_version_2_are_remembered() {
        use crate::model::NANOS_PER_HOUR;
        use crate::store::layout::{Partition, SegmentRange};
        use crate::store::local_objects;

        let dir = tempfile::tempdir().unwrap();
        let objects = local_objects(dir.path()).unwrap();
        let rows: Vec<Invocation> = (0..100)
            .map(|i| Invocation {
                start_time: 490_000 * NANOS_PER_HOUR + i,
                cold_start: i == 70,
                ..fragment(&format!("r-{i}"), Some(&format!("env-{i}")), false)
            })
            .collect();
        let partition = Partition {
            table: Table::Invocations,
            hour: 490_000,
        };
        objects
            .put_durably(
                &partition.file(SegmentRange::single(1)),
                crate::model::invocation::version_2_file(&rows),
            )
            .await
            .unwrap();

        let seen = InstancesSeen::new();
        assert_eq!(
            seen.remember_stored(&objects).await.unwrap(),
            1,
            "the one cold start"
        );
        let later = [
            fragment("r-100", Some("env-70"), true),
            fragment("r-101", Some("env-71"), true),
        ];
        assert_eq!(cold_starts(&seen, &later), [false, true]);
    }

    #[test]
    fn an_instance_is_remembered_for_a_generation_after_the_one_it_was_last_seen_in() {
        let mut generations = Generations::default();
        assert!(generations.is_first(0, 100));
        // A full generation of other instances: instance 0 moves to the previous one.
        for instance in 1..=INSTANCES_PER_GENERATION as u64 {
            assert!(generations.is_first(instance, 1));
        }
        assert!(
            !generations.is_first(0, 101),
            "remembered from the previous generation"
        );
        assert!(generations.is_first(0, 100));
        // Two full generations without it: forgotten, taken as new.
        for instance in 1..=2 * INSTANCES_PER_GENERATION as u64 {
            generations.is_first(1_000_000 + instance, 1);
        }
        assert!(generations.is_first(0, 102));
    }
}
