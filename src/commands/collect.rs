//! `faasobs collect`: the long-running receiver.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use faasobs_collector::receiver::otlp_grpc;
use faasobs_collector::store::{Store, StoreConfig};

#[derive(Debug, clap::Args)]
pub struct CollectConfig {
    /// Address of the OTLP/gRPC receiver (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4317", env = "FAASOBS_GRPC_ADDR")]
    pub grpc_addr: SocketAddr,
    /// Delete partitions whose hour ended longer ago than this (e.g. 30d). Default: keep all.
    #[arg(long, value_parser = super::parse_duration, env = "FAASOBS_RETENTION")]
    pub retention: Option<Duration>,
    /// Close a WAL segment and write it to Parquet at least this often.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration)]
    pub flush_interval: Duration,
}

pub async fn run(data: &Path, config: CollectConfig) -> anyhow::Result<()> {
    let mut store_config = StoreConfig::new(data);
    store_config.retention = config.retention;
    store_config.flush_interval = config.flush_interval;
    let store = Store::open(store_config)
        .await
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let recovery = store.recovery();
    if recovery.segments_replayed > 0 {
        tracing::info!(
            "recovered {} WAL segments ({} rows) into Parquet",
            recovery.segments_replayed,
            recovery.rows_replayed
        );
    }
    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding the OTLP/gRPC receiver to {}", config.grpc_addr))?;
    let addr = listener.local_addr()?;
    // The first line on standard output, for scripts and tests that start the collector.
    println!(
        "listening for OTLP/gRPC on {addr}, storing into {}",
        store.data_dir().display()
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: flushing to Parquet");
    };
    otlp_grpc::serve(listener, store.handle(), shutdown)
        .await
        .context("OTLP/gRPC receiver failed")?;
    store.close().await.context("flushing the store")?;
    Ok(())
}
