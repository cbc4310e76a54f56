//! Fronts kept while the last cell is searched, and the grid that rules points out quickly.

use super::programme::Network;

/// A point of a front.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    cost: f64,
    merit: f64,
    pub(super) network: Network,
}

/// A front of feasible complete networks in (cost at `key`, -merit), while the last cell is
/// searched: the points its shadow could not rule out, and the shadow. The front is taken from
/// the points once, at the end (`Front::staircase`). The shadow alone rules points out: over
/// a grid spanning the networks searched, a search of the staircase so far would rule out
/// under one in a hundred of the points it misses, and its unpredictable branches cost more
/// time than that saves (4-6% of a search).
pub(super) struct Front {
    key: usize,
    points: Vec<Point>,
    shadow: Shadow,
}

impl Front {
    /// Whether an added point is better than (cost in `q`, `merit`) or as good: yes proves it,
    /// no proves nothing (see `Shadow::covers`).
    pub(super) fn dominated(&self, q: &[f64], merit: f64) -> bool {
        self.shadow.covers(q, merit)
    }

    pub(super) fn new(key: usize, shadow: Shadow) -> Self {
        Front {
            key,
            points: Vec::new(),
            shadow,
        }
    }

    pub(super) fn insert(&mut self, q: &[f64], merit: f64, network: Network) {
        if self.dominated(q, merit) {
            return;
        }
        self.points.push(Point {
            cost: q[self.key],
            merit,
            network,
        });
        self.shadow.add(q, merit);
    }

    /// The front's networks: the points no other is at least as good as, ordered by cost with
    /// merit rising (the earliest of equal points stays).
    pub(super) fn staircase(mut self) -> Vec<Network> {
        // Stable: equal points keep the order they came in.
        self.points
            .sort_by(|a, b| a.cost.total_cmp(&b.cost).then(b.merit.total_cmp(&a.merit)));
        let mut best = f64::NEG_INFINITY;
        self.points
            .into_iter()
            .filter(|p| {
                let rises = p.merit > best;
                best = best.max(p.merit);
                rises
            })
            .map(|p| p.network)
            .collect()
    }
}

/// A constant-time, one-sided dominance test over one or two costs: a grid whose cell holds the
/// best merit of the points added with every cost strictly below the cell's lower corner.
/// `covers` answering yes proves that an added point dominates; no proves nothing.
pub(super) struct Shadow {
    /// How many costs: one or two.
    axes_used: usize,
    /// Per axis (one or two), the quantity's key, the grid's lower end and cells per unit.
    /// Fixed arrays, not vectors: `covers` runs a million times a search, and the vectors'
    /// bounds checks and loads were a third of its instructions.
    axes: [(usize, f64, f64); 2],
    /// The last cell along an axis, as a float (a conversion per test otherwise).
    last: f64,
    bins: usize,
    best: Vec<f64>,
}

impl Shadow {
    /// A grid over `keys` spanning `lo..hi` (values outside still work, with less effect).
    pub(super) fn new(keys: &[usize], lo: &[f64], hi: &[f64]) -> Self {
        assert!(matches!(keys.len(), 1 | 2), "a shadow has one or two costs");
        // A finer grid over two costs rules out more boxes than its larger fills cost (32 per
        // axis left 3-8% more instructions in two-device searches).
        let bins: usize = if keys.len() == 1 { 1024 } else { 128 };
        let mut axes = [(keys[0], 0.0, 0.0); 2];
        for (axis, &k) in axes.iter_mut().zip(keys) {
            let span = hi[k] - lo[k];
            let scale = if span > 0.0 && span.is_finite() {
                bins as f64 / span
            } else {
                0.0
            };
            *axis = (k, lo[k], scale);
        }
        Shadow {
            best: vec![f64::NEG_INFINITY; bins.pow(keys.len() as u32)],
            axes_used: keys.len(),
            axes,
            last: (bins - 1) as f64,
            bins,
        }
    }

    /// The quantity of axis `i`.
    pub(super) fn key(&self, i: usize) -> usize {
        self.axes[i].0
    }

    /// Grid coordinate of `q` along axis `i`, before flooring.
    #[inline(always)]
    fn coordinate(&self, q: &[f64], i: usize) -> f64 {
        let (k, lo, scale) = self.axes[i];
        (q[k] - lo) * scale
    }

    /// Along axis `i`, the cell whose lower corner is at or below `q` (none below the grid or
    /// for NaN, which `x >= 0` excludes).
    #[inline(always)]
    fn cell(&self, q: &[f64], i: usize) -> Option<usize> {
        let x = self.coordinate(q, i);
        if x >= 0.0 {
            // SAFETY: `x` is at least 0 and, capped, at most `last`: it fits a u32.
            Some(unsafe { x.min(self.last).to_int_unchecked::<u32>() } as usize)
        } else {
            None
        }
    }

    pub(super) fn covers(&self, q: &[f64], merit: f64) -> bool {
        // One or two axes, written out (a loop over the axes cost several times the test).
        let at = if self.axes_used == 1 {
            self.cell(q, 0)
        } else {
            self.cell(q, 0)
                .zip(self.cell(q, 1))
                .map(|(a, b)| a * self.bins + b)
        };
        at.is_some_and(|at| self.best[at] >= merit)
    }

