//! The help overlay (`?`): every key, over whatever is shown.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

use super::heading;

const KEYS: [(&str, &str); 17] = [
    ("1 2 3 4", "functions, concurrency, cost, SQL"),
    ("↑ ↓  k j", "move the selection"),
    ("PgUp PgDn", "move a page"),
    ("g G  Home End", "first, last"),
    (
        "Enter  l",
        "open the selected function, or invocation's trace",
    ),
    ("Esc  h", "back to the overview (clears the filter there)"),
    ("/", "filter functions by name"),
    ("s  Tab", "sort by the next column"),
    ("S", "reverse the sort"),
    ("w", "time window: last 5m, 1h, 24h, all"),
    ("r", "refresh now"),
    ("?", "this help (any key closes it)"),
    ("q  Ctrl-C", "quit"),
    ("", ""),
    ("", "numbers refresh on their own (--refresh)"),
    (
        "~ in cold%",
        "some cold starts inferred: no source said, so each",
    ),
    ("", "instance's first invocation received counts"),
];

pub fn draw(frame: &mut Frame) {
    let [area] = Layout::vertical([Constraint::Length(KEYS.len() as u16 + 2)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::horizontal([Constraint::Length(70)])
        .flex(Flex::Center)
        .areas(area);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| Line::raw(format!(" {key:<15} {what}")))
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Line::styled(" keys ", heading()))),
        area,
    );
}
