//! The exchange test's kernel: kept rows in lanes, each tested row against the latest blocks,
//! over every box of what may be added.

use super::Term;
use super::cover::Added;
use crate::fit::DegreeTerm;
use crate::search::lanes::{LANES, Lane, block_at_most, filled};

/// A row as the exchange test sees it: per term its natural value and the term's slopes at
/// the value plus each end of each box of what may be added (`Ends`). The change of a term
/// from a beaten row `x` to a beating row `y` at any `a` of a box, `T(y + a) - T(x + a)`, is
/// at least the change of value times a tangent's slope: the beating row's for a concave
/// term, the beaten row's for a convex one, at the end of the box where that bound is least
/// (`Recent::beating`; a linear term's slope is the same for both, see `Term::by_beater`). So
/// a row tested needs the slopes of the terms bounded with the beaten row's, and a row kept
/// those bounded with the beater's: each is computed when first needed.
struct Tangents {
    values: [f64; 2],
    /// Per term, at each end of `Ends`.
    slopes: [Vec<f64>; 2],
    filled: [bool; 2],
}

/// Per term, the ends of the boxes of what may be added: box `k`'s least at `2k`, its most at
/// `2k + 1`.
pub(super) struct Ends([Vec<f64>; 2]);

impl Ends {
    pub(super) fn of(added: &Added) -> Self {
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
    fn beats<const AVX: bool>(
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
            let beaten = self.beating::<AVX>(slot, x, by_beater, no_worse);
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
    fn beating<const AVX: bool>(
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
        let bounds = Bounds {
            block,
            slopes: &x.slopes,
            by_beater,
            up: &up,
            down: &down,
            ends: self.ends,
        };
        let boxes = self.ends / 2;
        if boxes > 1 {
            // The first box holds the others (see `Runs::cover`): a row that beats there
            // beats in each, since its bounds are at the ends of a wider range.
            if bits & bounds.beating::<AVX>(0) != 0 {
                return Some(Beaten::OverTheHull);
            }
        }
        for k in usize::from(boxes > 1)..boxes {
            bits &= bounds.beating::<AVX>(k);
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

/// What the tangent bounds of one slot's lanes against a tested row read: the slot's lanes
/// (`Recent::tangents`), the row's slopes, which term takes whose, and each term's change from
/// the row to each lane split by sign (see `Recent::beating`).
struct Bounds<'a> {
    block: &'a [Lane],
    slopes: &'a [Vec<f64>; 2],
    by_beater: [bool; 2],
    up: &'a [Lane; 2],
    down: &'a [Lane; 2],
    ends: usize,
}

impl Bounds<'_> {
    /// Which lanes beat the row over box `k`, as bits.
    #[inline(always)]
    fn beating<const AVX: bool>(&self, k: usize) -> u32 {
        #[cfg(target_arch = "x86_64")]
        if AVX {
            // SAFETY: `AVX` is true only in `Scan::run_avx`, which runs where the processor
            // has AVX.
            return unsafe { self.beating_avx(k) };
        }
        let mut sum = [0.0; LANES];
        for t in 0..2 {
            let at = 2 + t * self.ends + 2 * k;
            if self.by_beater[t] {
                let lanes = self.block[at].iter().zip(&self.block[at + 1]);
                let changes = self.up[t].iter().zip(&self.down[t]);
                for ((s, (lo, hi)), (up, down)) in sum.iter_mut().zip(lanes).zip(changes) {
                    *s += hi * up + lo * down;
                }
            } else {
                let (lo, hi) = (self.slopes[t][2 * k], self.slopes[t][2 * k + 1]);
                for ((s, up), down) in sum.iter_mut().zip(&self.up[t]).zip(&self.down[t]) {
                    *s += lo * up + hi * down;
                }
            }
        }
        let mut beat = 0;
        for (i, &s) in sum.iter().enumerate() {
            beat |= u32::from(s > 0.0) << i;
        }
        beat
    }

    /// `beating` in AVX lanes, four at a time: the same products and sums in the same order
    /// (no FMA), so the same bits. The compiler left `beating`'s lanes partly scalar.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn beating_avx(&self, k: usize) -> u32 {
        use std::arch::x86_64::{
            _CMP_GT_OQ, _mm256_add_pd, _mm256_cmp_pd, _mm256_loadu_pd, _mm256_movemask_pd,
            _mm256_mul_pd, _mm256_set1_pd, _mm256_setzero_pd,
        };
        let mut beat = 0;
        for half in 0..LANES / 4 {
            // SAFETY: each load reads four f64 of a `[f64; 8]` at offset 0 or 4; the caller
            // runs where the processor has AVX.
            unsafe {
                // Loads, not a closure: a closure is not compiled for AVX.
                let mut sum = _mm256_setzero_pd();
                for t in 0..2 {
                    let at = 2 + t * self.ends + 2 * k;
                    let up = _mm256_loadu_pd(self.up[t].as_ptr().add(4 * half));
                    let down = _mm256_loadu_pd(self.down[t].as_ptr().add(4 * half));
                    let (gain, loss) = if self.by_beater[t] {
                        (
                            _mm256_loadu_pd(self.block[at + 1].as_ptr().add(4 * half)),
                            _mm256_loadu_pd(self.block[at].as_ptr().add(4 * half)),
                        )
                    } else {
                        (
                            _mm256_set1_pd(self.slopes[t][2 * k]),
                            _mm256_set1_pd(self.slopes[t][2 * k + 1]),
                        )
                    };
                    sum = _mm256_add_pd(
                        sum,
                        _mm256_add_pd(_mm256_mul_pd(gain, up), _mm256_mul_pd(loss, down)),
                    );
                }
                let positive = _mm256_cmp_pd::<_CMP_GT_OQ>(sum, _mm256_setzero_pd());
                beat |= (_mm256_movemask_pd(positive) as u32) << (4 * half);
            }
        }
        beat
    }
}

/// The exchange test's pass over the rows, in order.
pub(super) struct Scan<'a> {
    pub(super) rows: &'a [f64],
    pub(super) d: usize,
    pub(super) terms: [Term; 2],
    pub(super) ends: &'a Ends,
    pub(super) others: &'a [usize],
}

impl Scan<'_> {
    /// Marks in `kept` the rows of `idx`, taken in `order`, that no recent kept row beats;
    /// says how many of the others were beaten only box by box.
    pub(super) fn run(&self, idx: &[u32], order: &[u32], kept: &mut [bool]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the processor has AVX.
            return unsafe { self.run_avx(idx, order, kept) };
        }
        self.run_lanes::<false>(idx, order, kept)
    }

    /// `run` compiled for AVX: the tangent bounds four lanes at a time (no FMA, so that the
    /// bounds round as elsewhere).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn run_avx(&self, idx: &[u32], order: &[u32], kept: &mut [bool]) -> usize {
        self.run_lanes::<true>(idx, order, kept)
    }

    /// `run`, in loops rather than closures: a closure is not compiled for the caller's
    /// target features.
    #[inline(always)]
    pub(super) fn run_lanes<const AVX: bool>(
        &self,
        idx: &[u32],
        order: &[u32],
        kept: &mut [bool],
    ) -> usize {
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
            match recent.beats::<AVX>(&x_others, &mut x, terms, ends, by_beater) {
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
