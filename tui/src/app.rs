//! The runtime around `update` and `view`: terminal events and refresh ticks become messages,
//! commands become queries on tokio tasks whose results come back as messages, and the screen is
//! redrawn only after a message that can change it. Generic over the ratatui backend, so tests
//! drive it with `TestBackend`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use faasobs_analyzer::Analyzer;
use faasobs_analyzer::cost::Catalog;
use faasobs_analyzer::listed_objects::LISTING_OUTDATED_SAYS;
use faasobs_analyzer::location::DataLocation;
use faasobs_analyzer::session::AnalyzerConfig;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::data::{load_concurrency, load_cost, load_detail, load_snapshot, load_trace, run_sql};
use crate::model::{Command, Key, Model, Msg};
use crate::update::update;
use crate::view::view;

/// Where the dashboard reads from and how often.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// The store: a local data directory, or a copy of one on object storage.
    pub data: DataLocation,
    pub catalog: Arc<Catalog>,
    /// How often the numbers refresh.
    pub refresh: Duration,
    /// Memory one refresh's queries may use (bytes).
    pub memory_limit_bytes: usize,
    /// The limit the concurrency screen measures headroom against.
    pub concurrency_limit: u64,
    /// What the header says is watched.
    pub source: String,
}

/// The share of one core that periodic refreshes may use: when the data is large enough that a
/// refresh costs more, refreshes come less often than `--refresh` (a key still loads at once).
/// 3%, leaving room for drawing, input and the process's own idle cost within the 5% target
/// (measured by the benchmark: 37% of a core before there was a budget, 5.9% with 5% for
/// refreshes, 5.2% with 4%; the rest, about 1.2% of a core, is not refreshes).
pub const REFRESH_CPU_SHARE: f64 = 0.03;

/// How long to wait after a load that used `cpu` so that loads average at most `share` of a
/// core.
pub fn quiet_period(cpu: Duration, share: f64) -> Duration {
    cpu.mul_f64((1.0 - share) / share)
}

/// CPU time (user + system) this process has used.
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage writes into a valid local struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Until when periodic refreshes wait, shared by the loader (which sets it after each load) and
/// the tick forwarder (which skips ticks before it).
#[derive(Debug, Clone, Default)]
pub struct RefreshBudget(Arc<std::sync::Mutex<Option<tokio::time::Instant>>>);

impl RefreshBudget {
    fn quiet_until(&self, until: tokio::time::Instant) {
        *self.0.lock().expect("refresh budget lock") = Some(until);
    }

    fn is_quiet(&self) -> bool {
        self.0
            .lock()
            .expect("refresh budget lock")
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }
}

/// How long a dashboard over object storage (`s3://…`) answers from one listing of the bucket
/// before it lists it again. Each listing is a LIST request per table folder (and per thousand
/// files in one), which providers bill: at the default refresh of 1 s that was about 345,000 a
/// day. New files show up at most this much later; a collector closes its segments every 10 s
/// by default, so they come about that often anyway. A local directory, and one whose Parquet
/// files are in a bucket, are listed at every refresh: their WAL rows are read afresh, and a
/// listing older than them would miss the rows just flushed out of the WAL.
pub const BUCKET_LISTING_REUSE: Duration = Duration::from_secs(10);

/// The store as last opened, with when, for loads that may reuse its listing.
type OpenedStore = Arc<tokio::sync::Mutex<Option<(tokio::time::Instant, Arc<Analyzer>)>>>;

/// Runs queries for commands; each result comes back on `tx` as a message.
#[derive(Clone)]
pub struct Loader {
    config: DashboardConfig,
    tx: UnboundedSender<Msg>,
    budget: RefreshBudget,
    /// How long one opening of the store (its listing) serves loads; none: each load opens it.
    listing_reuse: Option<Duration>,
    opened: OpenedStore,
    /// Set by [`Loader::relist_next`]: the next load opens the store afresh.
    relist: Arc<AtomicBool>,
}

impl Loader {
    pub fn new(config: DashboardConfig, tx: UnboundedSender<Msg>) -> Loader {
        let listing_reuse = match config.data {
            DataLocation::ObjectStore(_) => Some(BUCKET_LISTING_REUSE),
            DataLocation::Directory(_) => None,
        };
        Loader {
            config,
            tx,
            budget: RefreshBudget::default(),
            listing_reuse,
            opened: OpenedStore::default(),
            relist: Arc::default(),
        }
    }

