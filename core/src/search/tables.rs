//! Per-cell tables: every candidate's quantities and the couplings between cells, and the
//! bounds the other modules take from them.

use std::borrow::Cow;

use super::cells::{CellColumns, CellFeatures};
use super::dominance::pareto_for_pruning;
use super::exchange::{Added, Sparing, Term};
use super::plan::{Plan, Quantity};
use crate::features::FeatureVector;
use crate::space::Space;

/// Per-cell candidate values and couplings.
pub(super) struct CellTable {
    /// Candidate grid indices of this cell surviving pruning, per coupling group (see
    /// `Space::group_size`; a DenseNet cell's groups are its widths).
    pub(super) groups: Vec<Vec<u32>>,
    /// Quantity values of every grid candidate at a zero-channel input (row-major, `dims`).
    pub(super) values: Vec<f64>,
    /// Coupling of (previous width index, group), `dims` each; for cell 0 only row 0.
    pub(super) coupling: Vec<f64>,
}

/// Values of all quantities for a feature vector and NN-Degree.
pub(super) fn eval(q: &[Quantity], x: &FeatureVector, degree: f64, out: &mut [f64]) {
    for (o, q) in out.iter_mut().zip(q) {
        *o = match q {
            Quantity::Linear { weights, sign, .. } => {
                sign * weights.iter().map(|&(i, w)| x.0[i] * w).sum::<f64>()
            }
            Quantity::Degree { sign } => sign * degree,
        };
    }
}

/// `eval` of every candidate of a cell, rows of `dims`, a quantity at a time over the feature
/// columns it weighs (the same sums, in the same order, as `eval`).
fn cell_values(q: &[Quantity], columns: &CellColumns, dims: usize) -> Vec<f64> {
    let n = columns.degree.len();
    let mut values = vec![0.0; n * dims];
    let mut sum = vec![0.0; n];
    for (k, q) in q.iter().enumerate() {
        match q {
            Quantity::Linear { weights, sign, .. } => {
                // Minus zero, where `Iterator::sum` starts: the same bits as `eval`.
                sum.fill(-0.0);
                for &(f, w) in weights {
                    for (s, x) in sum.iter_mut().zip(columns.feature(f)) {
                        *s += x * w;
                    }
                }
                for (row, s) in values.chunks_exact_mut(dims).zip(&sum) {
                    row[k] = sign * s;
                }
            }
            Quantity::Degree { sign } => {
                for (row, g) in values.chunks_exact_mut(dims).zip(&columns.degree) {
                    row[k] = sign * g;
                }
            }
        }
    }
    values
}

/// The lowest (or highest) value of each quantity over a cell's candidates, and over its
/// couplings.
pub(super) struct Extremes {
    pub(super) candidates: Vec<f64>,
    pub(super) coupling: Vec<f64>,
}

/// The least (or with `max`, the most) of each of the `d` quantities over `rows`.
pub(super) fn column<'b>(rows: impl Iterator<Item = &'b [f64]>, d: usize, max: bool) -> Vec<f64> {
    let mut m = Vec::with_capacity(d);
    push_column(rows, d, max, &mut m);
    m
}

/// `column`, appended to `out` (no vector of its own: the last cell works out thousands).
pub(super) fn push_column<'b>(
    rows: impl Iterator<Item = &'b [f64]>,
    d: usize,
    max: bool,
    out: &mut Vec<f64>,
) {
    let at = out.len();
    out.resize(
        at + d,
        if max {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
    );
    let m = &mut out[at..];
    for r in rows {
        for (m, v) in m.iter_mut().zip(r) {
            *m = if max { m.max(*v) } else { m.min(*v) };
        }
    }
}

/// The plan and the cell tables: what the dynamic programme and the last cell work on.
pub(super) struct Engine<'a> {
    pub(super) space: &'a Space,
    pub(super) plan: Plan,
    pub(super) tables: Vec<CellTable>,
    pub(super) dims: usize,
    /// The features the tables were computed from, to score the networks found.
    features: Cow<'static, CellFeatures>,
    /// Per cell, the least and the most of each quantity over its candidates and over its
    /// coupling, as its groups stand (see `extremes`): the programme and the last cell ask
    /// for them dozens of times.
    bounds: Vec<[Extremes; 2]>,
}

