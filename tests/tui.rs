//! The dashboard. Each screen is drawn from the sample store into ratatui's `TestBackend` and
//! compared with a reviewed snapshot in `tests/golden/tui-*.txt` (after an intended change:
//! `FAASOBS_UPDATE_GOLDEN=1 cargo test --test integration tui` and review the diff). Then the real
//! binary runs in a tmux pane while a Python OpenTelemetry exporter sends it spans: the numbers on
//! screen change, a function's screen opens and closes, and `q` quits cleanly.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::cost::catalog::{Catalog, DEFAULT_CATALOG};
use faasobs_analyzer::cost::report::{DedicatedElsewhere, PricingCoverage};
use faasobs_analyzer::session::AnalyzerConfig;
use faasobs_tui::app::needs_fresh_opening;
use faasobs_tui::data::{
    load_concurrency, load_cost, load_detail, load_snapshot, load_trace, run_sql,
};
use faasobs_tui::model::{Command as TuiCommand, Key, Model, Msg, Window};
use faasobs_tui::update::update;
use faasobs_tui::view::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::support::{
    Deployment, invocation_span_json, root, run_python, sample_store,
    store_of_one_function_deployed, store_of_resource_spans,
};

fn screen(model: &Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view(model, frame)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The text of a function screen's facts panel (right of the histogram), its lines joined.
fn facts_panel(drawn: &str) -> String {
    drawn
        .lines()
        .filter_map(|line| line.split("││").nth(1))
        .map(|side| side.trim_end_matches('│').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_snapshot(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(format!("tui-{name}.txt"));
    if std::env::var_os("FAASOBS_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (FAASOBS_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "the {name} screen differs from {}:\n{actual}",
        path.display()
    );
}

fn open(data: &Path, runtime: &tokio::runtime::Runtime) -> Analyzer {
    runtime
        .block_on(Analyzer::open(data, AnalyzerConfig::default()))
        .unwrap()
}

/// A dashboard over object storage answers from one listing of the bucket for
/// `BUCKET_LISTING_REUSE`, not a listing per refresh; a directory is listed at every refresh.
/// Shown on a local directory with the reuse turned on: an invocation imported after the first
/// load is not seen through the reused listing, and is through a fresh one, and through the
/// reused one once the `r` key asks for a new listing. (A load that fails
/// on a reused listing is tested on S3, in `object_storage.rs`.)
#[test]
fn a_reused_listing_waits_for_new_files_and_a_fresh_one_sees_them() {
    let store = sample_store();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = faasobs_tui::DashboardConfig {
            data: store.path().into(),
            catalog: std::sync::Arc::new(faasobs_analyzer::cost::Catalog::builtin()),
            refresh: Duration::from_secs(1),
            memory_limit_bytes: 1 << 30,
            concurrency_limit: 1000,
            source: "test".into(),
        };
        let loader = |reuse: Option<Duration>| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let loader = faasobs_tui::app::Loader::new(config.clone(), tx);
            let loader = match reuse {
                Some(period) => loader.reusing_listings_for(period),
                None => loader,
            };
            (loader, rx)
        };
        async fn overview(
            loader: &faasobs_tui::app::Loader,
            rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>,
        ) -> i64 {
            loader.spawn(TuiCommand::LoadOverview(Window::All));
            match rx.recv().await {
                Some(Msg::Loaded(snapshot)) => snapshot.invocations,
                other => panic!("the overview did not load: {other:?}"),
            }
        }
        // Directories are listed at every load unless told otherwise; buckets are not.
        let reuse_of = |data: faasobs_analyzer::location::DataLocation| {
            let config = faasobs_tui::DashboardConfig {
                data,
                ..config.clone()
            };
            faasobs_tui::app::Loader::new(config, tokio::sync::mpsc::unbounded_channel().0)
                .listing_reuse()
        };
        assert_eq!(reuse_of(store.path().into()), None);
        assert_eq!(
            reuse_of(
                faasobs_analyzer::location::DataLocation::parse(Path::new("s3://b/p")).unwrap()
            ),
            Some(faasobs_tui::app::BUCKET_LISTING_REUSE)
        );
        let (reusing, mut reusing_rx) = loader(Some(Duration::from_secs(3600)));
        let before = overview(&reusing, &mut reusing_rx).await;
        assert_eq!(before, 2415);

        crate::support::faasobs_at(store.path())
            .arg("ingest")
            .arg(crate::support::real_fixture(
                "datadog-cloudwatch-log-coldstart.json",
            ))
            .assert()
            .success();
        assert_eq!(overview(&reusing, &mut reusing_rx).await, before);
        let (fresh, mut fresh_rx) = loader(None);
        assert_eq!(overview(&fresh, &mut fresh_rx).await, before + 1);

        // The `r` key lists afresh for its load, reuse or not.
        let mut model = Model::new("test");
        let commands = update(&mut model, Msg::Key(Key::Char('r')));
        assert_eq!(commands[0], TuiCommand::Relist, "{commands:?}");
        reusing.relist_next();
        assert_eq!(overview(&reusing, &mut reusing_rx).await, before + 1);
    });
}

