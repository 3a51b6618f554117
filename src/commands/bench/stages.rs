//! The collector's pipeline, stage by stage, in the harness's own process: the ingest part's
//! encoded requests are read in place and normalized, encoded as WAL frames and appended to WAL
//! segments, and each closed segment is read back, merged, put in order, encoded as Parquet and
//! deleted, as the receivers and the flusher do. Each stage's CPU time is measured on this one
//! thread, without a running collector's other threads and sockets around it, so that a change
//! to one stage can be measured well below the run-to-run spread of the whole collector's CPU.
//!
//! Not in the stages: gRPC and HTTP/2, the WAL's fsync, writing the Parquet files, compaction and
//! the hour merge. The collector's own CPU, measured by the ingest part, includes them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use faasobs_collector::model::{ResourceRows, Table};
use faasobs_collector::normalize::otlp_trace::normalize_trace_bytes;
use faasobs_collector::store::flush::{merge_rows, rows_by_partition};
use faasobs_collector::store::writer::{encode_flush_file, flush_order};
use faasobs_collector::store::{StoreConfig, wal_frames};
use faasobs_collector::wal::{self, SegmentWriter, read_closed_segment};

use super::process::thread_cpu_seconds;

/// The stages, in pipeline order, with what each covers.
pub const STAGES: [(&str, &str); 8] = [
    (
        "read and normalize",
        "reading the OTLP protobuf in place into span batches and invocation fragments",
    ),
    (
        "WAL frames",
        "building the invocation batches and the IPC frames",
    ),
    ("free rows", "freeing the batches and invocation fragments"),
    ("WAL append", "appending the frames to a segment (no fsync)"),
    (
        "read segments",
        "reading closed segments back, grouping their batches by table",
    ),
    (
        "merge",
        "concatenating and merging invocation fragments, dropping repeated spans",
    ),
    (
        "order",
        "splitting by hour and ordering by function and time (the indices; spans keep the order they came in)",
    ),
    (
        "copy in order, Parquet",
        "copying the rows into order a chunk at a time (spans: a request's rows at a time, as they are) and encoding the Parquet files (not writing them)",
    ),
];

/// CPU seconds per stage, in the order of [`STAGES`].
#[derive(Debug, Default, Clone)]
pub struct StageCpu(pub [f64; STAGES.len()]);

/// Runs every stage over `encoded` requests, with WAL segments in `scratch` (deleted after).
pub fn measure(encoded: &[Vec<u8>], scratch: &Path) -> anyhow::Result<StageCpu> {
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)?;
    }
    let segment_max_bytes = StoreConfig::new(scratch).segment_max_bytes;
    let mut cpu = StageCpu::default();
    let mut clock = Clock::start();
    let mut segment = SegmentWriter::create(scratch, 1)?;
    for bytes in encoded {
        let normalized = normalize_trace_bytes(bytes, ResourceRows::default())?;
        clock.lap(&mut cpu.0[0]);
        let wal_frames = wal_frames(&normalized.records)?;
        clock.lap(&mut cpu.0[1]);
        drop(normalized);
        clock.lap(&mut cpu.0[2]);
        segment.append(&wal_frames)?;
        drop(wal_frames);
        clock.lap(&mut cpu.0[3]);
        if segment.len() >= segment_max_bytes {
            let next = SegmentWriter::create(scratch, segment.id() + 1)?;
            let closed = std::mem::replace(&mut segment, next).id();
            clock.lap(&mut cpu.0[3]);
            flush_and_delete(scratch, closed, &mut cpu, &mut clock)?;
        }
    }
    let last = segment.id();
    let written = !segment.is_empty();
    drop(segment);
    if written {
        flush_and_delete(scratch, last, &mut cpu, &mut clock)?;
    }
    std::fs::remove_dir_all(scratch)?;
    Ok(cpu)
}

/// The flusher's steps on closed segment `id`, which is then deleted, as the collector's flusher
/// deletes each segment it has flushed while the receivers fill the next: the page cache a
/// segment takes is freed before the next ones are written, not a whole run's WAL kept at once.
fn flush_and_delete(
    scratch: &Path,
    id: u64,
    cpu: &mut StageCpu,
    clock: &mut Clock,
) -> anyhow::Result<()> {
    let path = scratch.join(wal::segment_file_name(id));
    flush_stages(&path, cpu, clock).with_context(|| format!("WAL segment {id}"))?;
    std::fs::remove_file(&path).with_context(|| format!("deleting {}", path.display()))?;
    clock.lap(&mut 0.0);
    Ok(())
}

/// The flusher's steps on one closed segment, as `store::flush::flush_segment` takes them.
fn flush_stages(path: &Path, cpu: &mut StageCpu, clock: &mut Clock) -> anyhow::Result<()> {
    clock.lap(&mut 0.0);
    let contents = read_closed_segment(path)?;
    anyhow::ensure!(
        contents.trailing.is_none(),
        "the segment the stages wrote did not read back whole"
    );
    let mut by_table: BTreeMap<Table, Vec<_>> = BTreeMap::new();
    for (table, batch) in contents.records {
        by_table.entry(table).or_default().push(batch);
    }
    clock.lap(&mut cpu.0[4]);
    for (table, batches) in by_table {
        let merged = merge_rows(table, batches)?;
        clock.lap(&mut cpu.0[5]);
        let orders = rows_by_partition(table, &merged)
            .into_values()
            .map(|rows| flush_order(table, &merged, rows))
            .collect::<Result<Vec<_>, _>>()?;
        clock.lap(&mut cpu.0[6]);
        for order in orders {
            drop(encode_flush_file(table, &merged, &order)?);
        }
        drop(merged);
        clock.lap(&mut cpu.0[7]);
    }
    Ok(())
}

/// The thread's CPU clock, read between stages.
struct Clock(f64);

impl Clock {
    fn start() -> Clock {
        Clock(thread_cpu_seconds())
    }

    /// Adds the CPU time since the last lap to `stage`.
    fn lap(&mut self, stage: &mut f64) {
        let now = thread_cpu_seconds();
        *stage += now - self.0;
        self.0 = now;
    }
}
