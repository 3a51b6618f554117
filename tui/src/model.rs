//! The dashboard's state, the messages that change it and the commands it asks the runtime for
//! (the Elm architecture: `update` turns a message into a new state and commands; `view` only
//! reads the state).

use crate::data::{ConcurrencyView, CostView, Detail, Snapshot, SqlResult, TraceView};

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Detail,
    Concurrency,
    Cost,
    Sql,
    /// One invocation's trace, opened from a function's latest invocations.
    Trace,
}

/// The time window the numbers cover, relative to now (or to the newest data with `All`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Last5m,
    Last1h,
    Last24h,
    All,
}

impl Window {
    pub fn label(self) -> &'static str {
        match self {
            Window::Last5m => "last 5m",
            Window::Last1h => "last 1h",
            Window::Last24h => "last 24h",
            Window::All => "all",
        }
    }

    /// The window's length in ns (`None`: everything).
    pub fn length_ns(self) -> Option<i64> {
        match self {
            Window::Last5m => Some(300_000_000_000),
            Window::Last1h => Some(3_600_000_000_000),
            Window::Last24h => Some(86_400_000_000_000),
            Window::All => None,
        }
    }

    /// The next window, for the key that cycles them.
    pub fn next(self) -> Window {
        match self {
            Window::Last5m => Window::Last1h,
            Window::Last1h => Window::Last24h,
            Window::Last24h => Window::All,
            Window::All => Window::Last5m,
        }
    }
}

/// The overview's columns, each one sortable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Function,
    PerMinute,
    ErrorRate,
    ColdRate,
    P50,
    P95,
    P99,
    Concurrency,
    Memory,
    UsdPerMillion,
    UsdPerHour,
}

impl Column {
    pub const ALL: [Column; 11] = [
        Column::Function,
        Column::PerMinute,
        Column::ErrorRate,
        Column::ColdRate,
        Column::P50,
        Column::P95,
        Column::P99,
        Column::Concurrency,
        Column::Memory,
        Column::UsdPerMillion,
        Column::UsdPerHour,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Function => "function",
            Column::PerMinute => "inv/min",
            Column::ErrorRate => "err%",
            Column::ColdRate => "cold%",
            Column::P50 => "p50 ms",
            Column::P95 => "p95 ms",
            Column::P99 => "p99 ms",
            Column::Concurrency => "peak",
            Column::Memory => "mem MB",
            Column::UsdPerMillion => "$/1M",
            Column::UsdPerHour => "$/h",
        }
    }
}

/// What arrives at `update`.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(Key),
    /// Time to refresh the data.
    Tick,
    Loaded(Snapshot),
    DetailLoaded(Detail),
    ConcurrencyLoaded(ConcurrencyView),
    CostLoaded(CostView),
    SqlDone(SqlResult),
    TraceLoaded(TraceView),
    Failed(String),
    Resized,
}

/// The keys the dashboard reacts to, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Backspace,
    Tab,
    CtrlC,
}

/// What `update` asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    LoadOverview(Window),
    LoadDetail(String, Window),
    LoadConcurrency(Window),
    LoadCost(Window),
    RunSql(String),
    LoadTrace(String),
    /// List the store afresh for the next load, even within the listing's reuse period (the
    /// `r` key: over object storage, refreshes reuse a listing for a while).
    Relist,
    Quit,
}

/// The whole state of the dashboard.
#[derive(Debug, Clone)]
pub struct Model {
    pub screen: Screen,
    pub window: Window,
    pub sort: Column,
    pub descending: bool,
    /// The function-name filter (`/`), and whether it is being typed.
    pub filter: String,
    pub filtering: bool,
    /// The selected row of the overview, among the visible (filtered, sorted) rows.
    pub selected: usize,
    pub snapshot: Option<Snapshot>,
    pub detail: Option<Detail>,
    /// The selected row of a function's latest invocations.
    pub invocation_selected: usize,
    pub trace: Option<TraceView>,
    pub concurrency: Option<ConcurrencyView>,
    pub cost: Option<CostView>,
    /// The SQL screen: the query being typed, whether keys go to it, the last result and how far
    /// it is scrolled.
    pub sql_input: String,
    pub sql_editing: bool,
    pub sql_result: Option<SqlResult>,
    pub sql_scroll: usize,
    /// The concurrency limit the concurrency screen measures headroom against.
    pub concurrency_limit: u64,
    pub error: Option<String>,
    pub show_help: bool,
    /// What the dashboard watches, for the header ("data dir …, receiving on …").
    pub source: String,
    /// A load is in flight: do not ask for another.
    pub loading: bool,
}

impl Model {
    pub fn new(source: impl Into<String>) -> Model {
        Model {
            screen: Screen::Overview,
            window: Window::All,
            sort: Column::PerMinute,
            descending: true,
            filter: String::new(),
            filtering: false,
            selected: 0,
            snapshot: None,
            detail: None,
            invocation_selected: 0,
            trace: None,
            concurrency: None,
            cost: None,
            sql_input: String::new(),
            sql_editing: true,
            sql_result: None,
            sql_scroll: 0,
            concurrency_limit: 1000,
            error: None,
            show_help: false,
            source: source.into(),
            loading: false,
        }
    }

    /// The overview rows the user sees: filtered by name and sorted by the chosen column.
    pub fn visible_rows(&self) -> Vec<&crate::data::FunctionRow> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        let filter = self.filter.to_lowercase();
        let mut rows: Vec<&crate::data::FunctionRow> = snapshot
            .functions
            .iter()
            .filter(|f| filter.is_empty() || f.name.to_lowercase().contains(&filter))
            .collect();
        rows.sort_by(|a, b| {
            let order = match self.sort {
                Column::Function => a.name.cmp(&b.name),
                other => a.sort_key(other).total_cmp(&b.sort_key(other)),
            };
            let order = if self.descending {
                order.reverse()
            } else {
                order
            };
            order.then_with(|| a.name.cmp(&b.name))
        });
        rows
    }

    /// The name of the selected function, if any row is visible.
    pub fn selected_function(&self) -> Option<String> {
        self.visible_rows()
            .get(self.selected)
            .map(|f| f.name.clone())
    }
}
