//! The exchange test: dropping a network that another beats by trading NN-Degree against
//! params, whatever the remaining cells add.

use super::dominance::{ordered, sort_keyed};
use super::lanes::{LANES, Lane, block_at_most, filled};
use crate::fit::DegreeTerm;

/// One term of accuracy as a function of a summed quantity: `coefficient * T(natural value)`.
#[derive(Clone, Copy)]
pub(super) struct Term {
    /// Index among the quantities, and the sign from stored to natural value.
    pub(super) key: usize,
    pub(super) sign: f64,
    /// The transform (`None`: the natural logarithm of params).
    pub(super) degree: Option<DegreeTerm>,
    pub(super) coefficient: f64,
}

impl Term {
    fn concave(&self) -> bool {
        match self.degree {
            Some(DegreeTerm::Reciprocal) => self.coefficient <= 0.0,
            _ => self.coefficient >= 0.0,
        }
    }

    /// Whether the term's change is bounded with the beating row's slopes (a concave term's)
    /// rather than the beaten row's (see `Tangents`). A linear term's slope is the same for
    /// both: it takes the beaten row's, which need not be kept in lanes.
    fn by_beater(&self) -> bool {
        self.concave() && !matches!(self.degree, Some(DegreeTerm::Linear))
    }

    /// The natural range of stored values from `lo` to `hi`.
    pub(super) fn natural(&self, lo: f64, hi: f64) -> Span {
        if self.sign > 0.0 {
            Span {
                lo: lo * self.sign,
                hi: hi * self.sign,
            }
        } else {
            Span {
                lo: hi * self.sign,
                hi: lo * self.sign,
            }
        }
    }

    /// A stored value's natural value.
    pub(super) fn value(&self, stored: f64) -> f64 {
        stored * self.sign
    }
}

/// A range of natural values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Span {
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl Span {
    fn hull(self, other: Span) -> Span {
        Span {
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }
}

/// What the remaining cells may add to the two terms' quantities (natural values), as boxes
/// that hold every pair they may add. One box (the ranges of both) is the loosest cover: the
/// test must then hold at its far corners, which no network reaches, since a cell that adds
/// more NN-Degree adds more params too. Boxes along the pairs (`COVER` of them) hold at
/// corners near real ones: on the demo's problem, the programme's last states fell from
/// 13,492 to about 1,800 with sixteen boxes, where one box kept 9,900.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Added(Vec<[Span; 2]>);

/// Boxes per cover.
pub(super) const COVER: usize = 16;

impl Added {
    /// One box: the ranges of both terms.
    pub(super) fn ranges(spans: [Span; 2]) -> Self {
        Added(vec![spans])
    }

    /// At most `COVER` boxes holding every one of `points` (natural values of both terms):
    /// per run of the first term's range (`Runs`), the hull of the points in it.
    pub(super) fn cover(points: impl IntoIterator<Item = [f64; 2]>) -> Self {
        let points: Vec<[f64; 2]> = points.into_iter().collect();
        let (lo, hi) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p[0]), hi.max(p[0]))
            });
        let mut runs = Runs::new(lo, hi);
        for &[a, b] in &points {
            runs.add([Span { lo: a, hi: a }, Span { lo: b, hi: b }]);
        }
        runs.cover()
    }

    /// The natural values of `terms` over `rows` (`d` stored values each), covered.
    pub(super) fn of_rows<'a>(
        rows: impl IntoIterator<Item = &'a [f64]>,
        terms: &[Term; 2],
    ) -> Self {
        Added::cover(rows.into_iter().map(|r| terms.map(|t| t.value(r[t.key]))))
    }

    /// The boxes without the hull of them all that leads a cover of several.
    fn runs(&self) -> &[[Span; 2]] {
        &self.0[usize::from(self.0.len() > 1)..]
    }

    /// The least and the most of the boxes' least first values.
    fn first_range(&self) -> (f64, f64) {
        self.runs()
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), b| {
                (lo.min(b[0].lo), hi.max(b[0].lo))
            })
    }

    /// What `self` and then `then` add: every sum of a pair of their boxes, covered.
    pub(super) fn then(&self, then: &Added) -> Self {
        let add = |a: Span, b: Span| Span {
            lo: a.lo + b.lo,
            hi: a.hi + b.hi,
        };
        let ((a_lo, a_hi), (b_lo, b_hi)) = (self.first_range(), then.first_range());
        let mut runs = Runs::new(a_lo + b_lo, a_hi + b_hi);
        for a in self.runs() {
            for b in then.runs() {
                runs.add([add(a[0], b[0]), add(a[1], b[1])]);
            }
        }
        runs.cover()
    }

    /// What one of `alternatives` adds, each moved by its offset (a coupling), covered.
    pub(super) fn any_of<'a>(
        alternatives: impl IntoIterator<Item = (&'a Added, [f64; 2])> + Clone,
    ) -> Self {
        let moved = |s: Span, by: f64| Span {
            lo: s.lo + by,
            hi: s.hi + by,
        };
        let (lo, hi) = alternatives.clone().into_iter().fold(
            (f64::INFINITY, f64::NEG_INFINITY),
            |(lo, hi), (a, by)| {
                let (a_lo, a_hi) = a.first_range();
                (lo.min(a_lo + by[0]), hi.max(a_hi + by[0]))
            },
        );
        let mut runs = Runs::new(lo, hi);
        for (a, by) in alternatives {
            for b in a.runs() {
                runs.add([moved(b[0], by[0]), moved(b[1], by[1])]);
            }
        }
        runs.cover()
    }

    /// The hull of the boxes alone (the first box of a cover of several: see `Runs::cover`).
    pub(super) fn hull(&self) -> Self {
        Added(self.0.iter().take(1).copied().collect())
    }

    /// Nothing is added.
    pub(super) fn nothing() -> Self {
        Added(vec![[Span { lo: 0.0, hi: 0.0 }; 2]])
    }
}

