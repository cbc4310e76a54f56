//! The dominance kernel: whether some kept row is at most a row in every value, a block of
//! rows at a time, for the Pareto filters (`dominance`) and the exchange test (`exchange`).

/// Rows per block of `Lanes`, and items per level above it.
pub(super) const LANES: usize = 8;

/// Lanes of one value: one per row of a block, or per block (group) of a level above.
pub(super) type Lane = [f64; LANES];

/// The dominance kernel: kept rows in blocks of `LANES` rows, one array per value, so that a row
/// is tested against a whole block without branches. Above the rows, two levels hold the least
/// of each value per block (eight blocks to a lane set) and per group of eight blocks (eight
/// groups to a lane set): one test of a lane set rules out eight blocks or eight groups, where
/// a test per block's or group's least values left most of a filter's time in scalar
/// comparisons and branches. Unfilled lanes are at most nothing (see `push`).
pub(super) struct Lanes {
    width: usize,
    /// Per block, `width` lane sets of its rows' values.
    blocks: Vec<Lane>,
    /// Per group of `LANES` blocks, `width` lane sets of each block's least values.
    block_least: Vec<Lane>,
    /// Per set of `LANES` groups, `width` lane sets of each group's least values.
    group_least: Vec<Lane>,
    rows: usize,
    /// Whether the processor has AVX (see `any_at_most`).
    #[cfg(target_arch = "x86_64")]
    avx: bool,
}

/// Appends `width` lane sets holding `empty` to `level` when `at` starts a new one.
fn open(level: &mut Vec<Lane>, at: usize, width: usize, empty: f64) {
    if at.is_multiple_of(LANES) {
        level.extend(std::iter::repeat_n([empty; LANES], width));
    }
}

impl Lanes {
    /// No rows yet, of `width` values each, with room for `rows` rows. Room that is never
    /// filled costs nothing (the pages of a large allocation are mapped when first written),
    /// where growing to it copies the rows and maps their pages twice.
    pub(super) fn with_capacity(width: usize, rows: usize) -> Self {
        let blocks = rows.div_ceil(LANES);
        let groups = blocks.div_ceil(LANES);
        Lanes {
            width,
            blocks: Vec::with_capacity(blocks * width),
            block_least: Vec::with_capacity(groups * width),
            group_least: Vec::with_capacity(groups.div_ceil(LANES) * width),
            rows: 0,
            #[cfg(target_arch = "x86_64")]
            avx: std::arch::is_x86_feature_detected!("avx"),
        }
    }

    /// How many blocks there are; the last may be partly filled.
    pub(super) fn blocks(&self) -> usize {
        self.rows.div_ceil(LANES)
    }

    /// Appends `row` (`width` values), as row `b * LANES + lane` of block `b`.
    pub(super) fn push(&mut self, row: &[f64]) {
        let w = self.width;
        let (b, lane) = (self.rows / LANES, self.rows % LANES);
        let group = b / LANES;
        if lane == 0 {
            // An unfilled row lane holds NaN, at most nothing; an unfilled least lane holds
            // infinity, which the first value replaces (at most only an infinite value, whose
            // descent finds no row).
            open(&mut self.blocks, self.rows, w, f64::NAN);
            open(&mut self.block_least, b, w, f64::INFINITY);
            if b.is_multiple_of(LANES) {
                open(&mut self.group_least, group, w, f64::INFINITY);
            }
        }
        let values = &mut self.blocks[b * w..][..w];
        let block_least = &mut self.block_least[group * w..][..w];
        let group_least = &mut self.group_least[group / LANES * w..][..w];
        let (in_group, in_top) = (b % LANES, group % LANES);
        // A comparison, not `min`, which also handles a NaN least value (none is).
        let least = |l: &mut f64, v: f64| *l = if v < *l { v } else { *l };
        for (k, &v) in row[..w].iter().enumerate() {
            values[k][lane] = v;
            least(&mut block_least[k][in_group], v);
            least(&mut group_least[k][in_top], v);
        }
        self.rows += 1;
    }

