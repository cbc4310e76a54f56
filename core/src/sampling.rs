//! Informative sampling: which architectures to measure or train next so that a fitted linear
//! model's error falls fastest.
//!
//! For a linear model fitted on rows `X`, the prediction variance at `x` is proportional to the
//! leverage `x^T (X^T X)^-1 x`. A seeded uniform pool of candidates is scored by leverage and
//! the top one is picked; the information matrix is then updated with it (Sherman-Morrison),
//! so a second pick near the first scores lower. This is greedy sequential D-optimal design:
//! each pick maximises the determinant gain of the information matrix.

use crate::space::{ArchSpec, Space};

/// The inverse information matrix of a fit, over (scaled) regressor rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Each regressor is divided by its scale before use (leverage does not depend on it; it
    /// keeps MACs and a constant column on comparable terms).
    scale: Vec<f64>,
    /// `(X^T X)^-1` of the scaled rows, row-major.
    inverse: Vec<f64>,
}

/// One proposed architecture and its leverage when it was picked.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub spec: ArchSpec,
    /// `x^T (X^T X)^-1 x` under the training set and the earlier picks.
    pub leverage: f64,
}

impl Design {
    /// From the training rows; `None` when they are empty or ragged.
    pub fn from_rows(rows: &[Vec<f64>]) -> Option<Design> {
        let p = rows.first()?.len();
        if p == 0 || rows.iter().any(|r| r.len() != p) {
            return None;
        }
        let scale: Vec<f64> = (0..p)
            .map(|j| {
                let ms = rows.iter().map(|r| r[j] * r[j]).sum::<f64>() / rows.len() as f64;
                if ms > 0.0 { ms.sqrt() } else { 1.0 }
            })
            .collect();
        let mut gram = vec![0.0; p * p];
        for r in rows {
            for i in 0..p {
                for j in 0..p {
                    gram[i * p + j] += r[i] / scale[i] * r[j] / scale[j];
                }
            }
        }
        // A small ridge keeps regressors the training set never varied (a feature that is zero
        // throughout) invertible: new points along them then score very high, as they should.
        for i in 0..p {
            gram[i * p + i] += 1e-9 * rows.len() as f64;
        }
        Some(Design {
            inverse: invert(&gram, p)?,
            scale,
        })
    }

    /// From a fit's `(X^T X)^-1` over unscaled rows of length `p`.
    pub fn from_inverse_gram(inverse_gram: Vec<f64>, p: usize) -> Option<Design> {
        (p > 0 && inverse_gram.len() == p * p).then(|| Design {
            scale: vec![1.0; p],
            inverse: inverse_gram,
        })
    }

    fn dims(&self) -> usize {
        self.scale.len()
    }

    fn scaled(&self, x: &[f64]) -> Vec<f64> {
        x.iter().zip(&self.scale).map(|(v, s)| v / s).collect()
    }

    /// `M^-1 x` for scaled `x`.
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let p = self.dims();
        (0..p)
            .map(|i| (0..p).map(|j| self.inverse[i * p + j] * x[j]).sum())
            .collect()
    }

    /// Leverage of an unscaled row.
    pub fn leverage(&self, x: &[f64]) -> f64 {
        let x = self.scaled(x);
        x.iter().zip(self.apply(&x)).map(|(a, b)| a * b).sum()
    }

    /// Adds a scaled row to the information matrix (Sherman-Morrison).
    fn add(&mut self, x: &[f64]) {
        let p = self.dims();
        let u = self.apply(x);
        let denom = 1.0 + x.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>();
        for i in 0..p {
            for j in 0..p {
                self.inverse[i * p + j] -= u[i] * u[j] / denom;
            }
        }
    }

    /// Picks `n` of `pool` greedily by leverage, updating the design after each pick; returns
    /// (pool index, leverage at the pick), leverage non-increasing. Ties go to the lower index.
    pub fn pick(mut self, pool: &[Vec<f64>], n: usize) -> Vec<(usize, f64)> {
        let rows: Vec<Vec<f64>> = pool.iter().map(|x| self.scaled(x)).collect();
        let mut taken = vec![false; rows.len()];
        let mut out = Vec::with_capacity(n.min(rows.len()));
        for _ in 0..n.min(rows.len()) {
            let mut best: Option<(usize, f64)> = None;
            for (i, x) in rows.iter().enumerate().filter(|(i, _)| !taken[*i]) {
                let h: f64 = x.iter().zip(self.apply(x)).map(|(a, b)| a * b).sum();
                if best.is_none_or(|(_, b)| h > b) {
                    best = Some((i, h));
                }
            }
            let Some((i, h)) = best else { break };
            taken[i] = true;
            self.add(&rows[i]);
            out.push((i, h));
        }
        out
    }
}

