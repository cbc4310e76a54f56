//! The exchange test: dropping a network that another beats by trading NN-Degree against
//! params, whatever the remaining cells add.

mod cover;
mod kernel;

pub(super) use cover::{Added, Span};

use super::dominance::{ordered, sort_keyed};
use crate::fit::DegreeTerm;
use kernel::{Ends, Scan};

/// One term of accuracy as a function of a summed quantity: `coefficient * T(natural value)`.
#[derive(Clone, Copy)]
pub(super) struct Term {
    /// Index among the quantities, and the sign from stored to natural value.
    pub(super) key: usize,
    pub(super) sign: f64,
    /// The transform (`None`: the natural logarithm of params).
    pub(super) degree: Option<DegreeTerm>,
    pub(super) coefficient: f64,
}

impl Term {
    fn concave(&self) -> bool {
        match self.degree {
            Some(DegreeTerm::Reciprocal) => self.coefficient <= 0.0,
            _ => self.coefficient >= 0.0,
        }
    }

    /// Whether the term's change is bounded with the beating row's slopes (a concave term's)
    /// rather than the beaten row's (see `Tangents`). A linear term's slope is the same for
    /// both: it takes the beaten row's, which need not be kept in lanes.
    fn by_beater(&self) -> bool {
        self.concave() && !matches!(self.degree, Some(DegreeTerm::Linear))
    }

    /// The natural range of stored values from `lo` to `hi`.
    pub(super) fn natural(&self, lo: f64, hi: f64) -> Span {
        if self.sign > 0.0 {
            Span {
                lo: lo * self.sign,
                hi: hi * self.sign,
            }
        } else {
            Span {
                lo: hi * self.sign,
                hi: lo * self.sign,
            }
        }
    }

    /// A stored value's natural value.
    pub(super) fn value(&self, stored: f64) -> f64 {
        stored * self.sign
    }
}

/// Of the rows `idx` (into `rows`, `d` values each), drops those that a kept row beats whatever
/// the remaining cells add, when accuracy depends on both NN-Degree and params: a row with
/// more NN-Degree and fewer params (or the reverse) beats another when it is no worse in every
/// other quantity and, in every box of what may be added (`added`, natural values), the
/// tangent bounds of the two accuracy terms sum to a gain. Each bound is a sufficient test of
/// a strict order, so every dropped row has a kept one that beats it. The rows kept stay in
/// `idx`'s order.
pub(super) fn exchange_pareto(
    rows: &[f64],
    d: usize,
    terms: [Term; 2],
    added: &Added,
    idx: Vec<u32>,
) -> Vec<u32> {
    exchange_counted(rows, d, terms, added, idx).0
}

/// `exchange_pareto`, and how many rows only the boxes of a cover dropped (its hull did not).
fn exchange_counted(
    rows: &[f64],
    d: usize,
    terms: [Term; 2],
    added: &Added,
    idx: Vec<u32>,
) -> (Vec<u32>, usize) {
    let others: Vec<usize> = (0..d)
        .filter(|&k| terms.iter().all(|t| t.key != k))
        .collect();
    let row = |i: u32| &rows[i as usize * d..(i as usize + 1) * d];
    // By the first other quantity, so that a row can only be beaten by earlier ones (or by
    // an equal one, which may be missed: then both stay).
    let mut order: Vec<u32> = (0..idx.len() as u32).collect();
    if let Some(&first) = others.first() {
        // Packed (value, position) keys sort as the stable sort by value would, and cheaper.
        let mut keyed: Vec<(u64, u32)> = order
            .iter()
            .map(|&p| (ordered(row(idx[p as usize])[first]), p))
            .collect();
        sort_keyed(&mut keyed);
        order = keyed.into_iter().map(|(_, p)| p).collect();
    }
    let ends = Ends::of(added);
    let scan = Scan {
        rows,
        d,
        terms,
        ends: &ends,
        others: &others,
    };
    let mut kept = vec![false; idx.len()];
    let box_by_box = scan.run(&idx, &order, &mut kept);
    // In the order given: a caller's order (the Pareto filter's, by the first quantity) stays.
    let kept = idx
        .into_iter()
        .zip(kept)
        .filter_map(|(i, k)| k.then_some(i))
        .collect();
    (kept, box_by_box)
}