/// An empty functions table says why: nothing stored, nothing in the window, or the filter.
#[test]
fn an_empty_overview_says_why_it_is_empty() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let now = 1_795_500_000_000_000_000;
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("not-yet");
    // The overview of `analyzer` over `window` loaded into `model`.
    let load = |model: &mut Model, analyzer: &Analyzer, window| {
        let snapshot = runtime
            .block_on(load_snapshot(analyzer, window, now))
            .unwrap();
        update(model, Msg::Loaded(snapshot));
    };
    let analyzer = open(&missing, &runtime);
    let mut model = Model::new("viewing nothing");
    load(&mut model, &analyzer, Window::All);
    let text = screen(&model, 100, 12);
    assert!(text.contains("nothing stored yet"), "{text}");
    assert!(
        !missing.exists(),
        "the dashboard created {}",
        missing.display()
    );

    // The sample, long before now: the last hour holds nothing, all of it six functions.
    let data = sample_store();
    let analyzer = open(data.path(), &runtime);
    let mut model = Model::new("viewing the sample");
    load(&mut model, &analyzer, Window::Last1h);
    let text = screen(&model, 100, 12);
    assert!(
        text.contains("no invocations in the last 1h; w widens"),
        "{text}"
    );
    load(&mut model, &analyzer, Window::All);
    update(&mut model, Msg::Key(Key::Char('/')));
    for c in "zz".chars() {
        update(&mut model, Msg::Key(Key::Char(c)));
    }
    let text = screen(&model, 100, 12);
    assert!(
        text.contains("no function matches the filter \"zz\""),
        "{text}"
    );
    assert!(!text.contains("nothing stored"), "{text}");
}

/// A dashboard load that meets a file gone since its opening listed the store (a closing store
/// deleted the files its compaction replaced) fails with what makes the loader run it again on a
/// fresh opening, which loads; another failure is run again only on a reused opening.
#[test]
fn a_load_over_a_file_gone_since_the_listing_is_run_again_on_a_fresh_opening() {
    let data = sample_store();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listed_before = open(data.path(), &runtime);
    let hour = std::fs::read_dir(data.path().join("invocations"))
        .unwrap()
        .flat_map(|date| std::fs::read_dir(date.unwrap().path()).unwrap())
        .next()
        .unwrap()
        .unwrap()
        .path();
    for file in std::fs::read_dir(hour).unwrap() {
        std::fs::remove_file(file.unwrap().path()).unwrap();
    }
    let now = 1_795_500_000_000_000_000;
    let failure = runtime
        .block_on(load_snapshot(&listed_before, Window::All, now))
        .unwrap_err();
    assert!(needs_fresh_opening(false, &failure), "{failure}");
    // The sample's invocations are in one hour: a fresh opening shows none, without an error.
    let fresh = open(data.path(), &runtime);
    let snapshot = runtime
        .block_on(load_snapshot(&fresh, Window::All, now))
        .unwrap();
    assert!(snapshot.functions.is_empty());
    let mistyped = runtime.block_on(run_sql(&fresh, "SELEC 1")).unwrap_err();
    assert!(!needs_fresh_opening(false, &mistyped), "{mistyped}");
    assert!(needs_fresh_opening(true, &mistyped));
}

