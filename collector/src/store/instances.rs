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
//! "First received" is in the order rows reach the store: a request's rows in the order they came
//! (an import's, by function and time), requests in the order they are written. The store
//! remembers the instances of the last [`INSTANCES_PER_GENERATION`] to twice as many instances
//! that sent inferred rows, by a 64-bit hash of their function and instance and of the request
//! id: an instance silent while that many others came is taken as new when it comes back, and
//! so is every instance the first time a new process receives it.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::record_batch::RecordBatch;
use foldhash::fast::FixedState;
use foldhash::{HashMap, HashMapExt};

/// How many instances a generation remembers before the older generation is forgotten.
pub const INSTANCES_PER_GENERATION: usize = 65_536;

/// The instances a store received inferred rows of, each with the request id it came with first.
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

    /// `batch`, of the invocations table, with the `cold_start` of its inferred rows set from the
    /// instances received so far (and this batch's, in its order); `None` when it has no inferred
    /// row, or none with an instance. A row without an instance stays warm: nothing tells.
    pub fn infer_cold_starts(&self, batch: &RecordBatch) -> Option<RecordBatch> {
        let inferred = batch
            .column_by_name("cold_start_inferred")?
            .as_boolean_opt()?;
        if inferred.true_count() == 0 {
            return None;
        }
        let text = |name: &str| batch.column_by_name(name)?.as_string_opt::<i32>();
        let (functions, instances, requests) = (
            text("function_name")?,
            text("instance_id")?,
            text("request_id")?,
        );
        let (index, _) = batch.schema().column_with_name("cold_start")?;
        let cold = batch.column(index).as_boolean_opt()?;
        let hasher = FixedState::default();
        let mut values: Vec<bool> = (0..cold.len()).map(|i| cold.value(i)).collect();
        let mut changed = false;
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        for (i, value) in values.iter_mut().enumerate() {
            if !inferred.is_valid(i) || !inferred.value(i) || !instances.is_valid(i) {
                continue;
            }
            let instance = hasher.hash_one((functions.value(i), instances.value(i)));
            let first = generations.is_first(instance, hasher.hash_one(requests.value(i)));
            changed |= first != *value;
            *value = first;
        }
        drop(generations);
        if !changed {
            return None;
        }
        let mut columns = batch.columns().to_vec();
        columns[index] = Arc::new(BooleanArray::from(values)) as ArrayRef;
        Some(
            RecordBatch::try_new(batch.schema(), columns).expect("one column replaced by its kind"),
        )
    }
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
        // Evidence registers nothing: an inferred row of the instance is still its first.
        assert_eq!(
            cold_starts(&seen, &[warm, fragment("a2", Some("env-a"), true)]),
            [false, true]
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
