//! `faasobs collect`: the long-running receiver (OTLP/gRPC, OTLP/HTTP, Lambda and CloudWatch logs).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use faasobs_collector::receiver::tls::TlsFiles;
use faasobs_collector::receiver::{Intake, ReceiverConfig, http, otlp_grpc};
use faasobs_collector::store::{Store, StoreConfig, object_storage};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, clap::Args)]
pub struct CollectConfig {
    /// Address of the OTLP/gRPC receiver (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4317", env = "FAASOBS_GRPC_ADDR")]
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP receiver: OTLP/HTTP, Lambda logs, CloudWatch, /healthz and /metrics.
    #[arg(long, default_value = "127.0.0.1:4318", env = "FAASOBS_HTTP_ADDR")]
    pub http_addr: SocketAddr,
    /// Require `Authorization: Bearer TOKEN` on every request (except GET /healthz).
    #[arg(long, env = "FAASOBS_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Serve both receivers over TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key", env = "FAASOBS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", env = "FAASOBS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The largest request accepted as sent (compressed, if it is), e.g. 4MiB.
    #[arg(long, default_value = "4MiB", value_parser = parse_size)]
    pub max_request_size: usize,
    /// The largest request accepted once decompressed; a gzip bomb is refused at this size.
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    pub max_decompressed_size: usize,
    /// Requests decoded and stored at once; more are told to retry (gRPC UNAVAILABLE, HTTP 503).
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    pub max_in_flight: usize,
    /// Writes that may wait for the WAL before senders are told to retry.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    pub queue_depth: usize,
    /// Delete partitions whose hour ended longer ago than this (e.g. 30d). Default: keep all.
    #[arg(long, value_parser = super::parse_retention, env = "FAASOBS_RETENTION")]
    pub retention: Option<Duration>,
    /// Close a WAL segment and write it to Parquet at least this often.
    #[arg(long, default_value = "10s", value_parser = parse_flush_interval)]
    pub flush_interval: Duration,
    /// Keep the Parquet files in this bucket of S3-compatible object storage
    /// (s3://BUCKET/PREFIX, configured by the AWS_* environment variables) instead of the data
    /// directory, which keeps the WAL and remembers the bucket for every later command.
    #[arg(long, value_parser = super::parse_parquet_store, env = "FAASOBS_PARQUET_STORE")]
    pub parquet_store: Option<url::Url>,
    /// Write the bucket prefix even when another data directory's claim on it names that
    /// directory: it is gone for good (a rebuilt machine). Its files stay; this directory numbers
    /// its own after them. Two directories writing one prefix at once overwrite each other's files.
    #[arg(long)]
    pub take_over: bool,
}

/// Parses `--flush-interval`, not zero: a segment closed at every write would make a Parquet file
/// of every request.
fn parse_flush_interval(text: &str) -> Result<Duration, String> {
    super::parse_nonzero_duration(
        text,
        "a flush interval of 0 would write a Parquet file for every request: give how long a \
         WAL segment may stay open (e.g. 10s)",
    )
}

/// Parses a count of at least one (0 would let nothing through).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a whole number of at least 1")),
    }
}

/// Parses sizes such as `4MiB`, `512KiB`, `1GB` or a plain byte count.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 4MiB, 512KiB, 1048576)"))?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, GiB)"
            ));
        }
    };
    match number.checked_mul(factor) {
        Some(0) => Err("a size of 0 accepts no request".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text:?} is too large")),
    }
}

/// Receivers serving a store, until [`RunningReceivers::shutdown`].
pub struct RunningReceivers {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    stop: watch::Sender<bool>,
    grpc: JoinHandle<Result<(), otlp_grpc::GrpcServeError>>,
    http: JoinHandle<Result<(), faasobs_collector::receiver::tls::TlsError>>,
    store: Store,
}

/// Binds a receiver's listener; an address in use is said with what to do about it.
async fn bind(addr: SocketAddr, receiver: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                " (another collector, or another program, listens there: stop it, or give \
                 {flag} another port, or port 0 for a free one)"
            ),
            _ => String::new(),
        };
        anyhow::anyhow!("binding the {receiver} receiver to {addr}: {e}{hint}")
    })
}

