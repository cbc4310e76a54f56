//! The exchange test: dropping a network that another beats by trading NN-Degree against
//! params, whatever the remaining cells add.

use super::dominance::{ordered, sort_keyed};
use super::lanes::{LANES, Lane, block_at_most, filled};
use crate::fit::DegreeTerm;

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
    fn slope(&self, x: f64) -> f64 {
        self.coefficient
            * match self.degree {
                Some(DegreeTerm::Linear) => 1.0,
                Some(DegreeTerm::Reciprocal) => -1.0 / (x * x),
                Some(DegreeTerm::Log) | None => 1.0 / x,
            }
    }

    fn concave(&self) -> bool {
        match self.degree {
            Some(DegreeTerm::Reciprocal) => self.coefficient <= 0.0,
            _ => self.coefficient >= 0.0,
        }
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

    /// This term, with the natural values the remaining cells may add to its quantity.
    pub(super) fn over(self, added: Span) -> RangedTerm {
        RangedTerm { term: self, added }
    }

    /// A row's natural value of this term's quantity and the slopes there plus the least and
    /// the most that the remaining cells add.
    fn tangents(&self, stored: f64, added: Span) -> Tangents {
        let value = stored * self.sign;
        Tangents {
            value,
            at_least: self.slope(value + added.lo),
            at_most: self.slope(value + added.hi),
        }
    }
}

/// A lower bound of `term(y + a) - term(x + a)` over every `a` the remaining cells add, for a
/// term that is `concave` or not (known once per filter): the tangent at the end of the range
/// where it is least.
#[inline(always)]
fn gain(concave: bool, y: &Tangents, x: &Tangents) -> f64 {
    let delta = y.value - x.value;
    let slope = match (concave, delta >= 0.0) {
        (true, true) => y.at_most,
        (true, false) => y.at_least,
        (false, true) => x.at_least,
        (false, false) => x.at_most,
    };
    slope * delta
}

/// The tangents of a block of kept rows, in lanes: per term, the values, the slopes at the
/// least added and the slopes at the most added.
type TangentLanes = [[f64; LANES]; 6];

/// Which lanes of `block` beat a row of tangents `x` in the two accuracy terms, as bits:
/// `gain` of every lane at once, without a branch per lane. Unfilled lanes answer anything.
#[inline(always)]
fn beating(block: &TangentLanes, x: &[Tangents; 2], concave: [bool; 2]) -> u32 {
    let mut sum = [0.0; LANES];
    for (t, x) in x.iter().enumerate() {
        let [value, at_least, at_most] = [&block[3 * t], &block[3 * t + 1], &block[3 * t + 2]];
        for i in 0..LANES {
            let y = Tangents {
                value: value[i],
                at_least: at_least[i],
                at_most: at_most[i],
            };
            sum[i] += gain(concave[t], &y, x);
        }
    }
    (0..LANES).fold(0, |bits, i| bits | u32::from(sum[i] > 0.0) << i)
}

/// Blocks of kept rows the exchange test tries: only the latest `WINDOW` (those nearest in the
/// first other quantity), since the test costs more than plain dominance and a row it misses is
/// merely kept. Their other quantities lie in lanes as in the dominance kernel, beside their
/// tangents; a block's slot is reused once `WINDOW` newer ones are open (holding every kept row
/// grew buffers that were never read again: 3% of a search's instructions).
struct Recent {
    width: usize,
    /// Per slot, `width` lane sets of its rows' other quantities.
    values: Vec<Lane>,
    tangents: [TangentLanes; WINDOW],
    rows: usize,
}

const WINDOW: usize = 2;

impl Recent {
    fn new(width: usize) -> Self {
        Recent {
            width,
            values: vec![[f64::NAN; LANES]; WINDOW * width],
            tangents: [[[f64::NAN; LANES]; 6]; WINDOW],
            rows: 0,
        }
    }

    /// Whether a row of the latest blocks, no worse than `others` in the other quantities,
    /// beats tangents `x` in the accuracy terms. A slot's lanes past the rows of its block
    /// hold an older block's rows, which `block_at_most` leaves out.
    fn beats(&self, others: &[f64], x: &[Tangents; 2], concave: [bool; 2]) -> bool {
        let w = self.width;
        (0..self.rows.div_ceil(LANES)).rev().take(WINDOW).any(|b| {
            let slot = b % WINDOW;
            let no_worse =
                block_at_most(&self.values[slot * w..][..w], others, filled(self.rows, b));
            no_worse != 0 && no_worse & beating(&self.tangents[slot], x, concave) != 0
        })
    }

