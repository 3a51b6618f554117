//! Child processes measured by the kernel's own accounting: CPU time (user + system) from
//! `wait4`, peak resident memory from the process's own high-water mark (`VmHWM`), wall time
//! around it.
//!
//! `wait4`'s `ru_maxrss` is not used for memory: it keeps the resident size the child had before
//! `exec`, which is the harness's own (gigabytes once the load is built), not the program's.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

/// What a finished process used.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall: Duration,
    pub cpu_seconds: f64,
    /// The part of `cpu_seconds` spent in the kernel (system calls, page faults).
    pub system_cpu_seconds: f64,
    /// Pages the process touched for the first time (minor faults): each is a page of memory
    /// or page cache the kernel had to hand it, zeroed or mapped.
    pub minor_page_faults: u64,
    pub max_rss_bytes: u64,
    pub success: bool,
    /// The signal that ended the process, if one did (SIGKILL: on Linux usually the kernel's
    /// out-of-memory killer).
    pub signal: Option<i32>,
}

impl Usage {
    /// How the process ended, for an error message: its exit status or the signal that ended it.
    pub fn ending(&self) -> String {
        match self.signal {
            Some(libc::SIGKILL) => format!(
                "killed by SIGKILL at {:.0} MiB resident (on Linux usually the kernel's \
                 out-of-memory killer; see `dmesg`)",
                mebibytes(self.max_rss_bytes)
            ),
            Some(signal) => format!("ended by signal {signal}"),
            None if self.success => "exited successfully".into(),
            None => "exited with an error".into(),
        }
    }
}

/// A running child process and when it started.
pub struct Measured {
    pub child: Child,
    started: Instant,
    peak_rss: Arc<AtomicU64>,
}

/// The process's resident high-water mark since its `exec`, in bytes.
fn high_water_mark(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Measured {
    pub fn spawn(command: &mut Command) -> anyhow::Result<Measured> {
        let started = Instant::now();
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        // Sampled until the process is gone; the mark only grows, so the last reading is the
        // peak but for the process's last few milliseconds.
        let peak_rss = Arc::new(AtomicU64::new(0));
        let (pid, peak) = (child.id(), peak_rss.clone());
        std::thread::spawn(move || {
            while let Some(mark) = high_water_mark(pid) {
                peak.fetch_max(mark, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Ok(Measured {
            child,
            started,
            peak_rss,
        })
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
            system_cpu_seconds: seconds(usage.ru_stime),
            minor_page_faults: usage.ru_minflt as u64,
            max_rss_bytes: self.peak_rss.load(Ordering::Relaxed),
            success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        })
    }
}

/// Runs a command to its end, its output discarded, and measures it.
pub fn run_measured(command: &mut Command) -> anyhow::Result<Usage> {
    let usage = Measured::spawn(command.stdout(Stdio::null()))?.wait()?;
    anyhow::ensure!(usage.success, "{command:?} failed: {}", usage.ending());
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

/// Starts this process's resident high-water mark afresh (Linux: writing 5 to `clear_refs`), so
/// that [`own_peak_memory_bytes`] measures what comes after, not the data set's build.
pub fn reset_own_peak_memory() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
        .context("resetting the peak memory mark (/proc/self/clear_refs)")
}

/// Bytes in MiB, the unit the harness reports memory in.
pub fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// This process's resident high-water mark, in bytes.
pub fn own_peak_memory_bytes() -> Option<u64> {
    high_water_mark(std::process::id())
}

/// Gives the memory the harness freed (an in-process query's buffers) back to the system before
/// another engine runs next to it: glibc keeps freed heap for reuse, and the kernel killed the
/// harness at 12.5 GB resident while DuckDB ran its queries.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_killed_by_a_signal_says_so() {
        let mut measured = Measured::spawn(Command::new("sleep").arg("30")).unwrap();
        measured.child.kill().unwrap();
        let usage = measured.wait().unwrap();
        assert!(!usage.success);
        assert_eq!(usage.signal, Some(libc::SIGKILL));
        assert!(
            usage.ending().contains("killed by SIGKILL"),
            "{}",
            usage.ending()
        );

        let usage = Measured::spawn(&mut Command::new("false"))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!((usage.success, usage.signal), (false, None));
        assert_eq!(usage.ending(), "exited with an error");
    }
}
