//! Ingest: an OTLP/gRPC load generator against a `faasobs collect` process, until the data is
//! durable in Parquet, measured by the kernel's accounting of the collector process; and a
//! decode-only loop over the same payloads (prost), the in-run reference for the physical limit
//! of receiving them.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use faasobs_collector::model::Table;
use faasobs_sample_traces::output::{invocation_spans, request, resource_attributes};
use faasobs_sample_traces::simulate::Outcome;
use faasobs_sample_traces::{Workload, simulate};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::process::{Measured, mebibytes, thread_cpu_seconds};
use super::results::{Measurement, Results, Section, Target};
use super::stages::{self, STAGES};
use super::{BenchConfig, progress};

/// Spans per OTLP request, as the load profile asks (the SDKs' default batch size).
pub const SPANS_PER_REQUEST: usize = 512;
const HOUR_NS: i64 = 3_600_000_000_000;

/// The load: OTLP requests of [`SPANS_PER_REQUEST`] spans of simulated invocations (a server span
/// with `faas.*` attributes and a downstream call each), every function instrumented.
pub fn build_requests(spans: usize, functions: usize) -> Vec<ExportTraceServiceRequest> {
    let mut requests = Vec::with_capacity(spans.div_ceil(SPANS_PER_REQUEST));
    let mut groups: BTreeMap<String, (Vec<KeyValue>, Vec<Span>)> = BTreeMap::new();
    let (mut in_request, mut total) = (0usize, 0usize);
    let mut hour = 0i64;
    while total < spans {
        let mut workload =
            Workload::bench(11 + hour as u64, functions, (spans / 2) as u64 + 1, HOUR_NS);
        workload.start_ns += hour * HOUR_NS;
        for invocation in simulate(&workload) {
            if invocation.outcome == Outcome::Throttled || total >= spans {
                continue;
            }
            let f = &workload.functions[invocation.function];
            let instance = invocation.instance_id.clone().unwrap_or_default();
            let mut produced = invocation_spans(f, &invocation);
            produced.truncate(spans - total);
            for span in &mut produced {
                add_typical_attributes(span, &workload, f.name);
            }
            in_request += produced.len();
            total += produced.len();
            groups
                .entry(format!("{}/{instance}", f.name))
                .or_insert_with(|| (resource_attributes(&workload, f, &instance), Vec::new()))
                .1
                .extend(produced);
            if in_request >= SPANS_PER_REQUEST {
                requests.push(request(std::mem::take(&mut groups)));
                in_request = 0;
            }
        }
        hour += 1;
    }
    if in_request > 0 {
        requests.push(request(groups));
    }
    requests
}

fn text(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// The attributes real Lambda instrumentation adds besides `faas.*` (the invoked ARN, route and
/// user agent on the server span; the AWS request id and endpoint on calls), which bring a span
/// to the ~500 bytes of real traffic.
fn add_typical_attributes(span: &mut Span, workload: &Workload, function: &str) {
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{function}",
        workload.region, workload.account_id
    );
    let id = hex::encode(&span.span_id);
    if span.parent_span_id.is_empty() {
        span.attributes.extend([
            text("cloud.resource_id", arn.clone()),
            text("aws.lambda.invoked_arn", arn),
            text("http.route", format!("/v1/{function}/items/{{id}}")),
            text("url.path", format!("/v1/{function}/items/{id}")),
            text("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36".into()),
        ]);
    } else {
        span.attributes.extend([
            text("aws.request_id", format!("{id}{id}RQ{}", &id[..4])),
            text(
                "server.address",
                format!("dynamodb.{}.amazonaws.com", workload.region),
            ),
            text("aws.region", workload.region.into()),
        ]);
    }
}

