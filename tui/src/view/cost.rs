//! Cost: spend by function over the window, and the scenarios of `faasobs cost compare`
//! (serverless as observed and its what-ifs against dedicated servers and containers) as a chart
//! of projected monthly cost, with the break-even volumes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Cell, Paragraph, Row, Table};

use super::{alarm, dollars, heading, thousands};
use faasobs_analyzer::cost::report::{CopiedPrices, DedicatedElsewhere, PricingCoverage};

use crate::model::Model;

pub fn draw(model: &Model, frame: &mut Frame, area: Rect) {
    let Some(view) = &model.cost else {
        frame.render_widget(
            Paragraph::new(" pricing every invocation and the scenarios… (r reloads)")
                .block(Block::bordered()),
            area,
        );
        return;
    };
    let [chart_area, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let bars: Vec<Bar> = view
        .scenarios
        .iter()
        .map(|(name, usd)| {
            Bar::default()
                .label(Line::raw(name.clone()))
                .value(usd.round().max(0.0) as u64)
                .text_value(format!("${}", dollars(Some(*usd))))
        })
        .collect();
    let requests = view
        .monthly_requests
        .as_deref()
        .and_then(|r| r.parse::<f64>().ok())
        .map_or("?".to_string(), thousands);
    let title = format!(" projected monthly cost at {requests} requests a month ");
    let mut chart_block = Block::bordered().title(Line::styled(title, heading()));
    if let Some(note) = pricing_note(&view.pricing, &view.defaults, &view.copied_prices) {
        chart_block = chart_block.title_bottom(Line::styled(format!(" {note} "), alarm()));
    }
    frame.render_widget(
        BarChart::default()
            .direction(Direction::Horizontal)
            .block(chart_block)
            .data(BarGroup::default().bars(&bars))
            .bar_width(1)
            .bar_gap(0),
        chart_area,
    );
    let [spend_area, break_even_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    let visible = spend_area.height.saturating_sub(3) as usize;
    let spend: Vec<Row> = view
        .spend
        .iter()
        .take(visible)
        .map(|(name, n, usd, per_million)| {
            Row::new(vec![
                Cell::from(name.clone()),
                Cell::from(n.to_string()),
                Cell::from(format!("${}", dollars(Some(*usd)))),
                Cell::from(format!("${}", dollars(*per_million))),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            spend,
            [
                Constraint::Min(14),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(10),
            ],
        )
        .header(Row::new(vec!["function", "inv", "spend", "$/1M"]).style(heading()))
        .block(Block::bordered().title(Line::styled(" spend in the window ", heading()))),
        spend_area,
    );
    let lines: Vec<Line> = view
        .break_even
        .iter()
        .flat_map(|(option, requests, note)| {
            [
                Line::styled(format!(" {option}"), heading()),
                Line::raw(match requests {
                    Some(r) => format!("   breaks even at {} requests a month", thousands(*r)),
                    None => String::new(),
                }),
                Line::raw(format!("   {note}")),
            ]
        })
        .collect();
    let mut break_even_block = Block::bordered().title(Line::styled(" break-even ", heading()));
    if let Some(note) = dedicated_note(view.dedicated_elsewhere.as_ref()) {
        break_even_block = break_even_block.title_bottom(Line::styled(note, alarm()));
    }
    frame.render_widget(
        Paragraph::new(lines).block(break_even_block),
        break_even_area,
    );
}

/// Where the dedicated alternatives are priced, when functions run elsewhere, in a line.
fn dedicated_note(elsewhere: Option<&DedicatedElsewhere>) -> Option<String> {
    let elsewhere = elsewhere?;
    Some(format!(
        " servers priced as in {}; functions run in {} ",
        elsewhere.priced_in,
        elsewhere.regions.join(", ")
    ))
}

/// What of the spend is not priced as stored, or with prices copied from another region, in a
/// line; `None` when every invocation is priced as stored with the catalog's own prices.
fn pricing_note(
    gaps: &PricingCoverage,
    defaults: &str,
    copied_prices: &[CopiedPrices],
) -> Option<String> {
    let invocations = thousands(gaps.invocations as f64);
    let mut parts: Vec<String> = copied_prices
        .iter()
        .map(|c| {
            format!(
                "{} priced with {}'s prices, copied: check them",
                c.place, c.from
            )
        })
        .collect();
    if gaps.defaulted > 0 {
        parts.push(format!(
            "{} of {invocations} invocations lack a region or architecture: the catalog's \
             defaults ({}) priced them (docs/cost.md)",
            thousands(gaps.defaulted as f64),
            defaults
        ));
    }
    if gaps.unpriced > 0 {
        parts.push(format!(
            "{} of {invocations} not priced: no memory size or duration",
            thousands(gaps.unpriced as f64)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_says_what_was_priced_with_the_defaults_and_what_not_at_all() {
        let note = |defaulted, unpriced| {
            let gaps = PricingCoverage {
                invocations: 12_000,
                defaulted,
                unpriced,
                configured: 0,
            };
            pricing_note(&gaps, "aws us-east-1 x86_64", &[])
        };
        assert_eq!(note(0, 0), None);
        assert_eq!(
            note(0, 3).unwrap(),
            "3 of 12,000 not priced: no memory size or duration"
        );
        assert_eq!(
            note(1500, 3).unwrap(),
            "1,500 of 12,000 invocations lack a region or architecture: the catalog's defaults \
             (aws us-east-1 x86_64) priced them (docs/cost.md); 3 of 12,000 not priced: no \
             memory size or duration"
        );
        let copied = CopiedPrices {
            place: "aws eu-west-1 x86_64".into(),
            region: "eu-west-1".into(),
            from: "us-east-1".into(),
        };
        let gaps = PricingCoverage {
            invocations: 12_000,
            ..Default::default()
        };
        assert_eq!(
            pricing_note(&gaps, "aws us-east-1 x86_64", &[copied]).unwrap(),
            "aws eu-west-1 x86_64 priced with us-east-1's prices, copied: check them"
        );
    }

    #[test]
    fn the_break_even_note_says_where_servers_are_priced_when_functions_run_elsewhere() {
        assert_eq!(dedicated_note(None), None);
        let elsewhere = DedicatedElsewhere {
            priced_in: "us-east-1".into(),
            regions: vec!["eu-west-1".into()],
        };
        assert_eq!(
            dedicated_note(Some(&elsewhere)).unwrap(),
            " servers priced as in us-east-1; functions run in eu-west-1 "
        );
    }
}