/// Binds both receivers, opens the store in `data` (replaying its WAL) and starts them. The
/// addresses are bound first, so that a collector that cannot listen leaves no store behind.
pub async fn start(data: &Path, config: &CollectConfig) -> anyhow::Result<RunningReceivers> {
    let grpc_listener = bind(config.grpc_addr, "OTLP/gRPC", "--grpc-addr").await?;
    let http_listener = bind(config.http_addr, "HTTP", "--http-addr").await?;
    let folders_made = super::missing_folders(data);
    let mut store_config = StoreConfig::new(data);
    store_config.retention = config.retention;
    store_config.flush_interval = config.flush_interval;
    store_config.queue_depth = config.queue_depth;
    store_config.parquet_store = config.parquet_store.clone();
    store_config.take_over_prefix = config.take_over;
    // A remembered bucket that does not answer now: receive anyway, into the WAL.
    store_config.opens_while_bucket_is_down = true;
    let store = Store::open(store_config)
        .await
        .inspect_err(|_| {
            // Refused (a bucket prefix another directory writes, say): nothing is left behind.
            super::remove_empty_store(&folders_made);
        })
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let recovery = store.recovery();
    if recovery.segments_replayed > 0 {
        tracing::info!(
            "recovered {} WAL segments ({} rows) into Parquet",
            recovery.segments_replayed,
            recovery.rows_replayed
        );
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let intake = Intake::new(
        store.handle(),
        ReceiverConfig {
            max_request_bytes: config.max_request_size,
            max_decompressed_bytes: config.max_decompressed_size,
            max_in_flight: config.max_in_flight,
            auth_token: config.auth_token.clone().filter(|t| !t.is_empty()),
        },
    );
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    for addr in [grpc_addr, http_addr] {
        if !addr.ip().is_loopback() {
            tracing::warn!(
                "listening on {addr}, which is reachable from other hosts{}",
                if intake.config().auth_token.is_none() {
                    "; no --auth-token is set, so anyone who can reach it can write"
                } else {
                    ""
                }
            );
        }
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (stop, stopped) = watch::channel(false);
    let wait = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let grpc = tokio::spawn(otlp_grpc::serve(
        grpc_listener,
        intake.clone(),
        tls.clone(),
        wait(stopped.clone()),
    ));
    let http = tokio::spawn(http::serve(
        http_listener,
        intake,
        tls,
        wait(stopped.clone()),
    ));
    Ok(RunningReceivers {
        grpc_addr,
        http_addr,
        scheme,
        stop,
        grpc,
        http,
        store,
    })
}

impl RunningReceivers {
    /// A handle that writes into the store the receivers serve.
    pub fn store_handle(&self) -> faasobs_collector::store::StoreHandle {
        self.store.handle()
    }

    /// Finishes the requests in progress, stops receiving and flushes the store to Parquet.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down: finishing requests in progress, then flushing to Parquet");
        let _ = self.stop.send(true);
        self.grpc
            .await
            .context("the OTLP/gRPC task failed")?
            .context("OTLP/gRPC receiver failed")?;
        self.http
            .await
            .context("the HTTP task failed")?
            .context("HTTP receiver failed")?;
        let report = self.store.close().await.context("flushing the store")?;
        tracing::info!("stored {} WAL segments into Parquet", report.segments);
        Ok(())
    }
}

pub async fn run(data: &Path, config: CollectConfig) -> anyhow::Result<()> {
    let receivers = start(data, &config).await?;
    // Listened for before the collector says it listens: a stop sent as soon as it says so
    // shuts it down, flushing, rather than killing it.
    let stop = super::StopSignals::listen();
    // The first line on standard output, for scripts and tests that start the collector.
    let parquet = match receivers.store.parquet_store() {
        Some(url) => format!(
            " (its Parquet files in {})",
            object_storage::display_url(url)
        ),
        None => String::new(),
    };
    println!(
        "listening for OTLP/gRPC on {} and HTTP on {}://{}, storing into {}{parquet}",
        receivers.grpc_addr,
        receivers.scheme,
        receivers.http_addr,
        receivers.store.data_dir().display()
    );
    stop.requested().await;
    receivers.shutdown().await
}
