//! The exchange test: dropping a network that another beats by trading NN-Degree against
//! params, whatever the remaining cells add.

use super::dominance::{LANES, Lanes};
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
    pub(super) fn slope(&self, x: f64) -> f64 {
        self.coefficient
            * match self.degree {
                Some(DegreeTerm::Linear) => 1.0,
                Some(DegreeTerm::Reciprocal) => -1.0 / (x * x),
                Some(DegreeTerm::Log) | None => 1.0 / x,
            }
    }

    pub(super) fn concave(&self) -> bool {
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
    pub(super) fn tangents(&self, stored: f64, added: Span) -> Tangents {
        let value = stored * self.sign;
        Tangents {
            value,
            at_least: self.slope(value + added.lo),
            at_most: self.slope(value + added.hi),
        }
    }

    /// A lower bound of `term(y + a) - term(x + a)` over every `a` the remaining cells add:
    /// the tangent at the end of the range where it is least.
    pub(super) fn gain(&self, y: &Tangents, x: &Tangents) -> f64 {
        let delta = y.value - x.value;
        let slope = match (self.concave(), delta >= 0.0) {
            (true, true) => y.at_most,
            (true, false) => y.at_least,
            (false, true) => x.at_least,
            (false, false) => x.at_most,
        };
        slope * delta
    }
}

/// A range of natural values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Span {
    pub(super) lo: f64,
    pub(super) hi: f64,
}

/// A term and the natural values the remaining cells may add to its quantity.
#[derive(Clone, Copy)]
pub(super) struct RangedTerm {
    pub(super) term: Term,
    pub(super) added: Span,
}

/// A row's natural value of a term's quantity, and the term's slopes at that value plus the
/// least and the most that may be added.
#[derive(Clone, Copy)]
pub(super) struct Tangents {
    pub(super) value: f64,
    pub(super) at_least: f64,
    pub(super) at_most: f64,
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
/// order, so every dropped row has a kept one that beats it.
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
    let beats = |y: &[Tangents; 2], x: &[Tangents; 2]| {
        terms[0].term.gain(&y[0], &x[0]) + terms[1].term.gain(&y[1], &x[1]) > 0.0
    };
    // By the first other quantity, so that a row can only be beaten by earlier ones (or by
    // an equal one, which may be missed: then both stay).
    let mut idx = idx;
    if let Some(&first) = others.first() {
        idx.sort_by(|&a, &b| row(a)[first].total_cmp(&row(b)[first]));
    }
    // The kept rows' other quantities in the dominance kernel. Only the latest `WINDOW` blocks
    // are tried (those nearest in the first other quantity): the test is costlier than plain
    // dominance, and a row it misses is merely kept.
    const WINDOW: usize = 2;
    let mut lanes = Lanes::new(others.len());
    let mut x_others = vec![0.0; others.len()];
    let mut kept: Vec<u32> = Vec::new();
    let mut kept_tangents: Vec<[Tangents; 2]> = Vec::new();
    for i in idx {
        let x = row(i);
        for (o, &k) in x_others.iter_mut().zip(&others) {
            *o = x[k];
        }
        let x_tangents = tangents(x);
        let beaten = (0..lanes.blocks()).rev().take(WINDOW).any(|b| {
            let at_most = lanes.at_most(b, &x_others);
            (0..LANES)
                .any(|lane| at_most[lane] && beats(&kept_tangents[b * LANES + lane], &x_tangents))
        });
        if !beaten {
            lanes.push(&x_others);
            kept.push(i);
            kept_tangents.push(x_tangents);
        }
    }
    kept
}
