//! Child processes measured by the kernel's own accounting: CPU time (user + system) and peak
//! resident memory from `wait4`, wall time around it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// What a finished process used.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall: Duration,
    pub cpu_seconds: f64,
    pub max_rss_bytes: u64,
    pub success: bool,
}

/// A running child process and when it started.
pub struct Measured {
    pub child: Child,
    started: Instant,
}

impl Measured {
    pub fn spawn(command: &mut Command) -> anyhow::Result<Measured> {
        let started = Instant::now();
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        Ok(Measured { child, started })
    }

    /// Asks the process to stop (SIGTERM), as an operator would.
    pub fn terminate(&self) -> anyhow::Result<()> {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        anyhow::ensure!(rc == 0, "could not signal {}", self.child.id());
        Ok(())
    }

    /// Waits for the process and reads its accounting.
    pub fn wait(self) -> anyhow::Result<Usage> {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child, with valid pointers to locals.
        let pid =
            unsafe { libc::wait4(self.child.id() as libc::pid_t, &mut status, 0, &mut usage) };
        anyhow::ensure!(
            pid > 0,
            "waiting for {}: {}",
            self.child.id(),
            std::io::Error::last_os_error()
        );
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(Usage {
            wall: self.started.elapsed(),
            cpu_seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            // ru_maxrss is in KiB on Linux.
            max_rss_bytes: usage.ru_maxrss as u64 * 1024,
            success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        })
    }
}

/// Runs a command to its end, its output discarded, and measures it.
pub fn run_measured(command: &mut Command) -> anyhow::Result<Usage> {
    let usage = Measured::spawn(command.stdout(Stdio::null()))?.wait()?;
    anyhow::ensure!(usage.success, "{command:?} failed");
    Ok(usage)
}

/// CPU time this thread has used so far, in seconds.
pub fn thread_cpu_seconds() -> f64 {
    // SAFETY: clock_gettime writes into a valid local timespec.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// User + system CPU seconds a running process has used so far (from /proc).
pub fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; index 11 and 12 after the name.
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11) + ticks(12)) / hz)
}
