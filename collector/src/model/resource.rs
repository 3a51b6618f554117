//! The `resources` table: each OTLP resource's attributes, kept once instead of on every row.
//!
//! A resource (an execution environment as the OpenTelemetry Lambda detector describes it: a
//! dozen attributes of function, region, runtime, memory, instance) is the same for every span
//! and log record it sends. Spans and logs carry only its [`resource_id`], an XXH64 hash of its
//! attributes; `resources` holds one row per resource and hour in which some span or log record
//! refers to it, so the resources of an hour are stored, compacted and deleted with that hour.
//! The analyzer's `spans` and `logs` views join it back as `resource_attributes`.
//!
//! Keeping them once took the collector's CPU per span under the ingest benchmark down by about a
//! quarter: fewer bytes through the WAL, and no map of a dozen entries per span to copy into
//! order and encode as Parquet (docs/benchmarks-history.md).

use std::sync::{Arc, LazyLock, Mutex};

use arrow::array::{ArrayRef, FixedSizeBinaryBuilder, StringBuilder, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use foldhash::HashSet;
use twox_hash::XxHash64;

use super::attributes::{self, AttributeRef, AttributeRefs, AttributeValue, AttributesBuilder};
use super::{NANOS_PER_HOUR, timestamp_type};

/// The id of a resource: the XXH64 (seed 0) of its attributes in the order they came, each its
/// key, its type and its value (see [`resource_id`]).
pub type ResourceId = [u8; 8];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("resource_id", DataType::FixedSizeBinary(8), false),
        Field::new("function_name", DataType::Utf8, true),
        Field::new("hour", timestamp_type(), false),
        Field::new("attributes", attributes::data_type(), false),
    ]))
});

/// The fixed schema of the `resources` table.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The id of the resource with these attributes. Every input path (OTLP protobuf read in place,
/// OTLP JSON, decoded log requests) hashes the same typed attributes the same way, so a resource
/// has one id however it arrived. Each key and value is hashed as a type tag (one byte), its
/// length (u64, little-endian) and its bytes (numbers little-endian), so no two attribute lists
/// hash the same bytes, on any machine. The bytes are laid out first and hashed in one call: fed
/// to the hasher piece by piece, hashing was about 1.5 % of the collector's CPU under the ingest
/// benchmark (`perf`).
pub fn resource_id<'a>(
    attributes: impl IntoIterator<Item = (&'a str, AttributeRef<'a>)>,
) -> ResourceId {
    let mut bytes = Vec::with_capacity(1024);
    let mut text = |tag: u8, value: &[u8]| {
        bytes.push(tag);
        bytes.extend_from_slice(&(value.len() as u64).to_le_bytes());
        bytes.extend_from_slice(value);
    };
    for (key, value) in attributes {
        text(0, key.as_bytes());
        match value {
            AttributeRef::String(s) => text(1, s.as_bytes()),
            AttributeRef::Int(i) => text(2, &i.to_le_bytes()),
            AttributeRef::Double(d) => text(3, &d.to_bits().to_le_bytes()),
            AttributeRef::Bool(b) => text(4, &[u8::from(b)]),
            AttributeRef::Bytes(b) => text(5, b),
            AttributeRef::Json(s) => text(6, s.as_bytes()),
        }
    }
    XxHash64::oneshot(0, &bytes).to_be_bytes()
}

/// [`resource_id`] of attributes read from a request ([`AttributeRefs`]).
pub fn resource_id_of_refs(attributes: &AttributeRefs) -> ResourceId {
    resource_id(attributes.iter().map(|(key, value)| (*key, value.clone())))
}

/// [`resource_id`] of owned attributes.
pub fn resource_id_of(attributes: &[(String, AttributeValue)]) -> ResourceId {
    resource_id(
        attributes
            .iter()
            .map(|(key, value)| (key.as_str(), value.borrowed())),
    )
}

/// The start of the hour of `time` (ns since the epoch).
fn hour_of(time: i64) -> i64 {
    time.div_euclid(NANOS_PER_HOUR) * NANOS_PER_HOUR
}

/// The `resources` rows one request needs: one per resource and hour its rows fall in, each
/// added the first time a row of that resource and hour is seen.
#[derive(Debug, Default)]
pub struct ResourceRows {
    seen: HashSet<(ResourceId, i64)>,
    /// Rows already stored, which are not added again (see [`ResourceRows::leaving_out`]).
    stored: Option<SharedStoredResources>,
    /// The last resource and hour seen: a request's rows come resource by resource, mostly in
    /// one hour, so most rows are answered without hashing.
    last: Option<(ResourceId, i64)>,
    resource_id: Vec<u8>,
    function_name: StringBuilder,
    hour: Vec<i64>,
    attributes: AttributesBuilder,
}

