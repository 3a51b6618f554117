//! The simulation: arrivals per function, execution environments kept warm for a while, cold
//! starts when none is idle, throttles at the concurrency limit, long-tailed durations.
//!
//! Cold starts are not drawn by chance: they follow from the environment pool. An arrival takes an
//! idle environment that was used within its keep-alive time (warm); otherwise a new environment
//! starts (cold, with an init duration), unless the function is at its concurrency limit, in which
//! case the invocation is throttled and never runs.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};

use crate::workload::{Arrivals, FunctionProfile, Workload};

/// How a simulated invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    Error,
    Timeout,
    OutOfMemory,
    Throttled,
}

impl Outcome {
    /// The data model's status for this outcome.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::OutOfMemory => "out_of_memory",
            Outcome::Throttled => "throttled",
        }
    }
}

/// One simulated invocation, the ground truth the output files are written from.
#[derive(Debug, Clone)]
pub struct SimulatedInvocation {
    pub function: usize,
    pub request_id: String,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The execution environment (`None` when throttled).
    pub instance_id: Option<String>,
    /// Start, ns since the epoch.
    pub start_ns: i64,
    pub duration_ms: f64,
    pub init_ms: Option<f64>,
    pub billed_ms: i64,
    pub max_memory_mb: i32,
    pub outcome: Outcome,
    pub error_type: Option<&'static str>,
    pub error_message: Option<String>,
}

impl SimulatedInvocation {
    pub fn end_ns(&self) -> i64 {
        self.start_ns + (self.duration_ms * 1e6) as i64
    }
}

struct Environment {
    id: String,
    busy_until: i64,
    last_used: i64,
    keep_alive_ns: i64,
}

