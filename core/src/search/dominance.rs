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
        1 => idx.truncate(1.min(idx.len())),
        2 => {
            let mut best = f64::INFINITY;
            for i in idx {
                if row(i)[1] < best {
                    best = row(i)[1];
                    kept.push(i);
                }
            }
            return kept;
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
            return kept;
        }
        _ => {}
    }
    if dims == 1 {
        return idx;
    }
    // The kept rows past their first value (which the sort already orders) in blocks of
    // `LANES` rows, one array per value, so that a row is tested against a whole block without
    // branches; unfilled lanes hold infinity and dominate nothing.
    const LANES: usize = 8;
    let width = dims - 1;
    let mut blocks: Vec<[f64; LANES]> = Vec::new();
    for i in idx {
        let r = &row(i)[1..];
        let dominated = blocks.chunks_exact(width).rev().any(|block| {
            let mut all = [true; LANES];
            for (lanes, v) in block.iter().zip(r) {
                for (a, lane) in all.iter_mut().zip(lanes) {
                    *a &= lane <= v;
                }
            }
            all.contains(&true)
        });
        if !dominated {
            let lane = kept.len() % LANES;
            if lane == 0 {
                blocks.extend(std::iter::repeat_n([f64::INFINITY; LANES], width));
            }
            let start = blocks.len() - width;
            for (lanes, v) in blocks[start..].iter_mut().zip(r) {
                lanes[lane] = *v;
            }
            kept.push(i);
        }
    }
    kept
}
