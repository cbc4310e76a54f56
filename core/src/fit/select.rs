//! Choosing a hardware model's feature set by cross-validation, and judging that choice by
//! nested cross-validation.
//!
//! Every fit is NNLS on relative error over the samples left in. A set's plain leave-one-out
//! predictions choose the final model's set; the nested predictions judge the whole procedure:
//! sample i is predicted by the set chosen by leave-one-out on the other n - 1 samples, fitted
//! on those n - 1. The inner leave-one-out of fold i fits without the pair {i, j}, and the same
//! fit serves fold j, so each pair is fitted once.

use super::linalg::{Matrix, nnls};
use crate::features::{Feature, FeatureVector};

/// A candidate as the choice sees it: its size and its leave-one-out error.
#[derive(Debug, Clone, Copy)]
pub(super) struct Score {
    /// Features that are not zero in every sample.
    pub features: usize,
    /// Mean absolute percentage error.
    pub mape: f64,
    /// Standard error of `mape` (the absolute percentage errors' sd over sqrt(n)).
    pub se: f64,
}

impl Score {
    pub fn new(features: usize, predicted: &[f64], actual: &[f64]) -> Self {
        let n = actual.len() as f64;
        let errors: Vec<f64> = predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| 100.0 * ((p - a) / a).abs())
            .collect();
        let mape = errors.iter().sum::<f64>() / n;
        let ss: f64 = errors.iter().map(|e| (e - mape).powi(2)).sum();
        Score {
            features,
            mape,
            se: (ss / (n - 1.0).max(1.0)).sqrt() / n.sqrt(),
        }
    }
}

/// Index of the chosen candidate: the one with fewest features among those whose MAPE is
/// within one standard error of the lowest (the lowest-MAPE candidate's standard error; then
/// the lowest MAPE, then the first). Differences smaller than that are noise, and a set with
/// fewer features extrapolates more safely (the "one standard error" rule of cross-validation).
pub(super) fn choose(scores: &[Score]) -> usize {
    let best = (0..scores.len())
        .min_by(|&a, &b| scores[a].mape.total_cmp(&scores[b].mape))
        .expect("at least one candidate");
    let tied = scores[best].mape + scores[best].se;
    (0..scores.len())
        .filter(|&k| scores[k].mape <= tied)
        .min_by(|&a, &b| {
            (scores[a].features.cmp(&scores[b].features))
                .then(scores[a].mape.total_cmp(&scores[b].mape))
        })
        .expect("the best is tied with itself")
}

/// One feature set laid out for NNLS on relative error.
pub(super) struct Design<'a> {
    xs: &'a [FeatureVector],
    features: &'a [Feature],
    /// Row-major `x_f / y`, one row per sample.
    rows: Vec<f64>,
    /// Per feature, the samples where it is non-zero.
    nonzero: Vec<usize>,
}

impl<'a> Design<'a> {
    pub fn new(xs: &'a [FeatureVector], ys: &[f64], features: &'a [Feature]) -> Self {
        let rows = xs
            .iter()
            .zip(ys)
            .flat_map(|(x, y)| features.iter().map(move |f| x.get(*f) / y))
            .collect();
        let nonzero = features
            .iter()
            .map(|f| xs.iter().filter(|x| x.get(*f) != 0.0).count())
            .collect();
        Design {
            xs,
            features,
            rows,
            nonzero,
        }
    }

    /// The features with a non-zero column without sample `excluded`: the ones the data
    /// determine (NNLS leaves an all-zero column at zero). Only these count towards a set's
    /// size, so unused stage slots cost nothing.
    pub fn effective(&self, excluded: Option<usize>) -> Vec<Feature> {
        self.features
            .iter()
            .zip(&self.nonzero)
            .filter(|&(f, &n)| {
                let lost = excluded.is_some_and(|i| self.xs[i].get(*f) != 0.0);
                n > usize::from(lost)
            })
            .map(|(f, _)| *f)
            .collect()
    }

    /// NNLS coefficients on every sample but `excluded`.
    pub fn fit(&self, excluded: &[usize]) -> Vec<f64> {
        let p = self.features.len();
        let kept = self.xs.len() - excluded.len();
        let mut data = Vec::with_capacity(kept * p);
        for (i, row) in self.rows.chunks(p).enumerate() {
            if !excluded.contains(&i) {
                data.extend_from_slice(row);
            }
        }
        let a = Matrix {
            rows: kept,
            cols: p,
            data,
        };
        nnls(&a, &vec![1.0; kept])
    }

