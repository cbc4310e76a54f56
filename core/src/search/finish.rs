//! The last cell: the optimum and the fronts over boxes of networks, without a full merge. Here
//! the passes, what they keep and the optimum's best-first search; in `fronts` the fronts' walk
//! over the boxes.

mod fronts;

use std::collections::BinaryHeap;

use super::dominance::{ordered, pareto, unordered};
use super::front::{Front, Shadow};
use super::objective::{Chord, Value};
use super::prepare::{Block, EntryRuns, LastGroup, OPTIMUM, Prepared, front_bit, tracks};
use super::programme::{Ceilings, Network};

/// The front against a pair of limited costs while the last cell is searched: the shadow of the
/// networks kept so far, and their (cost, cost, -merit) rows and networks.
struct PairFront {
    shadow: Shadow,
    rows: Vec<f64>,
    networks: Vec<Network>,
}

/// The best network found so far, and its objective.
struct Incumbent {
    objective: f64,
    network: Option<Network>,
}

/// The complete networks that may be the optimum or on a front, and how many networks the last
/// cell evaluated.
pub(super) struct Finals {
    pub(super) networks: Vec<Network>,
    pub(super) evaluated: usize,
}

/// What the last cell's search has found so far.
struct Kept {
    best: Incumbent,
    fronts: Vec<Front>,
    pair: Option<PairFront>,
    evaluated: usize,
}

/// The last cell's search: the groups' candidates and entries, and what it keeps.
struct LastCell<'a> {
    d: usize,
    /// Every row's values (the span's).
    values: &'a [f64],
    ceilings: Ceilings,
    value: &'a Value,
    groups: &'a [LastGroup],
    kept: Kept,
    pair_bit: u32,
    /// Whether a bound reads the upper ends of a box (see `bounds`).
    reads_upper: bool,
}

