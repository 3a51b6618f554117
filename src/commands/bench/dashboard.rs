//! Dashboard: the time to draw the overview frame at 160×48 with thousands of functions (view and
//! terminal diff, into ratatui's in-memory backend), and the CPU a running `faasobs tui` uses at
//! its default refresh while a collector ingests a steady load (in a tmux pane).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use faasobs_tui::data::{FunctionRow, SERIES_BUCKETS, Snapshot};
use faasobs_tui::model::{Model, Msg, Window};
use faasobs_tui::update::update;
use faasobs_tui::view::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::ingest::{build_requests, connect, start_collector};
use super::process::process_cpu_seconds;
use super::results::{Measurement, Results, Section, Target};
use super::{BenchConfig, progress};

const WIDTH: u16 = 160;
const HEIGHT: u16 = 48;
const FRAMES: usize = 500;
/// The steady load sent while the dashboard's CPU is sampled: requests of 512 spans per second.
const LOAD_REQUESTS_PER_SECOND: u64 = 20;

/// A snapshot with `functions` functions whose numbers all differ (so sorting does real work).
fn snapshot(functions: usize) -> Snapshot {
    let rows = (0..functions)
        .map(|i| {
            let x = i as f64;
            FunctionRow {
                name: format!("function-{i:05}"),
                invocations: 1000 + (i as i64 * 7919) % 100_000,
                per_minute: (x * 37.0) % 997.0,
                error_rate: (x * 0.013) % 0.2,
                cold_rate: (x * 0.007) % 0.1,
                // A third of the functions' cold rates are inferred (drawn with their mark).
                inferred_cold_starts: if i % 3 == 0 { 1 + i as i64 % 40 } else { 0 },
                p50_ms: 10.0 + (x * 3.1) % 200.0,
                p95_ms: 100.0 + (x * 5.3) % 900.0,
                p99_ms: 300.0 + (x * 7.7) % 3000.0,
                peak_concurrency: 1 + (i as i64 * 13) % 300,
                memory_used_mb: Some(64.0 + (x * 11.0) % 900.0),
                memory_size_mb: Some(1024.0),
                usd_per_million: Some(0.2 + (x * 0.37) % 20.0),
                usd_per_hour: Some((x * 0.011) % 3.0),
                invocations_series: (0..SERIES_BUCKETS as u64)
                    .map(|b| (b * 31 + i as u64) % 97)
                    .collect(),
                errors_series: (0..SERIES_BUCKETS as u64)
                    .map(|b| (b + i as u64) % 5)
                    .collect(),
            }
        })
        .collect();
    Snapshot {
        window: Window::All,
        from_ns: 0,
        to_ns: 3_600_000_000_000,
        functions: rows,
        invocations: 10_000_000,
        errors: 120_000,
        cold_starts: 45_000,
        inferred_cold_starts: 12_000,
        cost_usd: Some(1234.5),
        notice: None,
    }
}

/// Median and 99th percentile time of drawing the overview, in ms.
fn frame_times(functions: usize) -> anyhow::Result<(f64, f64)> {
    let mut model = Model::new("benchmark");
    update(&mut model, Msg::Loaded(snapshot(functions)));
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    let mut times = Vec::with_capacity(FRAMES);
    for frame in 0..FRAMES {
        // Alternate the selection so every frame has something to redraw.
        model.selected = frame % 40;
        let start = Instant::now();
        terminal.draw(|f| view(&model, f))?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[FRAMES / 2], times[FRAMES * 99 / 100]))
}

fn tmux(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("tmux")
        .args(["-L", "faasobs-bench"])
        .args(args)
        .output()
}

/// CPU (% of one core) of `faasobs tui` at its default refresh while a collector receives a
/// steady load; `None` without tmux.
async fn running_dashboard_cpu(
    dir: &std::path::Path,
    config: &BenchConfig,
    started: Instant,
) -> anyhow::Result<Option<f64>> {
    if Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return Ok(None);
    }
    let data = dir.join("dashboard-store");
    let (collector, grpc) = start_collector(&data, Stdio::null())?;
    let mut client = connect(grpc).await?;
    let seconds = config.dashboard_seconds.as_secs().max(5);
    let warmup = 5;
    let total = (seconds + warmup + 1) * LOAD_REQUESTS_PER_SECOND;
    let requests = build_requests(
        total as usize * super::ingest::SPANS_PER_REQUEST,
        config.functions,
    );
    let exe = std::env::current_exe()?;
    let command = format!(
        "exec {} --data {} tui --no-listen",
        exe.display(),
        data.display()
    );
    let _ = tmux(&["kill-session", "-t", "bench"]);
    let width = WIDTH.to_string();
    let height = HEIGHT.to_string();
    let created = tmux(&[
        "new-session",
        "-d",
        "-s",
        "bench",
        "-x",
        &width,
        "-y",
        &height,
        &command,
    ])?;
    anyhow::ensure!(
        created.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let pane = tmux(&["list-panes", "-t", "bench", "-F", "#{pane_pid}"])?;
    let pid: u32 = String::from_utf8_lossy(&pane.stdout).trim().parse()?;
    progress(
        started,
        format!("dashboard: tui running under load for {seconds} s (+{warmup} s warm-up)"),
    );
    let sending = tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(Duration::from_millis(1000 / LOAD_REQUESTS_PER_SECOND));
        for request in requests {
            tick.tick().await;
            // Refusals are simply skipped: this load only keeps the dashboard's data moving.
            let _ = client.export(request).await;
        }
    });
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let before = process_cpu_seconds(pid)?;
    let measuring = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let used = process_cpu_seconds(pid)? - before;
    let share = used / measuring.elapsed().as_secs_f64() * 100.0;
    let _ = tmux(&["kill-session", "-t", "bench"]);
    sending.abort();
    collector.terminate()?;
    collector.wait()?;
    Ok(Some(share))
}

pub async fn run(
    config: &BenchConfig,
    started: Instant,
    results: &mut Results,
) -> anyhow::Result<()> {
    progress(
        started,
        format!(
            "dashboard: drawing {FRAMES} frames with {} functions",
            config.dashboard_functions
        ),
    );
    let (median, p99) = frame_times(config.dashboard_functions)?;
    let mut section = Section::new("Dashboard", "");
    section.rows = vec![
        Measurement::new(
            format!(
                "overview frame, {WIDTH}×{HEIGHT}, {} functions (median)",
                config.dashboard_functions
            ),
            median,
            "ms",
        )
        .target(Target::AtMost(1.0)),
        Measurement::new("overview frame (99th percentile)", p99, "ms"),
    ];
    let dir = config.dir.canonicalize()?;
    match running_dashboard_cpu(&dir, config, started).await? {
        Some(share) => section.rows.push(
            Measurement::new(
                "CPU of `faasobs tui` at the default refresh while ingesting",
                share,
                "% of a core",
            )
            .target(Target::AtMost(5.0)),
        ),
        None => section
            .notes
            .push("The running dashboard's CPU was not measured: tmux is not installed.".into()),
    }
    section.notes.push(format!(
        "Frame: view and terminal diff into ratatui's in-memory backend (no terminal I/O), \
         {FRAMES} frames. Running dashboard: `faasobs tui --no-listen` in a {WIDTH}×{HEIGHT} tmux \
         pane on a collector receiving {LOAD_REQUESTS_PER_SECOND} requests of 512 spans a second; \
         CPU from /proc over the sampling period."
    ));
    results.sections.push(section);
    Ok(())
}
