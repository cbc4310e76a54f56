//! The last cell prepared for its passes (`finish`): per coupling group, its candidates in
//! blocks with the consumers each may matter to, and the networks entering it.

use super::SearchProblem;
use super::dominance::{pareto, pareto_for_pruning};
use super::exchange::{Added, Sparing, exchange_pareto};
use super::objective::{Value, ValueKind};
use super::plan::Plan;
use super::programme::{Ceilings, Entries, Stage};
use super::span::Span;
use super::tables::{Engine, column, push_column};

/// Last-cell candidates per block.
const BLOCK: usize = 8;

/// Entries per run. Longer runs rule out more networks per bound once the fronts are nearly
/// final: against runs of 8, 3-6% fewer instructions on the two- and three-device ln(params)
/// problems and flash-resnet-imagenet, 2-4% more on NN-Degree-only problems far under their
/// targets (1dev-max-accuracy-lin, 2dev-trade-off-lin); 64 was worse again.
const RUN: usize = 32;

/// Consumer bits of the last cell: the optimum, then each front, then the pair.
pub(super) const OPTIMUM: u32 = 1;

pub(super) fn front_bit(i: usize) -> u32 {
    2 << i
}

/// A run of last-cell candidates of one coupling group (positions in their sorted list) with the
/// per-quantity extremes of their values and the consumers (bits) any of them may matter to;
/// a block of `BLOCK` is also split in two `halves` with their own extremes.
pub(super) struct Block {
    pub(super) range: std::ops::Range<usize>,
    pub(super) wanted: u32,
    pub(super) min: Vec<f64>,
    pub(super) max: Vec<f64>,
    pub(super) halves: Vec<Block>,
}

impl Block {
    fn new(range: std::ops::Range<usize>, wanted: &[u32], rows: &[&[f64]], d: usize) -> Self {
        let (min, max) = extremes(&rows[range.clone()], d);
        Block {
            wanted: wanted[range.clone()].iter().fold(0, |a, b| a | b),
            range,
            min,
            max,
            halves: Vec::new(),
        }
    }

    /// A block of `range` with its halves.
    fn split(range: std::ops::Range<usize>, wanted: &[u32], rows: &[&[f64]], d: usize) -> Self {
        let mid = range.start + range.len().div_ceil(2);
        let halves = [range.start..mid, mid..range.end]
            .into_iter()
            .map(|half| Block::new(half, wanted, rows, d))
            .filter(|h| h.wanted != 0)
            .collect();
        Block {
            halves,
            ..Block::new(range, wanted, rows, d)
        }
    }
}

/// The least and the most of each of the `d` quantities over `rows`.
fn extremes(rows: &[&[f64]], d: usize) -> (Vec<f64>, Vec<f64>) {
    let [min, max] = [false, true].map(|max| column(rows.iter().copied(), d, max));
    (min, max)
}