impl LastCell<'_> {
    /// `base` plus `by`, into `out`.
    fn shift(base: &[f64], by: &[f64], out: &mut [f64]) {
        for ((o, b), v) in out.iter_mut().zip(base).zip(by) {
            *o = b + v;
        }
    }

    /// Entry `e` of `group` extended by the box of `block`, into `lo` and `hi`. The upper ends
    /// only where a bound reads them (`Value::reads_upper`): with params a cost, it reads the
    /// lower ends alone, and this runs for every entry and half the passes test.
    fn bounds(&self, group: &LastGroup, e: usize, block: &Block, lo: &mut [f64], hi: &mut [f64]) {
        let d = lo.len();
        let base = &group.entries.values[e * d..(e + 1) * d];
        Self::shift(base, &block.min, lo);
        if self.reads_upper {
            Self::shift(base, &block.max, hi);
        }
    }

    /// The optimum, best bound first over every box of the last cell (see `Engine::last_cell`).
    /// Runs of entries are taken in the order of the bound of all their networks; a run's
    /// boxes with the blocks join a heap only once that bound is the best left, so only runs
    /// that may still beat the incumbent are expanded, and the search stops at the first box
    /// that cannot. A box taken from the heap is bounded entry by entry, then by halves.
    fn optimum(&mut self) {
        let (mut lo, mut hi, mut row) = (vec![0.0; self.d], vec![0.0; self.d], vec![0.0; self.d]);
        // (bound as a key that sorts best first, group, run): integers sort fastest.
        let mut runs: Vec<(u64, u32, u32)> = Vec::new();
        for (w, group) in self.groups.iter().enumerate() {
            for r in 0..group.runs.len() {
                Self::span_bounds(
                    &group.runs,
                    r,
                    &group.all,
                    &mut lo,
                    &mut hi,
                    self.reads_upper,
                );
                if self.ceilings.admit(&lo) {
                    let bound = self.value.bound(&lo, &hi);
                    runs.push((!ordered(bound), w as u32, r as u32));
                }
            }
        }
        runs.sort_unstable();
        // Boxes by their bound: (bound, expanded run, block); and per expanded run its group,
        // its index and the chords of all its networks (see `Value::chords`).
        let mut boxes: BinaryHeap<(u64, u32, u32)> = BinaryHeap::new();
        let mut expanded: Vec<(usize, usize, Vec<Option<Chord>>)> = Vec::new();
        let mut next = runs.iter().peekable();
        loop {
            let best = self.kept.best.objective;
            let top = boxes.peek().map(|b| unordered(b.0));
            match next.peek() {
                Some(&&(key, w, r)) if top.is_none_or(|t| unordered(!key) > t) => {
                    next.next();
                    if unordered(!key) < best {
                        // Every run left, and every box in the heap, is bounded lower still.
                        break;
                    }
                    let (w, r) = (w as usize, r as usize);
                    let group = &self.groups[w];
                    // The chords read the upper ends.
                    Self::span_bounds(&group.runs, r, &group.all, &mut lo, &mut hi, true);
                    let chords = self.value.chords(&lo, &hi);
                    for (b, block) in group.blocks.iter().enumerate() {
                        if block.wanted & OPTIMUM == 0 {
                            continue;
                        }
                        Self::span_bounds(
                            &group.runs,
                            r,
                            block,
                            &mut lo,
                            &mut hi,
                            self.reads_upper,
                        );
                        if let Some(bound) = self.bound(&lo, &hi)
                            && bound >= best
                        {
                            boxes.push((ordered(bound), expanded.len() as u32, b as u32));
                        }
                    }
                    expanded.push((w, r, chords));
                }
                _ => {
                    let Some((bound, x, b)) = boxes.pop() else {
                        break;
                    };
                    if unordered(bound) < best {
                        break;
                    }
                    let (w, r, chords) = &expanded[x as usize];
                    let group = &self.groups[*w];
                    let block = &group.blocks[b as usize];
                    for e in group.runs.range(*r) {
                        self.bounds(group, e, block, &mut lo, &mut hi);
                        if self
                            .bound(&lo, &hi)
                            .is_none_or(|bound| bound < self.kept.best.objective)
                        {
                            continue;
                        }
                        for half in &block.halves {
                            if half.wanted & OPTIMUM == 0 {
                                continue;
                            }
                            self.bounds(group, e, half, &mut lo, &mut hi);
                            if self
                                .bound(&lo, &hi)
                                .is_some_and(|bound| bound >= self.kept.best.objective)
                            {
                                self.visit(*w, e, half.range.clone(), OPTIMUM, chords, &mut row);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The box of run `r` of entries and a block, into `lo`, and with `upper` into `hi` (see
    /// `bounds`).
    fn span_bounds(
        runs: &EntryRuns,
        r: usize,
        block: &Block,
        lo: &mut [f64],
        hi: &mut [f64],
        upper: bool,
    ) {
        Self::shift(runs.min(r), &block.min, lo);
        if upper {
            Self::shift(runs.max(r), &block.max, hi);
        }
    }

    /// The objective's bound over the box from `lo` to `hi`; none when it cannot meet the
    /// limits or the accuracy floor.
    fn bound(&self, lo: &[f64], hi: &[f64]) -> Option<f64> {
        let acc = self.value.accuracy(lo, hi);
        (self.ceilings.admit(lo) && self.value.min_accuracy.is_none_or(|m| acc >= m))
            .then(|| self.value.objective(acc, lo, false))
    }

    /// The consumers among `wanted` (fronts and the pair) that networks of costs from `lo` on
    /// and merit up to `merit_hi` may still enter.
    fn open(&self, wanted: u32, lo: &[f64], merit_hi: f64) -> u32 {
        let mut open = 0;
        for (i, f) in self.kept.fronts.iter().enumerate() {
            if wanted & front_bit(i) != 0 && !f.dominated(lo, merit_hi) {
                open |= front_bit(i);
            }
        }
        if self.pair_open(wanted, lo, merit_hi) {
            open |= self.pair_bit;
        }
        open
    }

    /// Whether `wanted` holds the pair and networks from `lo` on with merit up to `merit_hi`
    /// may still enter its front.
    fn pair_open(&self, wanted: u32, lo: &[f64], merit_hi: f64) -> bool {
        wanted & self.pair_bit != 0
            && self
                .kept
                .pair
                .as_ref()
                .is_some_and(|p| !p.shadow.covers(lo, merit_hi))
    }

    /// Offers the networks of entry `e` of group `w` with the candidates at `range` (of a
    /// block) to the consumers in `open` (`chords`: the entry's, for the optimum; `row`:
    /// scratch).
    fn visit(
        &mut self,
        w: usize,
        e: usize,
        range: std::ops::Range<usize>,
        open: u32,
        chords: &[Option<Chord>],
        row: &mut [f64],
    ) {
        let d = self.d;
        // The search's data, borrowed apart from `self` so that `kept` can change.
        let (groups, values, value) = (self.groups, self.values, self.value);
        let group = &groups[w];
        let base = &group.entries.values[e * d..(e + 1) * d];
        for j in range {
            let want = group.wanted[j] & open;
            if want == 0 {
                continue;
            }
            let cand = group.sorted[j];
            Self::shift(base, &values[cand as usize * d..][..d], row);
            let row = &*row;
            if !self.ceilings.admit(row) {
                continue;
            }
            self.kept.evaluated += 1;
            // Accuracy costs a logarithm or two: only where needed, and bounded first (see
            // `Value::accuracy`): most networks are dominated, or cannot beat the incumbent,
            // even with the bound.
            let needs =
                want & OPTIMUM != 0 || value.min_accuracy.is_some() || value.merit_degree.is_none();
            let above = needs.then(|| value.accuracy(row, row));
            if let (Some(m), Some(above)) = (value.min_accuracy, above)
                && above < m
            {
                continue;
            }
            let mut take = 0;
            if want & OPTIMUM != 0
                && let Some(above) = above
                && value.chord_bound(above, chords, row) >= self.kept.best.objective
            {
                take |= OPTIMUM;
            }
            if want & !OPTIMUM != 0 {
                take |= self.open(want, row, value.merit_with(row, row, above));
            }
            if take == 0 {
                continue;
            }
            let acc = needs.then(|| value.accuracy_at(row));
            if let (Some(m), Some(acc)) = (value.min_accuracy, acc)
                && acc < m
            {
                continue;
            }
            let network = Network {
                state: group.entries.states[e],
                candidate: cand,
            };
            let kept = &mut self.kept;
            if take & OPTIMUM != 0
                && let Some(acc) = acc
                && let objective = value.objective(acc, row, true)
                && objective > kept.best.objective
            {
                kept.best = Incumbent {
                    objective,
                    network: Some(network),
                };
            }
            if take & !OPTIMUM == 0 {
                continue;
            }
            let merit = value.merit_with(row, row, acc);
            for (i, f) in kept.fronts.iter_mut().enumerate() {
                if take & front_bit(i) != 0 {
                    f.insert(row, merit, network);
                }
            }
            if take & self.pair_bit != 0
                && let Some(p) = &mut kept.pair
                && !p.shadow.covers(row, merit)
            {
                p.shadow.add(row, merit);
                p.rows
                    .extend([row[p.shadow.key(0)], row[p.shadow.key(1)], -merit]);
                p.networks.push(network);
            }
        }
    }
}

impl Prepared<'_> {
    /// A pass over the last cell under `limit_of`: the optimum, and with `fronts` the fronts
    /// (which the preparation must have wanted).
    pub(super) fn pass(&self, limit_of: &[Option<f64>], fronts: bool) -> Finals {
        let d = self.d;
        // The span of the complete networks' costs sets the shadows' grids: up to the limit
        // where there is one.
        let lowest = &self.lowest;
        let mut highest = self.highest.clone();
        for (h, l) in highest.iter_mut().zip(limit_of) {
            *h = l.map_or(*h, |l| h.min(l));
        }
        let track = tracks(&self.value, self.plan, fronts);
        let searched = self.plan.searched_fronts(fronts);
        let pair_costs = self.plan.pair_front(fronts);
        let fronts: Vec<Front> = searched
            .iter()
            .map(|c| Front::new(c.key, Shadow::new(&[c.key], lowest, &highest)))
            .collect();
        // With two limited costs there is a front against the pair: networks its shadow cannot
        // rule out are kept and the front is taken from them at the end.
        let pair = pair_costs.map(|[a, b]| PairFront {
            shadow: Shadow::new(&[a.key, b.key], lowest, &highest),
            rows: Vec::new(),
            networks: Vec::new(),
        });
        let pair_bit = front_bit(fronts.len());
        let mut last = LastCell {
            d,
            values: &self.span.values,
            ceilings: Ceilings::new(limit_of),
            value: &self.value,
            groups: &self.groups,
            kept: Kept {
                best: Incumbent {
                    objective: f64::NEG_INFINITY,
                    network: None,
                },
                fronts,
                pair,
                evaluated: 0,
            },
            pair_bit,
            reads_upper: self.value.reads_upper(),
        };
        if track {
            last.optimum();
        }
        last.fronts();
        let Kept {
            best,
            fronts,
            pair,
            evaluated,
        } = last.kept;
        let mut out: Vec<Network> = best.network.into_iter().collect();
        for f in fronts {
            out.extend(f.staircase());
        }
        if let Some(PairFront { rows, networks, .. }) = pair {
            let all = (0..networks.len() as u32).collect();
            out.extend(
                pareto(&rows, 3, all)
                    .into_iter()
                    .map(|i| networks[i as usize]),
            );
        }
        out.sort_unstable();
        out.dedup();
        Finals {
            networks: out,
            evaluated,
        }
    }
}
