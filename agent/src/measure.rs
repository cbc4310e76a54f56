//! The measurement protocol: warm up until the latency is stable, then time runs until the
//! median's 95% interval is narrow enough or the time budget is spent. Paired (the default),
//! every run of the network under test alternates with one of the device's reference network
//! on the same thread, and the interval that must narrow is that of the median run-by-run
//! ratio. The maths is independent of ONNX Runtime: it drives any
//! `FnMut() -> Result<Duration, E>`, and time comes from a clock function so tests can run it on
//! synthetic latencies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flash_core::measurement::{LatencyStats, RatioStats, median};
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
    /// A run took no measurable time, so no ratio can be formed with it.
    #[error("the {0} timed as zero: no ratio can be formed")]
    ZeroTime(&'static str),
}

/// The timed part of a measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub stats: LatencyStats,
    pub stop: StopReason,
    /// Seconds spent warming up and timing.
    pub elapsed_s: f64,
}

/// The timed part of a paired measurement: the network under test, the reference over the same
/// window, and their run-by-run ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedTiming {
    pub stats: LatencyStats,
    pub reference: LatencyStats,
    pub ratio: RatioStats,
    pub stop: StopReason,
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

/// Whether to look at the interval after `n` runs: every run at first, then about every 2%
/// more runs, so checking stays a small fraction of the cost of a fast model.
fn check_now(n: usize, min_runs: usize) -> bool {
    n >= min_runs && (n < 100 || n.is_multiple_of((n / 50).max(1)))
}

/// What [`rounds`] timed: one series of milliseconds per network, round by round.
struct Rounds {
    series: Vec<Vec<f64>>,
    warmup_runs: u64,
    stop: StopReason,
    elapsed_s: f64,
}

/// The protocol over one or more networks timed in turn, round by round, on this thread:
/// warm-up rounds until every network's latency is stable (or `max_warmup_runs` rounds or the
/// budget), then timed rounds until `relative_ci` of the series is within the target or the
/// budget ends.
fn rounds<E>(
    protocol: &ProtocolDefaults,
    runs: &mut [&mut dyn FnMut() -> Result<Duration, E>],
    relative_ci: impl Fn(&[Vec<f64>]) -> Option<f64>,
    mut clock: impl FnMut() -> Duration,
    cancel: &AtomicBool,
) -> Result<Rounds, MeasureError<E>> {
    let budget = Duration::from_secs_f64(protocol.time_budget_s);
    let start = clock();
    let mut warmups: Vec<Warmup> = runs
        .iter()
        .map(|_| Warmup::new(protocol.warmup_window, protocol.warmup_tolerance))
        .collect();
    let mut warmup_runs = 0u64;
    while warmup_runs < u64::from(protocol.max_warmup_runs)
        && clock().saturating_sub(start) < budget
    {
        let mut stable = true;
        for (run, warmup) in runs.iter_mut().zip(&mut warmups) {
            if cancel.load(Ordering::Relaxed) {
                return Err(MeasureError::Cancelled);
            }
            let ms = run().map_err(MeasureError::Run)?.as_secs_f64() * 1e3;
            stable &= warmup.push(ms);
        }
        warmup_runs += 1;
        if stable {
            break;
        }
    }

    let min_runs = protocol.min_runs.max(1) as usize;
    let timed_start = clock();
    let mut series = vec![Vec::new(); runs.len()];
    let stop = loop {
        for (run, samples) in runs.iter_mut().zip(&mut series) {
            if cancel.load(Ordering::Relaxed) {
                return Err(MeasureError::Cancelled);
            }
            samples.push(run().map_err(MeasureError::Run)?.as_secs_f64() * 1e3);
        }
        let n = series[0].len();
        if check_now(n, min_runs)
            && relative_ci(&series).is_some_and(|c| c <= protocol.target_relative_ci)
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
    Ok(Rounds {
        series,
        warmup_runs,
        stop,
        elapsed_s: clock().saturating_sub(start).as_secs_f64(),
    })
}

/// Warm-up then timed runs of `run` under `protocol`. `clock` gives the time elapsed since an
/// arbitrary origin; `cancel` stops the measurement between runs (a lost lease, a shutdown that
/// must not wait).
pub fn measure<E>(
    protocol: &ProtocolDefaults,
    mut run: impl FnMut() -> Result<Duration, E>,
    clock: impl FnMut() -> Duration,
    cancel: &AtomicBool,
) -> Result<Timing, MeasureError<E>> {
    let r = rounds(
        protocol,
        &mut [&mut run],
        |s| LatencyStats::from_samples(&s[0], 0).map(|l| l.relative_ci()),
        clock,
        cancel,
    )?;
    Ok(Timing {
        stats: LatencyStats::from_samples(&r.series[0], r.warmup_runs)
            .expect("timed runs produce finite latencies"),
        stop: r.stop,
        elapsed_s: r.elapsed_s,
    })
}

/// Run-by-run ratios of the network under test to the reference; `None` when a run timed as
/// zero (which network, for the error).
fn ratios(test: &[f64], reference: &[f64]) -> Result<Vec<f64>, &'static str> {
    test.iter()
        .zip(reference)
        .map(|(&t, &r)| {
            if r <= 0.0 {
                Err("reference network")
            } else if t <= 0.0 {
                Err("network under test")
            } else {
                Ok(t / r)
            }
        })
        .collect()
}