/// The entries of a group in runs of `RUN` (positions in its list), with the per-quantity
/// extremes of each run's values: the optimum and the fronts bound a run and a block of
/// candidates together before any of the run's entries alone (`LastCell::optimum`,
/// `LastCell::fronts`). The extremes lie in two flat arrays, `d` values per run: a run's own
/// vectors cost an allocation each, and 2% of a search went on freeing them.
pub(super) struct EntryRuns {
    d: usize,
    entries: usize,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl EntryRuns {
    /// The runs of the entries `values` (`d` each), in their order: the Pareto filter leaves
    /// them sorted by their first quantity, so a run's entries are alike in it.
    fn of(values: &[f64], d: usize) -> Self {
        let entries = values.len() / d;
        let mut runs = EntryRuns {
            d,
            entries,
            min: Vec::with_capacity(entries.div_ceil(RUN) * d),
            max: Vec::with_capacity(entries.div_ceil(RUN) * d),
        };
        for run in values.chunks(RUN * d) {
            push_column(run.chunks_exact(d), d, false, &mut runs.min);
            push_column(run.chunks_exact(d), d, true, &mut runs.max);
        }
        runs
    }

    pub(super) fn len(&self) -> usize {
        self.entries.div_ceil(RUN)
    }

    /// The positions of run `r`'s entries.
    pub(super) fn range(&self, r: usize) -> std::ops::Range<usize> {
        r * RUN..self.entries.min((r + 1) * RUN)
    }

    pub(super) fn min(&self, r: usize) -> &[f64] {
        &self.min[r * self.d..(r + 1) * self.d]
    }

    pub(super) fn max(&self, r: usize) -> &[f64] {
        &self.max[r * self.d..(r + 1) * self.d]
    }
}

/// A consumer of the last cell (the optimum, a front or the pair) and the quantities it looks
/// at.
struct Consumer {
    bit: u32,
    keys: Vec<usize>,
}

/// For each row, the consumers (bits) it may matter to: those in whose quantities no other
/// row is at least as good (the first of equal rows stays).
fn wanted_by(consumers: &[Consumer], rows: &[&[f64]]) -> Vec<u32> {
    let mut wanted = vec![0; rows.len()];
    for Consumer { bit, keys } in consumers {
        let projected: Vec<f64> = rows
            .iter()
            .flat_map(|row| keys.iter().map(|&k| row[k]))
            .collect();
        for i in pareto(&projected, keys.len(), (0..rows.len() as u32).collect()) {
            wanted[i as usize] |= bit;
        }
    }
    wanted
}

/// The last cell's candidates of one coupling group, by the quantity accuracy varies most with
/// (`Value::leading_key`), with the consumers each may matter to, their blocks and the box of
/// them all, and the networks entering that group: values and states.
pub(super) struct LastGroup {
    pub(super) sorted: Vec<u32>,
    pub(super) wanted: Vec<u32>,
    pub(super) blocks: Vec<Block>,
    pub(super) all: Block,
    pub(super) entries: Entries,
    pub(super) runs: EntryRuns,
}

/// Whether the optimum needs a search of its own beside the fronts a pass searches (with
/// `fronts`). The optimum of accuracy, or of one cost at an accuracy floor, is a point of that
/// cost's front (or of any front for accuracy, the pair's too): only a trade-off's is not.
pub(super) fn tracks(value: &Value, plan: &Plan, fronts: bool) -> bool {
    matches!(value.kind, ValueKind::TradeOff { .. })
        || plan.searched_fronts(fronts).is_empty() && plan.pair_front(fronts).is_none()
}

/// The last cell prepared for its passes: the groups' candidates, blocks and entries, and what
/// the passes share. Passes differ in their limits only (`Engine::last_cell`).
pub(super) struct Prepared<'a> {
    pub(super) d: usize,
    /// The cells searched, as rows of values per coupling group.
    pub(super) span: Span<'a>,
    pub(super) value: Value,
    pub(super) groups: Vec<LastGroup>,
    pub(super) plan: &'a Plan,
    /// The least and the most of each quantity over the networks the passes may look at:
    /// the groups' entries with their candidates.
    pub(super) lowest: Vec<f64>,
    pub(super) highest: Vec<f64>,
}