    fn push(&mut self, others: &[f64], x: &[Tangents; 2]) {
        let (slot, lane) = (self.rows / LANES % WINDOW, self.rows % LANES);
        for (lanes, &v) in self.values[slot * self.width..][..self.width]
            .iter_mut()
            .zip(others)
        {
            lanes[lane] = v;
        }
        let block = &mut self.tangents[slot];
        for (t, x) in x.iter().enumerate() {
            block[3 * t][lane] = x.value;
            block[3 * t + 1][lane] = x.at_least;
            block[3 * t + 2][lane] = x.at_most;
        }
        self.rows += 1;
    }
}

/// A range of natural values.
#[derive(Clone, Copy)]
pub(super) struct Span {
    lo: f64,
    hi: f64,
}

/// A term and the natural values the remaining cells may add to its quantity.
#[derive(Clone, Copy)]
pub(super) struct RangedTerm {
    term: Term,
    added: Span,
}

/// A row's natural value of a term's quantity, and the term's slopes at that value plus the
/// least and the most that may be added.
#[derive(Clone, Copy)]
struct Tangents {
    value: f64,
    at_least: f64,
    at_most: f64,
}

/// The least and the most natural value of `term`'s quantity over `rows`.
pub(super) fn natural_range<'a>(rows: impl Iterator<Item = &'a [f64]>, term: &Term) -> Span {
    let (lo, hi) = rows.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
        let v = r[term.key] * term.sign;
        (lo.min(v), hi.max(v))
    });
    Span { lo, hi }
}

/// Of the rows `idx` (into `rows`, `d` values each), drops those that a kept row beats whatever
/// the remaining cells add, when accuracy depends on both NN-Degree and params: a row with
/// more NN-Degree and fewer params (or the reverse) beats another when it is no worse in every
/// other quantity and the tangent bounds of the two accuracy terms over what may be added
/// (`terms`' ranges, natural values) sum to a gain. Each bound is a sufficient test of a strict
/// order, so every dropped row has a kept one that beats it. The rows kept stay in `idx`'s order.
pub(super) fn exchange_pareto(
    rows: &[f64],
    d: usize,
    terms: [RangedTerm; 2],
    idx: Vec<u32>,
) -> Vec<u32> {
    let others: Vec<usize> = (0..d)
        .filter(|&k| terms.iter().all(|t| t.term.key != k))
        .collect();
    let row = |i: u32| &rows[i as usize * d..(i as usize + 1) * d];
    let tangents = |x: &[f64]| terms.map(|t| t.term.tangents(x[t.term.key], t.added));
    let concave = terms.map(|t| t.term.concave());
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
    let mut recent = Recent::new(others.len());
    let mut x_others = vec![0.0; others.len()];
    let mut kept = vec![false; idx.len()];
    for p in order {
        let x = row(idx[p as usize]);
        for (o, &k) in x_others.iter_mut().zip(&others) {
            *o = x[k];
        }
        let x_tangents = tangents(x);
        if !recent.beats(&x_others, &x_tangents, concave) {
            recent.push(&x_others, &x_tangents);
            kept[p as usize] = true;
        }
    }
    // In the order given: a caller's order (the Pareto filter's, by the first quantity) stays.
    idx.into_iter()
        .zip(kept)
        .filter_map(|(i, k)| k.then_some(i))
        .collect()
}

/// `exchange_pareto` over a series of row sets, given up once a set drops under `share` of its
/// rows, after `sample` rows in all: the test costs about what their Pareto filter does, and
/// in some searches drops a few rows only (it only prunes, so the search's result is the same
/// without it).
pub(super) struct Sparing {
    on: bool,
    share: f64,
    sample: usize,
    tested: usize,
}