impl<'a> Engine<'a> {
    pub(super) fn new(space: &'a Space, plan: Plan) -> Self {
        let dims = plan.quantities.len().max(1);
        let features = CellFeatures::of_space(space);
        let group_size = space.group_size() as usize;
        let mut tables = Vec::with_capacity(space.num_cells);
        for c in 0..space.num_cells {
            let values = cell_values(&plan.quantities, &features.columns[c], dims);
            let couplings = &features.couplings[c];
            let mut coupling = vec![0.0; couplings.len() * dims];
            for (x, row) in couplings.iter().zip(coupling.chunks_exact_mut(dims)) {
                eval(&plan.quantities, x, 0.0, row);
            }
            // A group's candidates only prune, so rows tied in the first value need no order
            // (see `pareto_for_pruning`).
            let groups = values
                .chunks(group_size * dims)
                .enumerate()
                .map(|(g, group)| {
                    let first = (g * group_size) as u32;
                    pareto_for_pruning(group, dims, &[])
                        .into_iter()
                        .map(|i| first + i)
                        .collect()
                })
                .collect();
            tables.push(CellTable {
                groups,
                values,
                coupling,
            });
        }
        let mut engine = Engine {
            space,
            plan,
            tables,
            dims,
            features,
            bounds: Vec::new(),
        };
        engine.bounds = engine.all_extremes();
        if let Some(terms) = engine.plan.exchange {
            // A candidate against what every other cell and this cell's coupling add (the
            // ranges before any cell is pruned: wider, so still bounds).
            let totals = [false, true].map(|max| engine.total(0, max));
            let cells: Vec<[Vec<f64>; 2]> = (0..space.num_cells)
                .map(|c| [false, true].map(|max| engine.extremes(c, max).candidates.clone()))
                .collect();
            for (c, cell) in cells.iter().enumerate() {
                let range = |t: &Term| {
                    let [lo, hi] = [0, 1].map(|m| totals[m][t.key] - cell[m][t.key]);
                    t.natural(lo, hi)
                };
                let added = Added::ranges(terms.map(|t| range(&t)));
                let table = &engine.tables[c];
                let mut sparing = Sparing::for_candidates_and_entries();
                let groups = table
                    .groups
                    .iter()
                    .map(|g| sparing.filter(&table.values, dims, terms, &added, g.clone()))
                    .collect();
                engine.tables[c].groups = groups;
            }
            engine.bounds = engine.all_extremes();
        }
        engine
    }

    /// The features and NN-Degree of the network of grid candidates `cells` (one per cell):
    /// the sum of its candidates' and couplings' terms, exact as the tables are.
    pub(super) fn features_of(&self, cells: &[u32]) -> (FeatureVector, f64) {
        let (size, ng) = (self.space.group_size() as u32, self.space.num_groups());
        let mut x = FeatureVector::default();
        let mut degree = 0.0;
        for (c, &i) in cells.iter().enumerate() {
            let (own, g) = (
                &self.features.candidates[c][i as usize],
                (i / size) as usize,
            );
            let row = match c {
                0 => g,
                _ => self.space.group_width((cells[c - 1] / size) as usize) * ng + g,
            };
            for ((v, a), b) in
                x.0.iter_mut()
                    .zip(own.0.0)
                    .zip(self.features.couplings[c][row].0)
            {
                *v += a + b;
            }
            degree += own.1;
        }
        (x, degree)
    }

    /// Lower (or with `max`, upper) bounds of each quantity of cell `c`'s candidates (without
    /// coupling) and of its coupling.
    pub(super) fn extremes(&self, c: usize, max: bool) -> &Extremes {
        &self.bounds[c][usize::from(max)]
    }

    /// `extremes` of every cell, worked out from the tables.
    fn all_extremes(&self) -> Vec<[Extremes; 2]> {
        self.tables
            .iter()
            .enumerate()
            .map(|(c, t)| {
                [false, true].map(|max| Extremes {
                    candidates: column(self.rows_of(c, t.groups.iter().flatten()), self.dims, max),
                    coupling: column(t.coupling.chunks_exact(self.dims), self.dims, max),
                })
            })
            .collect()
    }

    /// The lowest value of each quantity over the candidates of group `g` of cell `c`: what a
    /// network entering that group adds at least, besides the coupling.
    pub(super) fn group_least(&self, c: usize, g: usize) -> Vec<f64> {
        column(self.rows_of(c, &self.tables[c].groups[g]), self.dims, false)
    }

