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
    let row = |i: u32| &values[i as usize * dims..(i as usize + 1) * dims];
    // Sorting packed (first value, index) keys is much cheaper than comparing rows; runs with
    // an equal first value are then ordered by the rest of the row.
    let mut keyed: Vec<(u64, u32)> = idx.iter().map(|&i| (ordered(row(i)[0]), i)).collect();
    keyed.sort_unstable();
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
                if !(0..lanes.blocks())
                    .rev()
                    .any(|b| lanes.at_most(b, r).contains(&true))
                {
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
    rows: usize,
}

impl Lanes {
    /// No rows yet, of `width` values each.
    pub(super) fn new(width: usize) -> Self {
        Lanes {
            width,
            blocks: Vec::new(),
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
        let start = self.blocks.len() - self.width;
        for (lanes, v) in self.blocks[start..].iter_mut().zip(row) {
            lanes[lane] = *v;
        }
        self.rows += 1;
    }

    /// For each lane of block `b`: whether it holds a row that is at most `row` in every value.
    #[inline]
    pub(super) fn at_most(&self, b: usize, row: &[f64]) -> [bool; LANES] {
        // Unfilled lanes answer no: only the last block has any.
        let mut all = [true; LANES];
        let filled = self.rows - b * LANES;
        if filled < LANES {
            all[filled..].fill(false);
        }
        for (lanes, v) in self.blocks[b * self.width..(b + 1) * self.width]
            .iter()
            .zip(row)
        {
            for (a, lane) in all.iter_mut().zip(lanes) {
                *a &= lane <= v;
            }
        }
        all
    }
}