/// Boxes gathered into `COVER` equal runs of a range of first values, by their least first
/// value, each run's hull: a cover in one pass, with no sort (a search builds a few thousand).
struct Runs {
    lo: f64,
    scale: f64,
    hulls: [Option<[Span; 2]>; COVER],
    /// Whether a box held a NaN, which no hull holds: then the cover is a box of NaN, where
    /// every bound fails and no row drops.
    nan: bool,
}

impl Runs {
    /// Runs over the least first values from `lo` to `hi`.
    fn new(lo: f64, hi: f64) -> Self {
        let width = hi - lo;
        Runs {
            lo,
            scale: if width > 0.0 {
                COVER as f64 / width
            } else {
                0.0
            },
            hulls: [None; COVER],
            nan: false,
        }
    }

    fn add(&mut self, b: [Span; 2]) {
        self.nan |= b.iter().any(|s| s.lo.is_nan() || s.hi.is_nan());
        // A value outside the range (by rounding) falls in an end run: a hull still holds it.
        let run = (((b[0].lo - self.lo) * self.scale) as usize).min(COVER - 1);
        let hull = &mut self.hulls[run];
        *hull = Some(match *hull {
            Some(h) => [h[0].hull(b[0]), h[1].hull(b[1])],
            None => b,
        });
    }

    /// The hull of every run (when there are several: see `Recent::beating`), then the runs'
    /// hulls alternately from both ends, where a test fails first: where what is added is
    /// least or most.
    fn cover(self) -> Added {
        if self.nan {
            return Added(vec![
                [Span {
                    lo: f64::NAN,
                    hi: f64::NAN,
                }; 2],
            ]);
        }
        let hulls: Vec<[Span; 2]> = self.hulls.into_iter().flatten().collect();
        let n = hulls.len();
        let runs = (0..n).map(|i| hulls[if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 }]);
        let all = hulls
            .iter()
            .copied()
            .reduce(|a, b| [a[0].hull(b[0]), a[1].hull(b[1])]);
        Added(all.into_iter().filter(|_| n > 1).chain(runs).collect())
    }
}