#[test]
fn every_screen_of_the_sample_matches_its_snapshot() {
    let data = sample_store();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let analyzer = open(data.path(), &runtime);
    let now = 1_795_500_000_000_000_000; // only the relative windows use it
    let snapshot = runtime
        .block_on(load_snapshot(&analyzer, Window::All, now))
        .unwrap();
    assert_eq!(snapshot.functions.len(), 6);
    // Rates of the invocations that ran: search-suggest's throttles (free, neither cold nor
    // warm) dilute neither its cold-start rate nor its cost per million.
    let stored = crate::support::query_json(
        data.path(),
        "SELECT count(*) FILTER (WHERE cold_start) AS cold, \
         count(*) FILTER (WHERE status <> 'throttled') AS ran, count(*) AS all_rows \
         FROM invocations WHERE function_name = 'search-suggest'",
    );
    let (cold, ran, all) = (
        stored[0]["cold"].as_f64().unwrap(),
        stored[0]["ran"].as_f64().unwrap(),
        stored[0]["all_rows"].as_f64().unwrap(),
    );
    assert!(ran < all && cold > 0.0, "{stored:?}");
    let search = snapshot
        .functions
        .iter()
        .find(|f| f.name == "search-suggest")
        .unwrap();
    assert!((search.cold_rate - cold / ran).abs() < 1e-12, "{search:?}");
    let spent = crate::support::query_json(
        data.path(),
        "SELECT sum(cost_usd) AS usd FROM invocation_costs WHERE function_name = 'search-suggest'",
    )[0]["usd"]
        .as_f64()
        .unwrap();
    let per_million = search.usd_per_million.unwrap();
    assert!(
        (per_million - spent / ran * 1e6).abs() < 1e-9,
        "{per_million} vs {}",
        spent / ran * 1e6
    );

    let mut model = Model::new("viewing the sample");
    update(&mut model, Msg::Loaded(snapshot));
    check_snapshot("overview-160x30", &screen(&model, 160, 30));
    check_snapshot("overview-80x24", &screen(&model, 80, 24));

    // Sorting by the next column (errors) and filtering by name change the rows shown.
    update(&mut model, Msg::Key(Key::Char('s')));
    update(&mut model, Msg::Key(Key::Char('/')));
    for c in "ch".chars() {
        update(&mut model, Msg::Key(Key::Char(c)));
    }
    update(&mut model, Msg::Key(Key::Enter));
    check_snapshot("overview-sorted-filtered", &screen(&model, 120, 16));

    // Enter on the first row asks for its screen; load it as the runtime would.
    update(&mut model, Msg::Key(Key::Esc));
    let commands = update(&mut model, Msg::Key(Key::Enter));
    let [TuiCommand::LoadDetail(function, window)] = &commands[..] else {
        panic!("Enter did not open a function: {commands:?}");
    };
    let detail = runtime
        .block_on(load_detail(&analyzer, function, *window, now))
        .unwrap();
    update(&mut model, Msg::DetailLoaded(detail));
    check_snapshot("detail", &screen(&model, 140, 40));

    // The second latest invocation's trace, as a waterfall with its log lines.
    update(&mut model, Msg::Key(Key::Down));
    let commands = update(&mut model, Msg::Key(Key::Enter));
    let [TuiCommand::LoadTrace(request)] = &commands[..] else {
        panic!("Enter did not open a trace: {commands:?}");
    };
    let trace = runtime.block_on(load_trace(&analyzer, request)).unwrap();
    assert!(!trace.spans.is_empty(), "{trace:?}");
    update(&mut model, Msg::TraceLoaded(trace));
    check_snapshot("trace", &screen(&model, 140, 30));
    assert!(update(&mut model, Msg::Key(Key::Esc)).is_empty());

    update(&mut model, Msg::Key(Key::Char('?')));
    check_snapshot("help", &screen(&model, 100, 30));
    update(&mut model, Msg::Key(Key::Char('x')));
    let commands = update(&mut model, Msg::Key(Key::Esc));
    assert_eq!(commands, vec![TuiCommand::LoadOverview(Window::All)]);

    // Concurrency, cost and SQL, each loaded as the runtime would on its key.
    assert_eq!(
        update(&mut model, Msg::Key(Key::Char('2'))),
        vec![TuiCommand::LoadConcurrency(Window::All)]
    );
    let concurrency = runtime
        .block_on(load_concurrency(&analyzer, Window::All, now))
        .unwrap();
    assert_eq!(concurrency.functions[0].0, "image-resize");
    update(&mut model, Msg::ConcurrencyLoaded(concurrency));
    check_snapshot("concurrency", &screen(&model, 120, 30));

    assert_eq!(
        update(&mut model, Msg::Key(Key::Char('3'))),
        vec![TuiCommand::LoadCost(Window::All)]
    );
    let cost = runtime
        .block_on(load_cost(&analyzer, Window::All, now))
        .unwrap();
    assert!(
        cost.scenarios
            .iter()
            .any(|(s, _)| s.starts_with("dedicated servers"))
    );
    // The sample's log-only functions (and search-suggest's untraced invocations) say no
    // architecture: the screen says how many were priced with the catalog's defaults.
    assert_eq!(
        (cost.pricing, cost.defaults.as_str()),
        (
            PricingCoverage {
                invocations: 2415,
                defaulted: 729,
                unpriced: 0,
                configured: 0,
            },
            "aws us-east-1 x86_64"
        )
    );
    assert_eq!(cost.dedicated_elsewhere, None);
    assert!(cost.copied_prices.is_empty());
    update(&mut model, Msg::CostLoaded(cost));
    check_snapshot("cost", &screen(&model, 140, 36));

    assert!(update(&mut model, Msg::Key(Key::Char('4'))).is_empty());
    for c in "SELECT status, count(*) AS n FROM invocations GROUP BY status ORDER BY n DESC".chars()
    {
        update(&mut model, Msg::Key(Key::Char(c)));
    }
    let commands = update(&mut model, Msg::Key(Key::Enter));
    let [TuiCommand::RunSql(query)] = &commands[..] else {
        panic!("Enter did not run the query: {commands:?}");
    };
    let result = runtime.block_on(run_sql(&analyzer, query)).unwrap();
    update(&mut model, Msg::SqlDone(result));
    check_snapshot("sql", &screen(&model, 100, 14));
    // A query that writes is refused, and the refusal is shown.
    update(&mut model, Msg::Key(Key::Enter));
    for _ in 0..200 {
        update(&mut model, Msg::Key(Key::Backspace));
    }
    for c in "DROP TABLE spans".chars() {
        update(&mut model, Msg::Key(Key::Char(c)));
    }
    let commands = update(&mut model, Msg::Key(Key::Enter));
    let [TuiCommand::RunSql(query)] = &commands[..] else {
        panic!("{commands:?}");
    };
    let refused = runtime.block_on(run_sql(&analyzer, query)).unwrap_err();
    update(&mut model, Msg::Failed(refused));
    assert!(screen(&model, 100, 14).contains("error: queries are read-only"));
    // Attribute values come as their value, not as a struct of one leaf per type.
    let attributes =
        "SELECT attributes FROM spans WHERE attributes['faas.trigger'] IS NOT NULL LIMIT 1";
    let result = runtime.block_on(run_sql(&analyzer, attributes)).unwrap();
    let cell = &result.rows[0][0];
    assert!(
        cell.contains("faas.trigger: http") && !cell.contains("int: "),
        "{cell}"
    );
    // A large result keeps its first rows and counts the rest.
    let result = runtime
        .block_on(run_sql(&analyzer, "SELECT body FROM logs"))
        .unwrap();
    let logs = runtime
        .block_on(analyzer.query("SELECT count(*) FROM logs"))
        .unwrap()[0]
        .column(0)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .value(0) as usize;
    assert_eq!(result.rows.len(), faasobs_tui::data::SQL_MAX_ROWS);
    assert_eq!(result.more, logs - faasobs_tui::data::SQL_MAX_ROWS);

    assert_eq!(
        update(&mut model, Msg::Key(Key::Char('q'))),
        vec![TuiCommand::Quit]
    );
}

