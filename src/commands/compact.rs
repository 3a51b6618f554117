//! `faasobs compact`: replay, compact and apply retention without receiving anything.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use faasobs_collector::store::{Store, StoreConfig};

#[derive(Debug, clap::Args)]
pub struct CompactConfig {
    /// Delete partitions whose hour ended longer ago than this (e.g. 30d). Default: keep all.
    #[arg(long, value_parser = super::parse_retention, env = "FAASOBS_RETENTION")]
    pub retention: Option<Duration>,
    /// Write the bucket prefix even when another data directory's claim on it names that
    /// directory: it is gone for good (a rebuilt machine). Its files stay; this directory numbers
    /// its own after them. Two directories writing one prefix at once overwrite each other's files.
    #[arg(long)]
    pub take_over: bool,
}

pub async fn run(data: &Path, config: CompactConfig) -> anyhow::Result<()> {
    // A mistyped `--data` would otherwise become an empty store.
    if !data.exists() {
        anyhow::bail!(
            "{} does not exist: there is nothing to compact",
            data.display()
        );
    }
    let mut store_config = StoreConfig::for_batch(data);
    store_config.retention = config.retention;
    store_config.take_over_prefix = config.take_over;
    let store = Store::open(store_config)
        .await
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let recovery = store.recovery().clone();
    let closed = store.close().await.context("compacting")?;
    say!(
        "replayed {} WAL segments ({} rows), compacted {} partitions ({} files), removed {} \
         temporary files, deleted {} expired partitions",
        recovery.segments_replayed,
        recovery.rows_replayed,
        closed.partitions_compacted,
        closed.files_compacted,
        recovery.temporary_files_removed,
        recovery.partitions_expired
    );
    Ok(())
}
