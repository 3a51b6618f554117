//! The overview: one row per function, sortable by any column, with sparklines of invocations
//! and errors over the window. Only the rows that fit are built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Margin, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{alarm, dollars, heading, number, sparkline};
use crate::data::FunctionRow;
use crate::model::{Column, Model, Window};

/// Marks a cold-start rate that counts inferred cold starts (see
/// [`FunctionRow::inferred_cold_starts`]).
pub const INFERRED_MARK: &str = "~";

/// Width of the sparkline columns.
const SPARK: u16 = 16;

fn cell(row: &FunctionRow, column: Column) -> Cell<'static> {
    let text = match column {
        Column::Function => row.name.clone(),
        Column::PerMinute => number(row.per_minute, 1),
        Column::ErrorRate => number(row.error_rate * 100.0, 1),
        Column::ColdRate => {
            // `~`: some of its cold starts are inferred, not said by any source.
            let mark = if row.inferred_cold_starts > 0 {
                INFERRED_MARK
            } else {
                ""
            };
            format!("{mark}{}", number(row.cold_rate * 100.0, 1))
        }
        Column::P50 => number(row.p50_ms, 1),
        Column::P95 => number(row.p95_ms, 1),
        Column::P99 => number(row.p99_ms, 1),
        Column::Concurrency => row.peak_concurrency.to_string(),
        Column::Memory => match (row.memory_used_mb, row.memory_size_mb) {
            (Some(used), Some(size)) => format!("{used:.0}/{size:.0}"),
            (None, Some(size)) => format!("-/{size:.0}"),
            (Some(used), None) => format!("{used:.0}/-"),
            (None, None) => "-".into(),
        },
        Column::UsdPerMillion => dollars(row.usd_per_million),
        Column::UsdPerHour => dollars(row.usd_per_hour),
    };
    let style = if column == Column::ErrorRate && row.error_rate > 0.0 {
        alarm()
    } else {
        Style::default()
    };
    Cell::from(text).style(style)
}

/// Columns a cell needs (the function's is its minimum).
fn width(column: Column) -> u16 {
    match column {
        Column::Function => 14,
        Column::Memory => 10,
        Column::PerMinute | Column::P50 | Column::P95 | Column::P99 => 8,
        _ => 7,
    }
}

/// Which columns matter most when the terminal is too narrow for all of them.
const PRIORITY: [Column; 11] = [
    Column::Function,
    Column::PerMinute,
    Column::ErrorRate,
    Column::P95,
    Column::ColdRate,
    Column::UsdPerMillion,
    Column::Concurrency,
    Column::P50,
    Column::P99,
    Column::Memory,
    Column::UsdPerHour,
];

/// The columns that fit in `width` cells, in their usual order; the sorted one is always kept.
fn fitting_columns(width_available: u16, sorted: Column) -> Vec<Column> {
    let inner = width_available.saturating_sub(2);
    let mut chosen: Vec<Column> = Vec::new();
    let mut used = 0u16;
    let wanted = std::iter::once(Column::Function)
        .chain(std::iter::once(sorted))
        .chain(PRIORITY);
    for column in wanted {
        if chosen.contains(&column) {
            continue;
        }
        let need = width(column) + u16::from(!chosen.is_empty());
        if used + need <= inner {
            used += need;
            chosen.push(column);
        }
    }
    Column::ALL
        .into_iter()
        .filter(|c| chosen.contains(c))
        .collect()
}

pub fn draw(model: &Model, frame: &mut Frame, area: Rect) {
    let rows = model.visible_rows();
    if model.snapshot.is_none() {
        frame.render_widget(
            Paragraph::new(" waiting for the first data…").block(Block::bordered()),
            area,
        );
        return;
    }
    // Sparklines only where the terminal is wide enough for them next to every number.
    let sparks = area.width >= 160;
    let columns = fitting_columns(area.width, model.sort);
    let mut header: Vec<Cell> = columns
        .iter()
        .map(|c| {
            let mark = match (model.sort == *c, model.descending) {
                (true, true) => "▼",
                (true, false) => "▲",
                _ => "",
            };
            Cell::from(format!("{}{mark}", c.title()))
        })
        .collect();
    let mut widths: Vec<Constraint> = columns
        .iter()
        .map(|c| match c {
            Column::Function => Constraint::Min(width(*c)),
            other => Constraint::Length(width(*other)),
        })
        .collect();
    if sparks {
        header.push(Cell::from("invocations"));
        header.push(Cell::from("errors"));
        widths.push(Constraint::Length(SPARK));
        widths.push(Constraint::Length(SPARK));
    }
    // Build only the rows that can be on screen around the selection.
    let visible = area.height.saturating_sub(3) as usize;
    let first = model.selected.saturating_sub(visible.saturating_sub(1));
    let table_rows: Vec<Row> = rows
        .iter()
        .skip(first)
        .take(visible.max(1))
        .map(|f| {
            let mut cells: Vec<Cell> = columns.iter().map(|c| cell(f, *c)).collect();
            if sparks {
                cells.push(Cell::from(sparkline(&f.invocations_series, SPARK as usize)));
                cells.push(Cell::from(sparkline(&f.errors_series, SPARK as usize)).style(alarm()));
            }
            Row::new(cells)
        })
        .collect();
    let title = Line::from(vec![
        Span::styled(" functions ", heading()),
        Span::raw(format!(
            "{} of {} ",
            rows.len(),
            model.snapshot.as_ref().map_or(0, |s| s.functions.len())
        )),
    ]);
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(heading()))
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    if !rows.is_empty() {
        state.select(Some(model.selected - first));
    }
    frame.render_stateful_widget(table, area, &mut state);
    if rows.is_empty() {
        // Under the header, inside the border: why the table is empty and what would fill it.
        let inside = area.inner(Margin::new(1, 1));
        let below_header = Rect {
            y: inside.y.saturating_add(1),
            height: inside.height.saturating_sub(1),
            ..inside
        };
        frame.render_widget(
            Paragraph::new(empty_table_hint(model)).wrap(Wrap { trim: false }),
            below_header,
        );
    }
}

/// Why the functions table has no rows: the filter, the window, or nothing stored at all.
fn empty_table_hint(model: &Model) -> String {
    let Some(snapshot) = &model.snapshot else {
        return String::new();
    };
    if !snapshot.functions.is_empty() {
        format!(
            " no function matches the filter \"{}\" (Esc clears it)",
            model.filter
        )
    } else if snapshot.window != Window::All {
        format!(
            " no invocations in the {}; w widens the window",
            snapshot.window.label()
        )
    } else {
        " nothing stored yet: send OTLP traces or logs to a collector writing into this data \
         directory (`faasobs collect`, or this dashboard without --no-listen), or run `faasobs \
         ingest FILES` or `faasobs demo` into it"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_keep_the_most_useful_columns_and_the_sorted_one() {
        assert_eq!(
            fitting_columns(200, Column::PerMinute),
            Column::ALL.to_vec()
        );
        let narrow = fitting_columns(80, Column::UsdPerHour);
        assert!(narrow.contains(&Column::Function) && narrow.contains(&Column::UsdPerHour));
        let used: u16 = narrow.iter().map(|c| width(*c) + 1).sum::<u16>() - 1;
        assert!(used <= 78, "{narrow:?} need {used}");
        assert!(!narrow.contains(&Column::Memory));
    }
}
