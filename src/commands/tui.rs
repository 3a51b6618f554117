//! `faasobs tui`: the live dashboard. By default it also receives (the collector's receivers on
//! their usual loopback ports, storing into the data directory); with `--no-listen`, or when the
//! ports are taken, it only views the data directory that a separate `faasobs collect` writes.

use std::path::Path;
use std::time::Duration;

use faasobs_tui::DashboardConfig;

use super::collect::CollectConfig;

#[derive(Debug, clap::Args)]
pub struct TuiConfig {
    /// Only view the data directory; do not start the receivers.
    #[arg(long)]
    pub no_listen: bool,
    /// How often the numbers refresh.
    #[arg(long, default_value = "1s", value_parser = super::parse_duration)]
    pub refresh: Duration,
    /// Memory one refresh's queries may use, in MiB.
    #[arg(long, default_value_t = 1024, env = "FAASOBS_QUERY_MEMORY_MB")]
    pub memory_limit_mb: usize,
    /// The receivers' settings (as for `faasobs collect`), unless --no-listen.
    #[command(flatten)]
    pub collect: CollectConfig,
}

pub async fn run(data: &Path, pricing: Option<&Path>, config: TuiConfig) -> anyhow::Result<()> {
    let catalog = super::query::load_catalog(pricing)?;
    let mut receivers = None;
    let mut source = format!("viewing {}", data.display());
    if !config.no_listen {
        match super::collect::start(data, &config.collect).await {
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
            Err(e) => {
                // Most often the ports are taken by a running collector: show what it stores.
                eprintln!("not receiving ({e:#}); viewing {} only", data.display());
                source = format!("viewing {} (not receiving: {e})", data.display());
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
    let dashboard = faasobs_tui::run(DashboardConfig {
        data_dir: data.to_path_buf(),
        catalog,
        refresh: config.refresh,
        memory_limit_bytes: config.memory_limit_mb * 1024 * 1024,
        source,
    })
    .await;
    if let Some(r) = receivers {
        r.shutdown().await?;
    }
    dashboard?;
    Ok(())
}
