//! The dynamic programme over the cells before the last.

use super::dominance::pareto_for_pruning;
use super::exchange::{Added, Sparing, Term};
use super::tables::Engine;
use crate::space::ArchSpec;

/// A network: a state of a stage (a partial network) followed by a candidate of the next cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Network {
    pub(super) state: u32,
    /// Grid index of the cell's candidate.
    pub(super) candidate: u32,
}

/// Partial networks after some cell: values and how they were built.
pub(super) struct Stage {
    pub(super) values: Vec<f64>,
    /// Each state's network: a state of the previous stage and this cell's candidate.
    pub(super) parent: Vec<Network>,
    /// Each state's last width index.
    width: Vec<u32>,
    /// The states in the order the next cell's entries list them: by the first quantity when
    /// that is NN-Degree, which no coupling changes, so that every group's entries come sorted
    /// and the Pareto filters' sort only checks it; otherwise as stored, in a run per width.
    order: Vec<u32>,
}

/// What the exchange test bounds over (see `Engine::completions`).
struct Completions {
    after: Vec<Vec<Added>>,
    through: Vec<Vec<Added>>,
}

/// Networks entering a cell: their values (`dims` each) and their states of the previous stage.
#[derive(Default)]
pub(super) struct Entries {
    pub(super) values: Vec<f64>,
    pub(super) states: Vec<u32>,
}

