//! Copying stored files' row groups into one new file as they are encoded: each column chunk's
//! pages are copied byte for byte, with its statistics and page index, and no row is decoded or
//! encoded. An hour merge whose inputs share no request id writes its file this way, and so does a
//! compaction of a run that needs no merging.

use std::io::Write;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use parquet::arrow::add_encoded_arrow_schema_to_metadata;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, ParquetMetaData, RowGroupMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::writer::SerializedFileWriter;
use tokio::io::AsyncWriteExt;

use super::StoreError;
use super::layout::DataFile;
use super::writer::{Objects, embeds_arrow_schema, parquet_schema};
use crate::model::Table;

/// True when the row groups of a file with this footer can be copied into a file of `table` as
/// they are: its schema is the one this version writes, and no column has a bloom filter (which
/// lies outside the row group's bytes; invocation files have none).
pub fn copyable(table: Table, metadata: &ParquetMetaData) -> bool {
    metadata.file_metadata().schema_descr().root_schema() == parquet_schema(table).root_schema()
        && metadata.row_groups().iter().all(|row_group| {
            row_group
                .columns()
                .iter()
                .all(|column| column.bloom_filter_offset().is_none())
        })
}

/// Writes the row groups of `inputs` (files of `table` with their footers read with the page
/// index, each [`copyable`]), in order, as the file `output`, with `properties` (their key/value
/// metadata, the embedded Arrow schema and `entry`, if any). The file is written at its staging
/// path ([`Objects::staging_path`]) and put in place durably. Returns the number of rows.
pub async fn copy_row_groups(
    objects: &Objects,
    table: Table,
    inputs: &[(DataFile, ParquetMetaData)],
    mut properties: WriterProperties,
    entry: Option<KeyValue>,
    output: &ObjectPath,
) -> Result<usize, StoreError> {
    if embeds_arrow_schema(table) {
        add_encoded_arrow_schema_to_metadata(&table.schema(), &mut properties);
    }
    let buffer = SharedBuffer::default();
    let mut writer = SerializedFileWriter::new(
        buffer.clone(),
        parquet_schema(table).root_schema_ptr(),
        Arc::new(properties),
    )?;
    let temp = objects.staging_path(output);
    let mut upload = BufWriter::new(objects.store.clone(), temp.clone());
    let upload_error = |source| StoreError::Io {
        path: temp.to_string().into(),
        source,
    };
    let mut rows = 0;
    for (file, metadata) in inputs {
        for (index, row_group) in metadata.row_groups().iter().enumerate() {
            let range = byte_range(row_group);
            let bytes = objects
                .get_range(&file.meta.location, range.clone())
                .await?;
            let chunk = FileBytes {
                start: range.start,
                bytes,
            };
            let mut copy = writer.next_row_group()?;
            for (column, chunk_metadata) in row_group.columns().iter().enumerate() {
                let column_index = metadata
                    .column_index()
                    .and_then(|groups| groups.get(index)?.get(column).cloned());
                let offset_index = metadata
                    .offset_index()
                    .and_then(|groups| groups.get(index)?.get(column).cloned());
                copy.append_column(
                    &chunk,
                    ColumnCloseResult {
                        bytes_written: chunk_metadata.compressed_size() as u64,
                        rows_written: row_group.num_rows() as u64,
                        metadata: chunk_metadata.clone(),
                        bloom_filter: None,
                        column_index,
                        offset_index,
                    },
                )?;
            }
            copy.close()?;
            rows += row_group.num_rows() as usize;
            upload
                .write_all(&buffer.take())
                .await
                .map_err(upload_error)?;
        }
    }
    if let Some(entry) = entry {
        writer.append_key_value_metadata(entry);
    }
    writer.close()?;
    upload
        .write_all(&buffer.take())
        .await
        .map_err(upload_error)?;
    upload.shutdown().await.map_err(upload_error)?;
    objects.commit_durably(&temp, output).await?;
    Ok(rows)
}

/// The bytes of a file that a row group's column chunks span.
fn byte_range(row_group: &RowGroupMetaData) -> Range<u64> {
    let (start, end) = row_group
        .columns()
        .iter()
        .map(|column| {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            (start, start + column.compressed_size())
        })
        .fold((i64::MAX, 0), |(lo, hi), (start, end)| {
            (lo.min(start), hi.max(end))
        });
    start.max(0) as u64..end.max(start).max(0) as u64
}

/// Bytes of a file starting at offset `start`, read by parquet's writer as the file itself.
struct FileBytes {
    start: u64,
    bytes: Bytes,
}

impl FileBytes {
    fn slice(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        let from = start
            .checked_sub(self.start)
            .map(|from| from as usize)
            .filter(|from| from + length <= self.bytes.len())
            .ok_or_else(|| {
                ParquetError::EOF(format!(
                    "bytes {start}..{} are outside the row group read",
                    start + length as u64
                ))
            })?;
        Ok(self.bytes.slice(from..from + length))
    }
}

impl Length for FileBytes {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for FileBytes {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        let length = (self.len().saturating_sub(start)) as usize;
        Ok(self.slice(start, length)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.slice(start, length)
    }
}

/// Where the file writer puts its bytes, taken out after each row group and uploaded.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("the buffer's lock is not poisoned"))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the buffer's lock is not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