/// `faasobs --data DATA tui ARGS` in a 160×40 pane of a tmux server of the test's own (so
/// nothing else's sessions are touched); the exit status is written to a file when it ends.
pub(crate) struct Tmux {
    socket: String,
    /// Holds the exit status file, apart from the data directory (which may not exist).
    _exit_dir: tempfile::TempDir,
    exit_file: std::path::PathBuf,
}

impl Tmux {
    pub(crate) fn start(name: &str, data: &Path, args: &str) -> Tmux {
        Tmux::start_with_env(name, &[], data, args)
    }

    /// [`Tmux::start`] with the variables `env` set for the dashboard.
    pub(crate) fn start_with_env(
        name: &str,
        env: &[(&str, String)],
        data: &Path,
        args: &str,
    ) -> Tmux {
        let exit_dir = tempfile::tempdir().unwrap();
        let tmux = Tmux {
            socket: format!("faasobs-{name}-{}", std::process::id()),
            exit_file: exit_dir.path().join("exit-status"),
            _exit_dir: exit_dir,
        };
        let assignments: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        let command = format!(
            "{assignments}{} --data {} tui {args}; echo $? > {}",
            assert_cmd::cargo::cargo_bin("faasobs").display(),
            data.display(),
            tmux.exit_file.display()
        );
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "dash",
            "-x",
            "160",
            "-y",
            "40",
            &command,
        ]);
        tmux
    }

    /// Presses `q` and checks the dashboard exits with status 0.
    pub(crate) fn quit_cleanly(&self) {
        self.keys(&["q"]);
        let started = Instant::now();
        while !self.exit_file.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "q did not quit"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = std::fs::read_to_string(&self.exit_file).unwrap();
        assert_eq!(status.trim(), "0", "the dashboard exited with {status}");
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (installed by .ci/run)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "dash"])
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "dash", key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until the screen satisfies `ready`; returns it.
    pub(crate) fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the dashboard never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Sends `n` invocation spans of function `tui-e2e` through the Python OTLP/gRPC exporter.