impl Engine<'_> {
    /// Networks of cells `..c` extended by the coupling into group `g` of cell `c`, kept when
    /// they can still meet the limits with `rest` added; into `out`, whose buffers are reused
    /// (a cell's groups each fill a few hundred kilobytes, which fresh ones would page in).
    pub(super) fn entries_into(
        &self,
        stages: &[Stage],
        (c, g): (usize, usize),
        ceilings: &Ceilings,
        rest: &[f64],
        out: &mut Entries,
    ) {
        let (d, ng) = (self.dims, self.space.num_groups());
        let table = &self.tables[c];
        out.values.clear();
        out.states.clear();
        if c == 0 {
            out.values
                .extend_from_slice(&table.coupling[g * d..(g + 1) * d]);
            out.states.push(0);
            return;
        }
        let prev = &stages[c - 1];
        for &s in &prev.order {
            let at = prev.width[s as usize] as usize * ng + g;
            let coup = &table.coupling[at * d..(at + 1) * d];
            let base = &prev.values[s as usize * d..(s as usize + 1) * d];
            if push_within(&mut out.values, base, coup, ceilings, rest) {
                out.states.push(s);
            }
        }
    }

    /// Runs the dynamic programme over the first `cells` cells, pruning what cannot meet
    /// `limit_of` (none, for the closest miss).
    ///
    /// Limits only remove states, and a state dominated by another is dropped whatever the
    /// limits: the other meets every limit the first meets. So the states kept under looser
    /// limits that can meet tighter ones are those kept under the tighter limits, and one run
    /// serves searches that differ in their limits only.
    pub(super) fn run(&self, limit_of: &[Option<f64>], cells: usize) -> Vec<Stage> {
        let d = self.dims;
        let nw = self.space.widths.len();
        let per_width = self.space.num_groups() / nw;
        let ceilings = Ceilings::new(limit_of);
        let mut stages: Vec<Stage> = Vec::with_capacity(cells);
        let exchange = self
            .plan
            .exchange
            .map(|terms| (terms, self.completions(&terms)));
        for (c, table) in self.tables.iter().enumerate().take(cells) {
            let rest = self.total(c + 1, false);
            let mut values = Vec::new();
            let mut parent = Vec::new();
            let mut width = Vec::new();
            // What follows sees a partial network through its last width only, so the networks
            // ending in one width are pruned together, whatever their last cell's group.
            // One buffer for every width's networks, grown to the largest: not one per width.
            let mut local: Vec<f64> = Vec::new();
            let mut local_parent: Vec<Network> = Vec::new();
            let mut entries = Entries::default();
            let mut sparing = Sparing::for_states();
            let mut entry_sparing = Sparing::for_candidates_and_entries();
            let mut candidate_sparing = Sparing::for_candidates_and_entries();
            for wi in 0..nw {
                local.clear();
                local_parent.clear();
                for g in wi * per_width..(wi + 1) * per_width {
                    // The coupling depends on the previous width and the group only, so entries are
                    // pruned before the cell's candidates are added.
                    let rest_here: Vec<f64> = self
                        .group_least(c, g)
                        .iter()
                        .zip(&rest)
                        .map(|(a, b)| a + b)
                        .collect();
                    self.entries_into(&stages, (c, g), &ceilings, &rest_here, &mut entries);
                    let mut kept = pareto_for_pruning(&entries.values, d, &[]);
                    if let Some((terms, completions)) = &exchange
                        && c > 0
                    {
                        let added = &completions.through[c][g];
                        kept = entry_sparing.filter(&entries.values, d, *terms, added, kept);
                    }
                    // With the entries by a limited quantity, a candidate's rows stop at the
                    // first entry that misses its limit: every later one has more of it, so
                    // misses too (a float sum is monotone). Most rows miss a limit.
                    let limited = ceilings.0.first().copied();
                    if let Some((k, _)) = limited {
                        let at = |e: u32| entries.values[e as usize * d + k];
                        kept.sort_by(|&a, &b| at(a).total_cmp(&at(b)));
                    }
                    // The group's candidates that none beats between these entries and what
                    // may follow: on the demo's problem, half of them.
                    let candidates = match &exchange {
                        Some((terms, completions)) => {
                            let entered =
                                kept.iter().map(|&e| &entries.values[e as usize * d..][..d]);
                            let added = Added::of_rows(entered, terms)
                                .then(&completions.after[c][self.space.group_width(g)]);
                            candidate_sparing.filter(
                                &table.values,
                                d,
                                *terms,
                                &added,
                                table.groups[g].clone(),
                            )
                        }
                        None => table.groups[g].clone(),
                    };
                    for &cand in &candidates {
                        let cv = &table.values[cand as usize * d..(cand as usize + 1) * d];
                        for &e in &kept {
                            let e = e as usize;
                            let base = &entries.values[e * d..(e + 1) * d];
                            // A NaN (sorted to either end) says nothing of the others; the
                            // row test below drops it.
                            if let Some(first) = limited
                                && !sum_fits(first, base, cv, &rest)
                                && !base[first.0].is_nan()
                            {
                                break;
                            }
                            if push_within(&mut local, base, cv, &ceilings, &rest) {
                                local_parent.push(Network {
                                    state: entries.states[e],
                                    candidate: cand,
                                });
                            }
                        }
                    }
                }
                // Plain dominance, then the exchange test where it applies. The states only
                // prune, so rows tied in the first value need no order (see `pareto_for_pruning`).
                let kept = pareto_for_pruning(&local, d, &[]);
                let keep = match &exchange {
                    Some((terms, completions)) => {
                        sparing.filter(&local, d, *terms, &completions.after[c][wi], kept)
                    }
                    None => kept,
                };
                for i in keep {
                    values.extend_from_slice(&local[i as usize * d..(i as usize + 1) * d]);
                    parent.push(local_parent[i as usize]);
                }
                width.resize(parent.len(), wi as u32);
            }
            let mut order: Vec<u32> = (0..parent.len() as u32).collect();
            if self.plan.degree() == Some(0) {
                // Each width's states are sorted already: the stable sort merges the runs.
                order.sort_by(|&a, &b| values[a as usize * d].total_cmp(&values[b as usize * d]));
            }
            stages.push(Stage {
                values,
                parent,
                width,
                order,
            });
        }
        stages
    }

    /// What the exchange test bounds over: per cell and width, what the cells after it may
    /// add to the terms' quantities of a network whose cell has that width (`after`); per cell
    /// after the first and group, what a candidate of the group and the cells after it add
    /// (`through`, for the entries into the group).
    fn completions(&self, terms: &[Term; 2]) -> Completions {
        let (d, nw, ng) = (self.dims, self.space.widths.len(), self.space.num_groups());
        let n = self.tables.len();
        let mut after = vec![Vec::new(); n];
        let mut through = vec![Vec::new(); n];
        // Nothing follows the last cell; nothing enters the first from another cell.
        after[n - 1] = vec![Added::nothing(); nw];
        for c in (1..n).rev() {
            let table = &self.tables[c];
            through[c] = table
                .groups
                .iter()
                .enumerate()
                .map(|(g, cands)| {
                    let rows = cands.iter().map(|&i| &table.values[i as usize * d..][..d]);
                    Added::of_rows(rows, terms).then(&after[c][self.space.group_width(g)])
                })
                .collect();
            after[c - 1] = (0..nw)
                .map(|w| {
                    Added::any_of(through[c].iter().enumerate().map(|(g, a)| {
                        let coupling = &table.coupling[(w * ng + g) * d..][..d];
                        (a, terms.map(|t| t.value(coupling[t.key])))
                    }))
                })
                .collect();
        }
        Completions { after, through }
    }

    /// The grid candidates, cell by cell, of `state` of the last stage followed by the
    /// candidates `last` of the cells after it.
    pub(super) fn candidates_of(
        &self,
        stages: &[Stage],
        mut state: usize,
        last: &[u32],
    ) -> Vec<u32> {
        let mut cells = Vec::with_capacity(self.space.num_cells);
        cells.extend(last.iter().rev());
        for stage in stages.iter().rev() {
            let network = stage.parent[state];
            cells.push(network.candidate);
            state = network.state as usize;
        }
        cells.reverse();
        cells
    }

    /// The spec of grid candidates `cells`.
    pub(super) fn spec_at(&self, cells: &[u32]) -> ArchSpec {
        self.space.spec(
            cells
                .iter()
                .map(|&i| self.space.cell_at(i as u64))
                .collect(),
        )
    }

    /// The spec of `state` of the last stage, followed by the candidates `last` of the cells
    /// after it.
    pub(super) fn spec_of(&self, stages: &[Stage], state: usize, last: &[u32]) -> ArchSpec {
        self.spec_at(&self.candidates_of(stages, state, last))
    }
}