fn uuid(rng: &mut StdRng) -> String {
    let b: [u8; 16] = rng.random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

fn arrivals(profile: &FunctionProfile, workload: &Workload, rng: &mut StdRng) -> Vec<i64> {
    let start = workload.start_ns;
    let end = start + workload.duration_ns;
    let mut times = Vec::new();
    match profile.arrivals {
        Arrivals::Poisson { per_second } => {
            let exp = Exp::new(per_second * workload.scale).expect("positive rate");
            let mut t = start as f64;
            loop {
                t += exp.sample(rng) * 1e9;
                if t >= end as f64 {
                    break;
                }
                times.push(t as i64);
            }
        }
        Arrivals::Bursty {
            base_per_second,
            burst_per_second,
            mean_burst_s,
            mean_gap_s,
        } => {
            // A two-state (on/off) modulated Poisson process.
            let mut t = start as f64;
            let mut bursting = false;
            let mut state_end = t + Exp::new(1.0 / mean_gap_s).expect("positive").sample(rng) * 1e9;
            while t < end as f64 {
                let rate = if bursting {
                    burst_per_second
                } else {
                    base_per_second
                } * workload.scale;
                let next = t + Exp::new(rate).expect("positive rate").sample(rng) * 1e9;
                if next >= state_end {
                    t = state_end;
                    bursting = !bursting;
                    let mean = if bursting { mean_burst_s } else { mean_gap_s };
                    state_end = t + Exp::new(1.0 / mean).expect("positive").sample(rng) * 1e9;
                    continue;
                }
                t = next;
                if t < end as f64 {
                    times.push(t as i64);
                }
            }
        }
        Arrivals::Every { seconds } => {
            let mut t = start + (seconds * 1e9) as i64 / 2;
            while t < end {
                // Schedulers fire a little late.
                times.push(t + rng.random_range(0..200_000_000));
                t += (seconds * 1e9) as i64;
            }
        }
    }
    times
}

/// Simulates the workload; the result is sorted by start time. The same workload (seed
/// included) always gives the same invocations.
pub fn simulate(workload: &Workload) -> Vec<SimulatedInvocation> {
    let mut rng = StdRng::seed_from_u64(workload.seed);
    let mut all = Vec::new();
    for (index, profile) in workload.functions.iter().enumerate() {
        let times = arrivals(profile, workload, &mut rng);
        let mut pool: Vec<Environment> = Vec::new();
        let duration = LogNormal::new(profile.median_ms.ln(), profile.sigma).expect("valid");
        let init = LogNormal::new(profile.init_median_ms.ln(), 0.25).expect("valid");
        for t in times {
            let request_id = uuid(&mut rng);
            let trace_id: [u8; 16] = rng.random();
            let span_id: [u8; 8] = rng.random();
            pool.retain(|e| e.busy_until > t || t - e.last_used < e.keep_alive_ns);
            let idle = pool
                .iter()
                .enumerate()
                .filter(|(_, e)| e.busy_until <= t)
                .max_by_key(|(_, e)| e.last_used)
                .map(|(index, _)| index);
            let (env, init_ms) = match idle {
                Some(index) => (&mut pool[index], None),
                None if pool.len() >= profile.concurrency_limit => {
                    all.push(SimulatedInvocation {
                        function: index,
                        request_id,
                        trace_id,
                        span_id,
                        instance_id: None,
                        start_ns: t,
                        duration_ms: 0.0,
                        init_ms: None,
                        billed_ms: 0,
                        max_memory_mb: 0,
                        outcome: Outcome::Throttled,
                        error_type: Some("TooManyRequestsException"),
                        error_message: Some("Rate Exceeded.".into()),
                    });
                    continue;
                }
                None => {
                    let id: [u8; 16] = rng.random();
                    pool.push(Environment {
                        id: hex::encode(id),
                        busy_until: t,
                        last_used: t,
                        keep_alive_ns: rng.random_range(300..900) as i64 * 1_000_000_000,
                    });
                    (
                        pool.last_mut().expect("just pushed"),
                        Some(init.sample(&mut rng)),
                    )
                }
            };
            // A long tail: most invocations follow the log-normal, a few are many times slower.
            let mut duration_ms: f64 = duration.sample(&mut rng);
            if rng.random_bool(0.02) {
                duration_ms *= rng.random_range(4.0..15.0);
            }
            let mut outcome = Outcome::Success;
            let mut error_type = None;
            let mut error_message = None;
            let roll: f64 = rng.random();
            if duration_ms >= profile.timeout_ms {
                duration_ms = profile.timeout_ms + rng.random_range(0.5..4.0);
                outcome = Outcome::Timeout;
                error_type = Some("Sandbox.Timedout");
                error_message = Some(format!(
                    "Task timed out after {:.2} seconds",
                    profile.timeout_ms / 1000.0
                ));
            } else if roll < profile.oom_rate {
                outcome = Outcome::OutOfMemory;
                error_type = Some("Runtime.OutOfMemory");
                error_message = Some("Runtime exited with error: signal: killed".into());
            } else if roll < profile.oom_rate + profile.error_rate {
                outcome = Outcome::Error;
                let (ty, msg) = profile.errors[rng.random_range(0..profile.errors.len())];
                error_type = Some(ty);
                error_message =
                    Some(msg.replace("{n}", &rng.random_range(1000..99999).to_string()));
            }
            let memory_mb = profile.memory_mb;
            let max_memory_mb = if outcome == Outcome::OutOfMemory {
                memory_mb
            } else {
                ((memory_mb as f64) * rng.random_range(0.25..0.6)) as i32
            };
            let billed_ms = if outcome == Outcome::Timeout {
                profile.timeout_ms as i64
            } else {
                // INIT is billed for on-demand functions since 1 Aug 2025.
                (duration_ms + init_ms.unwrap_or(0.0)).ceil() as i64
            };
            let start_ns = t + init_ms.map_or(0, |i| (i * 1e6) as i64);
            env.busy_until = start_ns + (duration_ms * 1e6) as i64;
            env.last_used = env.busy_until;
            all.push(SimulatedInvocation {
                function: index,
                request_id,
                trace_id,
                span_id,
                instance_id: Some(env.id.clone()),
                start_ns,
                duration_ms,
                init_ms,
                billed_ms,
                max_memory_mb,
                outcome,
                error_type,
                error_message,
            });
        }
    }
    all.sort_by(|a, b| (a.start_ns, &a.request_id).cmp(&(b.start_ns, &b.request_id)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_invocations() {
        let w = Workload::sample(7);
        let a = simulate(&w);
        let b = simulate(&w);
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.request_id == y.request_id && x.start_ns == y.start_ns)
        );
    }

    #[test]
    fn cold_starts_follow_from_the_environment_pool() {
        let invocations = simulate(&Workload::sample(1));
        for f in 0..Workload::sample(1).functions.len() {
            let mine: Vec<_> = invocations
                .iter()
                .filter(|i| i.function == f && i.instance_id.is_some())
                .collect();
            let environments: std::collections::HashSet<_> =
                mine.iter().map(|i| i.instance_id.clone()).collect();
            let cold = mine.iter().filter(|i| i.init_ms.is_some()).count();
            // Every environment starts with exactly one cold invocation.
            assert_eq!(cold, environments.len(), "function {f}");
        }
        assert!(invocations.iter().any(|i| i.outcome == Outcome::Throttled));
        assert!(invocations.iter().any(|i| i.outcome == Outcome::Timeout));
        assert!(invocations.iter().any(|i| i.outcome == Outcome::Error));
    }
}
