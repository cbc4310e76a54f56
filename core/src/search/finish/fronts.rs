//! The fronts' pass over the last cell: boxes of a run of entries and a block of candidates,
//! nearly best merit first, each bounded whole, then by halves and entries, before any of its
//! networks is looked at.

use super::super::prepare::{Block, LastGroup, OPTIMUM, front_bit};
use super::LastCell;

/// Boxes (merit bound, position) nearly best merit first: in buckets of equal merit width,
/// the best bucket first, each in the order given. The order only makes the fronts prune
/// sooner (each box is still tested with its own bound), and bucketing is a few times cheaper
/// than sorting the hundred thousand boxes of a large search.
fn nearly_best_first(boxes: Vec<(f64, u64)>) -> Vec<(f64, u64)> {
    let finite = boxes.iter().map(|b| b.0).filter(|m| m.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), m| {
        (lo.min(m), hi.max(m))
    });
    let buckets = (boxes.len() / 4).clamp(1, 1 << 16);
    let scale = if hi > lo {
        (buckets - 1) as f64 / (hi - lo)
    } else {
        0.0
    };
    let bucket = |m: f64| match m {
        m if m.is_nan() || m == f64::NEG_INFINITY => buckets - 1,
        f64::INFINITY => 0,
        m => (((hi - m) * scale) as usize).min(buckets - 1),
    };
    let mut starts = vec![0usize; buckets + 1];
    for b in &boxes {
        starts[bucket(b.0) + 1] += 1;
    }
    for i in 1..=buckets {
        starts[i] += starts[i - 1];
    }
    let mut out = vec![(0.0, 0); boxes.len()];
    for b in boxes {
        let at = &mut starts[bucket(b.0)];
        out[*at] = b;
        *at += 1;
    }
    out
}

