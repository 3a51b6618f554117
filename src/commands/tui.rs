//! `faasobs tui`: the live dashboard. By default it also receives (the collector's receivers on
//! their usual loopback ports, storing into the data directory); with `--no-listen`, or when the
//! ports are taken, it only views the data directory that a separate `faasobs collect` writes.

use std::path::Path;
use std::time::Duration;

use faasobs_analyzer::location::DataLocation;
use faasobs_tui::DashboardConfig;

use super::collect::CollectConfig;

#[derive(Debug, clap::Args)]
pub struct TuiConfig {
    /// Only view the data directory; do not start the receivers.
    #[arg(long, conflicts_with = "demo")]
    pub no_listen: bool,
    /// Replay the sample workload in real time through the receivers (spans over OTLP/gRPC, the
    /// platform logs as a subscription delivers them), so the dashboard moves at once.
    #[arg(long)]
    pub demo: bool,
    /// How often the numbers refresh (less often when refreshes would cost more than 3% of a core).
    #[arg(long, default_value = "1s", value_parser = parse_refresh)]
    pub refresh: Duration,
    /// The concurrency limit the concurrency screen shows headroom against (AWS's default
    /// account limit is 1000).
    #[arg(long, default_value_t = 1000)]
    pub concurrency_limit: u64,
    /// Memory one refresh's queries may use, in MiB.
    #[arg(long, default_value_t = 1024, env = "FAASOBS_QUERY_MEMORY_MB")]
    pub memory_limit_mb: usize,
    /// The receivers' settings (as for `faasobs collect`), unless --no-listen.
    #[command(flatten)]
    pub collect: CollectConfig,
}

/// Parses `--refresh`, not zero: tokio's interval refuses a period of zero, and the dashboard
/// would be left without refreshes.
fn parse_refresh(text: &str) -> Result<Duration, String> {
    super::parse_nonzero_duration(
        text,
        "a refresh of 0 would never let the dashboard refresh: give how often to refresh (e.g. 1s)",
    )
}

pub async fn run(data: &Path, pricing: Option<&Path>, config: TuiConfig) -> anyhow::Result<()> {
    // A receiving dashboard on object storage was refused before (`main`'s writers).
    let location = DataLocation::parse(data)?;
    let catalog = super::query::load_catalog(pricing)?;
    let mut receivers = None;
    let mut source = format!("viewing {location}");
    if !config.no_listen {
        let mut started = super::collect::start(data, &config.collect).await;
        if config.demo && started.is_err() {
            // The demo only sends to itself: any free loopback ports will do.
            let mut own = config.collect.clone();
            own.grpc_addr = "127.0.0.1:0".parse().expect("a socket address");
            own.http_addr = "127.0.0.1:0".parse().expect("a socket address");
            started = super::collect::start(data, &own).await;
        }
        match started {
            Ok(r) => {
                source = format!(
                    "receiving OTLP/gRPC on {} and HTTP on {}://{} into {}",
                    r.grpc_addr,
                    r.scheme,
                    r.http_addr,
                    data.display()
                );
                receivers = Some(r);
            }
            Err(e) if config.demo => return Err(e.context("--demo needs its receivers")),
            Err(e) => {
                // Most often the ports are taken by a running collector: show what it stores.
                eprintln!("not receiving ({e:#}); viewing {} only", data.display());
                source = format!("viewing {} (not receiving: {e})", data.display());
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
    let demo = match (&receivers, config.demo) {
        (Some(r), true) => Some(tokio::spawn(replay_in_real_time(
            format!("http://{}", r.grpc_addr),
            r.store_handle(),
        ))),
        _ => None,
    };
    let dashboard = faasobs_tui::run(DashboardConfig {
        data: location,
        catalog,
        refresh: config.refresh,
        memory_limit_bytes: config.memory_limit_mb * 1024 * 1024,
        concurrency_limit: config.concurrency_limit,
        source,
    })
    .await;
    if let Some(demo) = demo {
        demo.abort();
    }
    if let Some(r) = receivers {
        r.shutdown().await?;
    }
    dashboard?;
    Ok(())
}

/// Sends the sample workload as it happens: each invocation once it has ended, its span through
/// the OpenTelemetry SDK's OTLP exporter and its platform log lines into the store, then the next
/// ten minutes with the next seed, until the dashboard closes.
async fn replay_in_real_time(endpoint: String, store: faasobs_collector::store::StoreHandle) {
    use faasobs_collector::ingest::ingest_bytes;
    use faasobs_sample_traces::output::lambda_logs;
    use faasobs_sample_traces::replay::replay_otlp;
    use faasobs_sample_traces::workload::SAMPLE_SEED;
    use faasobs_sample_traces::{Workload, simulate};

    let now = || chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    for seed in SAMPLE_SEED.. {
        let mut workload = Workload::sample(seed);
        workload.start_ns = now();
        let mut pending = simulate(&workload);
        pending.sort_by_key(|i| i.end_ns());
        while !pending.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let t = now();
            let due = pending.partition_point(|i| i.end_ns() <= t);
            let batch: Vec<_> = pending.drain(..due).collect();
            if batch.is_empty() {
                continue;
            }
            for (function, instance, text) in lambda_logs(&workload, &batch) {
                match ingest_bytes(text.as_bytes(), Some(&function), Some(instance)) {
                    Ok(file) => {
                        if let Err(e) = store.write(&file.records).await {
                            tracing::warn!("demo: storing platform logs failed: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("demo: reading platform logs failed: {e}"),
                }
            }
            let (w, endpoint) = (workload.clone(), endpoint.clone());
            match tokio::task::spawn_blocking(move || replay_otlp(&w, &batch, &endpoint)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("demo: sending spans failed: {e}"),
                Err(e) => tracing::warn!("demo: the replay task failed: {e}"),
            }
        }
    }
}
