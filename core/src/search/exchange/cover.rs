//! What the remaining cells may add to the exchange test's two quantities, as boxes.

use super::Term;

/// A range of natural values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::search) struct Span {
    pub(in crate::search) lo: f64,
    pub(in crate::search) hi: f64,
}

impl Span {
    fn hull(self, other: Span) -> Span {
        Span {
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }
}

/// What the remaining cells may add to the two terms' quantities (natural values), as boxes
/// that hold every pair they may add. One box (the ranges of both) is the loosest cover: the
/// test must then hold at its far corners, which no network reaches, since a cell that adds
/// more NN-Degree adds more params too. Boxes along the pairs (`COVER` of them) hold at
/// corners near real ones: on the demo's problem, the programme's last states fell from
/// 13,492 (after plain dominance) to 1,640 with sixteen boxes, where one box kept 9,900. A
/// cover of several boxes leads with their hull, which the test tries first (`runs` are the
/// others).
#[derive(Debug, Clone, PartialEq)]
pub(in crate::search) struct Added(pub(super) Vec<[Span; 2]>);

/// Boxes per cover.
pub(super) const COVER: usize = 16;

impl Added {
    /// One box: the ranges of both terms.
    pub(in crate::search) fn ranges(spans: [Span; 2]) -> Self {
        Added(vec![spans])
    }

    /// At most `COVER` boxes holding every one of `points` (natural values of both terms):
    /// per run of the first term's range (`Runs`), the hull of the points in it.
    pub(in crate::search) fn cover(points: impl IntoIterator<Item = [f64; 2]>) -> Self {
        let points: Vec<[f64; 2]> = points.into_iter().collect();
        let (lo, hi) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p[0]), hi.max(p[0]))
            });
        let mut runs = Runs::new(lo, hi);
        for &[a, b] in &points {
            runs.add([Span { lo: a, hi: a }, Span { lo: b, hi: b }]);
        }
        runs.cover()
    }

    /// The natural values of `terms` over `rows` (`d` stored values each), covered.
    pub(in crate::search) fn of_rows<'a>(
        rows: impl IntoIterator<Item = &'a [f64]>,
        terms: &[Term; 2],
    ) -> Self {
        Added::cover(rows.into_iter().map(|r| terms.map(|t| t.value(r[t.key]))))
    }

    /// The boxes without the hull of them all that leads a cover of several.
    fn runs(&self) -> &[[Span; 2]] {
        &self.0[usize::from(self.0.len() > 1)..]
    }

    /// The least and the most of the boxes' least first values.
    fn first_range(&self) -> (f64, f64) {
        self.runs()
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), b| {
                (lo.min(b[0].lo), hi.max(b[0].lo))
            })
    }

    /// What `self` and then `then` add: every sum of a pair of their boxes, covered.
    pub(in crate::search) fn then(&self, then: &Added) -> Self {
        let add = |a: Span, b: Span| Span {
            lo: a.lo + b.lo,
            hi: a.hi + b.hi,
        };
        let ((a_lo, a_hi), (b_lo, b_hi)) = (self.first_range(), then.first_range());
        let mut runs = Runs::new(a_lo + b_lo, a_hi + b_hi);
        for a in self.runs() {
            for b in then.runs() {
                runs.add([add(a[0], b[0]), add(a[1], b[1])]);
            }
        }
        runs.cover()
    }

    /// What one of `alternatives` adds, each moved by its offset (a coupling), covered.
    pub(in crate::search) fn any_of<'a>(
        alternatives: impl IntoIterator<Item = (&'a Added, [f64; 2])> + Clone,
    ) -> Self {
        let moved = |s: Span, by: f64| Span {
            lo: s.lo + by,
            hi: s.hi + by,
        };
        let (lo, hi) = alternatives.clone().into_iter().fold(
            (f64::INFINITY, f64::NEG_INFINITY),
            |(lo, hi), (a, by)| {
                let (a_lo, a_hi) = a.first_range();
                (lo.min(a_lo + by[0]), hi.max(a_hi + by[0]))
            },
        );
        let mut runs = Runs::new(lo, hi);
        for (a, by) in alternatives {
            for b in a.runs() {
                runs.add([moved(b[0], by[0]), moved(b[1], by[1])]);
            }
        }
        runs.cover()
    }

    /// The hull of the boxes alone (the first box of a cover of several: see `Runs::cover`).
    pub(in crate::search) fn hull(&self) -> Self {
        Added(self.0.iter().take(1).copied().collect())
    }

    /// Nothing is added.
    pub(in crate::search) fn nothing() -> Self {
        Added(vec![[Span { lo: 0.0, hi: 0.0 }; 2]])
    }
}