/// A row as the exchange test sees it: per term its natural value and the term's slopes at
/// the value plus each end of each box of what may be added (`Ends`). The change of a term
/// from a beaten row `x` to a beating row `y` at any `a` of a box, `T(y + a) - T(x + a)`, is
/// at least the change of value times a tangent's slope: the beating row's for a concave
/// term, the beaten row's for a convex one, at the end of the box where that bound is least
/// (`Recent::beating`). So a row tested needs its convex terms' slopes and a row kept its
/// concave terms': each is computed when first needed.
struct Tangents {
    values: [f64; 2],
    /// Per term, at each end of `Ends`.
    slopes: [Vec<f64>; 2],
    filled: [bool; 2],
}

/// Per term, the ends of the boxes of what may be added: box `k`'s least at `2k`, its most at
/// `2k + 1`.
struct Ends([Vec<f64>; 2]);

impl Ends {
    fn of(added: &Added) -> Self {
        Ends([0, 1].map(|t| added.0.iter().flat_map(|b| [b[t].lo, b[t].hi]).collect()))
    }
}

impl Tangents {
    fn new(ends: &Ends) -> Self {
        Tangents {
            values: [0.0; 2],
            slopes: [0, 1].map(|t| vec![f64::NAN; ends.0[t].len()]),
            filled: [false; 2],
        }
    }

    #[inline(always)]
    fn set(&mut self, terms: &[Term; 2], row: &[f64]) {
        for (value, t) in self.values.iter_mut().zip(terms) {
            *value = t.value(row[t.key]);
        }
        self.filled = [false; 2];
    }

    /// Fills term `t`'s slopes, once. One loop per form, so that each runs in vector lanes.
    #[inline(always)]
    fn fill(&mut self, terms: &[Term; 2], ends: &Ends, t: usize) {
        if self.filled[t] {
            return;
        }
        let (v, c) = (self.values[t], terms[t].coefficient);
        let slopes = self.slopes[t].iter_mut().zip(&ends.0[t]);
        match terms[t].degree {
            Some(DegreeTerm::Linear) => {
                for (s, _) in slopes {
                    *s = c;
                }
            }
            Some(DegreeTerm::Reciprocal) => {
                for (s, e) in slopes {
                    *s = -c / ((v + e) * (v + e));
                }
            }
            Some(DegreeTerm::Log) | None => {
                for (s, e) in slopes {
                    *s = c / (v + e);
                }
            }
        }
        self.filled[t] = true;
    }
}

/// Where a row was beaten: over the hull of what may be added (one box), or only box by box.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Beaten {
    OverTheHull,
    BoxByBox,
}

/// Blocks of kept rows the exchange test tries: only the latest `WINDOW` (those nearest in the
/// first other quantity), since the test costs more than plain dominance and a row it misses is
/// merely kept. Their other quantities lie in lanes as in the dominance kernel, beside their
/// terms' values and slopes; a block's slot is reused once `WINDOW` newer ones are open
/// (holding every kept row grew buffers that were never read again: 3% of a search's
/// instructions).
struct Recent {
    width: usize,
    ends: usize,
    /// Per slot, `width` lane sets of its rows' other quantities.
    values: Vec<Lane>,
    /// Per slot, the two terms' values, then per term its slopes at each end: `2 + 2 * ends`
    /// lane sets.
    tangents: Vec<Lane>,
    rows: usize,
}

const WINDOW: usize = 2;

impl Recent {
    fn new(width: usize, ends: usize) -> Self {
        Recent {
            width,
            ends,
            values: vec![[f64::NAN; LANES]; WINDOW * width],
            tangents: vec![[f64::NAN; LANES]; WINDOW * (2 + 2 * ends)],
            rows: 0,
        }
    }

