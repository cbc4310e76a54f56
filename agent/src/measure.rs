//! The measurement protocol: warm up until the latency is stable, then time runs until the
//! median's 95% interval is narrow enough or the time budget is spent. The maths is independent
//! of ONNX Runtime: it drives any `FnMut() -> Result<Duration, E>`, and time comes from a clock
//! function so tests can run it on synthetic latencies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flash_core::measurement::LatencyStats;
use flash_core::profile::ProtocolDefaults;

/// Upper bound on timed runs whatever the budget, to bound memory on very fast models.
const MAX_RUNS: usize = 1_000_000;

/// Why timing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The median's interval reached the target.
    Converged,
    /// The time budget ended first.
    Budget,
    /// [`MAX_RUNS`] timed runs.
    MaxRuns,
}

#[derive(Debug, thiserror::Error)]
pub enum MeasureError<E> {
    #[error(transparent)]
    Run(E),
    #[error("measurement cancelled")]
    Cancelled,
}

/// The timed part of a measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub stats: LatencyStats,
    pub stop: StopReason,
    /// Seconds spent warming up and timing.
    pub elapsed_s: f64,
}

/// Warm-up ends when the medians of the last two windows of `window` runs differ by less than
/// `tolerance` relative to the earlier one: caches, allocator arenas and frequency scaling have
/// settled. A fixed count would be too short on slow devices and wasteful on fast ones.
#[derive(Debug, Clone)]
pub struct Warmup {
    window: usize,
    tolerance: f64,
    samples: Vec<f64>,
}

impl Warmup {
    pub fn new(window: u32, tolerance: f64) -> Warmup {
        Warmup {
            window: window.max(2) as usize,
            tolerance,
            samples: Vec::new(),
        }
    }

    /// Adds one warm-up latency; true once stable.
    pub fn push(&mut self, ms: f64) -> bool {
        self.samples.push(ms);
        let n = self.samples.len();
        if n < 2 * self.window {
            return false;
        }
        let previous = median(&self.samples[n - 2 * self.window..n - self.window]);
        let last = median(&self.samples[n - self.window..]);
        previous > 0.0 && ((last - previous) / previous).abs() < self.tolerance
    }

    pub fn runs(&self) -> usize {
        self.samples.len()
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Whether to look at the interval after `n` runs: every run at first, then about every 2%
/// more runs, so checking stays a small fraction of the cost of a fast model.
fn check_now(n: usize, min_runs: usize) -> bool {
    n >= min_runs && (n < 100 || n.is_multiple_of((n / 50).max(1)))
}

/// Warm-up then timed runs of `run` under `protocol`. `clock` gives the time elapsed since an
/// arbitrary origin; `cancel` stops the measurement between runs (a lost lease, a shutdown that
/// must not wait).
pub fn measure<E>(
    protocol: &ProtocolDefaults,
    mut run: impl FnMut() -> Result<Duration, E>,
    mut clock: impl FnMut() -> Duration,
    cancel: &AtomicBool,
) -> Result<Timing, MeasureError<E>> {
    let budget = Duration::from_secs_f64(protocol.time_budget_s);
    let start = clock();
    let mut warmup = Warmup::new(protocol.warmup_window, protocol.warmup_tolerance);
    while warmup.runs() < protocol.max_warmup_runs as usize
        && clock().saturating_sub(start) < budget
    {
        if cancel.load(Ordering::Relaxed) {
            return Err(MeasureError::Cancelled);
        }
        let ms = run().map_err(MeasureError::Run)?.as_secs_f64() * 1e3;
        if warmup.push(ms) {
            break;
        }
    }
    let warmup_runs = warmup.runs() as u64;

    let min_runs = protocol.min_runs.max(1) as usize;
    let timed_start = clock();
    let mut samples = Vec::new();
    let stop = loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(MeasureError::Cancelled);
        }
        samples.push(run().map_err(MeasureError::Run)?.as_secs_f64() * 1e3);
        let n = samples.len();
        if check_now(n, min_runs)
            && LatencyStats::from_samples(&samples, warmup_runs)
                .is_some_and(|s| s.relative_ci() <= protocol.target_relative_ci)
        {
            break StopReason::Converged;
        }
        if n >= min_runs && clock().saturating_sub(timed_start) >= budget {
            break StopReason::Budget;
        }
        if n >= MAX_RUNS {
            break StopReason::MaxRuns;
        }
    };
    let stats = LatencyStats::from_samples(&samples, warmup_runs)
        .expect("timed runs produce finite latencies");
    Ok(Timing {
        stats,
        stop,
        elapsed_s: clock().saturating_sub(start).as_secs_f64(),
    })
}