const EXPORT: &str = r#"
import sys, time
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

endpoint, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
provider = TracerProvider(resource=Resource.create({"faas.name": "tui-e2e", "cloud.provider": "aws"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
tracer = provider.get_tracer("faasobs-tui-test")
now = time.time_ns()
for k in range(first, first + n):
    span = tracer.start_span("handler", kind=SpanKind.SERVER, start_time=now - 2_000_000_000,
                             attributes={"faas.invocation_id": f"tui-e2e-{k}", "faas.coldstart": k == 0})
    span.end(end_time=now - 2_000_000_000 + 40_000_000)
provider.shutdown()
print("sent")
"#;

/// The `N invocations` figure of the header.
pub(crate) fn invocations_shown(screen: &str) -> Option<u64> {
    let words: Vec<&str> = screen.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1] == "invocations")
        .and_then(|w| w[0].parse().ok())
}

/// A function deployed in two regions: the overview's footer and its screen say so, in the alarm
/// colour, since their numbers add both together; the sample's functions each say their one
/// place, and its overview has nothing to say of places.
#[test]
fn a_function_screen_says_where_its_function_runs() {
    let deployment = |region| Deployment {
        region,
        account: "111111111111",
        memory_mb: 512,
        duration_ms: 80,
    };
    let store = store_of_one_function_deployed(&[deployment("us-east-1"), deployment("eu-west-1")]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let analyzer = open(store.path(), &runtime);
    let snapshot = runtime
        .block_on(load_snapshot(&analyzer, Window::All, 0))
        .unwrap();
    // After the notice that the built-in catalog does not price eu-west-1.
    let notice = snapshot.notice.clone().unwrap();
    assert!(
        notice.starts_with("no costs: ")
            && notice.ends_with(
                "; orders-api runs in 2 regions (eu-west-1, us-east-1): its row adds them together"
            ),
        "{notice}"
    );
    let mut model = Model::new("viewing");
    update(&mut model, Msg::Loaded(snapshot));
    let commands = update(&mut model, Msg::Key(Key::Enter));
    let [TuiCommand::LoadDetail(function, window)] = &commands[..] else {
        panic!("Enter did not open a function: {commands:?}");
    };
    let detail = runtime
        .block_on(load_detail(&analyzer, function, *window, 0))
        .unwrap();
    assert!(detail.places.several(), "{:?}", detail.places);
    update(&mut model, Msg::DetailLoaded(detail));
    let drawn = screen(&model, 140, 40);
    let facts = facts_panel(&drawn);
    assert!(
        facts.contains("runs in 2 regions (eu-west-1, us-east-1): this screen adds them together"),
        "{drawn}"
    );

    let sample = sample_store();
    let analyzer = open(sample.path(), &runtime);
    let snapshot = runtime
        .block_on(load_snapshot(&analyzer, Window::All, 0))
        .unwrap();
    assert_eq!(snapshot.notice, None);
    let detail = runtime
        .block_on(load_detail(&analyzer, "checkout-api", Window::All, 0))
        .unwrap();
    assert_eq!(detail.places.describe(), "us-east-1, account 123456789012");
}

/// Functions in eu-west-1 priced with us-east-1's prices copied (`cost catalog --copy-prices`):
/// the cost screen says the prices are copies, and that the servers it breaks even with are
/// priced as in us-east-1.
#[test]
fn the_cost_screen_says_which_prices_are_copied_and_where_servers_are_priced() {
    let store = store_of_one_function_deployed(&[Deployment {
        region: "eu-west-1",
        account: "111111111111",
        memory_mb: 1024,
        duration_ms: 120,
    }]);
    let builtin = Catalog::builtin();
    let copies = builtin.copy_prices_toml("us-east-1", "eu-west-1").unwrap();
    let catalog = Catalog::parse(&format!("{DEFAULT_CATALOG}{copies}"), "copied").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let analyzer = runtime
        .block_on(Analyzer::open(
            store.path(),
            AnalyzerConfig {
                catalog: std::sync::Arc::new(catalog),
                ..AnalyzerConfig::default()
            },
        ))
        .unwrap();
    let cost = runtime
        .block_on(load_cost(&analyzer, Window::All, 0))
        .unwrap();
    assert_eq!(
        cost.dedicated_elsewhere,
        Some(DedicatedElsewhere {
            priced_in: "us-east-1".into(),
            regions: vec!["eu-west-1".into()],
        })
    );
    let copied: Vec<&str> = cost
        .copied_prices
        .iter()
        .map(|c| c.place.as_str())
        .collect();
    assert_eq!(copied, ["aws eu-west-1 x86_64"]);
    let mut model = Model::new("viewing");
    update(&mut model, Msg::Key(Key::Char('3')));
    update(&mut model, Msg::CostLoaded(cost));
    let drawn = screen(&model, 160, 40);
    for note in [
        "aws eu-west-1 x86_64 priced with us-east-1's prices, copied: check them",
        "servers priced as in us-east-1; functions run in eu-west-1",
    ] {
        assert!(drawn.contains(note), "{note}: {drawn}");
    }
}

/// Spans that say nothing of cold starts have theirs inferred (each instance's first invocation
/// received): the overview marks the function's cold-start rate and counts them in its totals,
/// and the function's screen says how many of its cold starts are inferred. The sample's cold
/// starts are all told by its sources, so nothing of it is marked.
#[test]
fn inferred_cold_starts_are_marked_on_the_overview_and_the_function_screen() {
    let start_ns: i64 = 1_795_424_400_000_000_000; // 2026-11-23T09:00:00Z
    // Two instances of `resize`, four invocations each, one a minute; no `faas.coldstart`.
    let resources: Vec<String> = ["2026/11/23/[$LATEST]aaaa", "2026/11/23/[$LATEST]bbbb"]
        .iter()
        .enumerate()
        .map(|(n, instance)| {
            let spans: Vec<String> = (0..4_i64)
                .map(|i| {
                    let start = start_ns + (n as i64 * 4 + i) * 60_000_000_000;
                    invocation_span_json(n + 1, i, start, 40)
                })
                .collect();
            format!(
                r#"{{"resource":{{"attributes":[
                  {{"key":"cloud.provider","value":{{"stringValue":"aws"}}}},
                  {{"key":"cloud.region","value":{{"stringValue":"us-east-1"}}}},
                  {{"key":"faas.name","value":{{"stringValue":"resize"}}}},
                  {{"key":"faas.instance","value":{{"stringValue":"{instance}"}}}}]}},
                 "scopeSpans":[{{"spans":[{}]}}]}}"#,
                spans.join(",")
            )
        })
        .collect();
    let store = store_of_resource_spans(&resources);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let analyzer = open(store.path(), &runtime);
    let snapshot = runtime
        .block_on(load_snapshot(&analyzer, Window::All, 0))
        .unwrap();
    assert_eq!(
        (snapshot.cold_starts, snapshot.inferred_cold_starts),
        (2, 2),
        "{snapshot:?}"
    );
    assert_eq!(snapshot.functions[0].inferred_cold_starts, 2);
    let mut model = Model::new("viewing");
    update(&mut model, Msg::Loaded(snapshot));
    let drawn = screen(&model, 160, 12);
    assert!(drawn.contains("2 cold starts (2 inferred)"), "{drawn}");
    let row = drawn
        .lines()
        .find(|line| line.contains("resize"))
        .unwrap_or_else(|| panic!("no row of resize:\n{drawn}"));
    assert!(row.contains("~25.0"), "{row}");
    let narrow = screen(&model, 100, 12);
    assert!(narrow.contains("2 cold (2 inf.)"), "{narrow}");

    update(&mut model, Msg::Key(Key::Enter));
    let detail = runtime
        .block_on(load_detail(&analyzer, "resize", Window::All, 0))
        .unwrap();
    assert_eq!(detail.inferred_cold_starts, 2);
    update(&mut model, Msg::DetailLoaded(detail));
    let facts = facts_panel(&screen(&model, 140, 40));
    assert!(
        facts.contains("2 inferred: no source said; an instance's first one seen counts"),
        "{facts}"
    );

    let sample = sample_store();
    let analyzer = open(sample.path(), &runtime);
    let snapshot = runtime
        .block_on(load_snapshot(&analyzer, Window::All, 0))
        .unwrap();
    assert!(snapshot.cold_starts > 0 && snapshot.inferred_cold_starts == 0);
    let mut model = Model::new("viewing");
    update(&mut model, Msg::Loaded(snapshot));
    let drawn = screen(&model, 160, 12);
    assert!(
        !drawn.contains('~') && !drawn.contains("inferred"),
        "{drawn}"
    );
}

