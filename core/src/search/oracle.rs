//! The oracle: the search against brute force on random small grids, and the errors. The
//! random grids and problems serve the other modules' tests too.

use super::score::{better, miss_size, score, violations};
use super::*;
use crate::features::Feature;
use crate::fit::AccuracyForm;
use crate::fit::{AccuracyModel, CostMetric, DegreeTerm, HardwareModel, PredictionInterval};
use crate::rng::SplitMix64;
use crate::space::{ArchSpec, Block, Family};

pub(super) fn unit(r: &mut SplitMix64) -> f64 {
    r.unit_f32() as f64
}

/// A random small DenseNet grid.
pub(super) fn small_space(r: &mut SplitMix64) -> Space {
    small_space_of(r, Family::Densenet)
}

/// A random small grid of `family`, without stem or head (a test space is not built in, so its
/// specs' graphs have none). ResNet and MobileNet grids are smaller: their brute force builds
/// every network's graph.
pub(super) fn small_space_of(r: &mut SplitMix64, family: Family) -> Space {
    /// `1 + extra` values of `base`, `extra` being 1 or 2 (at most `most`).
    fn pick<T: Clone>(r: &mut SplitMix64, base: &[T], most: u64) -> Vec<T> {
        let n = 1 + most.min(1 + r.below(2)) as usize;
        let mut v: Vec<T> = base.to_vec();
        while v.len() > n {
            v.remove(r.below(v.len() as u64) as usize);
        }
        v
    }
    let num_cells = 2 + r.below(2) as usize;
    let mut space = Space {
        num_cells,
        ..Space::with_empty_grid("test", "", family, [3, 16, 16], 10)
    };
    match family {
        Family::Densenet => {
            space.widths = pick(r, &[8, 16, 24, 32], 2);
            space.depths = pick(r, &[3, 4, 6, 8], 2);
            space.tcs = pick(r, &[0, 5, 16, 40], 2);
        }
        Family::Resnet => {
            space.widths = pick(r, &[8, 16, 24], 1);
            space.depths = pick(r, &[1, 2, 3], 1);
            space.blocks = pick(r, &[Block::Basic, Block::Bottleneck], 1);
            space.multipliers = pick(r, &[1, 2], 0);
        }
        Family::Mobilenet => {
            space.widths = pick(r, &[8, 16, 24], 1);
            space.depths = pick(r, &[1, 2, 3], 1);
            space.expansions = pick(r, &[2, 6], 1);
            space.kernels = pick(r, &[3, 5], 0);
        }
    }
    space
}

/// A model over totals, and in half the models per-kind layer counts and per-stage
/// counts too; a quarter of the coefficients zero.
fn model(r: &mut SplitMix64, metric: CostMetric) -> HardwareModel {
    let mut terms = vec![
        (Feature::Macs, 1e-7),
        (Feature::ActivationBytes, 1e-6),
        (Feature::WeightBytes, 1e-6),
        (Feature::ConcatBytes, 1e-5),
        (Feature::Kernels, 0.05),
        (Feature::Constant, 0.5),
    ];
    if r.below(2) == 0 {
        terms.extend([
            (Feature::Conv3x3Layers, 0.05),
            (Feature::ConcatLayers, 0.05),
            (Feature::PoolLayers, 0.1),
        ]);
        // Stages of different cost (up to 30 times apart), so that models disagree more.
        for s in 0..crate::features::MAX_STAGES {
            let k = 30f64.powf(unit(r));
            terms.push((Feature::stage_macs(s), 1e-7 * k));
            terms.push((Feature::stage_layers(s), 0.05 * k));
            terms.push((Feature::stage_activation_bytes(s), 1e-6 * k));
            terms.push((Feature::stage_concat_bytes(s), 1e-5 * k));
        }
    }
    let (features, coefficients) = terms
        .into_iter()
        .map(|(f, s)| (f, if r.below(4) == 0 { 0.0 } else { s * unit(r) }))
        .unzip();
    HardwareModel::new(metric, features, coefficients).unwrap()
}

