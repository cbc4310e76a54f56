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

/// Rows per block of `Lanes`.
pub(super) const LANES: usize = 8;

/// The dominance kernel: kept rows in blocks of `LANES` rows, one array per value, so that a row
/// is tested against a whole block without branches.
pub(super) struct Lanes {
    width: usize,
    blocks: Vec<[f64; LANES]>,
    /// Per block, the least of each value over its rows (`width` each).
    least: Vec<f64>,
    /// The same per group of `GROUP` blocks.
    group_least: Vec<f64>,
    rows: usize,
}

/// Blocks per group of `Lanes::group_least`.
const GROUP: usize = 8;

impl Lanes {
    /// No rows yet, of `width` values each.
    pub(super) fn new(width: usize) -> Self {
        Lanes {
            width,
            blocks: Vec::new(),
            least: Vec::new(),
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
        let lane = self.rows % LANES;
        if lane == 0 {
            self.blocks
                .extend(std::iter::repeat_n([f64::INFINITY; LANES], self.width));
        }
        if lane == 0 {
            self.least.extend_from_slice(row);
        }
        if self.rows.is_multiple_of(LANES * GROUP) {
            self.group_least.extend_from_slice(row);
        }
        let start = self.blocks.len() - self.width;
        for (lanes, v) in self.blocks[start..].iter_mut().zip(row) {
            lanes[lane] = *v;
        }
        let group_start = self.group_least.len() - self.width;
        for least in [
            &mut self.least[start..],
            &mut self.group_least[group_start..],
        ] {
            for (l, v) in least.iter_mut().zip(row) {
                *l = l.min(*v);
            }
        }
        self.rows += 1;
    }

    /// Whether some row is at most `row` in every value, newest rows first. A block, or a group
    /// of blocks, whose least values are not all at most `row` holds none: one test of `width`
    /// values skips it.
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
        let under = |least: &[f64], i: usize| {
            least[i * w..][..w]
                .iter()
                .zip(row)
                .fold(true, |all, (l, v)| all & (l <= v))
        };
        let blocks = self.blocks();
        (0..blocks.div_ceil(GROUP)).rev().any(|g| {
            under(&self.group_least, g)
                && (g * GROUP..blocks.min((g + 1) * GROUP))
                    .rev()
                    .any(|b| under(&self.least, b) && self.lanes_at_most::<W>(b, row))
        })
    }

    /// Whether block `b` holds a row at most `row` in every value (`W` as in `scan`).
    #[inline]
    fn lanes_at_most<const W: usize>(&self, b: usize, row: &[f64]) -> bool {
        let w = if W == 0 { self.width } else { W };
        self.at_most_of(&self.blocks[b * w..][..w], b, row)
            .contains(&true)
    }

    /// For each lane of block `b`: whether it holds a row that is at most `row` in every value.
    #[inline]
    pub(super) fn at_most(&self, b: usize, row: &[f64]) -> [bool; LANES] {
        self.at_most_of(&self.blocks[b * self.width..(b + 1) * self.width], b, row)
    }

    #[inline]
    fn at_most_of(&self, values: &[[f64; LANES]], b: usize, row: &[f64]) -> [bool; LANES] {
        // Unfilled lanes answer no: only the last block has any.
        let mut all = [true; LANES];
        let filled = self.rows - b * LANES;
        if filled < LANES {
            all[filled..].fill(false);
        }
        for (lanes, v) in values.iter().zip(row) {
            for (a, lane) in all.iter_mut().zip(lanes) {
                *a &= lane <= v;
            }
        }
        all
    }
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
        for case in 0..600 {
            let dims = 1 + case % 6;
            let n = [0, 1, 2, 7, 8, 9, 16, 17, 40, 150][case / 6 % 10];
            // Few distinct values make ties and duplicate rows common; some cases are
            // continuous.
            let levels = [2, 3, 5, 1 << 20][case / 60 % 4];
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
