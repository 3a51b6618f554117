//! A WAL segment kept in memory, for a store whose writes need not survive a crash: an import,
//! whose input can be read again. Its rows go to the flusher as the batches they were built as,
//! where a segment on disk has them encoded, written, synced, mapped and decoded again on the way.

use std::time::Instant;

use arrow::record_batch::RecordBatch;

use crate::model::Table;

/// The open in-memory segment that writes are appended to.
pub struct MemorySegment {
    id: u64,
    records: Vec<(Table, RecordBatch)>,
    len: u64,
    opened: Instant,
}

impl MemorySegment {
    pub fn new(id: u64) -> MemorySegment {
        MemorySegment {
            id,
            records: Vec::new(),
            len: 0,
            opened: Instant::now(),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The memory its batches take, in bytes (about what their frames would take on disk).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True while no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// When the segment was created.
    pub fn opened(&self) -> Instant {
        self.opened
    }

    /// Appends the batches of one write.
    pub fn append(&mut self, records: Vec<(Table, RecordBatch)>) {
        self.len += records
            .iter()
            .map(|(_, batch)| batch.get_array_memory_size() as u64)
            .sum::<u64>();
        self.records.extend(records);
    }

    /// The batches appended, in order, for the flusher.
    pub fn into_records(self) -> Vec<(Table, RecordBatch)> {
        self.records
    }
}