fn accuracy(r: &mut SplitMix64) -> AccuracyModel {
    let degree = [DegreeTerm::Linear, DegreeTerm::Log, DegreeTerm::Reciprocal][r.below(3) as usize];
    let log_params = r.below(2) == 0;
    let mut coefficients = vec![0.3, (unit(r) - 0.2) * 0.1];
    if degree == DegreeTerm::Reciprocal {
        coefficients[1] *= -100.0;
    }
    if log_params {
        coefficients.push((unit(r) - 0.3) * 0.05);
    }
    AccuracyModel {
        form: AccuracyForm::new(Some(degree), log_params),
        coefficients: coefficients.clone(),
        residual_std: 0.01,
        t_quantile: 2.0,
        inverse_gram: vec![0.0; coefficients.len().pow(2)],
        fitted_nn_degree: None,
        fitted_params: None,
    }
}

/// The stored quantities of a whole network under `plan`, as the search sums them.
pub(super) fn stored(plan: &Plan, spec: &ArchSpec) -> Vec<f64> {
    let x = crate::features::Counts::of_spec(spec).features(1.0);
    let mut out = vec![0.0; plan.quantities.len()];
    super::tables::eval(&plan.quantities, &x, spec.nn_degree(), &mut out);
    out
}

/// A network of `space` drawn uniformly.
pub(super) fn random_spec(r: &mut SplitMix64, space: &Space) -> ArchSpec {
    let cells = (0..space.num_cells)
        .map(|_| space.cell_at(r.below(space.cell_choices())))
        .collect();
    space.spec(cells)
}

pub(super) fn all_specs(space: &Space) -> Vec<ArchSpec> {
    let n = space.cell_choices();
    let total = n.pow(space.num_cells as u32);
    (0..total)
        .map(|mut k| {
            let cells = (0..space.num_cells)
                .map(|_| {
                    let c = space.cell_at(k % n);
                    k /= n;
                    c
                })
                .collect();
            space.spec(cells)
        })
        .collect()
}

/// A random problem with limits drawn around the space's costs (some infeasible).
pub(super) fn problem(r: &mut SplitMix64, specs: &[ArchSpec]) -> SearchProblem {
    let with_area = r.below(2) == 0;
    let devices: Vec<DeviceModels> = (0..1 + r.below(2))
        .map(|i| {
            let mut d = DeviceModels {
                device: format!("dev{i}"),
                latency: Some(model(r, CostMetric::Latency)),
                energy: Some(model(r, CostMetric::Energy)),
                area: with_area.then(|| model(r, CostMetric::Area)),
                max_latency: None,
                max_energy: None,
                max_area: None,
            };
            let quantile = |r: &mut SplitMix64, m: &HardwareModel| {
                let mut v: Vec<f64> = specs.iter().map(|s| m.predict_spec(s)).collect();
                v.sort_by(f64::total_cmp);
                v[(unit(r) * 0.6 * v.len() as f64) as usize]
            };
            if r.below(3) > 0 {
                d.max_latency = Some(quantile(r, d.latency.as_ref().unwrap()));
            }
            if r.below(2) == 0 {
                d.max_energy = Some(quantile(r, d.energy.as_ref().unwrap()));
            }
            if let Some(a) = d.area.clone()
                && r.below(2) == 0
            {
                d.max_area = Some(quantile(r, &a));
            }
            d
        })
        .collect();
    let accuracy = accuracy(r);
    let params: Vec<u64> = specs
        .iter()
        .map(|s| crate::features::Counts::of_spec(s).params)
        .collect();
    let objective = match r.below(3) {
        0 => Objective::MaxAccuracy,
        1 => Objective::TradeOff {
            a: 1.0 + unit(r) * 4.0,
            b: unit(r),
            c: unit(r),
            d: if devices[0].area.is_some() {
                unit(r)
            } else {
                0.0
            },
        },
        _ => {
            let mut acc: Vec<f64> = specs
                .iter()
                .zip(&params)
                .map(|(s, p)| accuracy.mean(s.nn_degree(), *p as f64))
                .collect();
            acc.sort_by(f64::total_cmp);
            Objective::MinCost {
                device: "dev0".into(),
                metric: CostMetric::Energy,
                min_accuracy: acc[(unit(r) * acc.len() as f64) as usize],
            }
        }
    };
    let mut sorted = params.clone();
    sorted.sort_unstable();
    SearchProblem {
        accuracy,
        max_params: (r.below(4) == 0).then(|| sorted[(unit(r) * sorted.len() as f64) as usize]),
        max_macs: None,
        devices,
        objective,
        confidence: None,
    }
}