impl<'a> Engine<'a> {
    /// The last cell without a full merge: only the optimum and the front points are wanted.
    /// Each of them (a consumer) looks at a few quantities only: the limited ones, those that
    /// accuracy depends on, and its own cost(s). Per coupling group, a candidate matters to a
    /// consumer only if no other candidate of that group is at least as good in those
    /// quantities (the coupling adds the same to every candidate). The candidates of a group are
    /// grouped in blocks alike in the quantity accuracy varies most with (NN-Degree or params);
    /// every (entry, block) pair, an entry being a network before the last cell, is a box of
    /// networks bounded by the per-quantity extremes.
    ///
    /// A trade-off optimum is searched best bound first over all boxes, stopping at the first
    /// that cannot beat the incumbent; a run of entries' boxes are only bounded once the bound
    /// of all its networks is the best left (`LastCell::optimum`). The fronts then visit the boxes
    /// best merit first (a quantity that orders networks as accuracy does), so they are nearly
    /// final early and most later boxes are dominated before any of their networks is looked
    /// at (`Prepared::pass`).
    ///
    /// The entries are those that can meet `limit_of`, which must be the loosest limits of
    /// the passes to come; `fronts`: whether the first pass wants the fronts; `optimum_pass`:
    /// whether a pass without fronts follows.
    pub(super) fn last_cell(
        &'a self,
        problem: &'a SearchProblem,
        stages: &[Stage],
        limit_of: &[Option<f64>],
        fronts: bool,
        optimum_pass: bool,
    ) -> Prepared<'a> {
        let d = self.dims;
        // The cells the programme's stages leave are the last span.
        let ceilings = Ceilings::new(limit_of);
        let span = self.span(self.space.num_cells - stages.len(), &ceilings);
        let c = span.first;
        let value = Value::new(&self.plan, problem);
        let searched = self.plan.searched_fronts(fronts);
        let pair = self.plan.pair_front(fronts);
        let pair_bit = front_bit(searched.len());
        let mut common: Vec<usize> = (0..d).filter(|&k| limit_of[k].is_some()).collect();
        common.extend(value.accuracy_keys());
        let mut consumers: Vec<Consumer> = Vec::new();
        if optimum_pass || tracks(&value, &self.plan, fronts) {
            consumers.push(Consumer {
                bit: OPTIMUM,
                keys: value.objective_keys(),
            });
        }
        for (i, f) in searched.iter().enumerate() {
            consumers.push(Consumer {
                bit: front_bit(i),
                keys: vec![f.key],
            });
        }
        if let Some([a, b]) = pair {
            consumers.push(Consumer {
                bit: pair_bit,
                keys: vec![a.key, b.key],
            });
        }
        for Consumer { keys, .. } in &mut consumers {
            keys.extend(&common);
            keys.sort_unstable();
            keys.dedup();
        }
        // Blocks of candidates alike in what accuracy varies most with are alike in merit,
        // and in size, so in the costs too: their boxes are tight. (With a params-led form,
        // blocks by NN-Degree left 5 times as many networks to evaluate.)
        let sort_key = value
            .leading_key(&self.total(0, false), &self.total(0, true))
            .or(self.plan.degree())
            .unwrap_or(0);
        let mut sparing = Sparing::for_candidates_and_entries();
        // Per state entering the last cell, whether the previous group's Pareto filter kept it:
        // presumed kept in the next (see `pareto_for_pruning`).
        let states = stages.last().map_or(1, |s| s.parent.len());
        let mut kept_before = vec![false; states];
        let mut presumed = Vec::new();
        let mut all_entries = Entries::default();
        let groups: Vec<LastGroup> = span
            .groups
            .iter()
            .enumerate()
            .filter(|(_, group)| !group.is_empty())
            .map(|(g, group)| {
                let at = |cand: u32| span.row(cand, d);
                let mut sorted = group.clone();
                sorted.sort_unstable_by(|&a, &b| at(a)[sort_key].total_cmp(&at(b)[sort_key]));
                let least = self.span_least(&span, group);
                self.entries_into(stages, (c, g), &ceilings, &least, &mut all_entries);
                // Entries not dominated, and those the previous group kept, untested: the
                // groups differ only in the coupling, 98% of the entries one group keeps the
                // next keeps too, and proving a row kept is most of a filter's cost (see
                // `pareto_for_pruning`). A presumed entry that this group's coupling leaves
                // dominated stays, and is presumed again in the next group: over the bench,
                // 1.6% more networks evaluated. Then, where it applies, the exchange test
                // against what this group's candidates add, and the candidates against the
                // entries left.
                presumed.clear();
                presumed.extend(all_entries.states.iter().map(|&s| kept_before[s as usize]));
                let kept = pareto_for_pruning(&all_entries.values, d, &presumed);
                kept_before.fill(false);
                for &e in &kept {
                    kept_before[all_entries.states[e as usize] as usize] = true;
                }
                let keep = match self.plan.exchange {
                    Some(terms) => {
                        // Against the candidates' ranges only: their boxes dropped more
                        // entries but cost more than that saved, on every bench problem.
                        let added =
                            Added::of_rows(sorted.iter().map(|&cand| at(cand)), &terms).hull();
                        sparing.filter(&all_entries.values, d, terms, &added, kept)
                    }
                    None => kept,
                };
                let mut values = Vec::with_capacity(keep.len() * d);
                for &e in &keep {
                    values.extend_from_slice(&all_entries.values[e as usize * d..][..d]);
                }
                let entries = Entries {
                    values,
                    states: keep
                        .iter()
                        .map(|&e| all_entries.states[e as usize])
                        .collect(),
                };
                if let Some(terms) = self.plan.exchange {
                    // Against the entries' ranges only: their boxes gained nothing measurable.
                    let added = Added::of_rows(entries.values.chunks_exact(d), &terms).hull();
                    sorted = exchange_pareto(&span.values, d, terms, &added, sorted);
                    sorted.sort_unstable_by(|&a, &b| at(a)[sort_key].total_cmp(&at(b)[sort_key]));
                }
                let candidates: Vec<&[f64]> = sorted.iter().map(|&cand| at(cand)).collect();
                let wanted = wanted_by(&consumers, &candidates);
                let n = sorted.len();
                let blocks: Vec<Block> = (0..n)
                    .step_by(BLOCK)
                    .map(|start| Block::split(start..n.min(start + BLOCK), &wanted, &candidates, d))
                    .filter(|b| b.wanted != 0)
                    .collect();
                let all = Block::new(0..n, &wanted, &candidates, d);
                LastGroup {
                    sorted,
                    wanted,
                    blocks,
                    all,
                    runs: EntryRuns::of(&entries.values, d),
                    entries,
                }
            })
            .collect();
        let (lowest, highest) = searched_extremes(&groups, d);
        Prepared {
            d,
            span,
            value,
            groups,
            plan: &self.plan,
            lowest,
            highest,
        }
    }
}

