//! Parquet files: encoding a table's rows, and putting the file in place durably.
//!
//! Every file is ZSTD-compressed (times delta-encoded; no dictionary for measurements and ids),
//! holds row groups of at most [`ROW_GROUP_ROWS`] rows, keeps
//! page-level statistics (for DataFusion's page index pruning), records its sort order
//! (`function_name`, then time) as Parquet sorting columns, and carries the key/value metadata
//! `faasobs.table` and `faasobs.schema_version`. The Arrow schema is embedded, so readers get
//! the exact column types back (timestamps with their UTC zone, fixed-size binary ids).
//!
//! A file is first written under `NAME.tmp`, synced, then renamed to `NAME`, and the folder is
//! synced: a reader never sees a half-written file, and after a crash a file is either whole or
//! absent (leftover `.tmp` files are deleted at start).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::StoreError;
use super::layout::TEMP_SUFFIX;
use crate::model::{SCHEMA_VERSION, Table};

/// Rows per row group: small enough that a query for one function skips most of a file, large
/// enough that columns compress well.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Sorts a batch of `table` by the table's sort columns (`function_name`, then time).
pub fn sort_batch(table: Table, batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    if batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let columns: Vec<SortColumn> = table
        .sort_columns()
        .iter()
        .map(|name| SortColumn {
            values: batch
                .column_by_name(name)
                .expect("sort columns are part of the schema")
                .clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: true,
            }),
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

/// Columns of random identifiers: nothing repeats, so a dictionary only costs time.
const RANDOM_ID_COLUMNS: [&str; 4] = ["request_id", "trace_id", "span_id", "parent_span_id"];

fn writer_properties(table: Table) -> WriterProperties {
    let schema = table.schema();
    let sorting = table
        .sort_columns()
        .iter()
        .map(|name| SortingColumn {
            column_idx: schema.index_of(name).expect("sort column exists") as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    let mut builder = WriterProperties::builder();
    // Per-column encodings: times as deltas (files are sorted by time within a function), and
    // measurements and random ids plain, since none of them gains from a dictionary, which
    // arrow-rs would otherwise fill and abandon for every page (measured: the deltas save a third
    // of the times' bytes; byte-stream-split made the durations larger under ZSTD).
    for field in schema.fields() {
        let column = ColumnPath::from(field.name().as_str());
        let encoding = match field.data_type() {
            DataType::Timestamp(..) => Some(Encoding::DELTA_BINARY_PACKED),
            DataType::Float64 => Some(Encoding::PLAIN),
            _ if RANDOM_ID_COLUMNS.contains(&field.name().as_str()) => Some(Encoding::PLAIN),
            _ => None,
        };
        if let Some(encoding) = encoding {
            builder = builder
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, encoding);
        }
    }
    builder
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("faasobs.table".into(), table.name().to_string()),
            KeyValue::new("faasobs.schema_version".into(), SCHEMA_VERSION.to_string()),
        ]))
        .build()
}

/// Encodes sorted rows of `table` as a Parquet file in memory.
pub fn encode_parquet(table: Table, batch: &RecordBatch) -> Result<Bytes, StoreError> {
    let mut buffer = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buffer, table.schema(), Some(writer_properties(table)))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buffer))
}

/// The uncompressed size of a Parquet file's row groups, from its footer (no pages decoded).
pub fn uncompressed_size(bytes: &Bytes) -> Result<usize, StoreError> {
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(bytes)?;
    Ok(metadata
        .row_groups()
        .iter()
        .map(|g| g.total_byte_size().max(0) as usize)
        .sum())
}

/// Decodes a whole Parquet file of the store into one batch.
pub fn decode_parquet(table: Table, bytes: Bytes) -> Result<RecordBatch, StoreError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(64 * 1024)
        .build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(arrow::compute::concat_batches(&table.schema(), &batches)?)
}

/// The object store of a data directory, and its local root when it is a local filesystem (where
/// faasobs syncs files and folders itself, since object_store does not).
#[derive(Debug, Clone)]
pub struct Objects {
    pub store: Arc<dyn ObjectStore>,
    pub local_root: Option<PathBuf>,
}

impl Objects {
    fn local_path(&self, path: &ObjectPath) -> Option<PathBuf> {
        self.local_root.as_ref().map(|root| {
            path.parts()
                .fold(root.clone(), |acc, part| acc.join(part.as_ref()))
        })
    }

    fn sync_local(&self, path: &ObjectPath, with_parents: usize) -> Result<(), StoreError> {
        let Some(file) = self.local_path(path) else {
            return Ok(());
        };
        let sync = |p: &std::path::Path| {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(|source| StoreError::Io {
                    path: p.to_path_buf(),
                    source,
                })
        };
        sync(&file)?;
        let mut dir = file.parent();
        for _ in 0..with_parents {
            let Some(d) = dir else { break };
            sync(d)?;
            dir = d.parent();
        }
        Ok(())
    }

    /// Puts `bytes` at `path` so that it is whole and durable once this returns.
    pub async fn put_durably(&self, path: &ObjectPath, bytes: Bytes) -> Result<(), StoreError> {
        let temp = ObjectPath::from(format!("{path}{TEMP_SUFFIX}"));
        self.store.put(&temp, PutPayload::from_bytes(bytes)).await?;
        self.sync_local(&temp, 0)?;
        self.store.rename(&temp, path).await?;
        // The file, its hour folder and the date folder above it may all be new.
        self.sync_local(path, 3)?;
        Ok(())
    }

    /// Reads a whole object.
    pub async fn get(&self, path: &ObjectPath) -> Result<Bytes, StoreError> {
        Ok(self.store.get(path).await?.bytes().await?)
    }

    /// Deletes objects; ones already gone are fine.
    pub async fn delete_all(
        &self,
        paths: impl IntoIterator<Item = &ObjectPath>,
    ) -> Result<(), StoreError> {
        for path in paths {
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