/// Gives every model of `p` a random relative interval and `p` a random confidence.
pub(super) fn with_intervals(r: &mut SplitMix64, p: &mut SearchProblem) {
    for d in &mut p.devices {
        for model in [&mut d.latency, &mut d.energy, &mut d.area]
            .into_iter()
            .flatten()
        {
            model.interval = Some(PredictionInterval {
                log_mean: (unit(r) - 0.3) * 0.1,
                log_sd: 0.01 + 0.1 * unit(r),
                dof: 3 + r.below(30) as usize,
            });
        }
    }
    p.confidence = Some(0.05 + 0.94 * unit(r));
}

/// The upper bound at `p`'s confidence of a cost `value` of `device`, and the cost's limit
/// (infinite when none).
pub(super) fn bound_and_limit(
    p: &SearchProblem,
    device: &str,
    m: CostMetric,
    value: f64,
) -> (f64, f64) {
    let d = p.devices.iter().find(|d| d.device == device).unwrap();
    let u = d.model(m).unwrap().interval.unwrap();
    let bound = value * u.upper_factor(p.confidence.unwrap());
    (bound, d.limit(m).unwrap_or(f64::INFINITY))
}

/// Brute-force feasibility: every limit of `violations`, and with a confidence each cost's
/// bound (from `bound_and_limit`, not from the search's margins) under its limit.
pub(super) fn feasible(p: &SearchProblem, s: &Scored) -> bool {
    if s.objective.is_nan() {
        return false;
    }
    if p.confidence.is_none() {
        return violations(p, s).is_empty();
    }
    let mut unlimited = p.clone();
    for d in &mut unlimited.devices {
        (d.max_latency, d.max_energy, d.max_area) = (None, None, None);
    }
    violations(&unlimited, s).is_empty()
        && s.costs.iter().all(|c| {
            let (bound, limit) = bound_and_limit(p, &c.device, c.metric, c.value);
            bound <= limit * (1.0 + 1e-9)
        })
}

/// The cost of `s` a front names `device.metric`.
pub(super) fn cost_named(s: &Scored, name: &str) -> f64 {
    let (dev, metric) = name.split_once('.').unwrap();
    s.costs
        .iter()
        .find(|c| c.device == dev && <&str>::from(c.metric) == metric)
        .unwrap()
        .value
}

#[test]
fn equals_brute_force_on_small_grids() {
    let (feasible, infeasible, pairs) = against_brute_force(42, 100, Family::Densenet);
    assert!(
        feasible > 60 && infeasible > 4 && pairs > 5,
        "{feasible} {infeasible} {pairs}"
    );
}

#[test]
fn equals_brute_force_on_small_resnet_and_mobilenet_grids() {
    for family in [Family::Resnet, Family::Mobilenet] {
        let (feasible, infeasible, pairs) = against_brute_force(43, 40, family);
        assert!(
            feasible > 20 && infeasible > 1 && pairs > 1,
            "{family:?}: {feasible} {infeasible} {pairs}"
        );
    }
}