    /// Whether a row of the latest blocks, no worse than `others` in the other quantities,
    /// beats `x` in the accuracy terms over every box of what may be added, and where: over
    /// the hull of them all or only box by box. A slot's lanes past the rows of its block hold
    /// an older block's rows, which `block_at_most` leaves out.
    #[inline(always)]
    fn beats(
        &self,
        others: &[f64],
        x: &mut Tangents,
        terms: &[Term; 2],
        ends: &Ends,
        by_beater: [bool; 2],
    ) -> Option<Beaten> {
        let w = self.width;
        for b in (0..self.rows.div_ceil(LANES)).rev().take(WINDOW) {
            let slot = b % WINDOW;
            let no_worse =
                block_at_most(&self.values[slot * w..][..w], others, filled(self.rows, b));
            if no_worse == 0 {
                continue;
            }
            for (t, &by_beater) in by_beater.iter().enumerate() {
                if !by_beater {
                    x.fill(terms, ends, t);
                }
            }
            let beaten = self.beating(slot, x, by_beater, no_worse);
            if beaten.is_some() {
                return beaten;
            }
        }
        None
    }

    /// Whether some lane of slot `slot`, among `bits`, beats `x` in every box, and where: per
    /// box, the terms' tangent bounds (see `Tangents`) summed, every lane at once. A concave term's slope
    /// falls as what is added grows, so a gain is bounded at the box's most and a loss at its
    /// least; a convex term's the other way round.
    #[inline(always)]
    fn beating(
        &self,
        slot: usize,
        x: &Tangents,
        by_beater: [bool; 2],
        mut bits: u32,
    ) -> Option<Beaten> {
        let per = 2 + 2 * self.ends;
        let block = &self.tangents[slot * per..][..per];
        // Each term's change split by sign, so that a gain and a loss each take their slope
        // without a branch per lane.
        let mut up = [[0.0; LANES]; 2];
        let mut down = [[0.0; LANES]; 2];
        for t in 0..2 {
            for i in 0..LANES {
                let delta = block[t][i] - x.values[t];
                up[t][i] = delta.max(0.0);
                down[t][i] = delta.min(0.0);
            }
        }
        let boxes = self.ends / 2;
        if boxes > 1 {
            // The first box holds the others (see `Runs::cover`): a row that beats there
            // beats in each, since its bounds are at the ends of a wider range.
            if bits & self.box_beating(block, x, by_beater, &up, &down, 0) != 0 {
                return Some(Beaten::OverTheHull);
            }
        }
        for k in usize::from(boxes > 1)..boxes {
            bits &= self.box_beating(block, x, by_beater, &up, &down, k);
            if bits == 0 {
                return None;
            }
        }
        Some(if boxes > 1 {
            Beaten::BoxByBox
        } else {
            Beaten::OverTheHull
        })
    }

    /// Which lanes of `block` beat `x` over box `k`, as bits.
    #[inline(always)]
    fn box_beating(
        &self,
        block: &[Lane],
        x: &Tangents,
        by_beater: [bool; 2],
        up: &[Lane; 2],
        down: &[Lane; 2],
        k: usize,
    ) -> u32 {
        let mut sum = [0.0; LANES];
        for t in 0..2 {
            let at = 2 + t * self.ends + 2 * k;
            if by_beater[t] {
                let (lo, hi) = (&block[at], &block[at + 1]);
                for i in 0..LANES {
                    sum[i] += hi[i] * up[t][i] + lo[i] * down[t][i];
                }
            } else {
                let (lo, hi) = (x.slopes[t][2 * k], x.slopes[t][2 * k + 1]);
                for i in 0..LANES {
                    sum[i] += lo * up[t][i] + hi * down[t][i];
                }
            }
        }
        let mut beat = 0;
        for (i, &s) in sum.iter().enumerate() {
            beat |= u32::from(s > 0.0) << i;
        }
        beat
    }

    /// Keeps row `x` in the newest block, with the slopes of the terms bounded with a
    /// beating row's (`by_beater`): only those are read from lanes.
    #[inline(always)]
    fn push(&mut self, others: &[f64], x: &Tangents, by_beater: [bool; 2]) {
        let (slot, lane) = (self.rows / LANES % WINDOW, self.rows % LANES);
        for (lanes, &v) in self.values[slot * self.width..][..self.width]
            .iter_mut()
            .zip(others)
        {
            lanes[lane] = v;
        }
        let per = 2 + 2 * self.ends;
        let block = &mut self.tangents[slot * per..][..per];
        block[0][lane] = x.values[0];
        block[1][lane] = x.values[1];
        for t in 0..2 {
            if by_beater[t] {
                let lanes = &mut block[2 + t * self.ends..][..self.ends];
                for (lanes, &s) in lanes.iter_mut().zip(&x.slopes[t]) {
                    lanes[lane] = s;
                }
            }
        }
        self.rows += 1;
    }
}

