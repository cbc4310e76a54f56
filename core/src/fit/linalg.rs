//! Small dense least squares: Householder QR for ordinary least squares (with the covariance
//! factor that prediction intervals need) and Lawson-Hanson non-negative least squares.

/// A row-major dense matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn from_rows(rows: &[Vec<f64>]) -> Self {
        let cols = rows.first().map_or(0, Vec::len);
        assert!(rows.iter().all(|r| r.len() == cols), "ragged matrix");
        Matrix {
            rows: rows.len(),
            cols,
            data: rows.concat(),
        }
    }

    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// The columns `cols` of this matrix, in that order.
    fn select(&self, cols: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(self.rows * cols.len());
        for i in 0..self.rows {
            data.extend(cols.iter().map(|&j| self.at(i, j)));
        }
        Matrix {
            rows: self.rows,
            cols: cols.len(),
            data,
        }
    }

    fn mul_vec(&self, x: &[f64]) -> Vec<f64> {
        (0..self.rows)
            .map(|i| (0..self.cols).map(|j| self.at(i, j) * x[j]).sum())
            .collect()
    }
}

/// An ordinary least-squares solution with `(A^T A)^-1`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeastSquares {
    pub coefficients: Vec<f64>,
    /// `(A^T A)^-1`, row-major `cols x cols`.
    pub inverse_gram: Vec<f64>,
}

/// Minimises `|A x - b|` by Householder QR; `None` when `A` is rank deficient or has more
/// columns than rows.
pub fn least_squares(a: &Matrix, b: &[f64]) -> Option<LeastSquares> {
    let (m, n) = (a.rows, a.cols);
    if n == 0 || m < n {
        return None;
    }
    let mut r = a.data.clone();
    let mut qtb = b.to_vec();
    let scale = r.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    for k in 0..n {
        let norm = (k..m).map(|i| r[i * n + k].powi(2)).sum::<f64>().sqrt();
        if norm <= 1e-12 * scale {
            return None;
        }
        let alpha = if r[k * n + k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| r[i * n + k]).collect();
        v[0] -= alpha;
        let vnorm2: f64 = v.iter().map(|x| x * x).sum();
        if vnorm2 == 0.0 {
            continue;
        }
        for j in k..n {
            let dot: f64 = (k..m).map(|i| v[i - k] * r[i * n + j]).sum();
            let f = 2.0 * dot / vnorm2;
            for i in k..m {
                r[i * n + j] -= f * v[i - k];
            }
        }
        let dot: f64 = (k..m).map(|i| v[i - k] * qtb[i]).sum();
        let f = 2.0 * dot / vnorm2;
        for i in k..m {
            qtb[i] -= f * v[i - k];
        }
    }
    // Back substitution for x and for R^-1 (upper triangular).
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|j| r[i * n + j] * x[j]).sum();
        x[i] = (qtb[i] - s) / r[i * n + i];
    }
    let mut rinv = vec![0.0; n * n];
    for i in (0..n).rev() {
        rinv[i * n + i] = 1.0 / r[i * n + i];
        for j in i + 1..n {
            let s: f64 = (i + 1..=j).map(|k| r[i * n + k] * rinv[k * n + j]).sum();
            rinv[i * n + j] = -s / r[i * n + i];
        }
    }
    let mut inverse_gram = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            inverse_gram[i * n + j] = (i.max(j)..n)
                .map(|k| rinv[i * n + k] * rinv[j * n + k])
                .sum();
        }
    }
    Some(LeastSquares {
        coefficients: x,
        inverse_gram,
    })
}

