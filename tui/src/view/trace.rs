//! One invocation's trace as a waterfall: each span indented under its parent, with a bar placed
//! by its start and length on the trace's time axis; the invocation's log lines below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::{alarm, heading, number};
use crate::model::Model;

/// A bar of `width` cells for `[offset, offset + length)` on `[0, total)`.
pub(crate) fn bar(offset: f64, length: f64, total: f64, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let scale = width as f64 / total.max(1e-9);
    let start = ((offset * scale).floor() as usize).min(width - 1);
    let cells = ((length * scale).ceil() as usize).clamp(1, width - start);
    format!("{}{}", " ".repeat(start), "█".repeat(cells))
}

pub fn draw(model: &Model, frame: &mut Frame, area: Rect) {
    let Some(trace) = &model.trace else {
        frame.render_widget(
            Paragraph::new(" loading the trace…").block(Block::bordered()),
            area,
        );
        return;
    };
    let [spans_area, logs_area] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
    let name_width = 34u16;
    let bar_width = spans_area.width.saturating_sub(name_width + 10 + 2 + 2) as usize;
    let rows: Vec<Row> = trace
        .spans
        .iter()
        .take(spans_area.height.saturating_sub(3) as usize)
        .map(|s| {
            let style = if s.status == "error" {
                alarm()
            } else {
                ratatui::style::Style::default()
            };
            Row::new(vec![
                Cell::from(format!("{}{} ({})", "  ".repeat(s.depth), s.name, s.kind)),
                Cell::from(format!("{} ms", number(s.duration_ms, 1))),
                Cell::from(bar(s.offset_ms, s.duration_ms, trace.total_ms, bar_width)).style(style),
            ])
        })
        .collect();
    let title = format!(
        " invocation {} — trace {} — {} spans, {} ms ",
        trace.request_id,
        trace.trace_id.as_deref().unwrap_or("(none)"),
        trace.spans.len(),
        number(trace.total_ms, 1)
    );
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(name_width),
                Constraint::Length(10),
                Constraint::Min(10),
            ],
        )
        .block(Block::bordered().title(Line::styled(title, heading()))),
        spans_area,
    );
    let lines: Vec<Line> = if trace.logs.is_empty() {
        vec![Line::raw(" no log lines name this invocation")]
    } else {
        trace
            .logs
            .iter()
            .map(|(offset, severity, body)| {
                // Lambda lines separate their fields with tabs, which a terminal cell cannot show.
                let body = body.trim_end().replace('\t', "  ");
                let line = format!("{:>9} ms  {severity:<5} {body}", number(*offset, 1));
                if severity == "ERROR" || severity == "FATAL" {
                    Line::styled(line, alarm())
                } else {
                    Line::raw(line)
                }
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(Line::styled(" log lines ", heading()))),
        logs_area,
    );
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn bars_sit_at_their_offset_and_are_at_least_one_cell() {
        assert_eq!(bar(0.0, 100.0, 100.0, 10), "██████████");
        assert_eq!(bar(50.0, 10.0, 100.0, 10), "     █");
        assert_eq!(bar(99.0, 0.0, 100.0, 10), "         █");
    }
}
