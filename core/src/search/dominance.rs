//! Pareto filters over rows of stored quantities (all minimised).

use super::lanes::Lanes;

/// A total order of f64 as unsigned integers (for ordered maps).
pub(super) fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

/// The inverse of `ordered`.
pub(super) fn unordered(x: u64) -> f64 {
    f64::from_bits(if x >> 63 == 1 { x & !(1 << 63) } else { !x })
}

/// Stairs the three-value filter looks at one by one, from the end, before a binary search.
const TAIL: usize = 8;

/// Keeps the indices whose value rows no other row dominates (all <=), first of equals.
pub(super) fn pareto(values: &[f64], dims: usize, idx: Vec<u32>) -> Vec<u32> {
    pareto_sorting(values, dims, idx, false, &[])
}

/// `pareto` of all rows of `values`, for filters that only prune: a cell's candidates and
/// entries, and the programme's states. Rows that come sorted by the first value (the
/// entries: see `Stage::order`) are not sorted again.
///
/// The rows kept are those not dominated, and perhaps some that are; every row dropped is
/// dominated by a kept one (an extra row costs some work later, never a result). Two kinds
/// of dominated rows may stay:
/// - with four values or more, a row that `presumed` says is kept (true at its index; an empty
///   slice: none is), kept without a test. Proving a row not dominated is most of a filter's
///   cost (it is tested against every block that might hold a row at most it), and a cell's
///   groups keep nearly the same entries (see `Engine::last_cell`);
/// - a row whose dominator has the same first value and comes after it: rows with an equal
///   first value are not ordered by the rest of the row (2-3% of a two-device search's time).
///   Of equal rows, the first given stays.
pub(super) fn pareto_for_pruning(values: &[f64], dims: usize, presumed: &[bool]) -> Vec<u32> {
    let n = values.len() / dims.max(1);
    pareto_sorting(values, dims, (0..n as u32).collect(), true, presumed)
}