impl ResourceRows {
    /// Rows that leave out those `stored` already holds. A receiver's request mostly refers to
    /// resources that earlier requests stored; their rows were built, and then dropped before the
    /// write ([`StoredResources::drop_stored`]): 2 % of the collector's CPU in the ingest
    /// benchmark (docs/benchmarks-history.md). The set is asked once per resource and hour of a
    /// request.
    pub fn leaving_out(stored: SharedStoredResources) -> ResourceRows {
        ResourceRows {
            stored: Some(stored),
            ..ResourceRows::default()
        }
    }

    /// The hour of `time` when resource `id` has no row for it yet, here or among the stored rows
    /// this was made to leave out (the caller then adds one with [`ResourceRows::add`] or
    /// [`ResourceRows::add_borrowed`]); `None` when it has.
    pub fn needs_row(&mut self, id: ResourceId, time: i64) -> Option<i64> {
        let key = (id, hour_of(time));
        if self.last == Some(key) {
            return None;
        }
        self.last = Some(key);
        let stored = |key| {
            self.stored
                .as_ref()
                .is_some_and(|stored| stored.lock().expect("not poisoned").keys.contains(&key))
        };
        (self.seen.insert(key) && !stored(key)).then_some(key.1)
    }

    /// Adds the row of resource `id` in `hour`, its attributes borrowed from a request.
    pub fn add_borrowed(&mut self, id: ResourceId, hour: i64, attributes: &AttributeRefs) {
        let name = |key| attributes::find_ref(attributes, key).and_then(AttributeRef::as_text);
        let function = name("faas.name").or_else(|| name("service.name"));
        self.add_columns(id, hour, function.as_deref());
        self.attributes.append_borrowed(attributes);
    }

    /// Adds the row of resource `id` in `hour`.
    pub fn add(&mut self, id: ResourceId, hour: i64, attributes: &[(String, AttributeValue)]) {
        let name = |key| attributes::find(attributes, key).and_then(AttributeValue::as_text);
        let function = name("faas.name").or_else(|| name("service.name"));
        self.add_columns(id, hour, function.as_deref());
        self.attributes.append(attributes);
    }

    /// A row's columns but its attributes.
    fn add_columns(&mut self, id: ResourceId, hour: i64, function_name: Option<&str>) {
        self.resource_id.extend_from_slice(&id);
        self.function_name.append_option(function_name);
        self.hour.push(hour);
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.hour.is_empty()
    }

    /// The batch of the rows added; `None` when there are none.
    pub fn finish(mut self) -> Option<RecordBatch> {
        if self.is_empty() {
            return None;
        }
        let mut ids = FixedSizeBinaryBuilder::with_capacity(self.hour.len(), 8);
        for id in self.resource_id.chunks_exact(8) {
            ids.append_value(id).expect("ids are 8 bytes");
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ids.finish()),
            Arc::new(self.function_name.finish()),
            Arc::new(TimestampNanosecondArray::from(self.hour).with_timezone("UTC")),
            self.attributes.finish(),
        ];
        Some(RecordBatch::try_new(schema(), columns).expect("columns follow the resources schema"))
    }
}

/// The resources (id and hour) a store already holds a row of, as one collector wrote them: a
/// request's resources rows that are here need not be written again. A collector receiving
/// through an OpenTelemetry Collector gets many execution environments in each request, each
/// sending again what it sent the request before; written every time, their rows were about a
/// third as many as the spans (ingest benchmark). Only rows known durable are remembered (see
/// [`StoredResources::remember`]); a restart starts afresh, which only writes a row again.
#[derive(Debug, Default)]
pub struct StoredResources {
    keys: HashSet<(ResourceId, i64)>,
    /// The latest hour remembered: only it and the hour before are kept, so the set stays as
    /// small as the resources of two hours, and a row for an older hour is written again.
    latest_hour: i64,
}

/// The [`StoredResources`] of one intake, shared by its receiving threads.
pub type SharedStoredResources = Arc<Mutex<StoredResources>>;

/// The most resources a [`StoredResources`] remembers before it starts afresh.
const STORED_RESOURCES_LIMIT: usize = 1 << 20;