    /// The value rows of cell `c`'s candidates `cands`.
    fn rows_of<'b>(
        &'b self,
        c: usize,
        cands: impl IntoIterator<Item = &'b u32>,
    ) -> impl Iterator<Item = &'b [f64]> {
        let (d, values) = (self.dims, &self.tables[c].values);
        cands
            .into_iter()
            .map(move |&i| &values[i as usize * d..(i as usize + 1) * d])
    }

    /// Lower (or with `max`, upper) bounds of what cells `from..` add, coupling included.
    pub(super) fn total(&self, from: usize, max: bool) -> Vec<f64> {
        self.total_of(from..self.tables.len(), max)
    }

    /// Lower (or with `max`, upper) bounds of what `cells` add, coupling included.
    pub(super) fn total_of(&self, cells: std::ops::Range<usize>, max: bool) -> Vec<f64> {
        let mut total = vec![0.0; self.dims];
        for later in cells {
            let e = self.extremes(later, max);
            for ((t, cand), coup) in total.iter_mut().zip(&e.candidates).zip(&e.coupling) {
                *t += cand + coup;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::search::SearchProblem;
    use crate::search::oracle::{problem, random_spec, small_space_of, stored};
    use crate::space::Family;

    /// A small space of each family in turn and a problem fitted on `samples` of its specs.
    fn random_problem(r: &mut SplitMix64, case: usize, samples: usize) -> (Space, SearchProblem) {
        let family = [Family::Densenet, Family::Resnet, Family::Mobilenet][case % 3];
        let space = small_space_of(r, family);
        let sample: Vec<_> = (0..samples).map(|_| random_spec(r, &space)).collect();
        let problem = problem(r, &sample);
        (space, problem)
    }

    /// The tables' values are `eval` of each candidate, to the bit (the column sums add the
    /// same products in the same order).
    #[test]
    fn cell_values_are_eval_of_each_candidate() {
        let mut r = SplitMix64::new(19);
        for case in 0..30 {
            let (space, p) = random_problem(&mut r, case, 20);
            let plan = Plan::new(&p).unwrap();
            let dims = plan.quantities.len();
            let features = CellFeatures::of_space(&space);
            for (c, cands) in features.candidates.iter().enumerate() {
                let values = cell_values(&plan.quantities, &features.columns[c], dims);
                let mut want = vec![0.0; dims];
                for (i, (x, degree)) in cands.iter().enumerate() {
                    eval(&plan.quantities, x, *degree, &mut want);
                    let got = &values[i * dims..(i + 1) * dims];
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(got),
                        bits(&want),
                        "case {case}, cell {c}, candidate {i}"
                    );
                }
            }
        }
    }

    /// The decomposition the search rests on: a network's quantities are the sum over its
    /// cells of the candidate's values and the coupling of the previous width and the group.
    #[test]
    fn tables_and_couplings_sum_to_each_network() {
        let mut r = SplitMix64::new(15);
        for case in 0..60 {
            let (space, p) = random_problem(&mut r, case, 50);
            let engine = Engine::new(&space, Plan::new(&p).unwrap());
            let (d, ng, size) = (engine.dims, space.num_groups(), space.group_size());
            let group = |i: u64| (i / size) as usize;
            for _ in 0..50 {
                let cands: Vec<u64> = (0..space.num_cells)
                    .map(|_| r.below(space.cell_choices()))
                    .collect();
                let spec = space.spec(cands.iter().map(|&i| space.cell_at(i)).collect());
                let mut sum = vec![0.0; d];
                for (c, &i) in cands.iter().enumerate() {
                    let t = &engine.tables[c];
                    let prev = if c == 0 {
                        0
                    } else {
                        space.group_width(group(cands[c - 1]))
                    };
                    let at = (prev * ng + group(i)) * d;
                    let (values, coupling) = (&t.values[i as usize * d..], &t.coupling[at..]);
                    for ((s, v), c) in sum.iter_mut().zip(values).zip(coupling) {
                        *s += v + c;
                    }
                }
                for (k, want) in stored(&engine.plan, &spec).into_iter().enumerate() {
                    assert!(
                        (sum[k] - want).abs() <= 1e-9 * want.abs().max(1e-9),
                        "case {case}, quantity {k}: {} vs {want}",
                        sum[k]
                    );
                }
            }
        }
    }
}