#[test]
fn a_network_whose_accuracy_is_the_floor_meets_it() {
    // A user who asks for "at least as accurate as network X" gives X's own accuracy; the
    // search sums X's quantities in another order than `score`, so X must not fall short of
    // its own accuracy by rounding.
    let mut r = SplitMix64::new(7);
    let mut checked = 0;
    for _ in 0..6 {
        let space = small_space(&mut r);
        let specs = all_specs(&space);
        let mut p = problem(&mut r, &specs);
        p.max_params = None;
        for d in &mut p.devices {
            (d.max_latency, d.max_energy, d.max_area) = (None, None, None);
        }
        // Scored once: the floor changes the violations, not the scores.
        p.objective = Objective::MinCost {
            device: "dev0".into(),
            metric: CostMetric::Energy,
            min_accuracy: 0.0,
        };
        let brute: Vec<Scored> = specs.iter().map(|s| score(&p, s)).collect();
        for x in (0..brute.len()).step_by(brute.len() / 10 + 1) {
            let floor = brute[x].accuracy.value;
            if let Objective::MinCost { min_accuracy, .. } = &mut p.objective {
                *min_accuracy = floor;
            }
            let optimum = brute
                .iter()
                .filter(|s| violations(&p, s).is_empty())
                .map(|s| s.objective)
                .fold(f64::INFINITY, f64::min);
            for span in [1, 2] {
                let result = search_spanning(&space, &p, Some(span)).unwrap();
                // Up to rounding: the search scores from the tables' terms.
                let best = result.best.as_ref().map(|b| b.objective);
                assert!(
                    best.is_some_and(|b| (b - optimum).abs() <= 1e-9 * optimum.abs()),
                    "floor {floor} (span {span}): {best:?} against {optimum}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

/// Searches `cases` random problems on random small grids of `family` and checks each result
/// against brute force; returns the feasible, infeasible and pair-front cases seen.
fn against_brute_force(seed: u64, cases: usize, family: Family) -> (usize, usize, usize) {
    let mut r = SplitMix64::new(seed);
    let (mut feasible, mut infeasible, mut pairs) = (0, 0, 0);
    for case in 0..cases {
        let space = small_space_of(&mut r, family);
        let specs = all_specs(&space);
        let p = problem(&mut r, &specs);
        let brute: Vec<Scored> = specs.iter().map(|s| score(&p, s)).collect();
        let ok: Vec<&Scored> = brute
            .iter()
            .filter(|s| violations(&p, s).is_empty() && !s.objective.is_nan())
            .collect();
        let optimum = ok
            .iter()
            .map(|s| s.objective)
            .reduce(|a, b| if better(&p, a, b) { a } else { b });
        // The last span of one cell and of two: the engine picks one by the space's size.
        for span in [1, 2] {
            let result = search_spanning(&space, &p, Some(span)).unwrap();
            let case = format!("{case} (span {span})");
            let counts =
                check_against_brute_force(&p, &specs, &brute, &ok, optimum, &result, &case);
            feasible += counts.0;
            infeasible += counts.1;
            pairs += counts.2;
        }
    }
    (feasible, infeasible, pairs)
}

/// Checks one search's `result` against the brute force scores of every spec; returns the
/// feasible, infeasible and pair-front cases it counts as.
fn check_against_brute_force(
    p: &SearchProblem,
    specs: &[ArchSpec],
    brute: &[Scored],
    ok: &[&Scored],
    optimum: Option<f64>,
    result: &SearchResult,
    case: &str,
) -> (usize, usize, usize) {
    let (mut feasible, mut infeasible, mut pairs) = (0, 0, 0);
    assert_eq!(result.configurations, specs.len() as u64);
    match (optimum, &result.best) {
        (None, None) => {
            infeasible += 1;
            let miss = result.closest_miss.as_ref().expect("a closest miss");
            let brute_miss = brute
                .iter()
                .map(|s| miss_size(&violations(p, s)))
                .fold(f64::INFINITY, f64::min);
            // Inexact plans prune params as a cost, so their miss may be farther.
            let found = miss_size(&miss.violations);
            assert!(
                (found - brute_miss).abs() <= 1e-9 * brute_miss
                    || (!result.exact && found > brute_miss),
                "case {case}: miss {found} vs {brute_miss}"
            );
        }
        (Some(o), Some(b)) if result.exact => {
            feasible += 1;
            assert!(
                (o - b.objective).abs() <= 1e-9 * o.abs().max(1e-12),
                "case {case}: {o} vs {}",
                b.objective
            );
            // Each front, against one cost or the pair, is the brute-force front.
            for f in &result.fronts {
                let point = |s: &Scored| {
                    let mut v: Vec<f64> = f.against.iter().map(|a| cost_named(s, a)).collect();
                    v.push(s.accuracy.value);
                    v
                };
                let dominates = |a: &[f64], b: &[f64]| {
                    let n = a.len() - 1;
                    a[..n].iter().zip(&b[..n]).all(|(x, y)| x <= y) && a[n] >= b[n]
                };
                // Up to rounding: the search sums a network's quantities in another order
                // than `score`, so two networks whose accuracies tie may compare either way.
                // Every point found must be on the brute-force front within that, and every
                // brute-force point must be matched or beaten by one found.
                let tol = |y: f64| 1e-9 * y.abs().max(1e-12);
                let at_least_as_good = |a: &[f64], b: &[f64]| {
                    let n = a.len() - 1;
                    a[..n].iter().zip(&b[..n]).all(|(x, y)| *x <= y + tol(*y))
                        && a[n] >= b[n] - tol(b[n])
                };
                // Better beyond rounding in every value: ties in any may compare either way.
                let clearly_better = |a: &[f64], b: &[f64]| {
                    let n = a.len() - 1;
                    a[..n].iter().zip(&b[..n]).all(|(x, y)| *x < y - tol(*y))
                        && a[n] > b[n] + tol(b[n])
                };
                let all: Vec<Vec<f64>> = ok.iter().map(|s| point(s)).collect();
                let expected: Vec<&Vec<f64>> = all
                    .iter()
                    .filter(|p| !all.iter().any(|q| dominates(q, p) && q != *p))
                    .collect();
                let got: Vec<Vec<f64>> = f.points.iter().map(point).collect();
                for g in &got {
                    assert!(
                        !all.iter().any(|q| clearly_better(q, g)),
                        "case {case}: {:?} point {g:?} is dominated",
                        f.against
                    );
                }
                for e in &expected {
                    assert!(
                        got.iter().any(|g| at_least_as_good(g, e)),
                        "case {case}: {:?} point {e:?} is missing",
                        f.against
                    );
                }
                // Distinct points only: no point found is matched by another.
                for (i, g) in got.iter().enumerate() {
                    assert!(
                        !got.iter()
                            .enumerate()
                            .any(|(j, h)| j != i && dominates(h, g)),
                        "case {case}: {:?} point {g:?} is repeated or dominated",
                        f.against
                    );
                }
                pairs += usize::from(f.against.len() == 2);
            }
        }
        (Some(o), Some(b)) => {
            let gap = result.accuracy_gap_bound.unwrap();
            if matches!(p.objective, Objective::MaxAccuracy) {
                assert!(o - b.objective <= gap + 1e-12, "case {case}");
            }
        }
        // Pruning params as a cost may drop every network that meets an accuracy
        // floor (documented on `SearchResult::exact`).
        (Some(_), None) if !result.exact && matches!(p.objective, Objective::MinCost { .. }) => {}
        (o, b) => panic!(
            "case {case}: brute force {o:?}, search {:?}",
            b.as_ref().map(|b| b.objective)
        ),
    }
    (feasible, infeasible, pairs)
}

#[test]
fn missing_models_and_unknown_devices_are_errors() {
    let mut r = SplitMix64::new(1);
    let mut p = SearchProblem {
        accuracy: accuracy(&mut r),
        devices: vec![DeviceModels {
            device: "cpu".into(),
            latency: None,
            energy: None,
            area: None,
            max_latency: Some(5.0),
            max_energy: None,
            max_area: None,
        }],
        max_params: None,
        max_macs: None,
        objective: Objective::MaxAccuracy,
        confidence: None,
    };
    let space = Space::default_space();
    assert!(matches!(
        search(space, &p),
        Err(SearchError::MissingModel {
            metric: CostMetric::Latency,
            ..
        })
    ));
    p.devices[0].max_latency = None;
    p.objective = Objective::MinCost {
        device: "gpu".into(),
        metric: CostMetric::Latency,
        min_accuracy: 0.5,
    };
    assert!(matches!(
        search(space, &p),
        Err(SearchError::UnknownDevice(_))
    ));
}

#[test]
fn each_network_is_handed_out_once_per_use() {
    let mut r = SplitMix64::new(2);
    let space = small_space(&mut r);
    let scored: Vec<Scored> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| {
            let spec = random_spec(&mut r, &space);
            let x = crate::features::FeatureVector::default();
            let mut s = super::score::unscored(spec, &x, 1.0, id.to_string());
            // Numbers, not the NaN of nothing predicted, so that copies compare equal.
            s.accuracy = crate::fit::Interval {
                value: 0.9,
                lower: 0.8,
                upper: 1.0,
            };
            s.objective = 0.9;
            s
        })
        .collect();
    let expected = scored.clone();
    let fronts = vec![
        (vec!["cpu.latency".to_string()], vec![0, 1]),
        (vec!["gpu.latency".to_string()], vec![1, 3]),
    ];
    let (best, fronts) = hand_out(scored, Some(1), fronts);
    assert_eq!(best.as_ref(), Some(&expected[1]));
    let ids = |f: &ParetoFront| f.points.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
    assert_eq!(fronts[0].against, ["cpu.latency"]);
    assert_eq!(ids(&fronts[0]), ["a", "b"]);
    assert_eq!(ids(&fronts[1]), ["b", "d"]);
    assert_eq!(fronts[1].points[1], expected[3]);
    // No best and no fronts: nothing is handed out.
    let (best, fronts) = hand_out(expected, None, Vec::new());
    assert!(best.is_none() && fronts.is_empty());
}
