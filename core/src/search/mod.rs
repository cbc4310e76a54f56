//! Exact co-design search over a grid-shaped cell space.
//!
//! Every hardware cost, params and MACs is a linear function of the feature vector, which is a
//! head term plus one term per cell (see `features`); NN-Degree is a sum over cells too. A cell's
//! term depends on the previous cell's width only through its first convolution (a ResNet or
//! MobileNet cell: its first block), so it splits into a part that depends on the cell alone and
//! a coupling that depends on the previous width and the cell's coupling group (its width, and
//! for those families its kind: see `Space::group_size`).
//! Every predicted accuracy form is monotone in NN-Degree and in params, and every objective is
//! monotone in accuracy and in each cost. So a partial network (cells 0..=c) can be dropped when
//! another with the same last group is no worse in every summed quantity: whatever cells follow,
//! the other one's completion is at least as good and as feasible. The search keeps, per cell
//! and per last group, only the non-dominated partial networks (dynamic programming over cells),
//! drops those that cannot meet a limit even with the cheapest remaining cells, and evaluates
//! the objective on the survivors. The result is the optimum of the whole grid, not a sample.
//!
//! The last cell needs no merge: a complete network only matters if it is the optimum or on a
//! front. The last cell's candidates of each coupling group are grouped in blocks alike in
//! NN-Degree or params, whichever accuracy varies more with, and each pair of a network before
//! the last cell and a block is a box bounded by the per-quantity extremes. A trade-off optimum
//! is searched best bound first and stops at the first box that cannot beat the incumbent (the
//! trade-off bounded with chords of the logarithm); the fronts visit the boxes best accuracy
//! first, so they are nearly final early and most boxes are dominated before any network in
//! them is looked at, most of them many at a time: a run of networks (32) with a block is
//! bounded first (`Engine::last_cell`).
//!
//! Where the second-to-last cell's groups hold a few candidates each (a ResNet- or
//! MobileNet-type cell: one per depth), the last two cells are searched so, as one span of
//! candidate pairs (`span`): the programme stops a cell earlier, with several times fewer
//! networks to enter the last groups.
//!
//! With an accuracy form that depends on both NN-Degree and params, a network that trades one
//! against the other is also dropped when the tangents of the two accuracy terms prove it
//! worse whatever follows (`exchange_pareto`), over boxes that cover what the remaining cells
//! can add (`exchange::Added`): per last width for the programme's states, per group for the
//! entries into a cell; a cell's candidates too, between their entries and what follows.
//!
//! One case defeats the dominance argument: a params limit together with an accuracy form that
//! rewards params (positive log-params coefficient). Then params are pruned as a cost and the
//! result says `exact: false` with a bound on the accuracy it may have missed.
//!
//! With a confidence, each cost limit applies to the cost's upper prediction bound, a fixed
//! factor of the prediction: the search divides the limit by it and stays exact (`chance`).
//! What the margins cost is the optimum without them: a second pass over the last cell, on
//! the same dynamic programme (run once, under the looser limits).
//!
//! The modules, in the order the search uses them: `types` (the problem and the result),
//! `chance` (limits on upper bounds), `plan` (the problem as summed quantities), `cells` (the
//! space's per-cell features, shared by every search), `tables` (per-cell values and couplings),
//! `programme` (the dynamic programme over the cells before the last), `dominance` (the Pareto
//! filters) with `lanes` (their kernel) and `exchange` (the NN-Degree against params test) that
//! prune it, `span` (the last cell or two as rows), `prepare` (the last cell's groups, blocks
//! and entries) and `finish` (its passes) with `objective` (the objective and its bounds, their
//! logarithms from `ln_bounds`) and `front` (the fronts it keeps), and `score` (full
//! predictions and the result's fronts).
//! `oracle` checks the whole search against brute force.

mod cells;
mod chance;
mod dominance;
mod exchange;
mod finish;
mod front;
mod lanes;
mod ln_bounds;
mod objective;
#[cfg(test)]
mod oracle;
mod plan;
mod prepare;
mod programme;
#[cfg(test)]
mod sampled;
mod score;
mod span;
mod tables;
mod types;

pub use types::{
    BudgetCheck, ClosestMiss, Cost, DeviceModels, Objective, ParetoFront, Scored, SearchError,
    SearchProblem, SearchResult, SearchStats, Violation,
};

use crate::space::Space;
use chance::{Margins, given_up};
use dominance::pareto;
use finish::Finals;
use plan::Plan;
use programme::Stage;
use score::{
    FrontPlaces, add_intervals, better, fronts, miss_size, score, score_features, violations,
};
use span::Span;
use tables::Engine;

/// Searches the whole grid of `space` for `problem`'s optimum.
pub fn search(space: &Space, problem: &SearchProblem) -> Result<SearchResult, SearchError> {
    search_spanning(space, problem, None)
}

/// Computes what every search of a built-in `space` shares (the features of its cells, about
/// 13M instructions on flash-densenet) ahead of its first search, so that no search pays for
/// it: a server calls it at start. Other spaces' features are computed per search.
pub fn prepare(space: &Space) {
    cells::CellFeatures::of_space(space);
}

