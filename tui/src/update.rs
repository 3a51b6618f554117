//! `update`: the only place the dashboard's state changes. Pure: no I/O, no clock; what needs
//! the outside world is returned as [`Command`]s.

use crate::model::{Column, Command, Key, Model, Msg, Screen};

/// Rows a page key moves.
const PAGE: usize = 10;

/// Applies one message; returns what the runtime should do next.
pub fn update(model: &mut Model, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Tick => refresh(model),
        Msg::Resized => Vec::new(),
        Msg::Loaded(snapshot) => {
            model.snapshot = Some(snapshot);
            clamp_selection(model);
            loaded(model)
        }
        Msg::DetailLoaded(detail) => {
            model.detail = Some(detail);
            loaded(model)
        }
        Msg::ConcurrencyLoaded(view) => {
            model.concurrency = Some(view);
            loaded(model)
        }
        Msg::CostLoaded(view) => {
            model.cost = Some(view);
            loaded(model)
        }
        Msg::TraceLoaded(trace) => {
            model.trace = Some(trace);
            loaded(model)
        }
        Msg::SqlDone(result) => {
            model.sql_result = Some(result);
            model.sql_scroll = 0;
            loaded(model)
        }
        Msg::Failed(error) => {
            model.loading = false;
            model.error = Some(error);
            Vec::new()
        }
        Msg::Key(key) => on_key(model, key),
    }
}

/// A load finished: nothing is loading, and the last error is gone.
fn loaded(model: &mut Model) -> Vec<Command> {
    model.loading = false;
    model.error = None;
    Vec::new()
}

/// What a tick reloads for the screen shown, unless a load is already running. The cost screen
/// (a replay of every invocation) and the SQL screen reload only when asked (`r`, Enter).
fn refresh(model: &mut Model) -> Vec<Command> {
    if model.loading || matches!(model.screen, Screen::Cost | Screen::Sql | Screen::Trace) {
        return Vec::new();
    }
    reload(model)
}

/// What to load for the screen shown, now.
fn reload(model: &mut Model) -> Vec<Command> {
    let command = match (model.screen, &model.detail) {
        (Screen::Detail, Some(detail)) => {
            Command::LoadDetail(detail.function.clone(), model.window)
        }
        (Screen::Detail, None) | (Screen::Overview, _) => Command::LoadOverview(model.window),
        (Screen::Concurrency, _) => Command::LoadConcurrency(model.window),
        (Screen::Cost, _) => Command::LoadCost(model.window),
        (Screen::Trace, _) => match &model.trace {
            Some(trace) => Command::LoadTrace(trace.request_id.clone()),
            None => return Vec::new(),
        },
        (Screen::Sql, _) => match &model.sql_result {
            Some(result) => Command::RunSql(result.query.clone()),
            None => return Vec::new(),
        },
    };
    model.loading = true;
    vec![command]
}

fn clamp_selection(model: &mut Model) {
    let rows = model.visible_rows().len();
    model.selected = model.selected.min(rows.saturating_sub(1));
}

fn on_key(model: &mut Model, key: Key) -> Vec<Command> {
    if key == Key::CtrlC {
        return vec![Command::Quit];
    }
    if model.screen == Screen::Sql && model.sql_editing {
        return on_sql_input(model, key);
    }
    if model.filtering {
        match key {
            Key::Enter | Key::Esc => model.filtering = false,
            Key::Backspace => {
                model.filter.pop();
            }
            Key::Char(c) => model.filter.push(c),
            _ => {}
        }
        model.selected = 0;
        return Vec::new();
    }
    if model.show_help {
        // Any key closes the help; `q` still quits.
        model.show_help = false;
        return if key == Key::Char('q') {
            vec![Command::Quit]
        } else {
            Vec::new()
        };
    }
    match key {
        Key::Char('q') => vec![Command::Quit],
        Key::Char('?') => {
            model.show_help = true;
            Vec::new()
        }
        Key::Char('w') => {
            model.window = model.window.next();
            reload(model)
        }
        Key::Char('r') => {
            let mut commands = vec![Command::Relist];
            commands.extend(reload(model));
            commands
        }
        Key::Char(c @ '1'..='4') => {
            let screen = match c {
                '1' => Screen::Overview,
                '2' => Screen::Concurrency,
                '3' => Screen::Cost,
                _ => Screen::Sql,
            };
            if screen == model.screen {
                return Vec::new();
            }
            model.screen = screen;
            model.detail = None;
            if screen == Screen::Sql {
                model.sql_editing = true;
                return Vec::new();
            }
            reload(model)
        }
        _ => match model.screen {
            Screen::Overview => on_overview_key(model, key),
            Screen::Detail => on_detail_key(model, key),
            Screen::Sql => on_sql_result_key(model, key),
            Screen::Trace => {
                if matches!(key, Key::Esc | Key::Backspace | Key::Char('h')) {
                    model.screen = Screen::Detail;
                    model.trace = None;
                }
                Vec::new()
            }
            Screen::Concurrency | Screen::Cost => {
                if key == Key::Esc {
                    model.screen = Screen::Overview;
                    return reload(model);
                }
                Vec::new()
            }
        },
    }
}