    /// Makes the next load open the store afresh, listing it again, even within the listing
    /// reuse period.
    pub fn relist_next(&self) {
        self.relist.store(true, Ordering::Relaxed);
    }

    /// Lets one opening of the store serve the loads of the next `period`, wherever the store
    /// is (a copy on object storage does by default, [`BUCKET_LISTING_REUSE`]).
    pub fn reusing_listings_for(mut self, period: Duration) -> Loader {
        self.listing_reuse = Some(period);
        self
    }

    /// How long one opening of the store serves loads; none: each load opens it afresh.
    pub fn listing_reuse(&self) -> Option<Duration> {
        self.listing_reuse
    }

    /// The budget its loads charge, for [`forward_ticks`].
    pub fn budget(&self) -> RefreshBudget {
        self.budget.clone()
    }

    /// Opens the store afresh (so new files and WAL rows are seen), or reuses its last opening
    /// while that is younger than the listing reuse period, and runs the query. A load that
    /// fails on a reused opening (a compaction may have replaced the files it lists), or on a
    /// file changed since the listing, is run again on a fresh one.
    pub fn spawn(&self, command: Command) {
        let loader = self.clone();
        tokio::spawn(async move {
            let (cpu_before, started) = (process_cpu_time(), tokio::time::Instant::now());
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
            let msg = match loader.store(false).await {
                Err(e) => Some(Msg::Failed(e)),
                Ok((analyzer, reused)) => match answer(&analyzer, command.clone(), now).await {
                    Some(Msg::Failed(why)) if needs_fresh_opening(reused, &why) => {
                        match loader.store(true).await {
                            Ok((fresh, _)) => answer(&fresh, command, now).await,
                            Err(e) => Some(Msg::Failed(e)),
                        }
                    }
                    answered => answered,
                },
            };
            let Some(msg) = msg else {
                return;
            };
            // Both bound what the load used: the process's CPU (which also counts embedded
            // receivers) and the load's wall time on every core.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            let used = process_cpu_time()
                .saturating_sub(cpu_before)
                .min(started.elapsed() * cores);
            loader
                .budget
                .quiet_until(tokio::time::Instant::now() + quiet_period(used, REFRESH_CPU_SHARE));
            let _ = loader.tx.send(msg);
        });
    }

    /// The store to load from and whether it is a reused opening: the last one while it is
    /// young enough (unless `afresh`), else a new one, kept for the loads after.
    async fn store(&self, afresh: bool) -> Result<(Arc<Analyzer>, bool), String> {
        let Some(period) = self.listing_reuse else {
            return Ok((Arc::new(self.open().await?), false));
        };
        let mut opened = self.opened.lock().await;
        let afresh = afresh | self.relist.swap(false, Ordering::Relaxed);
        if !afresh
            && let Some((at, analyzer)) = &*opened
            && at.elapsed() < period
        {
            return Ok((analyzer.clone(), true));
        }
        let analyzer = Arc::new(self.open().await?);
        *opened = Some((tokio::time::Instant::now(), analyzer.clone()));
        Ok((analyzer, false))
    }