#[test]
fn the_dashboard_shows_live_spans_opens_a_function_and_quits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    let tmux = Tmux::start(
        "live",
        &store,
        "--grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --refresh 300ms",
    );
    let screen = tmux.wait_for("the receivers' address", |s| {
        s.contains("receiving OTLP/gRPC on")
    });
    let grpc = screen
        .split_whitespace()
        .skip_while(|w| *w != "OTLP/gRPC")
        .nth(2)
        .expect("the gRPC address in the header")
        .to_string();
    assert!(grpc.starts_with("127.0.0.1:"), "{screen}");

    assert_eq!(
        run_python(EXPORT, &[&format!("http://{grpc}"), "0", "5"]).trim(),
        "sent"
    );
    tmux.wait_for("5 invocations of tui-e2e", |s| {
        s.contains("tui-e2e") && invocations_shown(s) == Some(5)
    });
    assert_eq!(
        run_python(EXPORT, &[&format!("http://{grpc}"), "5", "7"]).trim(),
        "sent"
    );
    tmux.wait_for("the count rising to 12", |s| {
        invocations_shown(s) == Some(12)
    });

    // Open the function's screen and come back.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the function's screen", |s| {
        s.contains("duration histogram") && s.contains("latest invocations")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the overview again", |s| s.contains("functions 1 of 1"));

    tmux.quit_cleanly();
}

