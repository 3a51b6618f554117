//! The runtime around `update` and `view`: terminal events and refresh ticks become messages,
//! commands become queries on tokio tasks whose results come back as messages, and the screen is
//! redrawn only after a message that can change it. Generic over the ratatui backend, so tests
//! drive it with `TestBackend`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faasobs_analyzer::Analyzer;
use faasobs_analyzer::cost::Catalog;
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
    pub data_dir: PathBuf,
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

/// Runs queries for commands; each result comes back on `tx` as a message.
#[derive(Debug, Clone)]
pub struct Loader {
    config: DashboardConfig,
    tx: UnboundedSender<Msg>,
}

impl Loader {
    pub fn new(config: DashboardConfig, tx: UnboundedSender<Msg>) -> Loader {
        Loader { config, tx }
    }

    /// Opens the data directory afresh (so new files and WAL rows are seen) and runs the query.
    pub fn spawn(&self, command: Command) {
        let config = self.config.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
            let analyzer = Analyzer::open(
                &config.data_dir,
                AnalyzerConfig {
                    memory_limit_bytes: config.memory_limit_bytes,
                    catalog: config.catalog.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string());
            let msg = match (analyzer, command) {
                (Err(e), _) => Msg::Failed(e),
                (Ok(a), Command::LoadOverview(window)) => {
                    match load_snapshot(&a, window, now).await {
                        Ok(s) => Msg::Loaded(s),
                        Err(e) => Msg::Failed(e),
                    }
                }
                (Ok(a), Command::LoadDetail(function, window)) => {
                    match load_detail(&a, &function, window, now).await {
                        Ok(d) => Msg::DetailLoaded(d),
                        Err(e) => Msg::Failed(e),
                    }
                }
                (Ok(a), Command::LoadConcurrency(window)) => {
                    match load_concurrency(&a, window, now).await {
                        Ok(v) => Msg::ConcurrencyLoaded(v),
                        Err(e) => Msg::Failed(e),
                    }
                }
                (Ok(a), Command::LoadCost(window)) => match load_cost(&a, window, now).await {
                    Ok(v) => Msg::CostLoaded(v),
                    Err(e) => Msg::Failed(e),
                },
                (Ok(a), Command::LoadTrace(request)) => match load_trace(&a, &request).await {
                    Ok(t) => Msg::TraceLoaded(t),
                    Err(e) => Msg::Failed(e),
                },
                (Ok(a), Command::RunSql(query)) => match run_sql(&a, &query).await {
                    Ok(r) => Msg::SqlDone(r),
                    Err(e) => Msg::Failed(e),
                },
                (Ok(_), Command::Quit) => return,
            };
            let _ = tx.send(msg);
        });
    }
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

/// Sends a refresh tick every `period`.
pub fn forward_ticks(tx: UnboundedSender<Msg>, period: Duration) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
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
    forward_ticks(tx, config.refresh);
    let result = run_loop(&mut terminal, &mut model, &mut rx, &loader).await;
    ratatui::restore();
    result
}
