//! `view`: draws the model. It only reads: everything it shows is already in the [`Model`].
//!
//! The screen is a header (what is watched, the window, totals), the body of the current screen
//! ([`overview`] or [`detail`]), and a footer with the keys, the filter being typed, or the last
//! error. [`help`] draws over everything. Colours are few and paired with bold or reverse, so they
//! read on dark and light terminals.

pub mod concurrency;
pub mod cost;
pub mod detail;
pub mod help;
pub mod overview;
pub mod sql;
pub mod trace;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::{Model, Screen};

/// The style of headings and selected items.
pub(crate) fn heading() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// The style of errors.
pub(crate) fn alarm() -> Style {
    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// Eight levels of a bar, for sparklines drawn inside table cells.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of `values` in at most `width` characters (the last values when too many).
pub(crate) fn sparkline(values: &[u64], width: usize) -> String {
    let values = &values[values.len().saturating_sub(width)..];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                ' '
            } else {
                BARS[((v * 8).div_ceil(max) as usize).clamp(1, 8) - 1]
            }
        })
        .collect()
}

/// A number with at most `decimals` decimals and no trailing noise.
pub(crate) fn number(value: f64, decimals: usize) -> String {
    if value.abs() >= 10_000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.decimals$}")
    }
}

/// A whole number with thousands separators: 52,909,744.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// Dollars: more decimals for small amounts.
pub(crate) fn dollars(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.4}"),
    }
}

/// A UTC time (ns) as `HH:MM:SS`, with the date when the span covers more than a day.
pub(crate) fn clock(ns: i64, with_date: bool) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    if with_date {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

/// Draws the whole screen.
pub fn view(model: &Model, frame: &mut Frame) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(model, frame, header);
    match model.screen {
        Screen::Overview => overview::draw(model, frame, body),
        Screen::Detail => detail::draw(model, frame, body),
        Screen::Concurrency => concurrency::draw(model, frame, body),
        Screen::Cost => cost::draw(model, frame, body),
        Screen::Sql => sql::draw(model, frame, body),
        Screen::Trace => trace::draw(model, frame, body),
    }
    draw_footer(model, frame, footer);
    if model.show_help {
        help::draw(frame);
    }
}

fn draw_header(model: &Model, frame: &mut Frame, area: Rect) {
    let mut title = vec![Span::styled(
        " faasobs ",
        heading().add_modifier(Modifier::REVERSED),
    )];
    for (key, name, screen) in [
        ('1', "functions", Screen::Overview),
        ('2', "concurrency", Screen::Concurrency),
        ('3', "cost", Screen::Cost),
        ('4', "sql", Screen::Sql),
    ] {
        let current = model.screen == screen
            || (screen == Screen::Overview
                && matches!(model.screen, Screen::Detail | Screen::Trace));
        let style = if current {
            heading().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        title.push(Span::raw(" "));
        title.push(Span::styled(format!("{key} {name}"), style));
    }
    title.push(Span::styled(
        format!("  window: {}", model.window.label()),
        heading(),
    ));
    title.push(Span::raw(if model.loading { " ⟳ " } else { "   " }));
    title.push(Span::raw(model.source.clone()));
    let totals = match &model.snapshot {
        None => Line::raw(" no data yet"),
        Some(s) => {
            let long = s.to_ns - s.from_ns > 86_400_000_000_000;
            // Short words where the terminal is narrow, so every total stays visible.
            let narrow = area.width < 110;
            let [functions, invocations, errors, cold, gap] = if narrow {
                ["fn", "inv", "err", "cold", "  "]
            } else {
                ["functions", "invocations", "errors", "cold starts", "   "]
            };
            let mut spans = vec![Span::raw(format!(
                " {} – {}{}{gap}{} {functions}{gap}{} {invocations}{gap}",
                clock(s.from_ns, long),
                clock(s.to_ns, long),
                if narrow { "" } else { " UTC" },
                s.functions.len(),
                s.invocations
            ))];
            spans.push(Span::styled(
                format!("{} {errors}", s.errors),
                if s.errors > 0 {
                    alarm()
                } else {
                    Style::default()
                },
            ));
            let inferred = match (s.inferred_cold_starts, narrow) {
                (0, _) => String::new(),
                (n, true) => format!(" ({n} inf.)"),
                (n, false) => format!(" ({n} inferred)"),
            };
            spans.push(Span::raw(format!(
                "{gap}{} {cold}{inferred}{gap}cost ${}",
                s.cold_starts,
                dollars(s.cost_usd)
            )));
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(vec![Line::from(title), totals]), area);
}

fn draw_footer(model: &Model, frame: &mut Frame, area: Rect) {
    let line = if model.filtering {
        Line::from(vec![
            Span::styled(" filter: ", heading()),
            Span::raw(format!("{}▏", model.filter)),
            Span::raw("  (Enter: keep, Esc: done)"),
        ])
    } else if let Some(error) = &model.error {
        Line::from(Span::styled(format!(" error: {error}"), alarm()))
    } else {
        let keys = match (model.screen, area.width < 110) {
            (Screen::Overview, false) => {
                " ↑↓/jk move  Enter open  / filter  s sort  S reverse  w window  r refresh  ? help  q quit"
            }
            (Screen::Overview, true) => {
                " ↑↓ move  Enter open  / filter  s sort  w window  ? help  q quit"
            }
            (Screen::Detail, _) => {
                " ↑↓ pick an invocation  Enter its trace  Esc back  w window  r refresh  ? help  q quit"
            }
            (Screen::Trace, _) => " Esc back to the function  r reload  ? help  q quit",
            (Screen::Concurrency, _) => {
                " 1 functions  2 concurrency  3 cost  4 sql  w window  r refresh  ? help  q quit"
            }
            (Screen::Cost, _) => {
                " 1 functions  2 concurrency  3 cost  4 sql  w window  r recompute  ? help  q quit"
            }
            (Screen::Sql, _) => " Enter edit/run  ↑↓ scroll  Esc back  1-4 screens  ? help  q quit",
        };
        let mut spans = vec![Span::raw(keys)];
        if !model.filter.is_empty() && model.screen == Screen::Overview {
            spans.push(Span::styled(
                format!("  filter: {}", model.filter),
                heading(),
            ));
        }
        if let Some(notice) = model.snapshot.as_ref().and_then(|s| s.notice.as_ref()) {
            spans.push(Span::styled(format!("  {notice}"), alarm()));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_highest_value_and_keep_the_latest() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8], 10), " ▁▂▄█");
        assert_eq!(sparkline(&[8, 0, 8], 2), " █");
        assert_eq!(sparkline(&[], 5), "");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(52_909_744.4), "52,909,744");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
    }
}