/// The paired protocol: warm-up and timed rounds of `run` then `run_reference`, alternately on
/// this thread, stopping when the median ratio's interval is within the target (or the budget
/// ends).
pub fn measure_paired<E>(
    protocol: &ProtocolDefaults,
    mut run: impl FnMut() -> Result<Duration, E>,
    mut run_reference: impl FnMut() -> Result<Duration, E>,
    clock: impl FnMut() -> Duration,
    cancel: &AtomicBool,
) -> Result<PairedTiming, MeasureError<E>> {
    let r = rounds(
        protocol,
        &mut [&mut run, &mut run_reference],
        |s| {
            let ratios = ratios(&s[0], &s[1]).ok()?;
            RatioStats::from_samples(&ratios).map(|r| r.relative_ci())
        },
        clock,
        cancel,
    )?;
    let ratio = RatioStats::from_samples(
        &ratios(&r.series[0], &r.series[1]).map_err(MeasureError::ZeroTime)?,
    )
    .expect("positive finite ratios");
    let stats = |s: &[f64]| {
        LatencyStats::from_samples(s, r.warmup_runs).expect("timed runs produce finite latencies")
    };
    Ok(PairedTiming {
        stats: stats(&r.series[0]),
        reference: stats(&r.series[1]),
        ratio,
        stop: r.stop,
        elapsed_s: r.elapsed_s,
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
            paired: true,
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

    /// Two fake networks on one fake device whose speed is `speed(now in ms)`: each run takes
    /// its base latency times the speed at its start, times a deterministic jitter.
    fn fake_pair(
        test_ms: f64,
        reference_ms: f64,
        speed: impl Fn(f64) -> f64 + Clone,
        now: std::rc::Rc<Cell<f64>>,
    ) -> (
        impl FnMut() -> Result<Duration, Infallible>,
        impl FnMut() -> Result<Duration, Infallible>,
        impl FnMut() -> Duration,
    ) {
        let i = std::rc::Rc::new(Cell::new(0usize));
        let network = |base: f64| {
            let (now, i, speed) = (now.clone(), i.clone(), speed.clone());
            move || {
                let k = i.get();
                i.set(k + 1);
                let jitter = 1.0 + 0.03 * (((k * 7919) % 101) as f64 / 50.0 - 1.0);
                let ms = base * speed(now.get()) * jitter;
                now.set(now.get() + ms);
                Ok(Duration::from_secs_f64(ms / 1e3))
            }
        };
        let clock_now = now.clone();
        (network(test_ms), network(reference_ms), move || {
            Duration::from_secs_f64(clock_now.get() / 1e3)
        })
    }

    #[test]
    fn paired_timing_reports_the_ratio_and_both_networks() {
        let now = std::rc::Rc::new(Cell::new(0.0));
        let (run, reference, clock) = fake_pair(2.0, 4.0, |_| 1.0, now);
        let t =
            measure_paired(&protocol(), run, reference, clock, &AtomicBool::new(false)).unwrap();
        assert_eq!(t.stop, StopReason::Converged);
        assert!(t.ratio.relative_ci() <= 0.01, "{:?}", t.ratio);
        // within the +-3% jitter of the two networks' runs
        assert!((t.ratio.p50 / 0.5 - 1.0).abs() < 0.03, "{:?}", t.ratio);
        assert_eq!(
            (t.stats.n, t.reference.n, t.ratio.n),
            (t.ratio.n, t.ratio.n, t.stats.n)
        );
        assert!((t.stats.p50_ms - 2.0).abs() < 0.05 && (t.reference.p50_ms - 4.0).abs() < 0.1);
        assert_eq!(t.stats.warmup_runs, t.reference.warmup_runs);
    }

    #[test]
    fn a_device_that_speeds_up_moves_the_raw_median_but_not_the_normalized_one() {
        // The device becomes 25% faster after 3 s; six jobs of the same network, 1 s apart.
        let now = std::rc::Rc::new(Cell::new(0.0));
        let speed = |t_ms: f64| if t_ms < 3000.0 { 1.0 } else { 0.75 };
        let p = ProtocolDefaults {
            time_budget_s: 0.3,
            ..protocol()
        };
        let mut jobs = Vec::new();
        for k in 0..6 {
            now.set(f64::from(k) * 1000.0);
            let (run, reference, clock) = fake_pair(2.0, 4.0, speed, now.clone());
            jobs.push(measure_paired(&p, run, reference, clock, &AtomicBool::new(false)).unwrap());
        }
        let raw: Vec<f64> = jobs.iter().map(|j| j.stats.p50_ms).collect();
        let history: Vec<f64> = jobs.iter().map(|j| j.reference.p50_ms).collect();
        let r = flash_core::measurement::reference_latency(&history).unwrap();
        let normalized: Vec<f64> = jobs.iter().map(|j| j.ratio.p50 * r).collect();
        let spread = |xs: &[f64]| {
            let (lo, hi) = xs
                .iter()
                .fold((f64::MAX, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
            hi / lo - 1.0
        };
        assert!(spread(&raw) > 0.25, "raw medians {raw:?}");
        assert!(spread(&normalized) < 0.02, "normalized {normalized:?}");
    }

    #[test]
    fn a_reference_that_times_as_zero_fails_the_measurement() {
        let now = std::rc::Rc::new(Cell::new(0.0));
        let (run, _, clock) = fake_pair(2.0, 4.0, |_| 1.0, now);
        let zero = || Ok::<_, Infallible>(Duration::ZERO);
        let e = measure_paired(&protocol(), run, zero, clock, &AtomicBool::new(false)).unwrap_err();
        assert!(
            matches!(e, MeasureError::ZeroTime("reference network")),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "the reference network timed as zero: no ratio can be formed"
        );
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
