//! `faasobs sql`: an interactive SQL shell over the store, in the manner of `psql`,
//! `duckdb` and `datafusion-cli`.
//!
//! Statements end with `;` and may span lines. Meta commands start with a backslash:
//! `\dt` lists the tables, `\d TABLE` describes one, `\timing` toggles timing, `\?` helps,
//! `\q` quits. Line editing and history (kept in `DATA/.sql_history`) come from rustyline; when
//! standard input is not a terminal the shell reads statements from it and prints no prompt.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use arrow::record_batch::RecordBatch;
use faasobs_analyzer::Analyzer;
use faasobs_analyzer::query::{OutputFormat, render};
use rustyline::error::ReadlineError;

#[derive(Debug, clap::Args)]
pub struct SqlConfig {
    /// Memory a query may use, in MiB, before it fails cleanly.
    #[arg(long, default_value_t = 2048, env = "FAASOBS_QUERY_MEMORY_MB")]
    pub memory_limit_mb: usize,
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

struct Shell {
    analyzer: Analyzer,
    timing: bool,
}

impl Shell {
    /// Runs one statement. Ctrl-C cancels the statement, not the shell: the query is dropped,
    /// and its spill files with it.
    async fn run_sql(&self, sql: &str) {
        let started = Instant::now();
        tokio::select! {
            result = self.analyzer.query(sql) => match result {
                Ok(batches) => self.print(&batches, started),
                Err(e) => eprintln!("error: {e}"),
            },
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cancelled (its temporary spill files are deleted)");
            }
        }
    }

    fn print(&self, batches: &[RecordBatch], started: Instant) {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        // An empty result still shows its columns, as psql does.
        match render(batches, OutputFormat::Table) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
        let noun = if rows == 1 { "row" } else { "rows" };
        if self.timing {
            println!("({rows} {noun}, {:.3} s)", started.elapsed().as_secs_f64());
        } else {
            println!("({rows} {noun})");
        }
    }

    /// Runs a meta command; false when it asks to quit.
    async fn meta(&mut self, command: &str) -> bool {
        let mut words = command.split_whitespace();
        match (words.next(), words.next()) {
            (Some("\\q"), _) => return false,
            (Some("\\?") | Some("\\h"), _) => println!("{HELP}"),
            (Some("\\timing"), _) => {
                self.timing = !self.timing;
                println!("timing is {}", if self.timing { "on" } else { "off" });
            }
            (Some("\\dt") | Some("\\d"), None) => self.run_sql(LIST_TABLES).await,
            (Some("\\d"), Some(table)) => {
                let table = table.trim_end_matches(';');
                let started = Instant::now();
                match self.analyzer.query(&describe_sql(table)).await {
                    Ok(b) if b.iter().map(|b| b.num_rows()).sum::<usize>() == 0 => {
                        eprintln!("error: no table named {table:?} (\\dt lists them)")
                    }
                    Ok(batches) => self.print(&batches, started),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            (Some(other), _) => eprintln!("error: unknown command {other} (\\? lists them)"),
            (None, _) => {}
        }
        true
    }
}

pub async fn run(data: &Path, pricing: Option<&Path>, config: SqlConfig) -> anyhow::Result<()> {
    let analyzer = super::query::open_analyzer(data, pricing, config.memory_limit_mb, None).await?;
    let interactive = std::io::stdin().is_terminal();
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    let history = analyzer.data_dir().join(".sql_history");
    if interactive {
        let _ = editor.load_history(&history);
        println!(
            "faasobs sql over {} (read-only). \\? for help, \\q to quit.",
            analyzer.data_dir().display()
        );
    }
    let mut shell = Shell {
        analyzer,
        timing: false,
    };
    let mut pending = String::new();
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
        let trimmed = line.trim();
        if pending.is_empty() {
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with('\\') || trimmed == "quit" || trimmed == "exit" {
                let _ = editor.add_history_entry(trimmed);
                if trimmed == "quit" || trimmed == "exit" || !shell.meta(trimmed).await {
                    break;
                }
                continue;
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        if trimmed.ends_with(';') {
            let sql = std::mem::take(&mut pending);
            let _ = editor.add_history_entry(sql.trim());
            shell.run_sql(sql.trim().trim_end_matches(';')).await;
        }
    }
    if !pending.trim().is_empty() {
        // Input ended without a final ';': run what is there, as psql does with -f.
        shell.run_sql(pending.trim()).await;
    }
    if interactive {
        let _ = editor.save_history(&history);
    }
    Ok(())
}