/// Boxes gathered into `COVER` equal runs of a range of first values, by their least first
/// value, each run's hull: a cover in one pass, with no sort (a search builds a few thousand).
struct Runs {
    lo: f64,
    scale: f64,
    hulls: [Option<[Span; 2]>; COVER],
    /// Whether a box held a NaN, which no hull holds: then the cover is a box of NaN, where
    /// every bound fails and no row drops.
    nan: bool,
}

impl Runs {
    /// Runs over the least first values from `lo` to `hi`.
    fn new(lo: f64, hi: f64) -> Self {
        let width = hi - lo;
        Runs {
            lo,
            scale: if width > 0.0 {
                COVER as f64 / width
            } else {
                0.0
            },
            hulls: [None; COVER],
            nan: false,
        }
    }

    fn add(&mut self, b: [Span; 2]) {
        self.nan |= b.iter().any(|s| s.lo.is_nan() || s.hi.is_nan());
        // A value outside the range (by rounding) falls in an end run: a hull still holds it.
        let run = (((b[0].lo - self.lo) * self.scale) as usize).min(COVER - 1);
        let hull = &mut self.hulls[run];
        *hull = Some(match *hull {
            Some(h) => [h[0].hull(b[0]), h[1].hull(b[1])],
            None => b,
        });
    }

    /// The hull of every run (when there are several: see `Recent::beating`), then the runs'
    /// hulls alternately from both ends, where a test fails first: where what is added is
    /// least or most.
    fn cover(self) -> Added {
        if self.nan {
            return Added(vec![
                [Span {
                    lo: f64::NAN,
                    hi: f64::NAN,
                }; 2],
            ]);
        }
        let hulls: Vec<[Span; 2]> = self.hulls.into_iter().flatten().collect();
        let n = hulls.len();
        let runs = (0..n).map(|i| hulls[if i % 2 == 0 { i / 2 } else { n - 1 - i / 2 }]);
        let all = hulls
            .iter()
            .copied()
            .reduce(|a, b| [a[0].hull(b[0]), a[1].hull(b[1])]);
        Added(all.into_iter().filter(|_| n > 1).chain(runs).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A cover holds every point, every sum of a point of each of two covers, and every point
    /// of each alternative moved by its offset, in at most `COVER` boxes and their hull.
    #[test]
    fn covers_hold_what_they_cover() {
        let mut r = SplitMix64::new(15);
        let inside = |added: &Added, [a, b]: [f64; 2]| {
            added.0.len() <= COVER + 1
                && added
                    .0
                    .iter()
                    .any(|[x, y]| x.lo <= a && a <= x.hi && y.lo <= b && b <= y.hi)
        };
        let points = |r: &mut SplitMix64| -> Vec<[f64; 2]> {
            (0..1 + r.below(100))
                .map(|_| [r.unit_f32() as f64 * 10.0, r.unit_f32() as f64 * 1e3])
                .collect()
        };
        for _ in 0..50 {
            let (a, b) = (points(&mut r), points(&mut r));
            let (ca, cb) = (
                Added::cover(a.iter().copied()),
                Added::cover(b.iter().copied()),
            );
            let both = ca.then(&cb);
            let by = [r.unit_f32() as f64, -(r.unit_f32() as f64)];
            let either = Added::any_of([(&ca, [0.0; 2]), (&cb, by)]);
            for &p in &a {
                assert!(inside(&ca, p) && inside(&either, p));
                for &q in &b {
                    assert!(inside(&both, [p[0] + q[0], p[1] + q[1]]));
                }
            }
            for &q in &b {
                assert!(inside(&either, [q[0] + by[0], q[1] + by[1]]));
            }
        }
    }
}