/// Of the rows `idx` (into `rows`, `d` values each), drops those that a kept row beats whatever
/// the remaining cells add, when accuracy depends on both NN-Degree and params: a row with
/// more NN-Degree and fewer params (or the reverse) beats another when it is no worse in every
/// other quantity and, in every box of what may be added (`added`, natural values), the
/// tangent bounds of the two accuracy terms sum to a gain. Each bound is a sufficient test of
/// a strict order, so every dropped row has a kept one that beats it. The rows kept stay in
/// `idx`'s order.
pub(super) fn exchange_pareto(
    rows: &[f64],
    d: usize,
    terms: [Term; 2],
    added: &Added,
    idx: Vec<u32>,
) -> Vec<u32> {
    exchange_counted(rows, d, terms, added, idx).0
}

/// `exchange_pareto`, and how many rows only the boxes of a cover dropped (its hull did not).
fn exchange_counted(
    rows: &[f64],
    d: usize,
    terms: [Term; 2],
    added: &Added,
    idx: Vec<u32>,
) -> (Vec<u32>, usize) {
    let others: Vec<usize> = (0..d)
        .filter(|&k| terms.iter().all(|t| t.key != k))
        .collect();
    let row = |i: u32| &rows[i as usize * d..(i as usize + 1) * d];
    // By the first other quantity, so that a row can only be beaten by earlier ones (or by
    // an equal one, which may be missed: then both stay).
    let mut order: Vec<u32> = (0..idx.len() as u32).collect();
    if let Some(&first) = others.first() {
        // Packed (value, position) keys sort as the stable sort by value would, and cheaper.
        let mut keyed: Vec<(u64, u32)> = order
            .iter()
            .map(|&p| (ordered(row(idx[p as usize])[first]), p))
            .collect();
        sort_keyed(&mut keyed);
        order = keyed.into_iter().map(|(_, p)| p).collect();
    }
    let ends = Ends::of(added);
    let scan = Scan {
        rows,
        d,
        terms,
        ends: &ends,
        others: &others,
    };
    let mut kept = vec![false; idx.len()];
    let box_by_box = scan.run(&idx, &order, &mut kept);
    // In the order given: a caller's order (the Pareto filter's, by the first quantity) stays.
    let kept = idx
        .into_iter()
        .zip(kept)
        .filter_map(|(i, k)| k.then_some(i))
        .collect();
    (kept, box_by_box)
}

/// The exchange test's pass over the rows, in order.
struct Scan<'a> {
    rows: &'a [f64],
    d: usize,
    terms: [Term; 2],
    ends: &'a Ends,
    others: &'a [usize],
}

impl Scan<'_> {
    /// Marks in `kept` the rows of `idx`, taken in `order`, that no recent kept row beats;
    /// says how many of the others were beaten only box by box.
    fn run(&self, idx: &[u32], order: &[u32], kept: &mut [bool]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the processor has AVX.
            return unsafe { self.run_avx(idx, order, kept) };
        }
        self.run_lanes(idx, order, kept)
    }

    /// `run` compiled for AVX: the tangent bounds four lanes at a time (no FMA, so that the
    /// bounds round as elsewhere).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn run_avx(&self, idx: &[u32], order: &[u32], kept: &mut [bool]) -> usize {
        self.run_lanes(idx, order, kept)
    }

    /// `run`, in loops rather than closures: a closure is not compiled for the caller's
    /// target features.
    #[inline(always)]
    fn run_lanes(&self, idx: &[u32], order: &[u32], kept: &mut [bool]) -> usize {
        let (terms, ends, d) = (&self.terms, self.ends, self.d);
        let by_beater = [terms[0].by_beater(), terms[1].by_beater()];
        let mut recent = Recent::new(self.others.len(), ends.0[0].len());
        let mut x_others = vec![0.0; self.others.len()];
        let mut x = Tangents::new(ends);
        let mut box_by_box = 0;
        for &p in order {
            let values = &self.rows[idx[p as usize] as usize * d..][..d];
            for (o, &k) in x_others.iter_mut().zip(self.others) {
                *o = values[k];
            }
            x.set(terms, values);
            // A row without finite values is kept, and beats none: the bounds' sign split
            // (`Recent::beating`) would read a NaN change as none.
            if !(x.values[0].is_finite() && x.values[1].is_finite()) {
                kept[p as usize] = true;
                continue;
            }
            match recent.beats(&x_others, &mut x, terms, ends, by_beater) {
                Some(beaten) => box_by_box += usize::from(beaten == Beaten::BoxByBox),
                None => {
                    for (t, &by_beater) in by_beater.iter().enumerate() {
                        if by_beater {
                            x.fill(terms, ends, t);
                        }
                    }
                    recent.push(&x_others, &x, by_beater);
                    kept[p as usize] = true;
                }
            }
        }
        box_by_box
    }
}

