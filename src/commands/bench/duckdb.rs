//! Runs the DuckDB side of the benchmark (`duckdb_side.py`) with a Python that has the `duckdb`
//! package: one JSON job in, one JSON answer out.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::{Value, json};

use super::process::{Measured, Usage};

/// The script, written into the working folder so the harness runs from any directory.
const SCRIPT: &str = include_str!("duckdb_side.py");

/// The folder in the working folder where DuckDB spills (its `temp_directory`).
const SPILL_DIR: &str = "duckdb-tmp";

pub struct DuckDb {
    python: PathBuf,
    script: PathBuf,
    dir: PathBuf,
    threads: usize,
}

impl DuckDb {
    pub fn new(python: &Path, dir: &Path, threads: usize) -> anyhow::Result<DuckDb> {
        let script = dir.join("duckdb_side.py");
        std::fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
        Ok(DuckDb {
            python: python.to_path_buf(),
            script,
            dir: dir.to_path_buf(),
            threads,
        })
    }

    /// The command that runs `job` (with the thread count and spill folder added), for timing a
    /// whole process.
    pub fn command(&self, mut job: Value, name: &str) -> anyhow::Result<Command> {
        job["threads"] = json!(self.threads);
        job["spill_dir"] = json!(self.dir.join(SPILL_DIR));
        let file = self.dir.join(format!("duckdb-job-{name}.json"));
        std::fs::write(&file, serde_json::to_vec(&job)?)?;
        let mut command = Command::new(&self.python);
        command.arg(&self.script).arg(file);
        Ok(command)
    }

    /// Runs `job` and returns its answer.
    pub fn run(&self, job: Value) -> anyhow::Result<Value> {
        Ok(self.run_measured(job)?.0)
    }

    /// Runs `job` as a measured process (its peak memory sampled like faasobs' own) and returns
    /// its answer with what it used. The answer goes through a file, so that the process is
    /// waited for with `wait4` and never blocks on a full pipe.
    pub fn run_measured(&self, job: Value) -> anyhow::Result<(Value, Usage)> {
        let mode = job["mode"].as_str().unwrap_or("job").to_string();
        let answer_path = self.dir.join(format!("duckdb-answer-{mode}.json"));
        let answer_file = std::fs::File::create(&answer_path)
            .with_context(|| format!("creating {}", answer_path.display()))?;
        let errors_path = self.dir.join(format!("duckdb-errors-{mode}.txt"));
        let errors_file = std::fs::File::create(&errors_path)
            .with_context(|| format!("creating {}", errors_path.display()))?;
        let mut command = self.command(job, &mode)?;
        command.stdout(answer_file).stderr(errors_file);
        let usage = Measured::spawn(&mut command)
            .with_context(|| {
                format!(
                    "starting {} (create it with `bash tests/run-all.sh`, or pass --python)",
                    self.python.display()
                )
            })?
            .wait()?;
        // DuckDB deletes its spill files when it ends; a DuckDB that was killed (the kernel's
        // out-of-memory killer at 100M invocations) leaves them behind.
        let _ = std::fs::remove_dir_all(self.dir.join(SPILL_DIR));
        if !usage.success {
            let errors = std::fs::read_to_string(&errors_path).unwrap_or_default();
            anyhow::bail!(
                "DuckDB's side ({mode}) failed, {}: {}",
                usage.ending(),
                match errors.trim() {
                    "" => "nothing on its standard error",
                    errors => errors,
                }
            );
        }
        let answer = std::fs::read(&answer_path)
            .with_context(|| format!("reading {}", answer_path.display()))?;
        let answer = serde_json::from_slice(&answer)
            .with_context(|| format!("reading DuckDB's answer to {mode}"))?;
        Ok((answer, usage))
    }

    pub fn version(&self) -> anyhow::Result<String> {
        let answer = self.run(json!({"mode": "version"}))?;
        Ok(format!(
            "{} (Python package, Python {})",
            answer["duckdb"].as_str().unwrap_or("?"),
            answer["python"].as_str().unwrap_or("?")
        ))
    }
}
