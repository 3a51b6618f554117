//! `faasobs demo`: the whole pipeline on the embedded default, with the sample workload.
//!
//! A collector starts on a free loopback port; the sample traffic is sent to it through the
//! OpenTelemetry SDK's OTLP exporter (as instrumented functions send it) while the matching Lambda
//! platform logs are imported (as a CloudWatch subscription would deliver them); the store is
//! flushed and the summary report is printed. Run again into a data directory that holds the
//! same sample already (the import ledger says so), it prints the summary without storing the
//! sample's spans and log lines a second time.

use std::path::Path;

use anyhow::Context;
use faasobs_collector::ingest::ingest_bytes;
use faasobs_collector::receiver::{Intake, ReceiverConfig, otlp_grpc};
use faasobs_collector::store::{Store, StoreConfig};
use faasobs_sample_traces::output::{lambda_logs, manifest};
use faasobs_sample_traces::replay::replay_otlp;
use faasobs_sample_traces::workload::SAMPLE_SEED;
use faasobs_sample_traces::{Workload, simulate};

use super::import_ledger::{ImportLedger, InputStamp, StoredInput};
use super::report::SummaryConfig;

#[derive(Debug, clap::Args)]
pub struct DemoConfig {
    /// Random seed of the sample workload.
    #[arg(long, default_value_t = SAMPLE_SEED)]
    pub seed: u64,
}

pub async fn run(data: &Path, config: DemoConfig) -> anyhow::Result<()> {
    let workload = Workload::sample(config.seed);
    let invocations = simulate(&workload);
    let mut ledger = ImportLedger::read(data)?;
    let sample = InputStamp::of_sample(&manifest(&workload, &invocations));
    if let Some(when) = ledger.imported_at(&sample) {
        eprintln!(
            "{} already holds the sample workload of seed {} (stored {when}); sending it again \
             would store its spans and log lines twice. Its summary:",
            data.display(),
            config.seed
        );
        super::report::summary(data, None, SummaryConfig::whole_history()).await?;
        eprintln!(
            "for the whole demo again, give another --data folder (or --seed for another workload)"
        );
        return Ok(());
    }
    let store = Store::open(StoreConfig::new(data))
        .await
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port for the collector")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let intake = Intake::new(store.handle(), ReceiverConfig::default());
    let server = tokio::spawn(otlp_grpc::serve(listener, intake, None, async {
        let _ = stopped.await;
    }));

    eprintln!(
        "sending {} sample invocations of {} functions through the OpenTelemetry OTLP exporter to {endpoint}",
        invocations.len(),
        workload.functions.len()
    );
    let sent = {
        let workload = workload.clone();
        let invocations = invocations.clone();
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || replay_otlp(&workload, &invocations, &endpoint))
            .await
            .context("the replay task failed")??
    };
    let handle = store.handle();
    let mut log_lines = 0;
    for (function, instance, text) in lambda_logs(&workload, &invocations) {
        let file = ingest_bytes(text.as_bytes(), Some(&function), Some(instance))?;
        log_lines += file.records.log_count();
        handle.write(&file.records).await?;
    }
    eprintln!("sent {sent} spans; imported {log_lines} Lambda log lines");
    let _ = stop.send(());
    server.await.context("the collector task failed")??;
    drop(handle);
    store.close().await.context("flushing the store")?;
    if let Err(e) = ledger.append(&[StoredInput {
        stamp: sample,
        records: sent + log_lines,
        content: None,
    }]) {
        eprintln!("warning: the import ledger was not updated ({e:#})");
    }
    super::report::summary(data, None, SummaryConfig::whole_history()).await?;
    eprintln!(
        "data is in {}; try: faasobs query \"SELECT status, count(*) FROM invocations GROUP BY status\"",
        data.display()
    );
    Ok(())
}
