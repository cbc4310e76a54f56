//! Pareto filters over rows of stored quantities (all minimised).

/// A total order of f64 as unsigned integers (for ordered maps).
pub(super) fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

/// The inverse of `ordered`.
pub(super) fn unordered(x: u64) -> f64 {
    f64::from_bits(if x >> 63 == 1 { x & !(1 << 63) } else { !x })
}

/// Keeps the indices whose value rows no other row dominates (all <=), first of equals.
pub(super) fn pareto(values: &[f64], dims: usize, idx: Vec<u32>) -> Vec<u32> {
    pareto_sorting(values, dims, idx, false, &[])
}

/// `pareto` of all rows of `values`, which come sorted by the first value or in a few runs
/// each sorted by it: the entries of a cell (see `Stage::order`). Rows that come sorted are
/// not sorted again.
///
/// The rows kept are those not dominated, and perhaps some that are; every row dropped is
/// dominated by a kept one (the entries only prune: an extra one costs a few bounds). Two
/// kinds of dominated rows may stay:
/// - with four values or more, a row that `presumed` says is kept (true at its index; an empty
///   slice: none is), kept without a test. Proving a row not dominated is most of a filter's
///   cost (it is tested against every block that might hold a row at most it), and a cell's
///   groups keep nearly the same entries (see `Engine::last_cell`);
/// - a row whose dominator has the same first value and comes after it: rows with an equal
///   first value are not ordered by the rest of the row (2-3% of a two-device search's time).
///   Of equal rows, the first given stays.
pub(super) fn pareto_of_runs(values: &[f64], dims: usize, presumed: &[bool]) -> Vec<u32> {
    let n = values.len() / dims.max(1);
    pareto_sorting(values, dims, (0..n as u32).collect(), true, presumed)
}

fn pareto_sorting(
    values: &[f64],
    dims: usize,
    idx: Vec<u32>,
    runs: bool,
    presumed: &[bool],
) -> Vec<u32> {
    let row = |i: u32| &values[i as usize * dims..(i as usize + 1) * dims];
    // Sorting packed (first value, index) keys is much cheaper than comparing rows; runs with
    // an equal first value are then ordered by the rest of the row. A cost whose model weighs
    // few features is often equal across a cell's entries (most of them lie in such runs, of
    // up to a hundred), so a long run is sorted by packed (second value, index) keys first.
    let mut keyed: Vec<(u64, u32)> = idx.iter().map(|&i| (ordered(row(i)[0]), i)).collect();
    if !(runs && keyed.is_sorted()) {
        sort_keyed(&mut keyed);
    }
    let lexical = |&(_, a): &(u64, u32), &(_, b): &(u64, u32)| {
        let (x, y) = (row(a), row(b));
        x.iter()
            .zip(y)
            .map(|(p, q)| p.total_cmp(q))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    };
    // Rows with an equal first value stay in the order given for `pareto_of_runs`, which may
    // keep dominated rows: a row whose dominator comes after it in such a run is kept.
    for run in keyed
        .chunk_by_mut(|a, b| a.0 == b.0)
        .filter(|r| r.len() > 1 && !runs)
    {
        // A short run sorts as cheaply by comparing rows.
        if dims < 2 || run.len() <= 4 {
            run.sort_unstable_by(lexical);
            continue;
        }
        let first = run[0].0;
        for pair in run.iter_mut() {
            pair.0 = ordered(row(pair.1)[1]);
        }
        run.sort_unstable();
        for tied in run.chunk_by_mut(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
            tied.sort_unstable_by(lexical);
        }
        for pair in run.iter_mut() {
            pair.0 = first;
        }
    }
    let mut idx: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
    // Sorted lexicographically, so only earlier rows can dominate later ones.
    let mut kept: Vec<u32> = Vec::new();
    match dims {
        1 => {
            idx.truncate(1);
            return idx;
        }
        2 => {
            let mut best = f64::INFINITY;
            for i in idx {
                if row(i)[1] < best {
                    best = row(i)[1];
                    kept.push(i);
                }
            }
        }
        3 => {
            // Staircase of kept rows, (dim 1, dim 2) ordered by dim 1 with dim 2 falling.
            let mut stairs: Vec<(f64, f64)> = Vec::new();
            // The stair that dominated the last dominated row: it often dominates the next
            // one too, which then needs no binary search. A stair a later row replaces is
            // dominated by that row, so it still proves a row dominated.
            let mut last_dominator = (f64::NAN, f64::NAN);
            for i in idx {
                let (k, v) = (row(i)[1], row(i)[2]);
                if last_dominator.0 <= k && last_dominator.1 <= v {
                    continue;
                }
                let at = stairs.partition_point(|s| s.0 <= k);
                if at > 0 && stairs[at - 1].1 <= v {
                    last_dominator = stairs[at - 1];
                    continue;
                }
                let start = stairs[..at].partition_point(|s| s.0 < k);
                let end = at + stairs[at..].iter().take_while(|s| s.1 >= v).count();
                stairs.splice(start..end, [(k, v)]);
                kept.push(i);
            }
        }
        _ => {
            // Past their first value, each row against the kept ones, a block at a time.
            let mut lanes = Lanes::with_capacity(dims - 1, idx.len());
            let mut hint = usize::MAX;
            for i in idx {
                let r = &row(i)[1..];
                let presumed = presumed.get(i as usize).copied().unwrap_or(false);
                if presumed || !lanes.any_at_most(r, &mut hint) {
                    lanes.push(r);
                    kept.push(i);
                }
            }
        }
    }
    kept
}

