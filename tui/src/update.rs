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
            model.loading = false;
            model.error = None;
            model.snapshot = Some(snapshot);
            clamp_selection(model);
            Vec::new()
        }
        Msg::DetailLoaded(detail) => {
            model.loading = false;
            model.error = None;
            model.detail = Some(detail);
            Vec::new()
        }
        Msg::Failed(error) => {
            model.loading = false;
            model.error = Some(error);
            Vec::new()
        }
        Msg::Key(key) => on_key(model, key),
    }
}

/// What to load for the screen shown, unless a load is already running.
fn refresh(model: &mut Model) -> Vec<Command> {
    if model.loading {
        return Vec::new();
    }
    model.loading = true;
    match (model.screen, &model.detail) {
        (Screen::Detail, Some(detail)) => {
            vec![Command::LoadDetail(detail.function.clone(), model.window)]
        }
        _ => vec![Command::LoadOverview(model.window)],
    }
}

fn clamp_selection(model: &mut Model) {
    let rows = model.visible_rows().len();
    model.selected = model.selected.min(rows.saturating_sub(1));
}

fn on_key(model: &mut Model, key: Key) -> Vec<Command> {
    if key == Key::CtrlC {
        return vec![Command::Quit];
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
            model.loading = false;
            refresh(model)
        }
        Key::Char('r') => {
            model.loading = false;
            refresh(model)
        }
        _ => match model.screen {
            Screen::Overview => on_overview_key(model, key),
            Screen::Detail => on_detail_key(model, key),
        },
    }
}

fn on_overview_key(model: &mut Model, key: Key) -> Vec<Command> {
    let rows = model.visible_rows().len();
    let last = rows.saturating_sub(1);
    match key {
        Key::Up | Key::Char('k') => model.selected = model.selected.saturating_sub(1),
        Key::Down | Key::Char('j') => model.selected = (model.selected + 1).min(last),
        Key::PageUp => model.selected = model.selected.saturating_sub(PAGE),
        Key::PageDown => model.selected = (model.selected + PAGE).min(last),
        Key::Home | Key::Char('g') => model.selected = 0,
        Key::End | Key::Char('G') => model.selected = last,
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
    if matches!(key, Key::Esc | Key::Backspace | Key::Char('h')) {
        model.screen = Screen::Overview;
        model.detail = None;
        model.loading = false;
        return refresh(model);
    }
    Vec::new()
}
