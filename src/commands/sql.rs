//! `faasobs sql`: an interactive SQL shell over the store, in the manner of `psql`,
//! `duckdb` and `datafusion-cli`.
//!
//! Statements end with `;` (as DataFusion's tokenizer reads them: not one in a string or a
//! comment), may span lines, and a line may hold several. Meta commands start with a backslash:
//! `\dt` lists the tables, `\d TABLE` describes one, `\timing` toggles timing, `\?` helps,
//! `\q` quits. Line editing and history (kept in `DATA/.sql_history` of a local data directory)
//! come from rustyline; when standard input is not a terminal the shell reads statements from it
//! and prints no prompt, names the line of each statement that fails, and exits non-zero if any
//! did. A statement sees what is stored when it runs: the store is opened again before it when
//! its last opening is more than a second old.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::cost::Catalog;
use faasobs_analyzer::query::{
    DEFAULT_TABLE_ROWS, FirstRows, OutputFormat, Statement, first_rows, render, split_statements,
};
use rustyline::error::ReadlineError;

use super::print_rendered;
use super::query::{memory_limit_hint, on_current_listing, open_analyzer_quietly};

#[derive(Debug, clap::Args)]
pub struct SqlConfig {
    /// Memory a query may use, in MiB, before it fails cleanly.
    #[arg(long, default_value_t = 2048, env = "FAASOBS_QUERY_MEMORY_MB")]
    pub memory_limit_mb: usize,
    /// The rows a result shows at most (0: all); the rest are counted and said.
    #[arg(long, default_value_t = DEFAULT_TABLE_ROWS)]
    pub max_rows: usize,
}

const HELP: &str = "\
  SQL;            run a read-only query (end it with ';', it may span lines)
  \\dt             list tables and views
  \\d TABLE        describe a table's columns
  \\timing         toggle printing how long each query took
  \\?              this help
  \\q              quit (also: quit, exit, Ctrl-D)";

const LIST_TABLES: &str = "SELECT table_name, table_type FROM information_schema.tables \
     WHERE table_schema = 'public' ORDER BY table_name";

fn describe_sql(table: &str) -> String {
    format!(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = '{}' ORDER BY ordinal_position",
        table.replace('\'', "''")
    )
}

/// How old the shell's opening of the store may be when a statement runs: older, the store is
/// opened again, so each statement typed sees the files and WAL rows stored meanwhile, while a
/// script's statements, run back to back, share one opening.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

struct Shell {
    analyzer: Analyzer,
    /// When `analyzer` was opened.
    opened: Instant,
    /// What opens it again: `--data`, the pricing catalog, the memory limit (MiB).
    data: PathBuf,
    catalog: Arc<Catalog>,
    memory_limit_mb: usize,
    /// The rows a result shows at most; `None`: all.
    max_rows: Option<usize>,
    timing: bool,
    /// Statements and meta commands that query (`\dt`, `\d`) run so far, and how many of them
    /// failed or were cancelled.
    ran: usize,
    failed: usize,
}

impl Shell {
    /// Runs one statement. Ctrl-C cancels the statement, not the shell: the query is dropped,
    /// and its spill files with it. `line`, for a statement read from a script, is the line it
    /// begins on, which its error names.
    async fn run_sql(&mut self, sql: &str, line: Option<usize>) {
        self.ran += 1;
        let started = Instant::now();
        if let Err(e) = self.reopen_if_old().await {
            return self.fail(line, format!("{e:#}"));
        }
        tokio::select! {
            result = self.query(sql) => match result {
                Ok(rows) => self.print(&rows, started),
                Err(e) => match memory_limit_hint(&e, self.memory_limit_mb) {
                    Some(hint) => self.fail(line, format!("{hint}: {e}")),
                    None => self.fail(line, e),
                },
            },
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cancelled (its temporary spill files are deleted)");
                self.failed += 1;
            }
        }
    }

    /// Runs `sql`, and again on a new opening of the store when a file the opening listed
    /// changed before the query read it ([`on_current_listing`], as the other reading commands
    /// do).
    async fn query(&mut self, sql: &str) -> anyhow::Result<FirstRows> {
        let (data, catalog, memory_limit_mb) = (&self.data, &self.catalog, self.memory_limit_mb);
        let max_rows = self.max_rows;
        let opened = &mut self.opened;
        let reopen = async || {
            let analyzer =
                open_analyzer_quietly(data, catalog.clone(), memory_limit_mb, None).await?;
            *opened = Instant::now();
            Ok(analyzer)
        };
        on_current_listing(&mut self.analyzer, reopen, async |analyzer| {
            Ok(first_rows(analyzer.query_stream(sql).await?, max_rows).await?)
        })
        .await
    }

    /// Opens the store again when its opening is older than [`REOPEN_AFTER`], so that a
    /// statement sees what was stored (and compacted) since.
    async fn reopen_if_old(&mut self) -> anyhow::Result<()> {
        if self.opened.elapsed() < REOPEN_AFTER {
            return Ok(());
        }
        self.reopen().await
    }

    async fn reopen(&mut self) -> anyhow::Result<()> {
        self.analyzer =
            open_analyzer_quietly(&self.data, self.catalog.clone(), self.memory_limit_mb, None)
                .await?;
        self.opened = Instant::now();
        Ok(())
    }

    /// Says why a statement or command failed, and counts it.
    fn fail(&mut self, line: Option<usize>, why: impl std::fmt::Display) {
        let at = line
            .map(|line| format!("line {line}: "))
            .unwrap_or_default();
        eprintln!("error: {at}{why}");
        self.failed += 1;
    }

    fn print(&self, result: &FirstRows, started: Instant) {
        // An empty result still shows its columns, as psql does.
        match render(&result.batches, OutputFormat::Table) {
            Ok(text) => print_rendered(&text),
            Err(e) => eprintln!("error: {e}"),
        }
        let rows = result.total;
        let noun = if rows == 1 { "row" } else { "rows" };
        let shown = if result.shown() < rows {
            format!("; the first {} shown (--max-rows)", result.shown())
        } else {
            String::new()
        };
        if self.timing {
            print_rendered(&format!(
                "({rows} {noun}{shown}, {:.3} s)",
                started.elapsed().as_secs_f64()
            ));
        } else {
            print_rendered(&format!("({rows} {noun}{shown})"));
        }
    }

    /// Runs a meta command (on `line` of a script); false when it asks to quit.
    async fn meta(&mut self, command: &str, line: Option<usize>) -> bool {
        let mut words = command.split_whitespace();
        match (words.next(), words.next()) {
            (Some("\\q"), _) => return false,
            (Some("\\?") | Some("\\h"), _) => println!("{HELP}"),
            (Some("\\timing"), _) => {
                self.timing = !self.timing;
                println!("timing is {}", if self.timing { "on" } else { "off" });
            }
            (Some("\\dt") | Some("\\d"), None) => self.run_sql(LIST_TABLES, line).await,
            (Some("\\d"), Some(table)) => {
                let table = table.trim_end_matches(';');
                self.ran += 1;
                let started = Instant::now();
                if let Err(e) = self.reopen_if_old().await {
                    self.fail(line, format!("{e:#}"));
                    return true;
                }
                match self.analyzer.query(&describe_sql(table)).await {
                    Ok(b) if b.iter().map(|b| b.num_rows()).sum::<usize>() == 0 => {
                        self.fail(line, format!("no table named {table:?} (\\dt lists them)"))
                    }
                    Ok(batches) => {
                        let total = batches.iter().map(|b| b.num_rows()).sum();
                        self.print(&FirstRows { batches, total }, started)
                    }
                    Err(e) => self.fail(line, e),
                }
            }
            (Some(other), _) => {
                self.ran += 1;
                self.fail(line, format!("unknown command {other} (\\? lists them)"));
            }
            (None, _) => {}
        }
        true
    }
}