/// `search` with the last span's cells given (1 or 2; none: the engine's choice), so that the
/// tests can check both spans on the same spaces.
fn search_spanning(
    space: &Space,
    problem: &SearchProblem,
    span_cells: Option<usize>,
) -> Result<SearchResult, SearchError> {
    let start = std::time::Instant::now();
    if space.num_cells == 0 {
        return Err(SearchError::Invalid("the space has no cells".into()));
    }
    let margins = Margins::of(problem)?;
    let tightened = margins.tightened(problem);
    let engine = Engine::new(space, Plan::new(&tightened)?);
    let limits = engine.plan.limits();
    // With margins, the search without them (for what they cost) shares the dynamic programme
    // and the last cell's preparation: both run on the looser of each limit (see `Engine::run`).
    let plain = SearchProblem {
        confidence: None,
        ..problem.clone()
    };
    let plain_limits = if margins.any() {
        Some(Plan::new(&plain)?.limits())
    } else {
        None
    };
    // A factor below 1 (a model that over-predicts, or a confidence below one half) moves a
    // limit up: the loosest of each pair, not the plain one.
    let loosest: Vec<Option<f64>> = match &plain_limits {
        Some(plain) => limits
            .iter()
            .zip(plain)
            .map(|(a, b)| a.zip(*b).map(|(a, b)| a.max(b)))
            .collect(),
        None => limits.clone(),
    };
    let cells = span_cells.unwrap_or_else(|| engine.span_cells());
    let stages = engine.run(&loosest, space.num_cells - cells);
    let last = engine.last_cell(&tightened, &stages, &loosest, true, plain_limits.is_some());
    let finals = last.pass(&limits, true);
    let mut result = engine.result(&tightened, &stages, &last.span, &finals, Wanted::Everything);
    if let Some(miss) = &mut result.closest_miss {
        margins.restate(problem, &mut miss.violations);
    }
    if let Some(best) = &result.best {
        result.budget_checks = margins.checks(problem, best);
    }
    if problem.confidence.is_some() {
        (result.accuracy_given_up, result.objective_given_up) = match &plain_limits {
            Some(plain_limits) => {
                let finals = last.pass(plain_limits, false);
                let optimum = engine.result(&plain, &stages, &last.span, &finals, Wanted::Optimum);
                given_up(problem, &result, &optimum)
            }
            None => given_up(problem, &result, &result),
        };
    }
    result.confidence = problem.confidence;
    result.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(result)
}

/// What a search is for: the whole result, or only the optimum (for what the margins cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Everything,
    /// No fronts and no closest miss.
    Optimum,
}

impl Engine<'_> {
    /// The result of a pass over the last cell: its networks scored under `problem`'s limits.
    fn result(
        &self,
        problem: &SearchProblem,
        stages: &[Stage],
        span: &Span,
        finals: &Finals,
        wanted: Wanted,
    ) -> SearchResult {
        let space = self.space;
        let mut scored: Vec<Scored> = finals
            .networks
            .iter()
            .map(|n| {
                // Scored from the tables' terms: no graph is built.
                let cells =
                    self.candidates_of(stages, n.state as usize, &span.candidates(n.candidate));
                let (x, degree) = self.features_of(&cells);
                score_features(problem, self.spec_at(&cells), &x, degree)
            })
            .filter(|s| violations(problem, s).is_empty())
            .collect();
        let mut best: Option<usize> = None;
        for (i, s) in scored.iter().enumerate() {
            if s.objective.is_nan() {
                continue;
            }
            if best.is_none_or(|b| better(problem, s.objective, scored[b].objective)) {
                best = Some(i);
            }
        }
        let mut closest_miss = if scored.is_empty() && wanted == Wanted::Everything {
            closest_miss(self, problem)
        } else {
            None
        };
        add_intervals(
            problem,
            scored
                .iter_mut()
                .chain(closest_miss.iter_mut().map(|m| &mut m.architecture)),
        );
        let picks = match wanted {
            Wanted::Everything => fronts(&self.plan, problem, &scored),
            Wanted::Optimum => Vec::new(),
        };
        let (best, fronts) = hand_out(scored, best, picks);
        let gap = (!self.plan.exact).then(|| accuracy_gap_bound(self, problem));
        let stats = SearchStats {
            cell_candidates: self
                .tables
                .iter()
                .map(|t| t.groups.iter().map(Vec::len).sum())
                .collect(),
            cell_choices: space.cell_choices(),
            states: stages
                .iter()
                .map(|s| s.parent.len())
                .chain([finals.evaluated])
                .collect(),
            final_states: finals.networks.len(),
        };
        SearchResult {
            best,
            closest_miss,
            fronts,
            configurations: u64::try_from(space.size()).unwrap_or(u64::MAX),
            exact: self.plan.exact,
            accuracy_gap_bound: gap,
            elapsed_ms: 0.0,
            stats,
            confidence: None,
            budget_checks: Vec::new(),
            accuracy_given_up: None,
            objective_given_up: None,
        }
    }
}