/// `exchange_pareto` over a series of row sets, given up once a set drops under `share` of its
/// rows, after `sample` rows in all: the test costs about what their Pareto filter does, and
/// in some searches drops a few rows only (it only prunes, so the search's result is the same
/// without it).
pub(super) struct Sparing {
    on: bool,
    /// Whether covers are tested box by box, or over their hull alone: once, after the
    /// sample, their boxes have dropped under `BOX_SHARE` of the rows that the hull did not.
    boxes: bool,
    share: f64,
    sample: usize,
    tested: usize,
    box_by_box: usize,
}

/// The share of rows below which testing box by box costs more than it saves: a test over
/// sixteen boxes costs several over one (on the bench's problems with ln(params) and a
/// linear NN-Degree term, the boxes dropped almost none).
const BOX_SHARE: f64 = 0.1;

impl Sparing {
    /// For a cell's candidates and the entries into a cell's group: a row dropped there saves
    /// less than its test costs under a third (with a tenth, 2dev-trade-off-log-params took 4%
    /// more instructions, and no bench problem fewer).
    pub(super) fn for_candidates_and_entries() -> Self {
        Sparing::new(1.0 / 3.0, 0)
    }

    /// For the programme's states of one cell, a set per width: a state dropped saves its
    /// entries into every group of the next cell, worth a test down to about a tenth; the
    /// first width's states, which drop fewest, do not decide alone.
    pub(super) fn for_states() -> Self {
        Sparing::new(0.1, 2000)
    }

    fn new(share: f64, sample: usize) -> Self {
        Sparing {
            on: true,
            boxes: true,
            share,
            sample,
            tested: 0,
            box_by_box: 0,
        }
    }