/// Appends `a + b` to `values` when it can still meet every limit with `rest` added; says
/// whether it did. The limits are tested first, on the limited values alone: most rows of
/// the programme miss one.
fn push_within(
    values: &mut Vec<f64>,
    a: &[f64],
    b: &[f64],
    ceilings: &Ceilings,
    rest: &[f64],
) -> bool {
    if !ceilings.admit_sum(a, b, rest) {
        return false;
    }
    values.extend(a.iter().zip(b).map(|(x, y)| x + y));
    true
}

/// The limits that apply, each as the most a sum may reach (`ceiling`): the tests look at the
/// few limited quantities only, not at every quantity's optional limit (the last cell's passes
/// test a few hundred thousand boxes and networks).
pub(super) struct Ceilings(Vec<(usize, f64)>);

impl Ceilings {
    pub(super) fn new(limit_of: &[Option<f64>]) -> Self {
        Ceilings(
            limit_of
                .iter()
                .enumerate()
                .filter_map(|(k, l)| l.map(|l| (k, ceiling(l))))
                .collect(),
        )
    }

    /// Whether `v` meets every limit.
    #[inline]
    pub(super) fn admit(&self, v: &[f64]) -> bool {
        self.0.iter().all(|&(k, c)| v[k] <= c)
    }

    /// `admit_with` of `a + b`, without the sum's other values.
    #[inline]
    fn admit_sum(&self, a: &[f64], b: &[f64], rest: &[f64]) -> bool {
        self.0.iter().all(|&ceiling| sum_fits(ceiling, a, b, rest))
    }

    /// Whether `v` plus the lower bounds `rest` can still meet every limit.
    #[inline]
    pub(super) fn admit_with(&self, v: &[f64], rest: &[f64]) -> bool {
        self.0.iter().all(|&(k, c)| v[k] + rest[k] <= c)
    }
}