/// The best network and the fronts, from the places in `scored` of the best and of each
/// front's points. The result holds a network once per use: cloned for all uses but its last,
/// which takes it (the fronts share most of their points).
fn hand_out(
    scored: Vec<Scored>,
    best: Option<usize>,
    fronts: Vec<FrontPlaces>,
) -> (Option<Scored>, Vec<ParetoFront>) {
    let mut uses = vec![0u32; scored.len()];
    for &i in best.iter().chain(fronts.iter().flat_map(|(_, p)| p)) {
        uses[i] += 1;
    }
    let mut slots: Vec<Option<Scored>> = scored.into_iter().map(Some).collect();
    let mut take = |i: usize| {
        uses[i] -= 1;
        let network = if uses[i] == 0 {
            slots[i].take()
        } else {
            slots[i].clone()
        };
        network.expect("a network is handed out once per use")
    };
    let best = best.map(&mut take);
    let fronts = fronts
        .into_iter()
        .map(|(against, points)| ParetoFront {
            against,
            points: points.into_iter().map(&mut take).collect(),
        })
        .collect();
    (best, fronts)
}

/// The closest miss lies among the networks not dominated in the limited quantities, so the
/// same programme finds it exactly with each limit moved out by the miss of some network
/// (`starting_miss`): a network that misses by less meets those limits.
fn closest_miss(engine: &Engine, problem: &SearchProblem) -> Option<ClosestMiss> {
    let moved: Vec<Option<f64>> = match starting_miss(engine, problem) {
        // A little more, so that rounding in the sums cannot drop the network itself.
        Some(miss) => engine
            .plan
            .limits()
            .iter()
            .map(|l| l.map(|l| l + (miss + 1e-9) * l.abs().max(1e-12)))
            .collect(),
        None => vec![None; engine.dims],
    };
    let stages = engine.run(&moved, engine.space.num_cells);
    let last = stages.last()?;
    let all: Vec<u32> = (0..last.parent.len() as u32).collect();
    pareto(&last.values, engine.dims, all)
        .into_iter()
        .map(|s| {
            let scored = score(problem, &engine.spec_of(&stages, s as usize, &[]));
            let v = violations(problem, &scored);
            (miss_size(&v), scored, v)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, architecture, violations)| ClosestMiss {
            architecture,
            violations,
        })
}

/// The least miss of a few networks that are small where the limits are: per cell the
/// candidate least in the sum of the limited quantities, each over its limit, or least in one
/// of them; and the one with the most NN-Degree, for an accuracy floor. None without networks.
fn starting_miss(engine: &Engine, problem: &SearchProblem) -> Option<f64> {
    let d = engine.dims;
    let limits = engine.plan.limits();
    let limited: Vec<(usize, f64)> = limits
        .iter()
        .enumerate()
        .filter_map(|(k, l)| l.map(|l| (k, 1.0 / l.abs().max(1e-12))))
        .collect();
    let mut keys: Vec<Vec<(usize, f64)>> = vec![limited.clone()];
    keys.extend(limited.iter().map(|&(k, _)| vec![(k, 1.0)]));
    keys.extend(engine.plan.degree().map(|k| vec![(k, 1.0)]));
    keys.iter()
        .filter_map(|key| {
            let cells: Option<Vec<u32>> = engine
                .tables
                .iter()
                .map(|t| {
                    let of = |i: u32| -> f64 {
                        key.iter()
                            .map(|&(k, w)| t.values[i as usize * d + k] * w)
                            .sum()
                    };
                    t.groups
                        .iter()
                        .flatten()
                        .copied()
                        .min_by(|&a, &b| of(a).total_cmp(&of(b)))
                })
                .collect();
            let scored = score(problem, &engine.spec_at(&cells?));
            Some(miss_size(&violations(problem, &scored)))
        })
        .min_by(f64::total_cmp)
}

/// When params are pruned as a cost although accuracy rewards them, a dropped network had no
/// more params than the whole space's largest, and no fewer than the smallest, so its accuracy
/// exceeds the kept one's by at most `c ln(max / min)`.
fn accuracy_gap_bound(engine: &Engine, problem: &SearchProblem) -> f64 {
    let k = engine
        .plan
        .params
        .expect("inexact only with a params quantity");
    let mut lo = 0.0;
    let mut hi = 0.0;
    for t in &engine.tables {
        let col = |v: &[f64]| {
            v.chunks_exact(engine.dims)
                .map(|r| r[k])
                .collect::<Vec<_>>()
        };
        let (vals, coup) = (col(&t.values), col(&t.coupling));
        lo += vals.iter().copied().fold(f64::INFINITY, f64::min)
            + coup.iter().copied().fold(f64::INFINITY, f64::min);
        hi += vals.iter().copied().fold(0.0, f64::max) + coup.iter().copied().fold(0.0, f64::max);
    }
    problem.accuracy.log_params_coefficient() * (hi / lo).ln()
}