    pub fn predict(&self, i: usize, coefficients: &[f64]) -> f64 {
        self.features
            .iter()
            .zip(coefficients)
            .map(|(f, c)| c * self.xs[i].get(*f))
            .sum()
    }

    /// The leave-one-out prediction of each sample.
    pub fn loo(&self) -> Vec<f64> {
        (0..self.xs.len())
            .map(|i| self.predict(i, &self.fit(&[i])))
            .collect()
    }
}

/// Cross-validated predictions of the candidate sets.
pub(super) struct CrossValidation {
    /// Per candidate, its leave-one-out prediction of each sample.
    pub loo: Vec<Vec<f64>>,
    /// Per candidate, its leave-one-out score.
    pub scores: Vec<Score>,
    /// The candidate chosen by leave-one-out on all samples.
    pub chosen: usize,
    /// Per sample, the candidate chosen without it.
    pub nested_choices: Vec<usize>,
    /// Per sample, its prediction by `nested_choices`' set fitted without it.
    pub nested: Vec<f64>,
}

/// Cross-validates `designs` (each with at most n - 2 effective features, so that every inner
/// leave-one-out fit has at least as many samples as features).
pub(super) fn cross_validate(designs: &[Design], ys: &[f64]) -> CrossValidation {
    let n = ys.len();
    let loo: Vec<Vec<f64>> = designs.iter().map(Design::loo).collect();
    let scores: Vec<Score> = designs
        .iter()
        .zip(&loo)
        .map(|(d, p)| Score::new(d.effective(None).len(), p, ys))
        .collect();
    let chosen = choose(&scores);
    // inner[k][i * n + j]: candidate k fitted without {i, j}, predicting j
    let inner: Vec<Vec<f64>> = designs
        .iter()
        .map(|d| {
            let mut out = vec![0.0; n * n];
            for i in 0..n {
                for j in i + 1..n {
                    let c = d.fit(&[i, j]);
                    out[i * n + j] = d.predict(j, &c);
                    out[j * n + i] = d.predict(i, &c);
                }
            }
            out
        })
        .collect();
    let mut nested_choices = Vec::with_capacity(n);
    let mut nested = Vec::with_capacity(n);
    for i in 0..n {
        let others: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| ys[j]).collect();
        let fold_scores: Vec<Score> = designs
            .iter()
            .zip(&inner)
            .map(|(d, p)| {
                let fold: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| p[i * n + j]).collect();
                Score::new(d.effective(Some(i)).len(), &fold, &others)
            })
            .collect();
        let k = choose(&fold_scores);
        nested_choices.push(k);
        nested.push(loo[k][i]);
    }
    CrossValidation {
        loo,
        scores,
        chosen,
        nested_choices,
        nested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(features: usize, mape: f64, se: f64) -> Score {
        Score { features, mape, se }
    }

    #[test]
    fn ties_go_to_fewer_features() {
        // The larger set is better by less than its standard error: the smaller one wins.
        assert_eq!(choose(&[score(2, 5.0, 1.0), score(6, 4.5, 0.6)]), 0);
        // By more, and it wins.
        assert_eq!(choose(&[score(2, 5.0, 1.0), score(6, 4.3, 0.6)]), 1);
        // The order of candidates does not matter, only their size.
        assert_eq!(choose(&[score(6, 4.5, 0.6), score(2, 5.0, 1.0)]), 1);
        // Among the tied, equal sizes go to the lower MAPE.
        let three = [score(3, 5.0, 0.1), score(3, 4.9, 0.1), score(9, 4.85, 0.1)];
        assert_eq!(choose(&three), 1);
        assert_eq!(choose(&[score(3, 5.0, 0.0), score(9, 4.0, 0.0)]), 1);
    }

    #[test]
    fn a_score_is_the_mape_and_its_standard_error() {
        let s = Score::new(2, &[110.0, 95.0, 100.0], &[100.0, 100.0, 100.0]);
        assert!((s.mape - 5.0).abs() < 1e-12);
        // errors 10, 5, 0: sd 5, over sqrt(3)
        assert!((s.se - 5.0 / 3f64.sqrt()).abs() < 1e-12);
    }
}