impl StoredResources {
    /// Removes from `batches` the rows of resources already stored for their hour; a batch left
    /// without rows is dropped.
    pub fn drop_stored(&self, batches: &mut Vec<RecordBatch>) {
        if self.keys.is_empty() {
            return;
        }
        batches.retain_mut(|batch| {
            let keep: arrow::array::BooleanArray = keys_of_built(batch)
                .map(|key| Some(!self.keys.contains(&key)))
                .collect();
            if keep.true_count() < batch.num_rows() {
                *batch = arrow::compute::filter_record_batch(batch, &keep)
                    .expect("a mask of the batch's length");
            }
            batch.num_rows() > 0
        });
    }

    /// Remembers the resources rows of `batches`, once they are durable in the store.
    pub fn remember(&mut self, batches: &[RecordBatch]) {
        for batch in batches {
            for key in keys_of_built(batch) {
                if key.1 > self.latest_hour {
                    self.latest_hour = key.1;
                    let oldest = key.1 - NANOS_PER_HOUR;
                    self.keys.retain(|(_, hour)| *hour >= oldest);
                }
                if key.1 >= self.latest_hour - NANOS_PER_HOUR {
                    if self.keys.len() >= STORED_RESOURCES_LIMIT {
                        self.keys.clear();
                    }
                    self.keys.insert(key);
                }
            }
        }
    }
}

/// The (resource id, hour) of each row of a `resources` batch; an error when the batch does not
/// have the table's `resource_id` and `hour` columns.
pub fn keys_of(
    batch: &RecordBatch,
) -> Result<impl Iterator<Item = (ResourceId, i64)> + '_, ArrowError> {
    use arrow::array::AsArray;
    use arrow::datatypes::TimestampNanosecondType;
    let ids = batch
        .column_by_name("resource_id")
        .and_then(|c| c.as_fixed_size_binary_opt())
        .filter(|c| c.value_length() == 8);
    let hours = batch
        .column_by_name("hour")
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>());
    let (Some(ids), Some(hours)) = (ids, hours) else {
        return Err(ArrowError::SchemaError(
            "resources without resource_id or hour".into(),
        ));
    };
    Ok((0..batch.num_rows()).map(move |row| {
        let id = ResourceId::try_from(ids.value(row)).expect("resource ids are 8 bytes");
        (id, hours.value(row))
    }))
}