/// `exchange_pareto` over a series of row sets, given up once a set drops under `share` of its
/// rows, after `sample` rows in all: the test costs about what their Pareto filter does, and
/// in some searches drops a few rows only (it only prunes, so the search's result is the same
/// without it).
pub(super) struct Sparing {
    on: bool,
    /// Whether covers are tested box by box, or over their hull alone: once, after the
    /// sample, their boxes have dropped under `BOX_SHARE` of the rows that the hull did not.
    boxes: bool,
    share: f64,
    sample: usize,
    tested: usize,
    box_by_box: usize,
}

/// The share of rows below which testing box by box costs more than it saves: a test over
/// sixteen boxes costs several over one (on the bench's problems with ln(params) and a
/// linear NN-Degree term, the boxes dropped almost none).
const BOX_SHARE: f64 = 0.1;

impl Sparing {
    /// For the cell tables' candidates and the last cell's entries: a row dropped there saves
    /// less than its test costs under a third (with a tenth, 2dev-trade-off-log-params took 4%
    /// more instructions, and no bench problem fewer).
    pub(super) fn for_candidates_and_entries() -> Self {
        Sparing::new(1.0 / 3.0, 0)
    }

    /// For the programme's states of one cell, a set per width: a state dropped saves its
    /// entries into every group of the next cell, worth a test down to about a tenth; the
    /// first width's states, which drop fewest, do not decide alone.
    pub(super) fn for_states() -> Self {
        Sparing::new(0.1, 2000)
    }

    fn new(share: f64, sample: usize) -> Self {
        Sparing {
            on: true,
            boxes: true,
            share,
            sample,
            tested: 0,
            box_by_box: 0,
        }
    }