/// Minimises `|A x - b|` subject to `x >= 0` (Lawson and Hanson's active-set method). Columns
/// are scaled to unit norm first so that counts of very different magnitude (MACs and kernels)
/// are treated alike; the result is in the original units.
pub fn nnls(a: &Matrix, b: &[f64]) -> Vec<f64> {
    let n = a.cols;
    let norms: Vec<f64> = (0..n)
        .map(|j| (0..a.rows).map(|i| a.at(i, j).powi(2)).sum::<f64>().sqrt())
        .collect();
    let mut scaled = a.clone();
    for row in scaled.data.chunks_mut(n) {
        for (v, norm) in row.iter_mut().zip(&norms) {
            if *norm > 0.0 {
                *v /= norm;
            }
        }
    }
    let a = &scaled;
    let tol = 1e-10 * (1.0 + b.iter().map(|v| v.abs()).sum::<f64>());
    let gradient = |x: &[f64]| -> Vec<f64> {
        let ax = a.mul_vec(x);
        let res: Vec<f64> = b.iter().zip(&ax).map(|(b, ax)| b - ax).collect();
        (0..n)
            .map(|j| (0..a.rows).map(|i| a.at(i, j) * res[i]).sum())
            .collect()
    };
    let mut x = vec![0.0; n];
    let mut passive = vec![false; n];
    for _ in 0..3 * n + 3 {
        let w = gradient(&x);
        let Some(j) = (0..n)
            .filter(|&j| !passive[j] && norms[j] > 0.0 && w[j] > tol)
            .max_by(|&p, &q| w[p].total_cmp(&w[q]))
        else {
            break;
        };
        passive[j] = true;
        loop {
            let cols: Vec<usize> = (0..n).filter(|&j| passive[j]).collect();
            let Some(ls) = least_squares(&a.select(&cols), b) else {
                // The new column is dependent on the passive ones: it cannot improve the fit.
                passive[j] = false;
                break;
            };
            let mut z = vec![0.0; n];
            for (k, &c) in cols.iter().enumerate() {
                z[c] = ls.coefficients[k];
            }
            if cols.iter().all(|&c| z[c] > 0.0) {
                x = z;
                break;
            }
            // Step from x towards z until the first passive coefficient reaches zero.
            let alpha = cols
                .iter()
                .filter(|&&c| z[c] <= 0.0)
                .map(|&c| x[c] / (x[c] - z[c]))
                .fold(f64::INFINITY, f64::min);
            for &c in &cols {
                x[c] += alpha * (z[c] - x[c]);
                if x[c] <= 1e-15 {
                    x[c] = 0.0;
                    passive[c] = false;
                }
            }
        }
    }
    x.iter()
        .zip(&norms)
        .map(|(x, n)| if *n > 0.0 { x / n } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn least_squares_recovers_an_exact_line_and_its_inverse_gram() {
        let a = Matrix::from_rows(&[vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0]]);
        let ls = least_squares(&a, &[1.0, 3.0, 5.0]).unwrap();
        assert!((ls.coefficients[0] - 1.0).abs() < 1e-12);
        assert!((ls.coefficients[1] - 2.0).abs() < 1e-12);
        // A^T A = [[3, 3], [3, 5]], inverse = [[5, -3], [-3, 3]] / 6
        let expected = [5.0 / 6.0, -0.5, -0.5, 0.5];
        for (g, e) in ls.inverse_gram.iter().zip(expected) {
            assert!((g - e).abs() < 1e-12);
        }
        let rank1 = Matrix::from_rows(&[vec![1.0, 2.0], vec![2.0, 4.0], vec![3.0, 6.0]]);
        assert!(least_squares(&rank1, &[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn nnls_matches_a_known_solution() {
        // The unconstrained optimum (-1, 2) is infeasible; the constrained one puts x0 at zero
        // and fits x1 alone: x1 = (A1 . b) / |A1|^2 = (0 + 3 + 5 * 2) / (1 + 1 + 4).
        let a = Matrix::from_rows(&[vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0]]);
        let b = [-1.0, 1.0, 3.0];
        let x = nnls(&a, &b);
        assert_eq!(x[0], 0.0);
        assert!((x[1] - 7.0 / 5.0).abs() < 1e-12, "{x:?}");
        // A feasible optimum is returned unchanged.
        let x = nnls(&a, &[1.0, 3.0, 5.0]);
        assert!(
            (x[0] - 1.0).abs() < 1e-10 && (x[1] - 2.0).abs() < 1e-10,
            "{x:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn nnls_is_never_negative_and_satisfies_the_kkt_conditions(
            rows in prop::collection::vec(prop::collection::vec(-10.0f64..10.0, 4), 4..12),
            b in prop::collection::vec(-10.0f64..10.0, 12),
        ) {
            let a = Matrix::from_rows(&rows);
            let b = &b[..a.rows];
            let x = nnls(&a, b);
            prop_assert!(x.iter().all(|&v| v >= 0.0));
            prop_assert_eq!(&x, &nnls(&a, b));
            // KKT: the gradient A^T (b - A x) is <= 0 everywhere and 0 where x > 0.
            let ax = a.mul_vec(&x);
            for (j, &xj) in x.iter().enumerate() {
                let g: f64 = (0..a.rows).map(|i| a.at(i, j) * (b[i] - ax[i])).sum();
                let norm = (0..a.rows).map(|i| a.at(i, j).powi(2)).sum::<f64>().sqrt();
                let scale = 1e-6 * norm * (1.0 + b.iter().map(|v| v.abs()).sum::<f64>());
                prop_assert!(g <= scale, "gradient {} at {}", g, j);
                if xj > 0.0 {
                    prop_assert!(g.abs() <= scale, "gradient {} at passive {}", g, j);
                }
            }
        }
    }
}