    pub(super) fn add(&mut self, q: &[f64], merit: f64) {
        let n = self.bins;
        // The first cell along each axis whose lower corner is strictly above `q`.
        let mut first = [0; 2];
        for (i, f) in first.iter_mut().enumerate().take(self.axes_used) {
            let x = self.coordinate(q, i);
            if x.is_nan() {
                return;
            }
            *f = if x < 0.0 {
                0
            } else {
                (x as usize).saturating_add(1)
            };
            if *f >= n {
                return;
            }
        }
        // Cells only grow along each axis, so each row fills a prefix and the rows stop at
        // the first that needs nothing.
        let rows = if self.axes_used == 1 {
            0..1
        } else {
            first[0]..n
        };
        let column = first[self.axes_used - 1];
        for r in rows {
            let row = &mut self.best[r * n..(r + 1) * n];
            if row[column] >= merit {
                break;
            }
            for b in &mut row[column..] {
                if *b >= merit {
                    break;
                }
                *b = merit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn network(i: usize) -> Network {
        Network {
            state: i as u32,
            candidate: 0,
        }
    }

    /// The definition: the points no other is at least as good as in cost and merit, the
    /// earliest of equal ones staying; ordered by cost.
    fn naive(all: &[Point]) -> Vec<Point> {
        let mut front: Vec<Point> = all
            .iter()
            .enumerate()
            .filter(|&(i, p)| {
                !all.iter().enumerate().any(|(j, q)| {
                    q.cost <= p.cost
                        && q.merit >= p.merit
                        && ((q.cost, q.merit) != (p.cost, p.merit) || j < i)
                })
            })
            .map(|(_, p)| *p)
            .collect();
        front.sort_by(|a, b| a.cost.total_cmp(&b.cost));
        front
    }

    /// Costs and merits on a few levels, so that ties are common.
    fn point(r: &mut SplitMix64, i: usize) -> Point {
        Point {
            cost: r.below(12) as f64,
            merit: r.below(12) as f64 / 4.0,
            network: network(i),
        }
    }

    #[test]
    fn inserted_points_leave_the_front_of_them_all() {
        let mut r = SplitMix64::new(4);
        for case in 0..200 {
            // Some costs outside the shadow's grid.
            let mut front = Front::new(1, Shadow::new(&[1], &[0.0, 2.0], &[0.0, 9.0]));
            let all: Vec<Point> = (0..r.below(300) as usize)
                .map(|i| point(&mut r, i))
                .collect();
            for p in &all {
                front.insert(&[f64::NAN, p.cost], p.merit, p.network);
            }
            let want: Vec<Network> = naive(&all).iter().map(|p| p.network).collect();
            assert_eq!(front.staircase(), want, "case {case}");
        }
    }

    /// Whether an added point is strictly below `q` in every cost and at least `merit`.
    fn strictly_dominated(added: &[(Vec<f64>, f64)], q: &[f64], merit: f64) -> bool {
        added
            .iter()
            .any(|(p, m)| p.iter().zip(q).all(|(a, b)| a < b) && *m >= merit)
    }

    #[test]
    fn shadow_covers_only_what_an_added_point_dominates() {
        let mut r = SplitMix64::new(5);
        let mut covered = 0;
        for case in 0..400 {
            let keys = 1 + case % 2;
            let (lo, hi) = (vec![1.0; keys], vec![5.0; keys]);
            let mut shadow = Shadow::new(&(0..keys).collect::<Vec<_>>(), &lo, &hi);
            // Values a little outside the grid too, and NaN now and then.
            let value = |r: &mut SplitMix64| {
                if r.below(50) == 0 {
                    f64::NAN
                } else {
                    r.unit_f32() as f64 * 6.0
                }
            };
            let mut added: Vec<(Vec<f64>, f64)> = Vec::new();
            for _ in 0..r.below(20) {
                let q: Vec<f64> = (0..keys).map(|_| value(&mut r)).collect();
                let merit = r.unit_f32() as f64;
                shadow.add(&q, merit);
                added.push((q, merit));
            }
            for _ in 0..50 {
                let q: Vec<f64> = (0..keys).map(|_| value(&mut r)).collect();
                let merit = r.unit_f32() as f64;
                if shadow.covers(&q, merit) {
                    assert!(strictly_dominated(&added, &q, merit), "case {case}");
                    covered += 1;
                }
            }
        }
        assert!(covered > 2000, "{covered}");
    }

    #[test]
    fn shadow_covers_points_a_cell_behind_an_added_one() {
        for keys in [1, 2] {
            let cell = 4.0 / if keys == 1 { 1024.0 } else { 32.0 };
            let mut shadow = Shadow::new(&(0..keys).collect::<Vec<_>>(), &[1.0; 2], &[5.0; 2]);
            let p = vec![2.0; keys];
            shadow.add(&p, 0.5);
            let behind: Vec<f64> = p.iter().map(|v| v + 2.0 * cell).collect();
            assert!(shadow.covers(&behind, 0.5));
            assert!(
                !shadow.covers(&behind, 0.6),
                "a better merit is not covered"
            );
            assert!(!shadow.covers(&p, 0.5), "nor is the point itself");
            let beside: Vec<f64> = (0..keys)
                .map(|i| if i == 0 { 1.5 } else { behind[i] })
                .collect();
            assert!(
                !shadow.covers(&beside, 0.1),
                "nor a point cheaper in one cost"
            );
        }
    }
}