impl Sparing {
    /// For the cell tables' candidates and the last cell's entries: a row dropped there saves
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
            share,
            sample,
            tested: 0,
        }
    }

    /// `exchange_pareto` of `idx`, or `idx` itself once given up.
    pub(super) fn filter(
        &mut self,
        rows: &[f64],
        d: usize,
        terms: [RangedTerm; 2],
        idx: Vec<u32>,
    ) -> Vec<u32> {
        if !self.on {
            return idx;
        }
        let before = idx.len();
        let kept = exchange_pareto(rows, d, terms, idx);
        self.tested += before;
        if self.tested >= self.sample && ((before - kept.len()) as f64) < self.share * before as f64
        {
            self.on = false;
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

    /// Rows (stored NN-Degree, stored params, two costs) on random forms of both signs: each
    /// dropped row is beaten by a kept one at every point of a grid over what may be added.
    #[test]
    fn every_dropped_row_is_beaten_whatever_is_added() {
        let mut r = SplitMix64::new(13);
        let (mut dropped, mut rows_in) = (0, 0);
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
                        1e3 * (1.0 + 99.0 * unit(&mut r)),
                        r.below(3) as f64,
                        r.below(3) as f64,
                    ]
                })
                .collect();
            let rows: Vec<f64> = natural
                .iter()
                .flat_map(|x| [x[0] * terms[0].sign, x[1] * terms[1].sign, x[2], x[3]])
                .collect();
            let added = [
                Span {
                    lo: 1.0,
                    hi: 1.0 + 10.0 * unit(&mut r),
                },
                Span {
                    lo: 500.0,
                    hi: 500.0 + 1e4 * unit(&mut r),
                },
            ];
            let ranged = [terms[0].over(added[0]), terms[1].over(added[1])];
            let kept = exchange_pareto(&rows, 4, ranged, (0..n as u32).collect());
            rows_in += n;
            dropped += n - kept.len();
            let grid = |s: Span| (0..5).map(move |i| s.lo + (s.hi - s.lo) * i as f64 / 4.0);
            for x in (0..n).filter(|i| !kept.contains(&(*i as u32))) {
                let x = &natural[x];
                let beaten_by = |y: &[f64; 4]| {
                    y[2] <= x[2]
                        && y[3] <= x[3]
                        && grid(added[0]).all(|a| {
                            grid(added[1]).all(|q| {
                                accuracy(&terms, y[0] + a, y[1] + q)
                                    > accuracy(&terms, x[0] + a, x[1] + q)
                            })
                        })
                };
                assert!(
                    kept.iter().any(|&y| beaten_by(&natural[y as usize])),
                    "case {case}: {x:?}"
                );
            }
        }
        assert!(dropped * 10 > rows_in, "{dropped} of {rows_in}");
    }

    #[test]
    fn gain_is_a_lower_bound_of_the_change() {
        let mut r = SplitMix64::new(14);
        for case in 0..2000 {
            let unit = |r: &mut SplitMix64| r.unit_f32() as f64;
            let degree = [
                DegreeTerm::Linear,
                DegreeTerm::Log,
                DegreeTerm::Reciprocal,
                DegreeTerm::Log,
            ][case % 4];
            let term = Term {
                key: 0,
                sign: 1.0,
                degree: (case % 5 != 0).then_some(degree),
                coefficient: unit(&mut r) - 0.5,
            };
            let f = |v: f64| term.coefficient * term.degree.map_or(v.ln(), |t| t.apply(v));
            let added = Span {
                lo: 0.5,
                hi: 0.5 + 5.0 * unit(&mut r),
            };
            let (x, y) = (1.0 + 9.0 * unit(&mut r), 1.0 + 9.0 * unit(&mut r));
            let gain = gain(
                term.concave(),
                &term.tangents(y, added),
                &term.tangents(x, added),
            );
            for i in 0..=8 {
                let a = added.lo + (added.hi - added.lo) * i as f64 / 8.0;
                let change = f(y + a) - f(x + a);
                assert!(gain <= change + 1e-12, "case {case}: {gain} > {change}");
            }
        }
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
        ]
        .map(|t| t.over(Span { lo: 0.0, hi: 100.0 }));
        let both = || vec![0, 1];
        assert_eq!(exchange_pareto(&beaten, 3, terms, both()), [0]);
        assert_eq!(exchange_pareto(&apart, 3, terms, both()), [0, 1]);
        // Under the sample, a set that drops nothing does not decide.
        let mut sparing = Sparing::new(0.5, 4);
        assert_eq!(sparing.filter(&apart, 3, terms, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, both()), [0]);
        // The sample reached, it does: later sets pass untested.
        assert_eq!(sparing.filter(&apart, 3, terms, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, both()), [0, 1]);
        // For the tables and entries, the first set decides.
        let mut sparing = Sparing::for_candidates_and_entries();
        assert_eq!(sparing.filter(&beaten, 3, terms, both()), [0]);
        assert_eq!(sparing.filter(&apart, 3, terms, both()), [0, 1]);
        assert_eq!(sparing.filter(&beaten, 3, terms, both()), [0, 1]);
    }
}
