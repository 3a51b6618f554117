//! SQL: type a read-only query (Enter runs it), see the result as a table, scroll it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table};

use super::heading;
use crate::model::Model;

/// The widest a result column is drawn.
const MAX_COLUMN: usize = 40;

pub fn draw(model: &Model, frame: &mut Frame, area: Rect) {
    let [input_area, result_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(area);
    let cursor = if model.sql_editing { "▏" } else { "" };
    let input = Paragraph::new(Line::from(vec![
        Span::styled("SQL> ", heading()),
        Span::raw(format!("{}{cursor}", model.sql_input)),
    ]))
    .block(Block::bordered().title(if model.sql_editing {
        " type a query, Enter runs it, Esc stops typing "
    } else {
        " Enter or e edits the query "
    }));
    frame.render_widget(input, input_area);

    let Some(result) = &model.sql_result else {
        frame.render_widget(
            Paragraph::new(
                " tables: invocations, invocation_fragments, spans, logs, invocation_costs, monthly_costs",
            )
            .block(Block::bordered()),
            result_area,
        );
        return;
    };
    let widths: Vec<usize> = result
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            result
                .rows
                .iter()
                .map(|r| r.get(i).map_or(0, |v| v.chars().count()))
                .chain(std::iter::once(name.chars().count()))
                .max()
                .unwrap_or(1)
                .min(MAX_COLUMN)
        })
        .collect();
    let visible = result_area.height.saturating_sub(3) as usize;
    let rows: Vec<Row> = result
        .rows
        .iter()
        .skip(model.sql_scroll)
        .take(visible)
        .map(|r| Row::new(r.clone()))
        .collect();
    let title = format!(
        " {} rows{} (row {}) ",
        result.rows.len() + result.more,
        if result.more > 0 {
            ", first 1000 shown"
        } else {
            ""
        },
        model.sql_scroll + 1
    );
    frame.render_widget(
        Table::new(rows, widths.iter().map(|w| Constraint::Length(*w as u16)))
            .header(
                Row::new(result.columns.clone())
                    .style(Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)),
            )
            .block(Block::bordered().title(Line::styled(title, heading()))),
        result_area,
    );
}