/// Whether `a + b` plus `rest` stays within a ceiling (quantity, most): the sum a row would
/// hold, as the programme writes it.
fn sum_fits((k, most): (usize, f64), a: &[f64], b: &[f64], rest: &[f64]) -> bool {
    (a[k] + b[k]) + rest[k] <= most
}

/// The most a sum may reach under `limit`: the limit, up to rounding.
fn ceiling(limit: f64) -> f64 {
    limit * (1.0 + 1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::search::oracle::{all_specs, problem, small_space, stored};
    use crate::search::plan::Plan;

    #[test]
    fn ceilings_allow_rounding_only() {
        let ceilings = Ceilings::new(&[Some(10.0), None]);
        assert!(ceilings.admit_with(&[9.0, 1e300], &[1.0, 1e300]));
        assert!(ceilings.admit_with(&[9.0, 0.0], &[1.0 + 1e-12, 0.0]));
        assert!(!ceilings.admit_with(&[9.0, 0.0], &[1.0 + 1e-9, 0.0]));
        assert!(ceilings.admit(&[10.0 + 1e-12, f64::INFINITY]));
        assert!(!ceilings.admit(&[10.0 + 1e-9, 0.0]));
        assert!(!ceilings.admit(&[f64::NAN, 0.0]), "NaN meets no limit");
        // A sum is tested as the row it would write.
        assert!(ceilings.admit_sum(&[4.0, 0.0], &[5.0, 0.0], &[1.0 + 1e-12, 0.0]));
        assert!(!ceilings.admit_sum(&[4.0, 0.0], &[5.0, 0.0], &[1.0 + 1e-9, 0.0]));
    }

    /// Without limits, the last stage holds, for every network of the grid, one at least as
    /// good in every quantity (when the exchange test does not apply), and each state's
    /// network rebuilds to the state's values.
    #[test]
    fn the_programme_keeps_a_network_as_good_as_any_and_rebuilds_it() {
        let mut r = SplitMix64::new(16);
        let mut checked = 0;
        while checked < 15 {
            let space = small_space(&mut r);
            let specs = all_specs(&space);
            let p = problem(&mut r, &specs);
            if specs.len() > 3000 {
                continue;
            }
            let engine = Engine::new(&space, Plan::new(&p).unwrap());
            let d = engine.plan.quantities.len();
            let stages = engine.run(&vec![None; engine.dims], space.num_cells);
            let last = stages.last().unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-9);
            let states: Vec<&[f64]> = last.values.chunks_exact(engine.dims).collect();
            for (s, values) in states.iter().enumerate() {
                let spec = engine.spec_of(&stages, s, &[]);
                let want = stored(&engine.plan, &spec);
                assert!((0..d).all(|k| close(values[k], want[k])), "state {s}");
            }
            // Every stage lists each state once, by NN-Degree when that is the first
            // quantity (what the next cell's Pareto filters count on), with its last width.
            let size = space.group_size() as u32;
            for stage in &stages {
                let mut seen = stage.order.clone();
                seen.sort_unstable();
                assert_eq!(seen, (0..stage.parent.len() as u32).collect::<Vec<_>>());
                if engine.plan.degree() == Some(0) {
                    let first = |s: &u32| stage.values[*s as usize * d];
                    assert!(stage.order.windows(2).all(|w| first(&w[0]) <= first(&w[1])));
                }
                for (s, network) in stage.parent.iter().enumerate() {
                    let group = (network.candidate / size) as usize;
                    assert_eq!(stage.width[s] as usize, space.group_width(group));
                }
            }
            if engine.plan.exchange.is_none() {
                for spec in &specs {
                    let v = stored(&engine.plan, spec);
                    assert!(
                        states
                            .iter()
                            .any(|s| (0..d).all(|k| s[k] <= v[k] || close(s[k], v[k]))),
                        "{spec:?}"
                    );
                }
            }
            checked += 1;
        }
    }
}