/// Gauss-Jordan inverse with partial pivoting; `None` when singular.
fn invert(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let mut inv: Vec<f64> = (0..p * p)
        .map(|k| if k / p == k % p { 1.0 } else { 0.0 })
        .collect();
    for col in 0..p {
        let pivot =
            (col..p).max_by(|&i, &j| m[i * p + col].abs().total_cmp(&m[j * p + col].abs()))?;
        let v = m[pivot * p + col];
        if v.abs() < 1e-300 {
            return None;
        }
        for k in 0..p {
            m.swap(col * p + k, pivot * p + k);
            inv.swap(col * p + k, pivot * p + k);
        }
        for k in 0..p {
            m[col * p + k] /= v;
            inv[col * p + k] /= v;
        }
        for r in (0..p).filter(|&r| r != col) {
            let f = m[r * p + col];
            for k in 0..p {
                m[r * p + k] -= f * m[col * p + k];
                inv[r * p + k] -= f * inv[col * p + k];
            }
        }
    }
    Some(inv)
}

/// Size of the seeded uniform pool the proposals are drawn from.
pub fn pool_size(n: usize) -> usize {
    (50 * n).clamp(2_000, 20_000)
}

/// Proposals and the pool they were drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposals {
    /// In pick order, leverage non-increasing.
    pub items: Vec<Proposal>,
    /// Distinct candidates scored.
    pub pool: usize,
    /// Median leverage of the pool before any pick, for comparison.
    pub pool_median_leverage: f64,
}

/// Proposes `n` distinct architectures of `space` that a model with `design` over the
/// regressors `row` learns most from: a seeded uniform pool, scored and picked greedily.
pub fn propose(
    space: &Space,
    design: Design,
    row: impl Fn(&ArchSpec) -> Vec<f64>,
    n: usize,
    seed: u64,
) -> Proposals {
    let mut pool = space.sample_uniform(pool_size(n), seed);
    let mut seen = std::collections::HashSet::new();
    pool.retain(|s| seen.insert(s.cells.clone()));
    let rows: Vec<Vec<f64>> = pool.iter().map(&row).collect();
    let mut leverages: Vec<f64> = rows.iter().map(|x| design.leverage(x)).collect();
    leverages.sort_by(f64::total_cmp);
    let items = design
        .pick(&rows, n)
        .into_iter()
        .map(|(i, leverage)| Proposal {
            spec: pool[i].clone(),
            leverage,
        })
        .collect();
    Proposals {
        items,
        pool: pool.len(),
        pool_median_leverage: leverages.get(leverages.len() / 2).copied().unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Feature, FeatureVector};

    fn row(spec: &ArchSpec) -> Vec<f64> {
        let x = FeatureVector::of_spec(spec);
        vec![x.get(Feature::Macs), x.get(Feature::ActivationBytes), 1.0]
    }

    #[test]
    fn leverage_matches_the_normal_equations() {
        let rows = vec![vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0]];
        let d = Design::from_rows(&rows).unwrap();
        // (X^T X)^-1 = [[5/6, -1/2], [-1/2, 1/2]]: leverage of (1, 3) is 5/6 - 3 + 9/2.
        assert!((d.leverage(&[1.0, 3.0]) - (5.0 / 6.0 - 3.0 + 4.5)).abs() < 1e-6);
        let same = Design::from_inverse_gram(vec![5.0 / 6.0, -0.5, -0.5, 0.5], 2).unwrap();
        assert!((same.leverage(&[1.0, 3.0]) - d.leverage(&[1.0, 3.0])).abs() < 1e-6);
    }

    #[test]
    fn picks_points_far_from_the_training_set_and_spreads_them() {
        let space = Space::default_space();
        // Train only on the smallest networks: the largest ones are the least known.
        let mut train = space.sample_uniform(400, 9);
        train.sort_by(|a, b| row(a)[0].total_cmp(&row(b)[0]));
        train.truncate(25);
        let train_rows: Vec<Vec<f64>> = train.iter().map(row).collect();
        let max_train = train_rows.iter().map(|r| r[0]).fold(0.0, f64::max);
        let design = Design::from_rows(&train_rows).unwrap();
        let proposals = propose(space, design.clone(), row, 8, 3);
        let picks = proposals.items;
        assert_eq!(picks.len(), 8);
        assert!(picks.windows(2).all(|w| w[0].leverage >= w[1].leverage));
        assert!(row(&picks[0].spec)[0] > 2.0 * max_train);
        // The first pick outscores a typical pool member by far.
        assert_eq!(proposals.pool, pool_size(8));
        assert!(picks[0].leverage > 10.0 * proposals.pool_median_leverage);
        // Distinct, and not all in one corner: the update lowers the score near earlier picks.
        let ids: std::collections::HashSet<_> = picks.iter().map(|p| p.spec.id()).collect();
        assert_eq!(ids.len(), 8);
        let second = design
            .clone()
            .pick(&[row(&picks[0].spec), row(&picks[0].spec)], 2);
        assert!(second[1].1 < second[0].1 / 2.0);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let space = Space::default_space();
        let rows: Vec<Vec<f64>> = space.sample_uniform(30, 1).iter().map(row).collect();
        let design = Design::from_rows(&rows).unwrap();
        let a = propose(space, design.clone(), row, 5, 7);
        assert_eq!(a, propose(space, design.clone(), row, 5, 7));
        assert_ne!(a, propose(space, design, row, 5, 8));
    }
}
