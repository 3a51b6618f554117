//! The data model: the typed records faasobs stores and the fixed Arrow schemas of its tables.
//!
//! This module is the one place that both sides of the pipeline share. The collector normalizes
//! every input into [`Invocation`] and [`LogRecord`] values and turns them into Arrow record
//! batches with [`Table::schema`]; spans, and a Lambda log stream (the bulk of an import), are
//! built straight into batches with a [`SpanBuilder`] and a [`LogBuilder`], and the resources
//! they refer to with [`ResourceRows`]. The analyzer registers the same schemas in DataFusion.
//! Schemas are fixed here and documented column by column in `docs/schema.md`; they are never
//! inferred from input.
//!
//! Conventions shared by every table:
//! - times are `Timestamp(Nanosecond, "UTC")`, counted from the Unix epoch;
//! - trace ids are `FixedSizeBinary(16)` and span ids `FixedSizeBinary(8)`, never hex strings;
//! - attributes are a typed map (see [`attributes`]), never stringified.

pub mod attributes;
pub mod invocation;
pub mod log;
mod null_runs;
pub mod resource;
pub mod span;

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, FixedSizeBinaryBuilder, new_null_array};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

pub use attributes::{AttributeRef, AttributeRefs, AttributeValue, Attributes, RowAttributes};
pub use invocation::{Invocation, InvocationBuilder, InvocationRow, InvocationStatus, Source};
pub use log::{LogBuilder, LogRecord, LogRow};
pub use resource::{ResourceId, ResourceRows, SharedStoredResources, StoredResources};
pub use span::{SpanBuilder, SpanEventRow, SpanRow};

/// Version of the table schemas, written into every Parquet file's metadata.
///
/// Version 2 keeps a resource's attributes once, in `resources`: `spans` and `logs` carry a
/// `resource_id` where version 1 had `resource_attributes` on every row. Version 3 adds
/// `invocations.cold_start_inferred`, which files of earlier versions read as null.
pub const SCHEMA_VERSION: u32 = 3;

/// Rows of one batch a reader builds a row at a time: a builder is finished into a batch when it
/// holds this many, so a batch is one write of an import and bounded in memory.
pub const BATCH_ROWS: usize = 16 * 1024;

/// Nanoseconds in one hour; partitions are one hour wide.
pub const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// The timestamp type of every time column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(Arc::from("UTC")))
}

/// The tables of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per function invocation, merged across sources by request id.
    Invocations,
    /// OTLP spans with their typed attributes.
    Spans,
    /// OTLP log records and structured function logs.
    Logs,
    /// The attributes of the resources spans and logs refer to, once per resource and hour.
    Resources,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 4] = [
        Table::Invocations,
        Table::Spans,
        Table::Logs,
        Table::Resources,
    ];

    /// The table's name, also its folder in the data directory.
    pub fn name(self) -> &'static str {
        match self {
            Table::Invocations => "invocations",
            Table::Spans => "spans",
            Table::Logs => "logs",
            Table::Resources => "resources",
        }
    }

    /// Parses a table name as [`Table::name`] prints it.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The fixed Arrow schema of the table.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Invocations => invocation::schema(),
            Table::Spans => span::schema(),
            Table::Logs => log::schema(),
            Table::Resources => resource::schema(),
        }
    }

    /// `batch` with the table's schema: a batch of an earlier schema version whose columns are
    /// all in the schema (a WAL segment written before an upgrade) gets the columns added since,
    /// all null; any other batch is given back as it is.
    pub fn upgrade(self, batch: RecordBatch) -> RecordBatch {
        let schema = self.schema();
        if batch.schema().fields() == schema.fields() {
            return batch;
        }
        let columns: Option<Vec<ArrayRef>> = schema
            .fields()
            .iter()
            .map(|field| match batch.column_by_name(field.name()) {
                Some(column) => (column.data_type() == field.data_type()).then(|| column.clone()),
                None => field
                    .is_nullable()
                    .then(|| new_null_array(field.data_type(), batch.num_rows())),
            })
            .collect();
        let known = batch
            .schema()
            .fields()
            .iter()
            .all(|field| schema.field_with_name(field.name()).is_ok());
        match columns {
            Some(columns) if known => RecordBatch::try_new(schema, columns).unwrap_or(batch),
            _ => batch,
        }
    }

    /// The one-byte tag that names the table in a write-ahead-log record.
    pub fn wal_tag(self) -> u8 {
        match self {
            Table::Invocations => 1,
            Table::Spans => 2,
            Table::Logs => 3,
            Table::Resources => 4,
        }
    }

    /// The table a write-ahead-log tag names.
    pub fn from_wal_tag(tag: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.wal_tag() == tag)
    }

    /// The time column that decides a row's hourly partition.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Invocations | Table::Spans => "start_time",
            Table::Logs => "time",
            Table::Resources => "hour",
        }
    }

    /// The columns each Parquet file is sorted by, in order (a flush file of spans excepted, see
    /// [`Table::flushed_in_arrival_order`]).
    pub fn sort_columns(self) -> [&'static str; 2] {
        ["function_name", self.time_column()]
    }

    /// True for the table whose flush files keep the rows in the order they arrived, each
    /// request's rows together, instead of sorted by [`Table::sort_columns`]: spans. Copying a
    /// segment's spans into (function, time) order took about a tenth of the collector's CPU
    /// under the ingest benchmark (the spans of one request belong to many functions, so the
    /// copy went a few rows at a time), while a span is looked up by its trace id (a bloom
    /// filter) and not by its function. A compaction still writes its spans sorted, and so do
    /// the files it leaves.
    pub fn flushed_in_arrival_order(self) -> bool {
        self == Table::Spans
    }
}