pub async fn run(data: &Path, pricing: Option<&Path>, config: SqlConfig) -> anyhow::Result<()> {
    let catalog = super::query::load_catalog(pricing)?;
    let analyzer =
        open_analyzer_quietly(data, catalog.clone(), config.memory_limit_mb, None).await?;
    if analyzer.holds_nothing() {
        eprintln!("{}", super::query::empty_store_note(analyzer.location()));
    }
    let interactive = std::io::stdin().is_terminal();
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    // The history is kept in a local data directory (none for object storage).
    let history = analyzer.directory().map(|dir| dir.join(".sql_history"));
    if interactive {
        if let Some(history) = &history {
            let _ = editor.load_history(history);
        }
        println!(
            "faasobs sql over {} (read-only). \\? for help, \\q to quit.",
            analyzer.location()
        );
    }
    let mut shell = Shell {
        analyzer,
        opened: Instant::now(),
        data: data.to_path_buf(),
        catalog,
        memory_limit_mb: config.memory_limit_mb,
        max_rows: (config.max_rows > 0).then_some(config.max_rows),
        timing: false,
        ran: 0,
        failed: 0,
    };
    // The statements typed or read so far that have not ended, and the line of the input
    // they begin on.
    let mut pending = String::new();
    let mut pending_line = 1;
    let mut lines_read = 0;
    loop {
        let prompt = match (interactive, pending.is_empty()) {
            (false, _) => "",
            (true, true) => "faasobs> ",
            (true, false) => "     ...> ",
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("reading input"),
        };
        lines_read += 1;
        let trimmed = line.trim();
        if pending.is_empty() {
            pending_line = lines_read;
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with('\\') || trimmed == "quit" || trimmed == "exit" {
                let _ = editor.add_history_entry(trimmed);
                let line = (!interactive).then_some(lines_read);
                if trimmed == "quit" || trimmed == "exit" || !shell.meta(trimmed, line).await {
                    break;
                }
                continue;
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        // A line may end several statements, and begin another.
        let statements = split_statements(&pending);
        if statements.ended.is_empty() {
            continue;
        }
        let run = pending[..pending.len() - statements.rest.len()].trim();
        let _ = editor.add_history_entry(run);
        for statement in &statements.ended {
            // A script's errors say where; typed ones are where the user is looking.
            let line = (!interactive).then_some(pending_line + statement.line - 1);
            shell.run_sql(&statement.text, line).await;
        }
        let rest_line = pending_line + run.matches('\n').count();
        pending = statements.rest;
        pending_line = rest_line;
    }
    // Input ended without a final ';': run what is there, as psql does with -f. A string or
    // comment left open is run as it is, for the parser to say so.
    let mut last = split_statements(&format!("{pending}\n;")).ended;
    if last.is_empty() && !pending.trim().is_empty() {
        last.push(Statement {
            line: 1,
            text: pending.trim().to_string(),
        });
    }
    for statement in last {
        let line = (!interactive).then_some(pending_line + statement.line - 1);
        shell.run_sql(&statement.text, line).await;
    }
    if interactive {
        if let Some(history) = &history {
            let _ = editor.save_history(history);
        }
    } else if shell.failed > 0 {
        // A script whose statements failed fails, after running the rest (as psql and duckdb
        // go on past an error).
        anyhow::bail!("{} of {} statements failed", shell.failed, shell.ran);
    }
    Ok(())
}
