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
    pareto_sorting(values, dims, idx, false)
}

/// `pareto` of all rows of `values`, which come sorted by the first value or in a few runs
/// each sorted by it: the entries of a cell (see `Stage::order`). The stable sort finds the
/// runs and merges them (or only checks the order), where sorting from scratch costs about as
/// much as the rest of the filter.
pub(super) fn pareto_of_runs(values: &[f64], dims: usize) -> Vec<u32> {
    let n = values.len() / dims.max(1);
    pareto_sorting(values, dims, (0..n as u32).collect(), true)
}

fn pareto_sorting(values: &[f64], dims: usize, idx: Vec<u32>, runs: bool) -> Vec<u32> {
    let row = |i: u32| &values[i as usize * dims..(i as usize + 1) * dims];
    // Sorting packed (first value, index) keys is much cheaper than comparing rows; runs with
    // an equal first value are then ordered by the rest of the row.
    let mut keyed: Vec<(u64, u32)> = idx.iter().map(|&i| (ordered(row(i)[0]), i)).collect();
    if runs {
        keyed.sort();
    } else {
        keyed.sort_unstable();
    }
    for run in keyed
        .chunk_by_mut(|a, b| a.0 == b.0)
        .filter(|r| r.len() > 1)
    {
        run.sort_unstable_by(|&(_, a), &(_, b)| {
            let (x, y) = (row(a), row(b));
            x.iter()
                .zip(y)
                .map(|(p, q)| p.total_cmp(q))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
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
            for i in idx {
                let (k, v) = (row(i)[1], row(i)[2]);
                let at = stairs.partition_point(|s| s.0 <= k);
                if at > 0 && stairs[at - 1].1 <= v {
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
            let mut lanes = Lanes::new(dims - 1);
            for i in idx {
                let r = &row(i)[1..];
                if !lanes.any_at_most(r) {
                    lanes.push(r);
                    kept.push(i);
                }
            }
        }
    }
    kept
}

/// Rows per block of `Lanes`, and items per level above it.
pub(super) const LANES: usize = 8;

/// Lanes of one value: one per row of a block, or per block (group) of a level above.
type Lane = [f64; LANES];

/// The dominance kernel: kept rows in blocks of `LANES` rows, one array per value, so that a row
/// is tested against a whole block without branches. Above the rows, two levels hold the least
/// of each value per block (eight blocks to a lane set) and per group of eight blocks (eight
/// groups to a lane set): one test of a lane set rules out eight blocks or eight groups, where
/// a test per block's or group's least values left most of a filter's time in scalar
/// comparisons and branches. Unfilled lanes hold NaN, which is at most nothing.
pub(super) struct Lanes {
    width: usize,
    /// Per block, `width` lane sets of its rows' values.
    blocks: Vec<Lane>,
    /// Per group of `LANES` blocks, `width` lane sets of each block's least values.
    block_least: Vec<Lane>,
    /// Per set of `LANES` groups, `width` lane sets of each group's least values.
    group_least: Vec<Lane>,
    rows: usize,
}

/// Appends `width` unfilled lane sets to `level` when `at` starts a new one.
fn open(level: &mut Vec<Lane>, at: usize, width: usize) {
    if at.is_multiple_of(LANES) {
        level.extend(std::iter::repeat_n([f64::NAN; LANES], width));
    }
}

impl Lanes {
    /// No rows yet, of `width` values each.
    pub(super) fn new(width: usize) -> Self {
        Lanes {
            width,
            blocks: Vec::new(),
            block_least: Vec::new(),
            group_least: Vec::new(),
            rows: 0,
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
            open(&mut self.blocks, self.rows, w);
            open(&mut self.block_least, b, w);
            if b.is_multiple_of(LANES) {
                open(&mut self.group_least, group, w);
            }
        }
        // `min` ignores the NaN of an unfilled lane.
        for (k, &v) in row.iter().enumerate() {
            self.blocks[b * w + k][lane] = v;
            let least = &mut self.block_least[group * w + k][b % LANES];
            *least = least.min(v);
            let least = &mut self.group_least[group / LANES * w + k][group % LANES];
            *least = least.min(v);
        }
        self.rows += 1;
    }

    /// Whether some row is at most `row` in every value, newest rows first. A group or a block
    /// whose least values are not all at most `row` holds none.
    pub(super) fn any_at_most(&self, row: &[f64]) -> bool {
        // The common widths get loops of a known length, unrolled.
        match self.width {
            2 => self.scan::<2>(row),
            3 => self.scan::<3>(row),
            4 => self.scan::<4>(row),
            5 => self.scan::<5>(row),
            _ => self.scan::<0>(row),
        }
    }

    /// `any_at_most` for rows of `W` values (0: of `width`).
    fn scan<const W: usize>(&self, row: &[f64]) -> bool {
        let w = if W == 0 { self.width } else { W };
        let row = &row[..w];
        let sets = |level: &[Lane], i: usize| mask_at_most(&level[i * w..][..w], row);
        let groups = self.blocks().div_ceil(LANES);
        (0..groups.div_ceil(LANES)).rev().any(|top| {
            newest_first(sets(&self.group_least, top)).any(|g| {
                let group = top * LANES + g;
                newest_first(sets(&self.block_least, group))
                    .any(|b| sets(&self.blocks, group * LANES + b) != 0)
            })
        })
    }

    /// For each lane of block `b`: whether it holds a row that is at most `row` in every value.
    #[inline]
    pub(super) fn at_most(&self, b: usize, row: &[f64]) -> [bool; LANES] {
        let mut all = at_most_of(&self.blocks[b * self.width..(b + 1) * self.width], row);
        // Rows without values have no NaN to mark the unfilled lanes.
        let filled = self.rows - b * LANES;
        if filled < LANES {
            all[filled..].fill(false);
        }
        all
    }
}

/// For each lane: whether its values are at most `row`'s (an unfilled lane's NaN is not).
#[inline]
fn at_most_of(values: &[Lane], row: &[f64]) -> [bool; LANES] {
    let bits = mask_at_most(values, row);
    std::array::from_fn(|i| bits >> i & 1 == 1)
}

/// `at_most_of` as bits, two lanes to an SSE2 comparison (every x86-64 processor has them;
/// the compiler left the lanes' comparisons scalar).
#[cfg(target_arch = "x86_64")]
#[inline]
fn mask_at_most(values: &[Lane], row: &[f64]) -> u32 {
    use std::arch::x86_64::{
        _mm_and_pd, _mm_castsi128_pd, _mm_cmple_pd, _mm_loadu_pd, _mm_movemask_pd, _mm_set1_epi64x,
        _mm_set1_pd,
    };
    // SAFETY: SSE2 is part of x86-64; each load reads two f64 of a `[f64; 8]` at offsets
    // 0, 2, 4 and 6.
    unsafe {
        let ones = _mm_castsi128_pd(_mm_set1_epi64x(-1));
        let mut all = [ones; LANES / 2];
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

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn mask_at_most(values: &[Lane], row: &[f64]) -> u32 {
    let mut all = [true; LANES];
    for (lanes, v) in values.iter().zip(row) {
        for (a, lane) in all.iter_mut().zip(lanes) {
            *a &= lane <= v;
        }
    }
    mask(all)
}

/// The lanes that answer yes, as bits.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn mask(lanes: [bool; LANES]) -> u32 {
    lanes
        .iter()
        .enumerate()
        .fold(0, |m, (i, &a)| m | u32::from(a) << i)
}

/// The set bits of `mask`, highest (newest) first.
fn newest_first(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = 31 - mask.leading_zeros() as usize;
            mask &= !(1 << i);
            i
        })
    })
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

    #[test]
    fn lanes_report_only_filled_lanes() {
        let mut lanes = Lanes::new(2);
        assert_eq!(lanes.blocks(), 0);
        for v in 0..11 {
            lanes.push(&[v as f64, 10.0 - v as f64]);
        }
        assert_eq!(lanes.blocks(), 2);
        // Every row is at most +inf, but the second block holds three rows only.
        let inf = [f64::INFINITY; 2];
        assert_eq!(lanes.at_most(0, &inf), [true; LANES]);
        assert_eq!(
            lanes.at_most(1, &inf),
            [true, true, true, false, false, false, false, false]
        );
        // Rows 2..=4 are at most (4, 8).
        let mut expected = [false; LANES];
        expected[2..=4].fill(true);
        assert_eq!(lanes.at_most(0, &[4.0, 8.0]), expected);
        // Without values, a lane answers whether it holds a row.
        let mut empty = Lanes::new(0);
        empty.push(&[]);
        assert_eq!(empty.at_most(0, &[]).iter().filter(|&&a| a).count(), 1);
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