/// Where a movement key takes a position in a list whose last index is `last`; `None` for any
/// other key.
fn moved(position: usize, last: usize, key: Key) -> Option<usize> {
    Some(match key {
        Key::Up | Key::Char('k') => position.saturating_sub(1),
        Key::Down | Key::Char('j') => (position + 1).min(last),
        Key::PageUp => position.saturating_sub(PAGE),
        Key::PageDown => (position + PAGE).min(last),
        Key::Home | Key::Char('g') => 0,
        Key::End | Key::Char('G') => last,
        _ => return None,
    })
}

fn on_overview_key(model: &mut Model, key: Key) -> Vec<Command> {
    let last = model.visible_rows().len().saturating_sub(1);
    if let Some(position) = moved(model.selected, last, key) {
        model.selected = position;
        return Vec::new();
    }
    match key {
        Key::Char('/') => {
            model.filtering = true;
        }
        Key::Esc => {
            model.filter.clear();
            model.selected = 0;
        }
        Key::Char('s') | Key::Tab => {
            let i = Column::ALL
                .iter()
                .position(|c| *c == model.sort)
                .unwrap_or(0);
            model.sort = Column::ALL[(i + 1) % Column::ALL.len()];
            model.descending = model.sort != Column::Function;
        }
        Key::Char('S') => model.descending = !model.descending,
        Key::Enter | Key::Char('l') => {
            if let Some(function) = model.selected_function() {
                model.screen = Screen::Detail;
                model.detail = None;
                model.loading = true;
                return vec![Command::LoadDetail(function, model.window)];
            }
        }
        _ => {}
    }
    Vec::new()
}

fn on_detail_key(model: &mut Model, key: Key) -> Vec<Command> {
    let last = model
        .detail
        .as_ref()
        .map_or(0, |d| d.recent.len().saturating_sub(1));
    match key {
        Key::Esc | Key::Backspace | Key::Char('h') => {
            model.screen = Screen::Overview;
            model.detail = None;
            model.invocation_selected = 0;
            return reload(model);
        }
        Key::Up | Key::Char('k') => {
            model.invocation_selected = model.invocation_selected.saturating_sub(1)
        }
        Key::Down | Key::Char('j') => {
            model.invocation_selected = (model.invocation_selected + 1).min(last)
        }
        Key::Enter | Key::Char('l') => {
            let request = model
                .detail
                .as_ref()
                .and_then(|d| d.recent.get(model.invocation_selected))
                .map(|r| r.1.clone());
            if let Some(request) = request {
                model.screen = Screen::Trace;
                model.trace = None;
                model.loading = true;
                return vec![Command::LoadTrace(request)];
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Keys while a query is typed: text goes into it, Enter runs it, Esc stops typing.
fn on_sql_input(model: &mut Model, key: Key) -> Vec<Command> {
    match key {
        Key::Char(c) => model.sql_input.push(c),
        Key::Backspace => {
            model.sql_input.pop();
        }
        Key::Esc => model.sql_editing = false,
        Key::Enter => {
            let query = model.sql_input.trim().trim_end_matches(';').to_string();
            if !query.is_empty() {
                model.sql_editing = false;
                model.loading = true;
                return vec![Command::RunSql(query)];
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Keys on a SQL result: scroll it, or go back to typing.
fn on_sql_result_key(model: &mut Model, key: Key) -> Vec<Command> {
    let last = model
        .sql_result
        .as_ref()
        .map_or(0, |r| r.rows.len().saturating_sub(1));
    if let Some(position) = moved(model.sql_scroll, last, key) {
        model.sql_scroll = position;
        return Vec::new();
    }
    match key {
        Key::Enter | Key::Char('e') | Key::Char('/') => model.sql_editing = true,
        Key::Esc => {
            model.screen = Screen::Overview;
            return reload(model);
        }
        _ => {}
    }
    Vec::new()
}