    async fn open(&self) -> Result<Analyzer, String> {
        Analyzer::open(
            self.config.data.clone(),
            AnalyzerConfig {
                memory_limit_bytes: self.config.memory_limit_bytes,
                catalog: self.config.catalog.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())
    }
}

/// Whether a load that failed with `failure` is run again on a fresh opening of the store: one
/// that failed on a reused opening (a compaction may have replaced the files it lists), and one
/// that met a file changed since its opening's listing.
pub fn needs_fresh_opening(reused: bool, failure: &str) -> bool {
    reused || failure.contains(LISTING_OUTDATED_SAYS)
}

/// Runs the query of `command` on `analyzer`; its result, or none for the commands that query
/// nothing ([`Command::Relist`], [`Command::Quit`]).
async fn answer(analyzer: &Analyzer, command: Command, now: i64) -> Option<Msg> {
    Some(match command {
        Command::LoadOverview(window) => match load_snapshot(analyzer, window, now).await {
            Ok(s) => Msg::Loaded(s),
            Err(e) => Msg::Failed(e),
        },
        Command::LoadDetail(function, window) => {
            match load_detail(analyzer, &function, window, now).await {
                Ok(d) => Msg::DetailLoaded(d),
                Err(e) => Msg::Failed(e),
            }
        }
        Command::LoadConcurrency(window) => match load_concurrency(analyzer, window, now).await {
            Ok(v) => Msg::ConcurrencyLoaded(v),
            Err(e) => Msg::Failed(e),
        },
        Command::LoadCost(window) => match load_cost(analyzer, window, now).await {
            Ok(v) => Msg::CostLoaded(v),
            Err(e) => Msg::Failed(e),
        },
        Command::LoadTrace(request) => match load_trace(analyzer, &request).await {
            Ok(t) => Msg::TraceLoaded(t),
            Err(e) => Msg::Failed(e),
        },
        Command::RunSql(query) => match run_sql(analyzer, &query).await {
            Ok(r) => Msg::SqlDone(r),
            Err(e) => Msg::Failed(e),
        },
        Command::Relist | Command::Quit => return None,
    })
}

/// The key a terminal key event means, if any.
pub fn key_of(event: KeyEvent) -> Option<Key> {
    if event.kind != KeyEventKind::Press {
        return None;
    }
    if event.modifiers.contains(KeyModifiers::CONTROL) {
        return (event.code == KeyCode::Char('c')).then_some(Key::CtrlC);
    }
    Some(match event.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Tab => Key::Tab,
        _ => return None,
    })
}

/// Reads terminal events on a thread of its own and forwards the ones the dashboard uses.
pub fn forward_terminal_events(tx: UnboundedSender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let msg = match event::read() {
                Ok(Event::Key(k)) => key_of(k).map(Msg::Key),
                Ok(Event::Resize(..)) => Some(Msg::Resized),
                Ok(_) => None,
                Err(_) => return,
            };
            if let Some(msg) = msg
                && tx.send(msg).is_err()
            {
                return;
            }
        }
    });
}

/// Sends a refresh tick every `period`, except while `budget` asks for quiet.
pub fn forward_ticks(tx: UnboundedSender<Msg>, period: Duration, budget: RefreshBudget) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            if budget.is_quiet() {
                continue;
            }
            if tx.send(Msg::Tick).is_err() {
                return;
            }
        }
    });
}

/// Runs the dashboard until it is told to quit: draws, then applies each message, runs its
/// commands and redraws when something may have changed.
pub async fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    model: &mut Model,
    rx: &mut UnboundedReceiver<Msg>,
    loader: &Loader,
) -> std::io::Result<()> {
    let draw = |terminal: &mut Terminal<B>, model: &Model| {
        terminal
            .draw(|frame| view(model, frame))
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    };
    draw(terminal, model)?;
    while let Some(msg) = rx.recv().await {
        let before = (model.loading, model.error.is_some());
        let tick = matches!(msg, Msg::Tick);
        for command in update(model, msg) {
            match command {
                Command::Quit => return Ok(()),
                Command::Relist => loader.relist_next(),
                other => loader.spawn(other),
            }
        }
        if !tick || before != (model.loading, model.error.is_some()) {
            draw(terminal, model)?;
        }
    }
    Ok(())
}

/// The dashboard in this terminal: takes it over (restored on exit and on panic) and runs until
/// `q` or Ctrl-C.
pub async fn run(config: DashboardConfig) -> std::io::Result<()> {
    let (tx, mut rx) = unbounded_channel();
    let loader = Loader::new(config.clone(), tx.clone());
    let mut model = Model::new(config.source.clone());
    model.concurrency_limit = config.concurrency_limit;
    let mut terminal = ratatui::init();
    forward_terminal_events(tx.clone());
    forward_ticks(tx, config.refresh, loader.budget());
    let result = run_loop(&mut terminal, &mut model, &mut rx, &loader).await;
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_costly_refresh_is_followed_by_a_quiet_period_that_keeps_refreshes_within_their_share() {
        let cpu = Duration::from_millis(370);
        let quiet = quiet_period(cpu, 0.05);
        assert_eq!(quiet, Duration::from_millis(7030));
        let share = cpu.as_secs_f64() / (cpu + quiet).as_secs_f64();
        assert!((share - 0.05).abs() < 1e-9);
        // A cheap refresh leaves the configured period in charge.
        assert!(quiet_period(Duration::from_millis(10), 0.05) < Duration::from_secs(1));
    }
}
