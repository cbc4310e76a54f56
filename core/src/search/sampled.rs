//! The search of the whole default grid (6.4e10 networks, far beyond brute force) and of
//! flash-resnet (1.7e7, its last two cells one span) against random networks of them: no
//! feasible sample beats the optimum, and none dominates a front point. `FLASH_ORACLE_CASES`
//! sets the number of samples (100,000 and 20,000).

use super::dominance::pareto;
use super::oracle::{cost_named, feasible, problem, with_intervals};
use super::score::{better, predict, unscored};
use super::*;
use crate::features::{Counts, FeatureVector};
use crate::rng::SplitMix64;
use crate::space::ArchSpec;

/// A random problem on the default grid whose objective is of `kind` (0: maximum accuracy, 1:
/// trade-off, 2: minimum cost), exact, with one device, models over totals only and a limited
/// cost: the search of the whole grid stays well under a second in a debug build.
fn quick_problem(r: &mut SplitMix64, sample: &[ArchSpec], kind: usize) -> SearchProblem {
    loop {
        let mut p = problem(r, sample);
        let of_kind = match p.objective {
            Objective::MaxAccuracy => 0,
            Objective::TradeOff { .. } => 1,
            Objective::MinCost { .. } => 2,
        };
        let d = &p.devices[0];
        let per_stage = [&d.latency, &d.energy, &d.area]
            .into_iter()
            .flatten()
            .any(|m| m.features.len() > 6);
        let limited = d.max_latency.or(d.max_energy).or(d.max_area).is_some();
        if of_kind == kind && p.devices.len() == 1 && !per_stage && limited {
            // A params limit with a params-rewarding form is inexact (see `SearchResult::exact`).
            p.max_params = None;
            return p;
        }
    }
}

/// Samples per check: `FLASH_ORACLE_CASES`, or `default`.
fn samples(default: usize) -> usize {
    std::env::var("FLASH_ORACLE_CASES")
        .map_or(default, |v| v.parse().expect("FLASH_ORACLE_CASES: a count"))
}

#[test]
fn no_sample_of_the_default_grid_beats_the_optimum_or_a_front_point() {
    let spans = check_against_samples(Space::default_space(), samples(100_000), 49);
    assert!(spans.contains(&1), "{spans:?}");
}

/// A space whose last two cells are searched as one span of candidate pairs.
#[test]
fn no_sample_of_the_resnet_grid_beats_the_optimum_or_a_front_point() {
    let space = Space::all()
        .iter()
        .find(|s| s.name == "flash-resnet")
        .expect("the space");
    let spans = check_against_samples(space, samples(20_000), 51);
    assert!(spans.contains(&2), "{spans:?}");
}

/// Searches six random problems on `space` (each objective kind, without and with a
/// confidence) and checks each against `n` uniform samples of it; returns the cells of each
/// search's last span (the engine picks one or two by the size of the problem's tables).
fn check_against_samples(space: &Space, n: usize, seed: u64) -> Vec<usize> {
    let mut spans = Vec::new();
    let samples = space.sample_uniform(n, seed);
    let mut networks: Vec<(FeatureVector, Scored)> = samples
        .iter()
        .map(|s| {
            let (counts, degree) = Counts::and_degree(s);
            let x = counts.features(1.0);
            (x, unscored(s.clone(), &x, degree, String::new()))
        })
        .collect();
    let mut r = SplitMix64::new(seed + 1);
    // Each objective kind, without and with a confidence.
    for case in 0..6 {
        let mut p = quick_problem(&mut r, &samples[..n.min(500)], case % 3);
        if case >= 3 {
            with_intervals(&mut r, &mut p);
        }
        let result = search(space, &p).unwrap();
        // One count of states per stage of the programme, then the last span's.
        spans.push(space.num_cells + 1 - result.stats.states.len());
        for (x, s) in &mut networks {
            predict(&p, x, s);
        }
        let ok: Vec<&Scored> = networks
            .iter()
            .map(|n| &n.1)
            .filter(|s| feasible(&p, s))
            .collect();
        let Some(best) = &result.best else {
            assert!(ok.is_empty(), "case {case}: {} feasible samples", ok.len());
            continue;
        };
        assert!(feasible(&p, best), "case {case}");
        let tol = 1e-9 * best.objective.abs().max(1e-12);
        for s in &ok {
            assert!(
                !better(&p, s.objective, best.objective)
                    || (s.objective - best.objective).abs() <= tol,
                "case {case}: sample {} beats {}",
                s.objective,
                best.objective
            );
        }
        for f in &result.fronts {
            // Costs then minus accuracy, all smaller is better.
            let row = |s: &Scored| {
                let mut v: Vec<f64> = f.against.iter().map(|a| cost_named(s, a)).collect();
                v.push(-s.accuracy.value);
                v
            };
            let rows: Vec<f64> = ok.iter().flat_map(|s| row(s)).collect();
            // A sample that dominates a point is dominated (or equalled) by one that no other
            // sample dominates: only those need comparing.
            let dims = f.against.len() + 1;
            let all = (0..ok.len() as u32).collect();
            let samples_front = pareto(&rows, dims, all);
            for point in &f.points {
                assert!(feasible(&p, point), "case {case}");
                let q = row(point);
                let dominated = samples_front.iter().any(|&i| {
                    let s = &rows[i as usize * dims..(i as usize + 1) * dims];
                    let tol = |v: f64| 1e-9 * v.abs().max(1e-12);
                    s.iter().zip(&q).all(|(a, b)| *a <= b + tol(*b))
                        && s.iter().zip(&q).any(|(a, b)| *a < b - tol(*b))
                });
                assert!(
                    !dominated,
                    "case {case}: a sample dominates a point of the front against {:?}",
                    f.against
                );
            }
        }
    }
    spans
}