/// `n` and an eighth more: the room a builder leaves for the next batch like the last (see
/// [`LogBuilder::end_batch`]).
pub(crate) fn with_spare(n: usize) -> usize {
    n + n / 8
}

/// Appends an id to a `FixedSizeBinary` column of its width, or a null.
pub(crate) fn append_id(builder: &mut FixedSizeBinaryBuilder, id: Option<&[u8]>) {
    match id {
        Some(id) => builder
            .append_value(id)
            .expect("ids have their column's width"),
        None => builder.append_null(),
    }
}

/// Records of all tables, as one receiver call or one input file produces them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub invocations: Vec<Invocation>,
    /// More invocation fragments, already built into Arrow batches of at most [`BATCH_ROWS`]
    /// rows each (a Lambda log stream builds the fragments of Powertools lines there directly,
    /// see [`InvocationBuilder`]).
    pub invocation_batches: Vec<RecordBatch>,
    /// Span rows, built into Arrow batches of at most [`BATCH_ROWS`] rows each (see
    /// [`SpanBuilder`]).
    pub span_batches: Vec<RecordBatch>,
    pub logs: Vec<LogRecord>,
    /// More log rows, already built into Arrow batches of at most [`BATCH_ROWS`] rows each
    /// (a Lambda log stream builds its rows there directly, see [`LogBuilder`]).
    pub log_batches: Vec<RecordBatch>,
    /// The `resources` rows the spans and logs refer to (see [`ResourceRows`]).
    pub resource_batches: Vec<RecordBatch>,
}

/// The function of Lambda log lines that never name it, when none was given (the lines of a
/// Lambda text log say their function only by the folder the file is in).
pub const UNKNOWN_FUNCTION: &str = "unknown";

impl Records {
    /// Invocation and log rows stored under [`UNKNOWN_FUNCTION`]: their input named no function.
    pub fn rows_of_unknown_function(&self) -> usize {
        let in_batches = |batches: &[RecordBatch]| -> usize {
            batches
                .iter()
                .filter_map(|b| b.column_by_name("function_name"))
                .filter_map(|names| names.as_string_opt::<i32>())
                .map(|names| {
                    names
                        .iter()
                        .filter(|name| *name == Some(UNKNOWN_FUNCTION))
                        .count()
                })
                .sum()
        };
        let invocations = self
            .invocations
            .iter()
            .filter(|i| i.function_name == UNKNOWN_FUNCTION)
            .count();
        let logs = self
            .logs
            .iter()
            .filter(|l| l.function_name.as_deref() == Some(UNKNOWN_FUNCTION))
            .count();
        invocations + logs + in_batches(&self.invocation_batches) + in_batches(&self.log_batches)
    }