/// Sorts packed (key, index) pairs: counted into about one bucket per two pairs by the key's
/// place in its range (a monotone map, so a bucket never holds a larger key than a later one),
/// then each bucket's few pairs sorted. The same order as a comparison sort, for fewer
/// instructions on the thousands of pairs of a filter.
pub(super) fn sort_keyed(keyed: &mut Vec<(u64, u32)>) {
    let n = keyed.len();
    let (lo, hi) = keyed
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &(k, _)| (lo.min(k), hi.max(k)));
    if n < 64 || lo >= hi {
        keyed.sort_unstable();
        return;
    }
    let buckets = n / 2;
    // Offsets from the least key, shifted to 32 bits: a u32 converts to a float in one
    // instruction, a u64 in several, and this runs twice per pair.
    let shift = (64 - (hi - lo).leading_zeros()).saturating_sub(32);
    let scale = (buckets - 1) as f64 / ((hi - lo) >> shift) as u32 as f64;
    let bucket = |k: u64| {
        let x = ((k - lo) >> shift) as u32 as f64 * scale;
        // SAFETY: `x` lies in 0..=buckets - 1 (up to rounding within that integer), which fits.
        (unsafe { x.to_int_unchecked::<u32>() } as usize).min(buckets - 1)
    };
    let mut ends = vec![0usize; buckets + 1];
    for &(k, _) in keyed.iter() {
        ends[bucket(k) + 1] += 1;
    }
    for b in 1..=buckets {
        ends[b] += ends[b - 1];
    }
    let mut out = vec![(0, 0); n];
    for &pair in keyed.iter() {
        let at = &mut ends[bucket(pair.0)];
        out[*at] = pair;
        *at += 1;
    }
    // Each bucket now ends where the next starts.
    let mut start = 0;
    for &end in &ends[..buckets] {
        if end - start > 1 {
            out[start..end].sort_unstable();
        }
        start = end;
    }
    *keyed = out;
}

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

    /// The definition: a row is kept when no other row is at most it in every value; of equal
    /// rows, the one with the lowest index stays.
    fn naive(values: &[f64], dims: usize, idx: &[u32]) -> Vec<u32> {
        let row = |i: u32| &values[i as usize * dims..(i as usize + 1) * dims];
        let mut kept: Vec<u32> = idx
            .iter()
            .copied()
            .filter(|&i| {
                !idx.iter().any(|&j| {
                    let (x, y) = (row(i), row(j));
                    y.iter().zip(x).all(|(b, a)| b <= a) && (y != x || j < i)
                })
            })
            .collect();
        kept.sort_unstable();
        kept
    }

    #[test]
    fn pareto_keeps_exactly_the_non_dominated_rows() {
        let mut r = SplitMix64::new(7);
        for case in 0..720 {
            let dims = 1 + case % 6;
            // 3,000 rows: kept ones past a lane set of groups (512 rows) in many dimensions.
            let n = [0, 1, 2, 7, 8, 9, 16, 17, 40, 150, 600, 3000][case / 6 % 12];
            // Few distinct values make ties and duplicate rows common; some cases are
            // continuous.
            let levels = [2, 3, 5, 1 << 20][case / 72 % 4];
            let values: Vec<f64> = (0..n * dims)
                .map(|_| r.below(levels) as f64 - (levels / 2) as f64)
                .collect();
            // A subset in shuffled order, as the search passes them.
            let mut idx: Vec<u32> = (0..n as u32).filter(|_| r.below(5) > 0).collect();
            for i in (1..idx.len()).rev() {
                idx.swap(i, r.below(i as u64 + 1) as usize);
            }
            let mut got = pareto(&values, dims, idx.clone());
            got.sort_unstable();
            assert_eq!(
                got,
                naive(&values, dims, &idx),
                "case {case}: {dims} dims, {n} rows"
            );
        }
    }

    /// `pareto_of_runs`: a superset of the rows not dominated, exact where nothing is presumed
    /// and no two rows share a first value.
    #[test]
    fn presumed_rows_stay_and_every_dropped_row_is_dominated_by_a_kept_one() {
        let mut r = SplitMix64::new(9);
        for case in 0..120 {
            let dims = 1 + case % 6;
            let n = [0, 5, 40, 300, 1500][case / 6 % 5];
            let levels = [3, 1 << 20][case / 60];
            let values: Vec<f64> = (0..n * dims).map(|_| r.below(levels) as f64).collect();
            let presumed: Vec<bool> = (0..n).map(|_| r.below(4) == 0).collect();
            let got = pareto_of_runs(&values, dims, &presumed);
            let row = |i: usize| &values[i * dims..(i + 1) * dims];
            let all: Vec<u32> = (0..n as u32).collect();
            let exact = naive(&values, dims, &all);
            // Every row not dominated is kept, and with four values or more every presumed one.
            assert!(exact.iter().all(|i| got.contains(i)), "case {case}");
            if dims >= 4 {
                assert!(
                    (0..n).all(|i| !presumed[i] || got.contains(&(i as u32))),
                    "case {case}"
                );
            }
            for i in (0..n).filter(|&i| !got.contains(&(i as u32))) {
                assert!(
                    got.iter()
                        .any(|&j| { row(j as usize).iter().zip(row(i)).all(|(b, a)| b <= a) }),
                    "case {case}: row {i} dropped with no kept row at most it"
                );
            }
            // Nothing presumed and no equal first values: exactly the rows not dominated.
            let mut distinct = values.clone();
            for i in 0..n {
                distinct[i * dims] = ((i * 7919) % n.max(1)) as f64;
            }
            let mut got = pareto_of_runs(&distinct, dims, &[]);
            got.sort_unstable();
            assert_eq!(got, naive(&distinct, dims, &all), "case {case}");
        }
    }

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

    #[test]
    fn bucket_sort_of_packed_keys_is_a_sort() {
        let mut r = SplitMix64::new(31);
        for case in 0..300 {
            let n = r.below(600) as usize;
            // Key ranges from a few values (many ties) to the whole of u64.
            let span = [4, 1 << 20, 1 << 40, u64::MAX][case % 4];
            let base = if span == u64::MAX {
                0
            } else {
                r.below(1 << 62)
            };
            let mut keyed: Vec<(u64, u32)> = (0..n as u32)
                .map(|i| (base + r.next_u64() % span, i))
                .collect();
            let mut want = keyed.clone();
            want.sort_unstable();
            sort_keyed(&mut keyed);
            assert_eq!(keyed, want, "case {case}");
        }
    }

    #[test]
    fn ordered_keys_sort_as_the_values_and_invert() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            3e10,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(ordered(w[0]) <= ordered(w[1]), "{} {}", w[0], w[1]);
        }
        for x in xs {
            assert_eq!(unordered(ordered(x)).to_bits(), x.to_bits());
        }
    }
}
