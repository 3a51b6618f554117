//! One function: its duration histogram, cold starts and concurrency over the window, memory used
//! against configured, errors grouped by type, and its latest invocations.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Cell, Paragraph, Row, Sparkline, Table, Wrap,
};

use super::{alarm, heading, number};
use crate::model::Model;

pub fn draw(model: &Model, frame: &mut Frame, area: Rect) {
    let Some(detail) = &model.detail else {
        frame.render_widget(
            Paragraph::new(" loading the function…").block(Block::bordered()),
            area,
        );
        return;
    };
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Percentage(35),
        Constraint::Percentage(30),
        Constraint::Percentage(35),
    ])
    .areas(area);
    let [histogram_area, side] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(top);

    let bars: Vec<Bar> = detail
        .histogram
        .iter()
        .map(|(label, n)| Bar::default().label(Line::raw(label.clone())).value(*n))
        .collect();
    // As wide as the labels where there is room; narrower than that rather than cut off.
    let per_bar = histogram_area.width.saturating_sub(2) / (bars.len().max(1) as u16);
    let bar_width = per_bar.saturating_sub(1).clamp(1, 6);
    let histogram = BarChart::default()
        .block(Block::bordered().title(Line::styled(
            format!(" {} — duration histogram ", detail.function),
            heading(),
        )))
        .data(BarGroup::default().bars(&bars))
        .bar_width(bar_width)
        .bar_gap(1);
    frame.render_widget(histogram, histogram_area);

    let opt = |v: Option<f64>, unit: &str| {
        v.map_or("-".to_string(), |v| format!("{} {unit}", number(v, 1)))
    };
    let memory_share = match (detail.memory_used_max_mb, detail.memory_size_mb) {
        (Some(used), Some(size)) if size > 0.0 => {
            format!(", {:.0}% used at most", used / size * 100.0)
        }
        _ => String::new(),
    };
    let mut facts = vec![
        Line::styled("memory", heading()),
        Line::raw(format!(
            " used: mean {}, max {}",
            opt(detail.memory_used_mean_mb, "MB"),
            opt(detail.memory_used_max_mb, "MB"),
        )),
        Line::raw(format!(
            " configured {}{memory_share}",
            opt(detail.memory_size_mb, "MB")
        )),
        Line::styled("cold starts", heading()),
        Line::raw(format!(
            " {} in window; init mean {}  p95 {}",
            detail.cold_series.iter().sum::<u64>(),
            opt(detail.init_mean_ms, "ms"),
            opt(detail.init_p95_ms, "ms")
        )),
    ];
    if detail.inferred_cold_starts > 0 {
        facts.push(Line::raw(format!(
            " {} inferred: no source said; an instance's first one seen counts",
            detail.inferred_cold_starts
        )));
    }
    facts.extend([
        Line::styled("concurrency", heading()),
        Line::raw(format!(
            " peak {} in window",
            detail.concurrency_series.iter().max().copied().unwrap_or(0)
        )),
        Line::styled("runs in", heading()),
        if detail.places.several() {
            Line::styled(
                format!(
                    " {}: this screen adds them together",
                    detail.places.describe()
                ),
                alarm(),
            )
        } else {
            Line::raw(format!(" {}", detail.places.describe()))
        },
    ]);
    // Wrapped: the places a function runs in can be a long list.
    frame.render_widget(
        Paragraph::new(facts)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" facts ")),
        side,
    );

    let [cold_area, concurrency_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(" cold starts over time "))
            .data(&detail.cold_series),
        cold_area,
    );
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(" concurrency over time "))
            .data(&detail.concurrency_series),
        concurrency_area,
    );

    let [errors_area, recent_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
    let error_rows: Vec<Row> = detail
        .errors
        .iter()
        .map(|(kind, n, message)| {
            Row::new(vec![
                Cell::from(kind.clone()).style(alarm()),
                Cell::from(n.to_string()),
                Cell::from(message.clone()),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            error_rows,
            [
                Constraint::Length(18),
                Constraint::Length(6),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["error", "count", "example"]).style(heading()))
        .block(Block::bordered().title(" errors by type ")),
        errors_area,
    );
    let visible = recent_area.height.saturating_sub(3) as usize;
    let skip = model
        .invocation_selected
        .saturating_sub(visible.saturating_sub(1));
    let recent_rows: Vec<Row> = detail
        .recent
        .iter()
        .skip(skip)
        .take(visible)
        .map(|(start, id, duration, status, cold)| {
            let style = if status == "success" {
                Style::default()
            } else {
                alarm()
            };
            Row::new(vec![
                Cell::from(start.get(11..23).unwrap_or(start).to_string()),
                Cell::from(id.clone()),
                Cell::from(duration.map_or("-".into(), |d| number(d, 1))),
                Cell::from(status.clone()).style(style),
                Cell::from(if *cold { "cold" } else { "" }),
            ])
        })
        .collect();
    let mut state = ratatui::widgets::TableState::default();
    let first = model
        .invocation_selected
        .saturating_sub(visible.saturating_sub(1));
    if !detail.recent.is_empty() {
        state.select(Some(model.invocation_selected - first));
    }
    frame.render_stateful_widget(
        Table::new(
            recent_rows,
            [
                Constraint::Length(12),
                Constraint::Min(12),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(4),
            ],
        )
        .header(Row::new(vec!["start", "request", "ms", "status", ""]).style(heading()))
        .block(Block::bordered().title(" latest invocations (Enter: trace) "))
        .row_highlight_style(
            ratatui::style::Style::default().add_modifier(ratatui::style::Modifier::REVERSED),
        ),
        recent_area,
        &mut state,
    );
}