    /// Whether some row is at most `row` in every value: first in block `hint`, then newest
    /// rows first, leaving in `hint` the block where one was found. A group or a block whose
    /// least values are not all at most `row` holds none.
    pub(super) fn any_at_most(&self, row: &[f64], hint: &mut usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` says the processor has AVX.
            return unsafe { self.any_at_most_avx(row, hint) };
        }
        self.widths::<Sse2>(row, hint)
    }

    /// `any_at_most` compiled for AVX: four lanes to a comparison.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn any_at_most_avx(&self, row: &[f64], hint: &mut usize) -> bool {
        self.widths::<Avx>(row, hint)
    }

    /// `scan` with the common widths' loops of a known length, unrolled.
    #[inline(always)]
    fn widths<K: Kernel>(&self, row: &[f64], hint: &mut usize) -> bool {
        match self.width {
            2 => self.scan::<2, K>(row, hint),
            3 => self.scan::<3, K>(row, hint),
            4 => self.scan::<4, K>(row, hint),
            5 => self.scan::<5, K>(row, hint),
            _ => self.scan::<0, K>(row, hint),
        }
    }

    /// `any_at_most` for rows of `W` values (0: of `width`), with lane comparisons by `K`.
    #[inline(always)]
    fn scan<const W: usize, K: Kernel>(&self, row: &[f64], hint: &mut usize) -> bool {
        let w = if W == 0 { self.width } else { W };
        let row = &row[..w];
        // The block that held the last row found: rows come sorted by their first value, so
        // the row that dominated one often dominates the next (2-5% of a search's time).
        if *hint < self.blocks() && K::mask(&self.blocks[*hint * w..][..w], row) != 0 {
            return true;
        }
        // Loops, not closures: a closure is not compiled for the caller's target features, and
        // the AVX comparisons would be calls.
        let groups = self.blocks().div_ceil(LANES);
        for top in (0..groups.div_ceil(LANES)).rev() {
            let mut in_groups = K::mask(&self.group_least[top * w..][..w], row);
            while in_groups != 0 {
                let group = top * LANES + highest(&mut in_groups);
                let mut in_blocks = K::mask(&self.block_least[group * w..][..w], row);
                while in_blocks != 0 {
                    let b = group * LANES + highest(&mut in_blocks);
                    if K::mask(&self.blocks[b * w..][..w], row) != 0 {
                        *hint = b;
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// How many lanes of block `b` hold a row, of `rows` rows in blocks of `LANES`.
pub(super) fn filled(rows: usize, b: usize) -> usize {
    (rows - b * LANES).min(LANES)
}

/// The first `filled` lanes of a block (`values`: a lane set per value) that hold a row at most
/// `row` in every value, as bits (lane `i` is bit `i`).
#[inline]
pub(super) fn block_at_most(values: &[Lane], row: &[f64], filled: usize) -> u32 {
    // Lanes past `filled` may hold anything; without values, there is no NaN to mark them.
    Sse2::mask(values, row) & ((1 << filled) - 1)
}

/// The lane comparison of `Lanes`: for each lane, whether its values are at most `row`'s, as
/// bits. The compiler left the lanes' comparisons scalar; these are SIMD.
trait Kernel {
    fn mask(values: &[Lane], row: &[f64]) -> u32;
}

/// Two lanes to a comparison: every x86-64 processor has SSE2 (elsewhere, plain comparisons).
struct Sse2;

/// Four lanes to a comparison, where the processor has AVX.
#[cfg(target_arch = "x86_64")]
struct Avx;

#[cfg(target_arch = "x86_64")]
impl Kernel for Sse2 {
    #[inline(always)]
    fn mask(values: &[Lane], row: &[f64]) -> u32 {
        use std::arch::x86_64::{
            _mm_and_pd, _mm_castsi128_pd, _mm_cmple_pd, _mm_loadu_pd, _mm_movemask_pd,
            _mm_set1_epi64x, _mm_set1_pd,
        };
        // SAFETY: SSE2 is part of x86-64; each load reads two f64 of a `[f64; 8]` at offsets
        // 0, 2, 4 and 6.
        unsafe {
            let mut all = [_mm_castsi128_pd(_mm_set1_epi64x(-1)); LANES / 2];
            for (lanes, &v) in values.iter().zip(row) {
                let v = _mm_set1_pd(v);
                for (i, a) in all.iter_mut().enumerate() {
                    *a = _mm_and_pd(*a, _mm_cmple_pd(_mm_loadu_pd(lanes.as_ptr().add(2 * i)), v));
                }
            }
            all.iter()
                .enumerate()
                .fold(0, |m, (i, a)| m | (_mm_movemask_pd(*a) as u32) << (2 * i))
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Kernel for Avx {
    #[inline(always)]
    fn mask(values: &[Lane], row: &[f64]) -> u32 {
        use std::arch::x86_64::{
            _CMP_LE_OQ, _mm256_and_pd, _mm256_castsi256_pd, _mm256_cmp_pd, _mm256_loadu_pd,
            _mm256_movemask_pd, _mm256_set1_epi64x, _mm256_set1_pd,
        };
        // SAFETY: only inlined into `Lanes::any_at_most_avx`, which runs where the processor
        // has AVX; each load reads four f64 of a `[f64; 8]` at offsets 0 and 4.
        unsafe {
            let mut all = [_mm256_castsi256_pd(_mm256_set1_epi64x(-1)); LANES / 4];
            for (lanes, &v) in values.iter().zip(row) {
                let v = _mm256_set1_pd(v);
                for (i, a) in all.iter_mut().enumerate() {
                    let lane = _mm256_loadu_pd(lanes.as_ptr().add(4 * i));
                    *a = _mm256_and_pd(*a, _mm256_cmp_pd::<_CMP_LE_OQ>(lane, v));
                }
            }
            all.iter().enumerate().fold(0, |m, (i, a)| {
                m | (_mm256_movemask_pd(*a) as u32) << (4 * i)
            })
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Kernel for Sse2 {
    #[inline(always)]
    fn mask(values: &[Lane], row: &[f64]) -> u32 {
        let mut all = [true; LANES];
        for (lanes, v) in values.iter().zip(row) {
            for (a, lane) in all.iter_mut().zip(lanes) {
                *a &= lane <= v;
            }
        }
        all.iter()
            .enumerate()
            .fold(0, |m, (i, &a)| m | u32::from(a) << i)
    }
}

/// The highest set bit of `mask` (the newest lane), cleared. `mask` must not be zero.
#[inline(always)]
fn highest(mask: &mut u32) -> usize {
    let i = 31 - mask.leading_zeros() as usize;
    *mask &= !(1 << i);
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn every_kernel_finds_exactly_the_rows_at_most_a_row() {
        let mut r = SplitMix64::new(8);
        for case in 0..60 {
            let width = 2 + case % 5;
            let n = [1, 9, 70, 600, 1500][case / 12 % 5];
            let row = |r: &mut SplitMix64| -> Vec<f64> {
                (0..width).map(|_| r.below(9) as f64).collect()
            };
            let rows: Vec<Vec<f64>> = (0..n).map(|_| row(&mut r)).collect();
            let mut lanes = Lanes::with_capacity(width, 0);
            for x in &rows {
                lanes.push(x);
            }
            // Each kernel's hint carries over from query to query, as in a filter.
            let (mut sse2_hint, mut avx_hint) = (usize::MAX, usize::MAX);
            for _ in 0..200 {
                let q = row(&mut r);
                let expected = rows.iter().any(|x| x.iter().zip(&q).all(|(a, b)| a <= b));
                assert_eq!(
                    lanes.widths::<Sse2>(&q, &mut sse2_hint),
                    expected,
                    "case {case}"
                );
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx") {
                    // SAFETY: the processor has AVX.
                    assert_eq!(
                        unsafe { lanes.any_at_most_avx(&q, &mut avx_hint) },
                        expected,
                        "case {case}"
                    );
                }
            }
        }
    }

    #[test]
    fn blocks_report_only_filled_lanes() {
        let mut lanes = Lanes::with_capacity(2, 0);
        assert_eq!(lanes.blocks(), 0);
        for v in 0..11 {
            lanes.push(&[v as f64, 10.0 - v as f64]);
        }
        assert_eq!(lanes.blocks(), 2);
        let at_most = |b: usize, row: &[f64]| {
            block_at_most(
                &lanes.blocks[b * 2..(b + 1) * 2],
                row,
                filled(lanes.rows, b),
            )
        };
        // Every row is at most +inf, but the second block holds three rows only.
        let inf = [f64::INFINITY; 2];
        assert_eq!(at_most(0, &inf), 0xff);
        assert_eq!(at_most(1, &inf), 0b111);
        // Rows 2..=4 are at most (4, 8).
        assert_eq!(at_most(0, &[4.0, 8.0]), 0b11100);
        // Without values, a lane answers whether it is filled; lanes past `filled` are left
        // out whatever they hold.
        assert_eq!(block_at_most(&[], &[], 1), 1);
        assert_eq!(block_at_most(&[[0.0; LANES]], &[1.0], 3), 0b111);
    }
}