    /// `exchange_pareto` of `idx`, or `idx` itself once given up.
    pub(super) fn filter(
        &mut self,
        rows: &[f64],
        d: usize,
        terms: [Term; 2],
        added: &Added,
        idx: Vec<u32>,
    ) -> Vec<u32> {
        if !self.on {
            return idx;
        }
        let before = idx.len();
        let hull;
        let added = if self.boxes {
            added
        } else {
            hull = added.hull();
            &hull
        };
        let (kept, box_by_box) = exchange_counted(rows, d, terms, added, idx);
        self.tested += before;
        self.box_by_box += box_by_box;
        if self.tested >= self.sample {
            self.on = ((before - kept.len()) as f64) >= self.share * before as f64;
            self.boxes &= self.box_by_box as f64 >= BOX_SHARE * self.tested as f64;
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The accuracy terms at natural values `g` and `p`: `b T(g) + c ln(p)`.
    fn accuracy(terms: &[Term; 2], g: f64, p: f64) -> f64 {
        let t = terms[0].degree.unwrap();
        terms[0].coefficient * t.apply(g) + terms[1].coefficient * p.ln()
    }

    /// Rows (stored NN-Degree, stored params, two costs) on random forms of both signs, against
    /// points that may be added, which grow together (as cells' NN-Degree and params do), as
    /// one box or covered along them: each dropped row is beaten by a kept one at every point.
    #[test]
    fn every_dropped_row_is_beaten_whatever_is_added() {
        let mut r = SplitMix64::new(13);
        let (mut dropped, mut rows_in) = ([0; 2], 0);
        for case in 0..300 {
            let unit = |r: &mut SplitMix64| r.unit_f32() as f64;
            // NN-Degree's coefficient has the sign that makes accuracy grow with it or fall.
            let (degree, b) = match case % 4 {
                0 => (DegreeTerm::Linear, 0.01 * unit(&mut r)),
                1 => (DegreeTerm::Log, 0.05 * unit(&mut r)),
                2 => (DegreeTerm::Reciprocal, -0.5 * unit(&mut r)),
                _ => (DegreeTerm::Log, -0.05 * unit(&mut r)),
            };
            let falls = b * degree.apply(2.0) < b * degree.apply(1.0);
            let c = if r.below(2) == 0 { 0.03 } else { -0.03 } * unit(&mut r);
            // Stored so that smaller is better.
            let terms = [
                Term {
                    key: 0,
                    sign: if falls { 1.0 } else { -1.0 },
                    degree: Some(degree),
                    coefficient: b,
                },
                Term {
                    key: 1,
                    sign: if c > 0.0 { -1.0 } else { 1.0 },
                    degree: None,
                    coefficient: c,
                },
            ];
            let n = 1 + r.below(60) as usize;
            let natural: Vec<[f64; 4]> = (0..n)
                .map(|_| {
                    [
                        2.0 + 18.0 * unit(&mut r),
                        1e3 * (1.0 + 9.0 * unit(&mut r)),
                        r.below(3) as f64,
                        r.below(3) as f64,
                    ]
                })
                .collect();
            let rows: Vec<f64> = natural
                .iter()
                .flat_map(|x| [x[0] * terms[0].sign, x[1] * terms[1].sign, x[2], x[3]])
                .collect();
            let points: Vec<[f64; 2]> = (0..1 + r.below(200))
                .map(|_| {
                    let size = unit(&mut r);
                    [
                        1.0 + 10.0 * size + unit(&mut r),
                        500.0 + 2e4 * size * (0.9 + 0.2 * unit(&mut r)),
                    ]
                })
                .collect();
            let hull = [0, 1].map(|t| {
                let values = points.iter().map(|p| p[t]);
                Span {
                    lo: values.clone().fold(f64::INFINITY, f64::min),
                    hi: values.fold(f64::NEG_INFINITY, f64::max),
                }
            });
            let covers = [Added::ranges(hull), Added::cover(points.iter().copied())];
            for (way, added) in covers.iter().enumerate() {
                let kept = exchange_pareto(&rows, 4, terms, added, (0..n as u32).collect());
                rows_in += n;
                dropped[way] += n - kept.len();
                for x in (0..n).filter(|i| !kept.contains(&(*i as u32))) {
                    let x = &natural[x];
                    let beaten_by = |y: &[f64; 4]| {
                        y[2] <= x[2]
                            && y[3] <= x[3]
                            && points.iter().all(|[a, q]| {
                                accuracy(&terms, y[0] + a, y[1] + q)
                                    > accuracy(&terms, x[0] + a, x[1] + q)
                            })
                    };
                    assert!(
                        kept.iter().any(|&y| beaten_by(&natural[y as usize])),
                        "case {case}: {x:?}"
                    );
                }
            }
        }
        assert!(dropped[0] * 20 > rows_in, "{dropped:?} of {rows_in}");
        assert!(dropped[1] >= dropped[0], "{dropped:?} of {rows_in}");
    }

    /// A row with more NN-Degree and more params beats another at both of two points that may
    /// be added, a small cell and a large one, but not at the far corner of their ranges (the
    /// large cell's NN-Degree with the small one's params): covered by points, it drops; by
    /// one box, it stays.
    #[test]
    fn a_cover_along_the_points_drops_what_one_box_keeps() {
        let terms = [
            Term {
                key: 0,
                sign: -1.0,
                degree: Some(DegreeTerm::Reciprocal),
                coefficient: -0.5,
            },
            Term {
                key: 1,
                sign: 1.0,
                degree: None,
                coefficient: -0.03,
            },
        ];
        // Stored NN-Degree (negated: more is better), params, a cost: the beater first.
        let rows = [-6.0, 2600.0, 0.0, -5.0, 2000.0, 0.0];
        let points = [[1.0, 500.0], [11.0, 20500.0]];
        let hull = [
            Span { lo: 1.0, hi: 11.0 },
            Span {
                lo: 500.0,
                hi: 20500.0,
            },
        ];
        let cover = Added::cover(points);
        assert_eq!(cover.0.len(), 3, "the hull and a box per point");
        assert_eq!(exchange_pareto(&rows, 3, terms, &cover, vec![0, 1]), [0]);
        assert_eq!(
            exchange_pareto(&rows, 3, terms, &Added::ranges(hull), vec![0, 1]),
            [0, 1]
        );
    }

    /// A cover holds every point, every sum of a point of each of two covers, and every point
    /// of each alternative moved by its offset, in at most `COVER` boxes and their hull.
    #[test]
    fn covers_hold_what_they_cover() {
        let mut r = SplitMix64::new(15);
        let inside = |added: &Added, [a, b]: [f64; 2]| {
            added.0.len() <= COVER + 1
                && added
                    .0
                    .iter()
                    .any(|[x, y]| x.lo <= a && a <= x.hi && y.lo <= b && b <= y.hi)
        };
        let points = |r: &mut SplitMix64| -> Vec<[f64; 2]> {
            (0..1 + r.below(100))
                .map(|_| [r.unit_f32() as f64 * 10.0, r.unit_f32() as f64 * 1e3])
                .collect()
        };
        for _ in 0..50 {
            let (a, b) = (points(&mut r), points(&mut r));
            let (ca, cb) = (
                Added::cover(a.iter().copied()),
                Added::cover(b.iter().copied()),
            );
            let both = ca.then(&cb);
            let by = [r.unit_f32() as f64, -(r.unit_f32() as f64)];
            let either = Added::any_of([(&ca, [0.0; 2]), (&cb, by)]);
            for &p in &a {
                assert!(inside(&ca, p) && inside(&either, p));
                for &q in &b {
                    assert!(inside(&both, [p[0] + q[0], p[1] + q[1]]));
                }
            }
            for &q in &b {
                assert!(inside(&either, [q[0] + by[0], q[1] + by[1]]));
            }
        }
    }

    /// Sparing gives the test up once a set, after the sample, drops under its share of rows,
    /// and then passes every later set through untested.
    #[test]
    fn sparing_gives_up_after_the_sample_on_a_set_that_drops_few() {
        // Stored NN-Degree and params (both negated: more is better) and a cost: the second
        // row has a little more params but far less NN-Degree, so the first beats it.
        let beaten = [-20.0, -1000.0, 0.0, -2.0, -1010.0, 0.0];
        let apart = [-20.0, -1000.0, 0.0, -2.0, -1010.0, -1.0];
        let terms = [
            Term {
                key: 0,
                sign: -1.0,
                degree: Some(DegreeTerm::Linear),
                coefficient: 0.01,
            },
            Term {
                key: 1,
                sign: -1.0,
                degree: None,
                coefficient: 0.03,
            },
        ];
        let added = &Added::ranges([Span { lo: 0.0, hi: 100.0 }; 2]);
        let both = || vec![0, 1];
        assert_eq!(exchange_pareto(&beaten, 3, terms, added, both()), [0]);
        assert_eq!(exchange_pareto(&apart, 3, terms, added, both()), [0, 1]);
        // Under the sample, a set that drops nothing does not decide.
        let mut sparing = Sparing::new(0.5, 4);
        assert_eq!(sparing.filter(&apart, 3, terms, added, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0]);
        // The sample reached, it does: later sets pass untested.
        assert_eq!(sparing.filter(&apart, 3, terms, added, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0, 1]);
        // For the tables and entries, the first set decides.
        let mut sparing = Sparing::for_candidates_and_entries();
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0]);
        assert_eq!(sparing.filter(&apart, 3, terms, added, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0, 1]);
    }
}