    /// `exchange_pareto` of `idx`, or `idx` itself once given up.
    pub(super) fn filter(
        &mut self,
        rows: &[f64],
        d: usize,
        terms: [Term; 2],
        added: &Added,
        idx: Vec<u32>,
    ) -> Vec<u32> {
        if !self.on {
            return idx;
        }
        let before = idx.len();
        let hull;
        let added = if self.boxes {
            added
        } else {
            hull = added.hull();
            &hull
        };
        let (kept, box_by_box) = exchange_counted(rows, d, terms, added, idx);
        self.tested += before;
        self.box_by_box += box_by_box;
        if self.tested >= self.sample {
            self.on = ((before - kept.len()) as f64) >= self.share * before as f64;
            self.boxes &= self.box_by_box as f64 >= BOX_SHARE * self.tested as f64;
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The accuracy terms at natural values `g` and `p`: `b T(g) + c ln(p)`.
    fn accuracy(terms: &[Term; 2], g: f64, p: f64) -> f64 {
        let t = terms[0].degree.unwrap();
        terms[0].coefficient * t.apply(g) + terms[1].coefficient * p.ln()
    }

    /// Rows (stored NN-Degree, stored params, two costs) on random forms of both signs, against
    /// points that may be added, which grow together (as cells' NN-Degree and params do), as
    /// one box or covered along them: each dropped row is beaten by a kept one at every point.
    #[test]
    fn every_dropped_row_is_beaten_whatever_is_added() {
        let mut r = SplitMix64::new(13);
        let (mut dropped, mut rows_in) = ([0; 2], 0);
        for case in 0..300 {
            let unit = |r: &mut SplitMix64| r.unit_f32() as f64;
            // NN-Degree's coefficient has the sign that makes accuracy grow with it or fall.
            let (degree, b) = match case % 4 {
                0 => (DegreeTerm::Linear, 0.01 * unit(&mut r)),
                1 => (DegreeTerm::Log, 0.05 * unit(&mut r)),
                2 => (DegreeTerm::Reciprocal, -0.5 * unit(&mut r)),
                _ => (DegreeTerm::Log, -0.05 * unit(&mut r)),
            };
            let falls = b * degree.apply(2.0) < b * degree.apply(1.0);
            let c = if r.below(2) == 0 { 0.03 } else { -0.03 } * unit(&mut r);
            // Stored so that smaller is better.
            let terms = [
                Term {
                    key: 0,
                    sign: if falls { 1.0 } else { -1.0 },
                    degree: Some(degree),
                    coefficient: b,
                },
                Term {
                    key: 1,
                    sign: if c > 0.0 { -1.0 } else { 1.0 },
                    degree: None,
                    coefficient: c,
                },
            ];
            let n = 1 + r.below(60) as usize;
            let natural: Vec<[f64; 4]> = (0..n)
                .map(|_| {
                    [
                        2.0 + 18.0 * unit(&mut r),
                        1e3 * (1.0 + 9.0 * unit(&mut r)),
                        r.below(3) as f64,
                        r.below(3) as f64,
                    ]
                })
                .collect();
            let rows: Vec<f64> = natural
                .iter()
                .flat_map(|x| [x[0] * terms[0].sign, x[1] * terms[1].sign, x[2], x[3]])
                .collect();
            let points: Vec<[f64; 2]> = (0..1 + r.below(200))
                .map(|_| {
                    let size = unit(&mut r);
                    [
                        1.0 + 10.0 * size + unit(&mut r),
                        500.0 + 2e4 * size * (0.9 + 0.2 * unit(&mut r)),
                    ]
                })
                .collect();
            let hull = [0, 1].map(|t| {
                let values = points.iter().map(|p| p[t]);
                Span {
                    lo: values.clone().fold(f64::INFINITY, f64::min),
                    hi: values.fold(f64::NEG_INFINITY, f64::max),
                }
            });
            let covers = [Added::ranges(hull), Added::cover(points.iter().copied())];
            for (way, added) in covers.iter().enumerate() {
                let kept = exchange_pareto(&rows, 4, terms, added, (0..n as u32).collect());
                rows_in += n;
                dropped[way] += n - kept.len();
                for x in (0..n).filter(|i| !kept.contains(&(*i as u32))) {
                    let x = &natural[x];
                    let beaten_by = |y: &[f64; 4]| {
                        y[2] <= x[2]
                            && y[3] <= x[3]
                            && points.iter().all(|[a, q]| {
                                accuracy(&terms, y[0] + a, y[1] + q)
                                    > accuracy(&terms, x[0] + a, x[1] + q)
                            })
                    };
                    assert!(
                        kept.iter().any(|&y| beaten_by(&natural[y as usize])),
                        "case {case}: {x:?}"
                    );
                }
            }
        }
        assert!(dropped[0] * 20 > rows_in, "{dropped:?} of {rows_in}");
        assert!(dropped[1] >= dropped[0], "{dropped:?} of {rows_in}");
    }

    /// Terms (NN-Degree's reciprocal, rewarded; params' logarithm, a cost) and two rows, the
    /// beater first, of which one beats the other at both of two points that may be added, a
    /// small cell and a large one, but not at the far corner of their ranges (the large cell's
    /// NN-Degree with the small one's params); with the two points covered, and their hull.
    fn beaten_along_the_points() -> ([Term; 2], [f64; 6], Added, Added) {
        let terms = [
            Term {
                key: 0,
                sign: -1.0,
                degree: Some(DegreeTerm::Reciprocal),
                coefficient: -0.5,
            },
            Term {
                key: 1,
                sign: 1.0,
                degree: None,
                coefficient: -0.03,
            },
        ];
        // Stored NN-Degree (negated: more is better), params, a cost.
        let rows = [-6.0, 2600.0, 0.0, -5.0, 2000.0, 0.0];
        let cover = Added::cover([[1.0, 500.0], [11.0, 20500.0]]);
        assert_eq!(cover.0.len(), 3, "the hull and a box per point");
        let hull = cover.hull();
        (terms, rows, cover, hull)
    }

    /// Covered by points, the beaten row drops; by one box, it stays.
    #[test]
    fn a_cover_along_the_points_drops_what_one_box_keeps() {
        let (terms, rows, cover, hull) = beaten_along_the_points();
        assert_eq!(exchange_pareto(&rows, 3, terms, &cover, vec![0, 1]), [0]);
        assert_eq!(exchange_pareto(&rows, 3, terms, &hull, vec![0, 1]), [0, 1]);
    }

    /// Sparing tests box by box while the boxes drop a tenth of the rows the hull keeps, and
    /// over the hull alone once, after the sample, they have dropped fewer.
    #[test]
    fn sparing_tests_box_by_box_while_the_boxes_drop_rows() {
        let (terms, rows, cover, _) = beaten_along_the_points();
        let mut sparing = Sparing::new(0.0, 0);
        assert_eq!(sparing.filter(&rows, 3, terms, &cover, vec![0, 1]), [0]);
        assert_eq!(sparing.filter(&rows, 3, terms, &cover, vec![0, 1]), [0]);
        // Rows far apart in the cost drop none, by the hull or the boxes: thirty of them bring
        // what the boxes dropped (2 rows) under a tenth of the rows tested (34).
        let apart: Vec<f64> = (0..30)
            .flat_map(|i| [-6.0, 2600.0, -f64::from(i)])
            .collect();
        let all = (0..30).collect::<Vec<u32>>();
        assert_eq!(sparing.filter(&apart, 3, terms, &cover, all.clone()), all);
        assert_eq!(sparing.filter(&rows, 3, terms, &cover, vec![0, 1]), [0, 1]);
    }

    /// The scan compiled for AVX keeps what the plain one keeps.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx_scan_keeps_what_the_plain_scan_keeps() {
        if !std::arch::is_x86_feature_detected!("avx") {
            panic!("this check needs a processor with AVX");
        }
        let mut r = SplitMix64::new(21);
        let (terms, _, _, _) = beaten_along_the_points();
        let mut dropped = 0;
        for _ in 0..50 {
            let n = 1 + r.below(300) as usize;
            let rows: Vec<f64> = (0..n)
                .flat_map(|_| {
                    let size = r.unit_f32() as f64;
                    [
                        -(2.0 + 18.0 * size + r.unit_f32() as f64),
                        1e3 * (1.0 + 30.0 * size * (0.5 + r.unit_f32() as f64)),
                        r.below(20) as f64,
                    ]
                })
                .collect();
            let points: Vec<[f64; 2]> = (0..50)
                .map(|_| {
                    let size = r.unit_f32() as f64;
                    [1.0 + 10.0 * size, 500.0 + 2e4 * size]
                })
                .collect();
            let added = Added::cover(points);
            let idx: Vec<u32> = (0..n as u32).collect();
            let kept = exchange_pareto(&rows, 3, terms, &added, idx.clone());
            let others = [2];
            let ends = Ends::of(&added);
            let scan = Scan {
                rows: &rows,
                d: 3,
                terms,
                ends: &ends,
                others: &others,
            };
            let mut order = idx.clone();
            order.sort_by(|&a, &b| rows[a as usize * 3 + 2].total_cmp(&rows[b as usize * 3 + 2]));
            let mut plain = vec![false; n];
            scan.run_lanes::<false>(&idx, &order, &mut plain);
            let plain: Vec<u32> = idx.iter().copied().filter(|&i| plain[i as usize]).collect();
            assert_eq!(kept, plain);
            dropped += n - kept.len();
        }
        assert!(dropped > 0);
    }

    /// Sparing gives the test up once a set, after the sample, drops under its share of rows,
    /// and then passes every later set through untested.
    #[test]
    fn sparing_gives_up_after_the_sample_on_a_set_that_drops_few() {
        // Stored NN-Degree and params (both negated: more is better) and a cost: the second
        // row has a little more params but far less NN-Degree, so the first beats it.
        let beaten = [-20.0, -1000.0, 0.0, -2.0, -1010.0, 0.0];
        let apart = [-20.0, -1000.0, 0.0, -2.0, -1010.0, -1.0];
        let terms = [
            Term {
                key: 0,
                sign: -1.0,
                degree: Some(DegreeTerm::Linear),
                coefficient: 0.01,
            },
            Term {
                key: 1,
                sign: -1.0,
                degree: None,
                coefficient: 0.03,
            },
        ];
        let added = &Added::ranges([Span { lo: 0.0, hi: 100.0 }; 2]);
        let both = || vec![0, 1];
        assert_eq!(exchange_pareto(&beaten, 3, terms, added, both()), [0]);
        assert_eq!(exchange_pareto(&apart, 3, terms, added, both()), [0, 1]);
        // Under the sample, a set that drops nothing does not decide.
        let mut sparing = Sparing::new(0.5, 4);
        assert_eq!(sparing.filter(&apart, 3, terms, added, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0]);
        // The sample reached, it does: later sets pass untested.
        assert_eq!(sparing.filter(&apart, 3, terms, added, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0, 1]);
        // For the tables and entries, the first set decides.
        let mut sparing = Sparing::for_candidates_and_entries();
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0]);
        assert_eq!(sparing.filter(&apart, 3, terms, added, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, added, both()), [0, 1]);
    }
}