/// The least and the most of each of the `d` quantities over the networks of `groups`: each
/// group's entries with its candidates. Tighter than the whole space's, which sets the fronts'
/// grids (a cost without a limit spans far more there than any network the passes meet).
fn searched_extremes(groups: &[LastGroup], d: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut lowest, mut highest) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
    for group in groups {
        for r in 0..group.runs.len() {
            let (min, max) = (group.runs.min(r), group.runs.max(r));
            for k in 0..d {
                lowest[k] = lowest[k].min(min[k] + group.all.min[k]);
                highest[k] = highest[k].max(max[k] + group.all.max[k]);
            }
        }
    }
    (lowest, highest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_want_the_rows_best_in_their_quantities_and_blocks_bound_them() {
        let rows: Vec<&[f64]> = vec![
            &[1.0, 5.0, 0.0],
            &[2.0, 4.0, 0.0],
            &[1.0, 6.0, -1.0],
            &[3.0, 3.0, 1.0],
            &[1.0, 5.0, 0.0],
        ];
        let consumers = [
            Consumer {
                bit: OPTIMUM,
                keys: vec![0],
            },
            Consumer {
                bit: front_bit(0),
                keys: vec![0, 1],
            },
            Consumer {
                bit: front_bit(1),
                keys: vec![1, 2],
            },
        ];
        let wanted = wanted_by(&consumers, &rows);
        // Row 4 repeats row 0, so only the first is wanted; row 1 beats row 0 in the last two
        // quantities, and row 2 is the only one with the lowest last value.
        let (o, f0, f1) = (OPTIMUM, front_bit(0), front_bit(1));
        assert_eq!(wanted, [o | f0, f0 | f1, f1, f0 | f1, 0]);
        let block = Block::new(1..4, &wanted, &rows, 3);
        assert_eq!(block.min, [1.0, 3.0, -1.0]);
        assert_eq!(block.max, [3.0, 6.0, 1.0]);
        assert_eq!(block.wanted, f0 | f1);
    }
}