impl LastCell<'_> {
    /// The fronts, best merit first (see `Engine::last_cell`). The boxes ordered are those of
    /// a run of entries and a block of candidates: most of them are dominated whole, which
    /// rules out a run's boxes with one bound instead of one per entry.
    pub(super) fn fronts(&mut self) {
        if self.kept.fronts.is_empty() && self.kept.pair.is_none() {
            return;
        }
        let (mut lo, mut hi, mut row) = (vec![0.0; self.d], vec![0.0; self.d], vec![0.0; self.d]);
        // (merit bound, group | block | run). Groups and blocks per group fit 16 bits in
        // every space (a few dozen each).
        let mut boxes: Vec<(f64, u64)> = Vec::new();
        for (w, group) in self.groups.iter().enumerate() {
            for r in 0..group.runs.len() {
                for (b, block) in group.blocks.iter().enumerate() {
                    if block.wanted & !OPTIMUM == 0 {
                        continue;
                    }
                    Self::span_bounds(&group.runs, r, block, &mut lo, &mut hi, self.reads_upper);
                    if let Some(merit) = self.merit(&lo, &hi) {
                        debug_assert!(w < 1 << 16 && b < 1 << 16 && r < 1 << 32);
                        boxes.push((merit, (w as u64) << 48 | (b as u64) << 32 | r as u64));
                    }
                }
            }
        }
        let boxes = nearly_best_first(boxes);
        let unpack = |at: u64| {
            (
                (at >> 48) as usize,
                (at >> 32 & 0xffff) as usize,
                at as u32 as usize,
            )
        };
        // Each box's least values, gathered first in the order the boxes are taken, a few
        // hundred at a time: in merit order, their runs lie all over memory, and a loop that
        // only gathers overlaps the cache misses that the tests below would each wait on (a
        // buffer for all the boxes, a megabyte, cost its page faults).
        const GATHERED: usize = 256;
        let mut gathered = vec![0.0; GATHERED * self.d];
        for chunk in boxes.chunks(GATHERED) {
            for (&(_, at), lo) in chunk.iter().zip(gathered.chunks_exact_mut(self.d)) {
                let (w, b, r) = unpack(at);
                let group = &self.groups[w];
                Self::shift(group.runs.min(r), &group.blocks[b].min, lo);
            }
            for (&(merit_hi, at), box_lo) in chunk.iter().zip(gathered.chunks_exact(self.d)) {
                self.enter_box(unpack(at), box_lo, merit_hi, [&mut lo, &mut hi, &mut row]);
            }
        }
    }

    /// Offers the networks of the box of group `w`'s run `r` of entries and block `b` (least
    /// values `box_lo`, merit up to `merit_hi`) to the fronts, bounding the run with each half
    /// of the block, then its entries, then their halves first (`scratch`: lo, hi and row
    /// buffers).
    fn enter_box(
        &mut self,
        (w, b, r): (usize, usize, usize),
        box_lo: &[f64],
        merit_hi: f64,
        [lo, hi, row]: [&mut [f64]; 3],
    ) {
        let group = &self.groups[w];
        let block = &group.blocks[b];
        // A consumer that the whole box cannot enter no part of it can: each part is tested
        // for those left open only.
        let run_open = self.open_any(block.wanted, box_lo, merit_hi);
        if run_open == 0 {
            return;
        }
        // The run with each half of the block: often one of them is ruled out whole, and the
        // entries are then bounded with the other half alone (5-10% of a two-device search).
        let mut halves_open = [0u32; 2];
        for (open, half) in halves_open.iter_mut().zip(&block.halves) {
            Self::span_bounds(&group.runs, r, half, lo, hi, self.reads_upper);
            if let Some(merit) = self.merit(lo, hi) {
                *open = self.open_any(half.wanted & run_open, lo, merit);
            }
        }
        let only = match halves_open {
            [0, 0] => return,
            [_, 0] => 0,
            [0, _] => 1,
            _ => {
                self.enter_run(group, (w, r), block, halves_open, [lo, hi, row]);
                return;
            }
        };
        for e in group.runs.range(r) {
            let half = &block.halves[only];
            self.enter_half(group, (w, e), half, halves_open[only], [lo, hi, row]);
        }
    }

    /// `enter_box` for a run `r` of group `w` with both halves of `block` open (the consumers
    /// each may enter in `halves_open`): each entry with the block, then with each half.
    fn enter_run(
        &mut self,
        group: &LastGroup,
        (w, r): (usize, usize),
        block: &Block,
        halves_open: [u32; 2],
        [lo, hi, row]: [&mut [f64]; 3],
    ) {
        for e in group.runs.range(r) {
            let Some(merit) = self.merit_of(group, e, block, lo, hi) else {
                continue;
            };
            let entry_open = self.open_any(halves_open[0] | halves_open[1], lo, merit);
            if entry_open == 0 {
                continue;
            }
            // Most networks of an open box are dominated still: each half is tested first.
            for (half, half_open) in block.halves.iter().zip(halves_open) {
                self.enter_half(group, (w, e), half, half_open & entry_open, [lo, hi, row]);
            }
        }
    }

    /// Offers the networks of entry `e` of group `w` with `half` to the consumers among
    /// `wanted` that their box may still enter. Inlined: it runs for every entry of an open
    /// box, and as a call two-device searches timed 2-5% slower.
    #[inline(always)]
    fn enter_half(
        &mut self,
        group: &LastGroup,
        (w, e): (usize, usize),
        half: &Block,
        wanted: u32,
        [lo, hi, row]: [&mut [f64]; 3],
    ) {
        let Some(merit) = self.merit_of(group, e, half, lo, hi) else {
            return;
        };
        let open = self.open(wanted, lo, merit);
        if open != 0 {
            self.visit(w, e, half.range.clone(), open, &[], row);
        }
    }

    /// The merit bound of the box of entry `e` of `group` and `block` (its bounds left in `lo`
    /// and `hi`): see `merit`.
    fn merit_of(
        &self,
        group: &LastGroup,
        e: usize,
        block: &Block,
        lo: &mut [f64],
        hi: &mut [f64],
    ) -> Option<f64> {
        self.bounds(group, e, block, lo, hi);
        self.merit(lo, hi)
    }

    /// The merit bound of the box from `lo` to `hi`; none when it cannot meet the limits or
    /// the accuracy floor. The accuracy bound is computed only where needed (a logarithm or
    /// two): it is also the merit unless NN-Degree is.
    fn merit(&self, lo: &[f64], hi: &[f64]) -> Option<f64> {
        if !self.ceilings.admit(lo) {
            return None;
        }
        let value = &self.value;
        let acc = (value.min_accuracy.is_some() || value.merit_degree.is_none())
            .then(|| value.accuracy(lo, hi));
        if let (Some(m), Some(acc)) = (value.min_accuracy, acc)
            && acc < m
        {
            return None;
        }
        Some(value.merit_with(lo, hi, acc))
    }

    /// `open`, up to the first consumer found open (the fronts, then the pair): the consumers
    /// after it stay in the answer untested, for the parts of the box to test. A consumer that
    /// rules out a box rules out each of its parts, so the parts' answers are the same; a box
    /// that is entered anyway is not tested for the rest (1.3% fewer instructions on
    /// 2dev-trade-off-recip-params, against testing the pair first 0.4%).
    fn open_any(&self, wanted: u32, lo: &[f64], merit_hi: f64) -> u32 {
        for (i, f) in self.kept.fronts.iter().enumerate() {
            if wanted & front_bit(i) != 0 && !f.dominated(lo, merit_hi) {
                // Fronts before this one were tested and ruled out.
                return wanted & !(front_bit(i) - 1);
            }
        }
        if self.pair_open(wanted, lo, merit_hi) {
            self.pair_bit
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_come_nearly_best_first_and_all_of_them() {
        let mut r = crate::rng::SplitMix64::new(21);
        for n in [0, 1, 2, 5, 100, 3000] {
            let mut boxes: Vec<(f64, u64)> = (0..n)
                .map(|i| (r.unit_f32() as f64 * 10.0, i as u64))
                .collect();
            if n > 3 {
                boxes[1].0 = f64::INFINITY;
                boxes[2].0 = f64::NEG_INFINITY;
                boxes[3].0 = f64::NAN;
            }
            let ordered = nearly_best_first(boxes.clone());
            let mut positions: Vec<u64> = ordered.iter().map(|b| b.1).collect();
            positions.sort_unstable();
            assert_eq!(positions, (0..n as u64).collect::<Vec<_>>());
            // A later box is better by less than a bucket's width (10 / (n / 4 - 1)).
            let finite: Vec<f64> = ordered
                .iter()
                .map(|b| b.0)
                .filter(|m| m.is_finite())
                .collect();
            let width = 10.0 / ((n / 4).max(2) - 1) as f64;
            for (i, a) in finite.iter().enumerate() {
                assert!(finite[i..].iter().all(|b| *b < a + width + 1e-9), "n {n}");
            }
            // With more than one bucket, an unbounded box comes first.
            if n >= 100 {
                assert_eq!(ordered[0].0, f64::INFINITY);
            }
        }
    }
}
