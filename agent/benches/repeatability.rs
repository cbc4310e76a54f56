//! Repeatability of paired measurement (SPEC.md section 9): the same networks measured in two
//! jobs minutes apart. Prints the share whose normalized medians agree within +-3% (target
//! >= 90%) beside the same share for the raw medians of the same runs.
//!
//! `cargo bench -p flash-agent --bench repeatability`. Environment: `FLASH_BENCH_NETWORKS`
//! (20), `FLASH_BENCH_GAP_S` (seconds between the passes, 120), `FLASH_BENCH_BUDGET_S` (most
//! timed seconds per model, 1.5), `FLASH_BENCH_THREADS` (1), `FLASH_BENCH_SPACE`
//! (flash-densenet).

mod support;

use std::time::Duration;

use flash_core::measurement::MeasurementResult;
use support::{Bench, device_reference_latency, env, space};

/// Share of pairs (a, b) with |b / a - 1| <= tolerance, and the largest |b / a - 1|.
fn agreement(pairs: &[(f64, f64)], tolerance: f64) -> (f64, f64) {
    let deviations: Vec<f64> = pairs.iter().map(|(a, b)| (b / a - 1.0).abs()).collect();
    let within = deviations.iter().filter(|d| **d <= tolerance).count();
    (
        within as f64 / pairs.len() as f64,
        deviations.iter().copied().fold(0.0, f64::max),
    )
}

fn main() {
    let (n, gap_s, budget, threads): (usize, f64, f64, u32) = (
        env("FLASH_BENCH_NETWORKS", 20),
        env("FLASH_BENCH_GAP_S", 120.0),
        env("FLASH_BENCH_BUDGET_S", 1.5),
        env("FLASH_BENCH_THREADS", 1),
    );
    let space = space(&env("FLASH_BENCH_SPACE", "flash-densenet".to_string()));
    let specs = space.sample_uniform(n, 3);
    let bench = Bench::new(threads, budget);
    println!(
        "repeatability on this CPU: {n} {} networks, two paired jobs each, {gap_s} s between the passes; {threads} thread(s)",
        space.name
    );
    let first = bench.measure(&specs, "first");
    eprintln!("  waiting {gap_s} s");
    std::thread::sleep(Duration::from_secs_f64(gap_s));
    let second = bench.measure(&specs, "second");
    // The device's reference latency after both passes, as the server would apply it to every
    // measurement of the device when read.
    let history: Vec<&MeasurementResult> = first.iter().chain(&second).collect();
    let r = device_reference_latency(&history);
    let pairs = |f: &dyn Fn(&MeasurementResult) -> f64| -> Vec<(f64, f64)> {
        first
            .iter()
            .zip(&second)
            .map(|(a, b)| (f(a), f(b)))
            .collect()
    };
    let normalized = pairs(&|m| m.normalized_latency_ms(Some(r)));
    let raw = pairs(&|m| m.latency.p50_ms);
    let reference = pairs(&|m| m.reference.as_ref().expect("paired").latency.p50_ms);
    for (name, p) in [
        ("normalized median", &normalized),
        ("raw median", &raw),
        ("reference's median", &reference),
    ] {
        let (share, worst) = agreement(p, 0.03);
        println!(
            "  {name:<20} agree within +-3%: {:>5.1}% of {n}   largest difference {:>5.1}%",
            100.0 * share,
            100.0 * worst
        );
    }
    println!("target (SPEC.md section 9): >= 90% of networks within +-3% (normalized latency)");
    println!(
        "the whole run took {:.0} s",
        bench.started.elapsed().as_secs_f64()
    );
}
