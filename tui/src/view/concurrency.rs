//! Concurrency: the account's concurrency over the window against the limit, and each function's
//! peak and series, busiest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

use super::{alarm, heading, sparkline};
use crate::model::Model;

pub fn draw(model: &Model, frame: &mut Frame, area: Rect) {
    let Some(view) = &model.concurrency else {
        frame.render_widget(
            Paragraph::new(" loading concurrency…").block(Block::bordered()),
            area,
        );
        return;
    };
    let [account_area, functions_area] =
        Layout::vertical([Constraint::Length(10), Constraint::Min(3)]).areas(area);
    let peak = view.account.iter().copied().max().unwrap_or(0);
    let limit = model.concurrency_limit;
    let headroom = limit.saturating_sub(peak);
    let title = Line::from(vec![
        ratatui::text::Span::styled(" account concurrency ", heading()),
        ratatui::text::Span::styled(
            format!("peak {peak} of limit {limit}, headroom {headroom} "),
            if peak * 5 >= limit * 4 {
                alarm()
            } else {
                heading()
            },
        ),
        ratatui::text::Span::raw(format!("({}s buckets) ", view.step_ns / 1_000_000_000)),
    ]);
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(title))
            .data(&view.account)
            .max(peak.max(1)),
        account_area,
    );
    let spark_width = functions_area.width.saturating_sub(2 + 24 + 8 + 2) as usize;
    let visible = functions_area.height.saturating_sub(3) as usize;
    let rows: Vec<Row> = view
        .functions
        .iter()
        .take(visible)
        .map(|(name, peak, series)| {
            Row::new(vec![
                Cell::from(name.clone()),
                Cell::from(peak.to_string()),
                Cell::from(sparkline(series, spark_width)),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(24),
                Constraint::Length(8),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["function", "peak", "over the window"]).style(heading()))
        .block(Block::bordered().title(Line::styled(" by function ", heading()))),
        functions_area,
    );
}