fn pareto_sorting(
    values: &[f64],
    dims: usize,
    idx: Vec<u32>,
    pruning: bool,
    presumed: &[bool],
) -> Vec<u32> {
    let row = |i: u32| &values[i as usize * dims..(i as usize + 1) * dims];
    // Sorting packed (first value, index) keys is much cheaper than comparing rows; runs with
    // an equal first value are then ordered by the rest of the row. A cost whose model weighs
    // few features is often equal across a cell's entries (most of them lie in such runs, of
    // up to a hundred), so a long run is sorted by packed (second value, index) keys first.
    let mut keyed: Vec<(u64, u32)> = idx.iter().map(|&i| (ordered(row(i)[0]), i)).collect();
    if !(pruning && keyed.is_sorted()) {
        if dims == 3 && keyed.len() >= GRID_ROWS {
            drop_grid_dominated(values, &mut keyed);
        }
        sort_keyed(&mut keyed);
    }
    // For `pareto_for_pruning`, which may keep dominated rows, rows with an equal first value
    // stay in the order given: a row whose dominator comes after it in such a run is kept.
    if !pruning {
        let lexical = |&(_, a): &(u64, u32), &(_, b): &(u64, u32)| {
            let (x, y) = (row(a), row(b));
            x.iter()
                .zip(y)
                .map(|(p, q)| p.total_cmp(q))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        };
        for run in keyed
            .chunk_by_mut(|a, b| a.0 == b.0)
            .filter(|r| r.len() > 1)
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
    }
    let mut idx: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
    // Sorted lexicographically (for `pareto_for_pruning`, by the first value only), so only earlier
    // rows can dominate later ones (for `pareto_for_pruning`, perhaps later ones too: kept).
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
                // Where the stairs past `k` in dim 1 start: looked for among the last few
                // first, then by binary search. In the programme's filters the staircase stays
                // short and a row's stair is mostly among the last (rows come by their first
                // value, a cost, which grows with the others): there the binary search's
                // dependent steps cost 3-5% of a one-device search.
                let tail = stairs.len().saturating_sub(TAIL);
                let at = match stairs[tail..].iter().rposition(|s| s.0 <= k) {
                    Some(p) => tail + p + 1,
                    None => stairs[..tail].partition_point(|s| s.0 <= k),
                };
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

/// Rows from which a filter of three values first drops those its grid proves dominated.
const GRID_ROWS: usize = 2048;

/// Cells of that grid per side: fewer prove less, more cost more to sum up (on the demo's
/// measured problem, 48 and 128 saved less time than 64).
const GRID: usize = 64;

// A row's cell, and the cell apart past the grid, are kept in a u16.
const _: () = assert!(GRID * GRID < u16::MAX as usize);

/// Drops from `keyed` (packed keys of rows of three values) the rows that a grid over the
/// first two values proves dominated, keeping the others' order. Each row falls in a cell by
/// its first two values (a monotone map: a row in a lower cell than another is less in that
/// value), so a row with another in a cell below its own in both whose third value is at most
/// its own is strictly dominated. Three passes and no sort: of the programme's rows, most are
/// dominated, many by a wide margin, and the grid drops most of those before the sort (on the
/// demo's measured problem, 87k rows to 30k, for 6-7% of the search's time). With four values
/// or more the filter's own test of a dominated row is cheap (most are proved by the block
/// that proved the last one), and a grid over three of them saved nothing.
fn drop_grid_dominated(values: &[f64], keyed: &mut Vec<(u64, u32)>) {
    let row = |i: u32| -> [f64; 3] {
        let r = &values[i as usize * 3..][..3];
        [r[0], r[1], r[2]]
    };
    // A NaN moves no bound; an infinite bound gives no scale below.
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for &(_, i) in keyed.iter() {
        let r = row(i);
        for k in 0..2 {
            lo[k] = lesser(r[k], lo[k]);
            hi[k] = if r[k] > hi[k] { r[k] } else { hi[k] };
        }
    }
    let scale = [0, 1].map(|k| GRID as f64 / (hi[k] - lo[k]));
    if !scale.iter().all(|s| s.is_finite() && *s > 0.0) {
        return;
    }
    // A row with a value that is not finite goes to a cell of its own, past the grid, which
    // proves nothing and is proven nothing.
    let apart = GRID * GRID;
    let top = (GRID - 1) as f64;
    let mut least = vec![f64::INFINITY; apart + 1];
    let mut cells: Vec<u16> = Vec::with_capacity(keyed.len());
    for &(_, i) in keyed.iter() {
        let r = row(i);
        let at = |k: usize| {
            let x = lesser((r[k] - lo[k]) * scale[k], top);
            // SAFETY: `x` lies in 0..=GRID - 1, as `r[k]` is at least `lo[k]`.
            unsafe { x.to_int_unchecked::<u32>() as usize }
        };
        let cell = if (r[0] + r[1] + r[2]).is_finite() {
            at(0) * GRID + at(1)
        } else {
            apart
        };
        least[cell] = lesser(r[2], least[cell]);
        cells.push(cell as u16);
    }
    // Each cell's least third value over the cells at most it in both places, and so each
    // cell's over the cells below it in both (`below`; none for the lowest row and column).
    let mut below = vec![f64::INFINITY; apart + 1];
    for a in 0..GRID {
        for b in 0..GRID {
            let mut m = least[a * GRID + b];
            if a > 0 {
                m = lesser(m, least[(a - 1) * GRID + b]);
            }
            if b > 0 {
                m = lesser(m, least[a * GRID + b - 1]);
            }
            least[a * GRID + b] = m;
            if a + 1 < GRID && b + 1 < GRID {
                below[(a + 1) * GRID + b + 1] = m;
            }
        }
    }
    let mut kept = 0;
    for j in 0..keyed.len() {
        let pair = keyed[j];
        keyed[kept] = pair;
        // A NaN third value is never at least a bound: not dominated.
        let dominated = below[cells[j] as usize] <= row(pair.1)[2];
        kept += usize::from(!dominated);
    }
    keyed.truncate(kept);
}

/// `a` where it is less than `b`, else `b` (so `b` where `a` is NaN): one instruction, where
/// `f64::min` takes several for NaN, in the grid's loops over every row.
#[inline(always)]
fn lesser(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
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

    /// `pareto_for_pruning`: a superset of the rows not dominated, exact where nothing is presumed
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
            let got = pareto_for_pruning(&values, dims, &presumed);
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
            let mut got = pareto_for_pruning(&distinct, dims, &[]);
            got.sort_unstable();
            assert_eq!(got, naive(&distinct, dims, &all), "case {case}");
        }
    }

    /// The grid drops only rows that another row strictly dominates, keeps the others in
    /// their order, and drops most of a cloud of rows where most are dominated by a margin.
    #[test]
    fn the_grid_drops_only_strictly_dominated_rows_in_order() {
        let mut r = SplitMix64::new(41);
        for case in 0..40 {
            let n = [2048, 2500, 4000, 6000][case % 4];
            // A cloud spread along a surface (most rows far above it), few levels (ties and
            // equal rows), or rows with values that are not finite among them.
            let kind = case / 4 % 3;
            let mut values = Vec::with_capacity(n * 3);
            for _ in 0..n {
                let (x, y) = (r.unit_f32() as f64, r.unit_f32() as f64);
                let z = match kind {
                    0 => 2.0 - x - y + r.unit_f32() as f64,
                    _ => r.below(4) as f64,
                };
                let row = if kind == 1 {
                    [r.below(5) as f64, r.below(3) as f64, z]
                } else {
                    [x * 100.0, y - 7.0, z]
                };
                values.extend(row);
            }
            if kind == 2 {
                for i in 0..n / 50 {
                    let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][i % 3];
                    values[r.below(n as u64 * 3) as usize] = special;
                }
            }
            let mut keyed: Vec<(u64, u32)> = (0..n as u32).map(|i| (i as u64 * 3, i)).collect();
            for i in (1..n).rev() {
                keyed.swap(i, r.below(i as u64 + 1) as usize);
            }
            let given = keyed.clone();
            drop_grid_dominated(&values, &mut keyed);
            let row = |i: u32| &values[i as usize * 3..][..3];
            let mut kept = keyed.iter().peekable();
            for pair in &given {
                if kept.peek() == Some(&pair) {
                    kept.next();
                    continue;
                }
                let (_, i) = *pair;
                let beaten = (0..n as u32).any(|j| {
                    let (a, b) = (row(j), row(i));
                    a[0] < b[0] && a[1] < b[1] && a[2] <= b[2]
                });
                assert!(beaten, "case {case}: row {i} {:?} dropped", row(i));
            }
            assert!(kept.next().is_none(), "case {case}: the order changed");
            if kind == 0 {
                assert!(
                    keyed.len() < n / 2,
                    "case {case}: {} of {n} kept",
                    keyed.len()
                );
            }
        }
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