/// [`keys_of`] a batch built with the resources schema ([`ResourceRows`]).
fn keys_of_built(batch: &RecordBatch) -> impl Iterator<Item = (ResourceId, i64)> + '_ {
    keys_of(batch).expect("batches of the resources schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id of `faas.name` = "orders", `faas.max_memory` = 1024, as schema version 2 computes it.
    const PINNED_ID: &str = "76814f04fcee0274";

    fn hex(id: &ResourceId) -> String {
        id.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn an_id_depends_on_every_key_type_and_value_and_on_nothing_else() {
        let base = [
            ("faas.name", AttributeRef::String("orders")),
            ("faas.max_memory", AttributeRef::Int(1024)),
        ];
        let id = resource_id(base.clone());
        // The same attributes, owned or borrowed, hash the same.
        let owned: Vec<(String, AttributeValue)> = vec![
            ("faas.name".into(), AttributeValue::String("orders".into())),
            ("faas.max_memory".into(), AttributeValue::Int(1024)),
        ];
        assert_eq!(resource_id_of(&owned), id);
        assert_eq!(resource_id_of_refs(&base), id);
        let changed = [
            [base[0].clone(), ("faas.max_memory", AttributeRef::Int(512))],
            [
                base[0].clone(),
                ("faas.max_memory", AttributeRef::Double(1024.0)),
            ],
            [
                base[0].clone(),
                ("faas.max_memory", AttributeRef::String("1024")),
            ],
            [base[0].clone(), ("faas.max_memor", AttributeRef::Int(1024))],
            [base[1].clone(), base[0].clone()],
        ];
        for other in changed {
            assert_ne!(resource_id(other.clone()), id, "{other:?}");
        }
        // Ids are stable: the same attributes have had this id since schema version 2.
        assert_eq!(hex(&id), PINNED_ID, "the id of the same attributes changed");
        // Texts are length-prefixed: moving a byte from a key into its value changes the id.
        assert_ne!(
            resource_id([("ab", AttributeRef::String("c"))]),
            resource_id([("a", AttributeRef::String("bc"))])
        );
    }

    #[test]
    fn a_resource_gets_one_row_per_hour_its_rows_fall_in() {
        let attributes = [("service.name", AttributeRef::String("orders"))];
        let id = resource_id_of_refs(&attributes);
        let other = resource_id([]);
        let mut rows = ResourceRows::default();
        let times = [10, 20, NANOS_PER_HOUR + 5, 30, NANOS_PER_HOUR + 7];
        let mut added = Vec::new();
        for (i, time) in times.into_iter().enumerate() {
            // Alternate resources, so the row before is no shortcut.
            for id in [id, other] {
                if let Some(hour) = rows.needs_row(id, time + i as i64) {
                    rows.add_borrowed(id, hour, if id == other { &[] } else { &attributes });
                    added.push((id, hour));
                }
            }
        }
        assert_eq!(
            added,
            [
                (id, 0),
                (other, 0),
                (id, NANOS_PER_HOUR),
                (other, NANOS_PER_HOUR)
            ]
        );
        let batch = rows.finish().unwrap();
        assert_eq!(batch.num_rows(), 4);
        assert_eq!(batch.schema(), schema());
        let names = batch.column_by_name("function_name").unwrap();
        assert_eq!(names.null_count(), 2);
        assert!(ResourceRows::default().finish().is_none());
    }

    #[test]
    fn resources_remembered_as_stored_are_not_written_again_for_their_hour() {
        let batch = |rows: &[(u8, i64)]| {
            let mut resources = ResourceRows::default();
            for (id, time) in rows {
                let hour = resources.needs_row([*id; 8], *time).unwrap();
                resources.add_borrowed([*id; 8], hour, &[]);
            }
            resources.finish().unwrap()
        };
        let ids = |batches: &[RecordBatch]| -> Vec<(u8, i64)> {
            batches
                .iter()
                .flat_map(|b| keys_of_built(b).map(|(id, hour)| (id[0], hour / NANOS_PER_HOUR)))
                .collect()
        };
        let mut stored = StoredResources::default();
        let mut first = vec![batch(&[(1, 5), (2, 5)])];
        stored.drop_stored(&mut first);
        assert_eq!(ids(&first), [(1, 0), (2, 0)], "nothing is known yet");
        stored.remember(&first);
        let hour = NANOS_PER_HOUR;
        let mut next = vec![batch(&[(1, 7), (3, 8)]), batch(&[(2, 9), (2, hour + 1)])];
        stored.drop_stored(&mut next);
        assert_eq!(ids(&next), [(3, 0), (2, 1)]);
        assert_eq!(next.len(), 2);
        let mut known = vec![batch(&[(1, 7), (2, 8)])];
        stored.drop_stored(&mut known);
        assert!(known.is_empty(), "a batch left without rows is dropped");
        // Two hours on, hour 0 is forgotten: its rows are written again.
        stored.remember(&[batch(&[(4, 2 * hour)])]);
        let mut late = vec![batch(&[(1, 7), (4, 2 * hour + 1)])];
        stored.drop_stored(&mut late);
        assert_eq!(ids(&late), [(1, 0)]);
    }

    #[test]
    fn rows_made_to_leave_out_the_stored_ones_add_only_the_others() {
        let hour = NANOS_PER_HOUR;
        let shared = SharedStoredResources::default();
        let mut earlier = ResourceRows::default();
        for id in [1, 2] {
            let at = earlier.needs_row([id; 8], 5).unwrap();
            earlier.add_borrowed([id; 8], at, &[]);
        }
        shared
            .lock()
            .unwrap()
            .remember(&[earlier.finish().unwrap()]);

        let mut rows = ResourceRows::leaving_out(shared.clone());
        let mut added = Vec::new();
        for (id, time) in [(1, 7), (3, 8), (2, 9), (2, hour + 1), (3, 10), (1, 11)] {
            if let Some(at) = rows.needs_row([id; 8], time) {
                rows.add_borrowed([id; 8], at, &[]);
                added.push((id, at / hour));
            }
        }
        assert_eq!(
            added,
            [(3, 0), (2, 1)],
            "stored in hour 0: resources 1 and 2"
        );
        assert_eq!(rows.finish().unwrap().num_rows(), 2);
        // Only what the shared set holds when asked is left out.
        shared.lock().unwrap().remember(&[{
            let mut more = ResourceRows::default();
            more.add_borrowed([3; 8], 0, &[]);
            more.finish().unwrap()
        }]);
        let mut later = ResourceRows::leaving_out(shared);
        assert_eq!(later.needs_row([3; 8], 12), None);
        assert_eq!(later.needs_row([4; 8], 12), Some(0));
    }
}