/// Starts `faasobs collect` on free loopback ports over a fresh data directory `data`; returns
/// the process and its OTLP/gRPC address.
pub(super) fn start_collector(
    data: &Path,
    stderr: Stdio,
) -> anyhow::Result<(Measured, SocketAddr)> {
    if data.exists() {
        std::fs::remove_dir_all(data)?;
    }
    let (grpc, http) = (free_port()?, free_port()?);
    let collector = Measured::spawn(
        Command::new(std::env::current_exe()?)
            .arg("--data")
            .arg(data)
            .args([
                "collect",
                "--grpc-addr",
                &grpc.to_string(),
                "--http-addr",
                &http.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(stderr),
    )?;
    Ok((collector, grpc))
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

pub(super) async fn connect(
    addr: SocketAddr,
) -> anyhow::Result<TraceServiceClient<tonic::transport::Channel>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match TraceServiceClient::connect(format!("http://{addr}")).await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() > deadline => {
                return Err(e).context(format!("the collector never listened on {addr}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// What the load generator saw.
struct Sent {
    spans: usize,
    refusals: usize,
}

/// Sends every request with `senders` in flight; a refusal (back-pressure) is retried after a
/// pause, as OTLP exporters do.
async fn send_all(
    client: TraceServiceClient<tonic::transport::Channel>,
    requests: Vec<ExportTraceServiceRequest>,
    senders: usize,
) -> anyhow::Result<Sent> {
    let spans: usize = requests.iter().map(span_count).sum();
    let queue = Arc::new(Mutex::new(requests));
    let mut tasks = Vec::new();
    for _ in 0..senders.max(1) {
        let (queue, mut client) = (queue.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut refusals = 0usize;
            loop {
                let Some(request) = queue.lock().expect("queue lock").pop() else {
                    return Ok::<usize, anyhow::Error>(refusals);
                };
                loop {
                    match client.export(request.clone()).await {
                        Ok(_) => break,
                        Err(status)
                            if matches!(
                                status.code(),
                                tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                            ) =>
                        {
                            refusals += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(status) => {
                            return Err(status).context("the collector failed a request");
                        }
                    }
                }
            }
        }));
    }
    let mut refusals = 0;
    for task in tasks {
        refusals += task.await??;
    }
    Ok(Sent { spans, refusals })
}

fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

pub async fn run(
    dir: &Path,
    config: &BenchConfig,
    started: Instant,
    results: &mut Results,
) -> anyhow::Result<()> {
    progress(started, format!("ingest: building {} spans", config.spans));
    let requests = build_requests(config.spans, config.functions);
    let encoded: Vec<Vec<u8>> = requests.iter().map(Message::encode_to_vec).collect();
    let payload_bytes: usize = encoded.iter().map(Vec::len).sum();
    let spans: usize = requests.iter().map(span_count).sum();

    // The physical limit: decoding the same payloads, nothing else.
    progress(started, "ingest: decode-only loop");
    let before = thread_cpu_seconds();
    let mut decoded_spans = 0usize;
    for bytes in &encoded {
        let request = ExportTraceServiceRequest::decode(bytes.as_slice())?;
        decoded_spans += span_count(&request);
    }
    let decode_cpu = thread_cpu_seconds() - before;
    anyhow::ensure!(decoded_spans == spans, "the decode loop lost spans");

    // Where the CPU goes, stage by stage, before the collector runs beside this process.
    progress(started, "ingest: the collector's stages, in this process");
    let stage_cpu = stages::measure(&encoded, &dir.join("ingest-stages"))?;
    drop(encoded);

    let log = std::fs::File::create(dir.join("ingest-collector.log"))?;
    let (collector, grpc) = start_collector(&dir.join("ingest-store"), Stdio::from(log))?;
    let client = connect(grpc).await?;
    progress(
        started,
        format!(
            "ingest: sending {spans} spans in {} requests ({} in flight)",
            requests.len(),
            config.senders
        ),
    );
    let sending = Instant::now();
    let sent = send_all(client, requests, config.senders).await?;
    let acked = sending.elapsed();
    progress(
        started,
        "ingest: all acknowledged; stopping the collector (flush to Parquet)",
    );
    collector.terminate()?;
    let usage = collector.wait()?;
    let durable_after = sending.elapsed();
    anyhow::ensure!(
        usage.success,
        "the collector did not stop cleanly (see ingest-collector.log)"
    );
    let (stored, _) = super::data::table_size(&dir.join("ingest-store"), Table::Spans)?;
    anyhow::ensure!(
        stored as usize == sent.spans,
        "{} spans acknowledged but {stored} stored in Parquet",
        sent.spans
    );
    let per_million = |cpu: f64| cpu / (spans as f64 / 1e6);
    let mut section = Section::new("Ingest: OTLP/gRPC to durable Parquet", "decode only");
    section.rows = vec![
        Measurement::new(
            "spans per second, to durable Parquet",
            spans as f64 / durable_after.as_secs_f64(),
            "spans/s",
        ),
        Measurement::new(
            "spans per second, acknowledged",
            spans as f64 / acked.as_secs_f64(),
            "spans/s",
        ),
        Measurement::new(
            "CPU per million spans (collector process)",
            per_million(usage.cpu_seconds),
            "CPU-s",
        )
        .against(per_million(decode_cpu))
        .target(Target::AtMost(5.0)),
        Measurement::new(
            "CPU vs the decode-only loop",
            per_million(usage.cpu_seconds),
            "CPU-s",
        )
        .against(per_million(decode_cpu))
        .target(Target::RatioAtMost(2.0)),
        Measurement::new(
            "system CPU per million spans (collector process, in the above)",
            per_million(usage.system_cpu_seconds),
            "CPU-s",
        ),
        Measurement::new(
            "page faults per million spans (collector process, minor)",
            per_million(usage.minor_page_faults as f64),
            "faults",
        ),
        Measurement::new(
            "peak RSS of the collector",
            mebibytes(usage.max_rss_bytes),
            "MiB",
        )
        .target(Target::AtMost(512.0)),
        Measurement::new("spans stored / sent", stored as f64 / sent.spans as f64, "")
            .target(Target::AtMost(1.0)),
    ];
    let stages_total: f64 = stage_cpu.0.iter().sum();
    section
        .rows
        .extend(STAGES.iter().zip(stage_cpu.0).map(|((name, _), cpu)| {
            Measurement::new(format!("stage: {name}"), per_million(cpu), "CPU-s")
        }));
    section.rows.push(Measurement::new(
        "stages in all (harness process, one thread)",
        per_million(stages_total),
        "CPU-s",
    ));
    section.notes.push(format!(
        "{spans} spans in requests of {SPANS_PER_REQUEST} ({:.0} B per span encoded), {} in flight; \
         {} refusals (back-pressure) retried; every acknowledged span found in Parquet after the \
         collector stopped. CPU is the collector process's user + system time from wait4, \
         including its start and its final flush; the load generator runs in the harness's own \
         process.",
        payload_bytes as f64 / spans as f64,
        config.senders,
        sent.refusals,
    ));
    section.notes.push(format!(
        "Stages, CPU-s per million spans: the collector's pipeline run in the harness's own \
         process on one thread over the same requests, before the collector starts ({}). Not in \
         the stages: gRPC and HTTP/2, the WAL's fsync, writing the files, compaction and the hour \
         merge.",
        STAGES
            .iter()
            .map(|(name, what)| format!("{name}: {what}"))
            .collect::<Vec<_>>()
            .join("; "),
    ));
    results.sections.push(section);
    Ok(())
}
