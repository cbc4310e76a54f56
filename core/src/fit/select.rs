//! Choosing a hardware model's feature set by cross-validation, and judging that choice by
//! nested cross-validation.
//!
//! Every fit is NNLS on relative error over the samples left in. The folds are leave-one-out up
//! to [`MAX_LEAVE_ONE_OUT`] samples and [`K_FOLDS`]-fold above (sample i in fold i mod k), so a
//! fit on a device's whole history stays cheap. A set's cross-validated predictions choose the
//! final model's set; the nested predictions judge the whole procedure: the samples of fold f
//! are predicted by the set chosen by cross-validation on the other folds, fitted on those. The
//! inner fit of fold g within fold f leaves out folds {f, g}, and the same fit serves fold g
//! within f, so each pair of folds is fitted once.

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

/// Most samples cross-validated leave-one-out; more are split into [`K_FOLDS`] folds.
pub const MAX_LEAVE_ONE_OUT: usize = 40;
/// Folds above [`MAX_LEAVE_ONE_OUT`] samples.
pub const K_FOLDS: usize = 10;

/// How many folds `n` samples are cross-validated in (sample i is in fold i mod the count).
pub fn fold_count(n: usize) -> usize {
    if n <= MAX_LEAVE_ONE_OUT { n } else { K_FOLDS }
}

/// One feature set laid out for NNLS on relative error, cross-validated in `folds` folds.
pub(super) struct Design<'a> {
    xs: &'a [FeatureVector],
    features: &'a [Feature],
    folds: usize,
    /// Row-major `x_f / y`, one row per sample.
    rows: Vec<f64>,
}

impl<'a> Design<'a> {
    pub fn new(xs: &'a [FeatureVector], ys: &[f64], features: &'a [Feature]) -> Self {
        let rows = xs
            .iter()
            .zip(ys)
            .flat_map(|(x, y)| features.iter().map(move |f| x.get(*f) / y))
            .collect();
        Design {
            xs,
            features,
            folds: fold_count(xs.len()),
            rows,
        }
    }

    /// The features with a non-zero column without the samples of fold `excluded`: the ones
    /// the data determine (NNLS leaves an all-zero column at zero). Only these count towards a
    /// set's size, so unused stage slots cost nothing.
    pub fn effective(&self, excluded: Option<usize>) -> Vec<Feature> {
        self.features
            .iter()
            .filter(|f| {
                self.xs
                    .iter()
                    .enumerate()
                    .any(|(i, x)| Some(i % self.folds) != excluded && x.get(**f) != 0.0)
            })
            .copied()
            .collect()
    }

    /// NNLS coefficients on every sample outside the folds `excluded`.
    pub fn fit(&self, excluded: &[usize]) -> Vec<f64> {
        let p = self.features.len();
        let mut data = Vec::with_capacity(self.rows.len());
        for (i, row) in self.rows.chunks(p).enumerate() {
            if !excluded.contains(&(i % self.folds)) {
                data.extend_from_slice(row);
            }
        }
        let kept = data.len() / p;
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

    /// The cross-validated prediction of each sample (by the fit without its fold).
    pub fn cross_validated(&self) -> Vec<f64> {
        let fits: Vec<Vec<f64>> = (0..self.folds).map(|f| self.fit(&[f])).collect();
        (0..self.xs.len())
            .map(|i| self.predict(i, &fits[i % self.folds]))
            .collect()
    }
}

/// Cross-validated predictions of the candidate sets.
pub(super) struct CrossValidation {
    /// Per candidate, its cross-validated prediction of each sample.
    pub loo: Vec<Vec<f64>>,
    /// Per candidate, its cross-validated score.
    pub scores: Vec<Score>,
    /// The candidate chosen by cross-validation on all samples.
    pub chosen: usize,
    /// Per sample, the candidate chosen without its fold.
    pub nested_choices: Vec<usize>,
    /// Per sample, its prediction by `nested_choices`' set fitted without its fold.
    pub nested: Vec<f64>,
}

/// Cross-validates `designs` (each with at most n - 2 effective features, so that every inner
/// leave-one-out fit has at least as many samples as features).
pub(super) fn cross_validate(designs: &[Design], ys: &[f64]) -> CrossValidation {
    let n = ys.len();
    let k = fold_count(n);
    let loo: Vec<Vec<f64>> = designs.iter().map(Design::cross_validated).collect();
    let scores: Vec<Score> = designs
        .iter()
        .zip(&loo)
        .map(|(d, p)| Score::new(d.effective(None).len(), p, ys))
        .collect();
    let chosen = choose(&scores);
    // inner[c][f * n + j]: candidate c fitted without folds {f, fold of j}, predicting j
    let inner: Vec<Vec<f64>> = designs
        .iter()
        .map(|d| {
            let mut out = vec![0.0; k * n];
            for f in 0..k {
                for g in f + 1..k {
                    let c = d.fit(&[f, g]);
                    for j in (0..n).filter(|j| j % k == g) {
                        out[f * n + j] = d.predict(j, &c);
                    }
                    for i in (0..n).filter(|i| i % k == f) {
                        out[g * n + i] = d.predict(i, &c);
                    }
                }
            }
            out
        })
        .collect();
    let fold_choices: Vec<usize> = (0..k)
        .map(|f| {
            let others: Vec<usize> = (0..n).filter(|j| j % k != f).collect();
            let actual: Vec<f64> = others.iter().map(|&j| ys[j]).collect();
            let fold_scores: Vec<Score> = designs
                .iter()
                .zip(&inner)
                .map(|(d, p)| {
                    let predicted: Vec<f64> = others.iter().map(|&j| p[f * n + j]).collect();
                    Score::new(d.effective(Some(f)).len(), &predicted, &actual)
                })
                .collect();
            choose(&fold_scores)
        })
        .collect();
    let nested_choices: Vec<usize> = (0..n).map(|i| fold_choices[i % k]).collect();
    let nested = (0..n).map(|i| loo[nested_choices[i]][i]).collect();
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
    fn many_samples_are_cross_validated_in_ten_folds() {
        assert_eq!(fold_count(MAX_LEAVE_ONE_OUT), MAX_LEAVE_ONE_OUT);
        assert_eq!(fold_count(MAX_LEAVE_ONE_OUT + 1), K_FOLDS);
        // 200 samples of y = 2 x + 1, exactly: every fold's fit predicts its samples exactly,
        // nested or not, and each pair of folds is fitted once (45 fits, not 19,900).
        let xs: Vec<FeatureVector> = (0..200)
            .map(|i| {
                let mut v = FeatureVector::default();
                v.0[Feature::Macs.index()] = 1.0 + i as f64;
                v.0[Feature::Constant.index()] = 1.0;
                v
            })
            .collect();
        let ys: Vec<f64> = xs
            .iter()
            .map(|x| 2.0 * x.get(Feature::Macs) + 1.0)
            .collect();
        let features = [Feature::Macs, Feature::Constant];
        let cv = cross_validate(&[Design::new(&xs, &ys, &features)], &ys);
        for (p, y) in cv.nested.iter().zip(&ys) {
            assert!((p / y - 1.0).abs() < 1e-9, "{p} against {y}");
        }
        assert!(cv.nested_choices.iter().all(|&k| k == 0));
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