    /// True when there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.resource_batches.iter().all(|b| b.num_rows() == 0)
    }

    /// Total number of invocation, span and log records (the resources they refer to are not
    /// counted).
    pub fn len(&self) -> usize {
        self.invocation_count() + self.span_count() + self.log_count()
    }

    /// Number of invocation fragments, as records and in batches.
    pub fn invocation_count(&self) -> usize {
        self.invocations.len()
            + self
                .invocation_batches
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>()
    }

    /// Number of span rows.
    pub fn span_count(&self) -> usize {
        self.span_batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Number of log rows, as records and in batches.
    pub fn log_count(&self) -> usize {
        self.logs.len()
            + self
                .log_batches
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>()
    }

    /// Moves all records of `other` into `self`.
    pub fn append(&mut self, mut other: Records) {
        self.invocations.append(&mut other.invocations);
        self.invocation_batches
            .append(&mut other.invocation_batches);
        self.span_batches.append(&mut other.span_batches);
        self.logs.append(&mut other.logs);
        self.log_batches.append(&mut other.log_batches);
        self.resource_batches.append(&mut other.resource_batches);
    }

    /// The records as Arrow batches: one per non-empty table, and the batches built already
    /// (resources, invocations, spans, logs) as they are.
    pub fn to_batches(&self) -> Vec<(Table, RecordBatch)> {
        let mut batches = Vec::with_capacity(4);
        // Resources first: a write cut short keeps a prefix of its batches, so no span or log
        // of it is kept without the resource it refers to.
        for batch in &self.resource_batches {
            if batch.num_rows() > 0 {
                batches.push((Table::Resources, batch.clone()));
            }
        }
        if !self.invocations.is_empty() {
            batches.push((Table::Invocations, invocation::to_batch(&self.invocations)));
        }
        for batch in &self.invocation_batches {
            if batch.num_rows() > 0 {
                batches.push((Table::Invocations, batch.clone()));
            }
        }
        for batch in &self.span_batches {
            if batch.num_rows() > 0 {
                batches.push((Table::Spans, batch.clone()));
            }
        }
        if !self.logs.is_empty() {
            batches.push((Table::Logs, log::to_batch(&self.logs)));
        }
        for batch in &self.log_batches {
            if batch.num_rows() > 0 {
                batches.push((Table::Logs, batch.clone()));
            }
        }
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Schema;

    /// An invocation row as schema version 2 wrote it (a WAL segment left by the previous
    /// release).
    fn version_2_invocations() -> RecordBatch {
        invocation::version_2_batch(&[Invocation {
            function_name: "resize".into(),
            request_id: "r-1".into(),
            cold_start: true,
            ..Default::default()
        }])
    }

    #[test]
    fn a_batch_of_an_earlier_schema_gets_the_columns_added_since_as_nulls() {
        let upgraded = Table::Invocations.upgrade(version_2_invocations());
        assert_eq!(upgraded.schema(), Table::Invocations.schema());
        assert_eq!(
            upgraded
                .column_by_name("cold_start_inferred")
                .unwrap()
                .null_count(),
            1
        );
        let rows = invocation::from_batch(&upgraded).unwrap();
        assert!(rows[0].cold_start && !rows[0].cold_start_inferred);
        // A batch of the current schema is given back as it is.
        let current = Table::Invocations.upgrade(upgraded.clone());
        assert_eq!(current, upgraded);
    }

    #[test]
    fn a_batch_with_a_column_the_schema_lacks_is_left_as_it_is() {
        let batch = version_2_invocations();
        let mut fields = batch.schema().fields().to_vec();
        fields.push(Arc::new(arrow::datatypes::Field::new(
            "resource_attributes",
            DataType::Utf8,
            true,
        )));
        let mut columns = batch.columns().to_vec();
        columns.push(new_null_array(&DataType::Utf8, 1));
        let other = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        assert_eq!(Table::Invocations.upgrade(other.clone()), other);
    }
}