/// Runs `run` repeatedly for at least `window` (and at least once), for an energy counter to
/// integrate over; returns the number of runs and the time they took.
pub fn run_for<E>(
    window: Duration,
    mut run: impl FnMut() -> Result<Duration, E>,
    mut clock: impl FnMut() -> Duration,
    cancel: &AtomicBool,
) -> Result<(u64, Duration), MeasureError<E>> {
    let start = clock();
    let mut count = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(MeasureError::Cancelled);
        }
        run().map_err(MeasureError::Run)?;
        count += 1;
        let elapsed = clock().saturating_sub(start);
        if elapsed >= window {
            return Ok((count, elapsed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::convert::Infallible;

    fn protocol() -> ProtocolDefaults {
        ProtocolDefaults {
            threads: 1,
            provider: "cpu".into(),
            target_relative_ci: 0.01,
            time_budget_s: 10.0,
            min_runs: 10,
            max_warmup_runs: 200,
            warmup_window: 5,
            warmup_tolerance: 0.02,
        }
    }

    /// A fake model whose latencies come from `f(run index)`, and a clock advanced by them.
    fn fake(
        f: impl Fn(usize) -> f64,
    ) -> (
        impl FnMut() -> Result<Duration, Infallible>,
        impl FnMut() -> Duration,
    ) {
        let now = std::rc::Rc::new(Cell::new(0.0f64));
        let i = Cell::new(0usize);
        let run_now = now.clone();
        let run = move || {
            let ms = f(i.get());
            i.set(i.get() + 1);
            run_now.set(run_now.get() + ms);
            Ok(Duration::from_secs_f64(ms / 1e3))
        };
        let clock = move || Duration::from_secs_f64(now.get() / 1e3);
        (run, clock)
    }

    #[test]
    fn warmup_waits_for_a_stable_median() {
        let mut w = Warmup::new(5, 0.02);
        // a cold start decaying towards 10 ms: not stable while it still falls by > 2%
        let cold: Vec<f64> = (0..40).map(|i| 10.0 + 50.0 * 0.7f64.powi(i)).collect();
        let stable_at = cold.iter().position(|&x| w.push(x)).unwrap();
        assert!(stable_at >= 9, "at least two windows: {stable_at}");
        let n = stable_at + 1;
        let last = median(&cold[n - 5..n]);
        let previous = median(&cold[n - 10..n - 5]);
        assert!(((last - previous) / previous).abs() < 0.02);
        // one window earlier it was not yet stable
        let (a, b) = (median(&cold[n - 11..n - 6]), median(&cold[n - 6..n - 1]));
        assert!(((b - a) / a).abs() >= 0.02);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
    }

    #[test]
    fn constant_latency_converges_at_min_runs() {
        let (run, clock) = fake(|_| 2.0);
        let t = measure(&protocol(), run, clock, &AtomicBool::new(false)).unwrap();
        assert_eq!(t.stop, StopReason::Converged);
        assert_eq!(t.stats.n, 10);
        assert_eq!(t.stats.warmup_runs, 10);
        assert_eq!(t.stats.p50_ms, 2.0);
        // 20 runs of 2 ms
        assert!((t.elapsed_s - 0.040).abs() < 1e-9);
    }

    #[test]
    fn noisy_latency_runs_until_the_interval_is_within_target() {
        // deterministic spread of +-5% around 4 ms: the interval narrows as sqrt(n)
        let (run, clock) = fake(|i| 4.0 * (1.0 + 0.05 * (((i * 7919) % 101) as f64 / 50.0 - 1.0)));
        let t = measure(&protocol(), run, clock, &AtomicBool::new(false)).unwrap();
        assert_eq!(t.stop, StopReason::Converged);
        assert!(t.stats.relative_ci() <= 0.01);
        assert!(t.stats.n > 10, "n = {}", t.stats.n);
        let fewer = LatencyStats::from_samples(&[3.8, 4.2, 3.9, 4.1, 4.0], 0).unwrap();
        assert!(fewer.relative_ci() > 0.01);
    }

    #[test]
    fn budget_stops_an_unconverged_measurement() {
        // alternating 1 ms and 3 ms never gives a narrow median interval
        let (run, clock) = fake(|i| if i % 2 == 0 { 1.0 } else { 3.0 });
        let p = ProtocolDefaults {
            time_budget_s: 0.5,
            ..protocol()
        };
        let t = measure(&p, run, clock, &AtomicBool::new(false)).unwrap();
        assert_eq!(t.stop, StopReason::Budget);
        // 0.5 s of 2 ms average runs after the warm-up
        assert_eq!(t.stats.n, 250);
        assert!(t.stats.relative_ci() > 0.01);
    }

    #[test]
    fn warmup_is_bounded_and_cancel_stops() {
        let (run, clock) = fake(|i| 1.0 + i as f64);
        let p = ProtocolDefaults {
            max_warmup_runs: 30,
            time_budget_s: 0.001,
            min_runs: 3,
            ..protocol()
        };
        let t = measure(&p, run, clock, &AtomicBool::new(false)).unwrap();
        // the growing latency never stabilises; the 1 ms budget ends the warm-up after 1 run
        assert_eq!(t.stats.warmup_runs, 1);
        assert_eq!(t.stats.n, 3);
        let (run, clock) = fake(|_| 1.0);
        let cancelled = measure(&protocol(), run, clock, &AtomicBool::new(true));
        assert!(matches!(cancelled, Err(MeasureError::Cancelled)));
    }

    #[test]
    fn energy_window_runs_long_enough() {
        let (run, clock) = fake(|_| 3.0);
        let (count, took) = run_for(
            Duration::from_millis(100),
            run,
            clock,
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(count, 34);
        assert!(took >= Duration::from_millis(100));
    }
}