#[test]
fn the_demo_moves_within_seconds_of_starting() {
    let data = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(
        "demo",
        &data.path().join("store"),
        "--demo --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --refresh 300ms",
    );
    let first = tmux.wait_for("the first replayed invocations", |s| {
        invocations_shown(s).is_some_and(|n| n > 0)
    });
    let first = invocations_shown(&first).unwrap();
    tmux.wait_for("more invocations arriving", |s| {
        invocations_shown(s).is_some_and(|n| n > first)
    });
    tmux.quit_cleanly();
}

/// Viewing a data directory that does not exist shows why the table is empty and creates
/// nothing, not even the dashboard's own log file.
#[test]
fn viewing_a_missing_directory_creates_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("not-yet");
    let tmux = Tmux::start("missing", &missing, "--no-listen --refresh 300ms");
    tmux.wait_for("the empty table's hint", |s| {
        s.contains("nothing stored yet")
    });
    tmux.quit_cleanly();
    assert!(
        !missing.exists(),
        "the dashboard created {}",
        missing.display()
    );
}

#[test]
fn taken_ports_fall_back_to_viewing_the_data_directory() {
    let data = sample_store();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tmux = Tmux::start(
        "taken",
        data.path(),
        &format!("--grpc-addr 127.0.0.1:{port} --http-addr 127.0.0.1:0 --concurrency-limit 20"),
    );
    // The sample is shown, and the header says why nothing is received.
    let screen = tmux.wait_for("the sample, viewed", |s| {
        s.contains("not receiving") && invocations_shown(s) == Some(2415)
    });
    assert!(screen.contains(&format!("127.0.0.1:{port}")), "{screen}");
    // The concurrency screen measures against the limit given.
    tmux.keys(&["2"]);
    tmux.wait_for("the sample's peak against limit 20", |s| {
        s.contains("peak 13 of limit 20, headroom 7")
    });
    tmux.quit_cleanly();
    drop(taken);
}
