//! Error and rank statistics of predictions, and the Student t quantile for intervals.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean absolute percentage error, in percent.
pub fn mape(predicted: &[f64], actual: &[f64]) -> f64 {
    let n = actual.len() as f64;
    100.0
        * predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| ((p - a) / a).abs())
            .sum::<f64>()
        / n
}

/// Share (0..=1) of predictions within `tolerance` (relative, 0.1 = +-10%) of the actual value.
pub fn share_within(predicted: &[f64], actual: &[f64], tolerance: f64) -> f64 {
    let hits = predicted
        .iter()
        .zip(actual)
        .filter(|(p, a)| ((*p - *a) / *a).abs() <= tolerance)
        .count();
    hits as f64 / actual.len() as f64
}

pub fn rmse(predicted: &[f64], actual: &[f64]) -> f64 {
    let sse: f64 = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).powi(2))
        .sum();
    (sse / actual.len() as f64).sqrt()
}

/// Coefficient of determination of `predicted` against `actual`.
pub fn r_squared(predicted: &[f64], actual: &[f64]) -> f64 {
    let mean = actual.iter().sum::<f64>() / actual.len() as f64;
    let sse: f64 = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).powi(2))
        .sum();
    let sst: f64 = actual.iter().map(|a| (a - mean).powi(2)).sum();
    if sst == 0.0 { 0.0 } else { 1.0 - sse / sst }
}

/// Ranks from 1, ties sharing their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    if vx == 0.0 || vy == 0.0 {
        0.0
    } else {
        cov / (vx * vy).sqrt()
    }
}

/// Spearman's rank correlation (Pearson on tie-averaged ranks); 0 when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Kendall's tau-b (corrected for ties); 0 when either side is constant.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> f64 {
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {}
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                _ if (dx > 0.0) == (dy > 0.0) => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let n0 = (concordant + discordant) as f64;
    let denominator = ((n0 + ties_x as f64) * (n0 + ties_y as f64)).sqrt();
    if denominator == 0.0 {
        0.0
    } else {
        (concordant - discordant) as f64 / denominator
    }
}

/// The `p` quantile (p in (0.5, 1)) of Student's t with `dof` degrees of freedom (statrs's
/// inverse distribution function). Without degrees of freedom (`dof` not > 0) there is no
/// spread to scale: 0.
pub fn student_t_quantile(p: f64, dof: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, dof) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        for (dof, q) in [
            (1.0, 12.706_204),
            (2.0, 4.302_653),
            (10.0, 2.228_139),
            (23.0, 2.068_658),
        ] {
            let t = student_t_quantile(0.975, dof);
            assert!((t - q).abs() < 1e-5, "dof {dof}: {t}");
        }
        assert!((student_t_quantile(0.95, 1e6) - 1.644_855).abs() < 1e-4);
        assert_eq!(student_t_quantile(0.975, 0.0), 0.0);
    }

    #[test]
    fn rank_correlations_of_known_data() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(spearman(&x, &[2.0, 4.0, 6.0, 8.0, 100.0]), 1.0);
        assert_eq!(kendall_tau_b(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]), -1.0);
        // One swapped pair of 10: tau = (9 - 1) / 10.
        assert!((kendall_tau_b(&x, &[1.0, 2.0, 3.0, 5.0, 4.0]) - 0.8).abs() < 1e-12);
        // Ties: x has one tied pair, y none; the other 9 pairs are concordant.
        let t = kendall_tau_b(&[1.0, 1.0, 2.0, 3.0, 4.0], &x);
        assert!((t - 9.0 / (9.0f64 * 10.0).sqrt()).abs() < 1e-12);
        assert!((spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]) - 0.866_025_4).abs() < 1e-6);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn error_figures() {
        let actual = [100.0, 200.0, 50.0, 10.0];
        let predicted = [104.0, 180.0, 50.0, 11.0];
        assert!((mape(&predicted, &actual) - 100.0 * (0.04 + 0.1 + 0.0 + 0.1) / 4.0).abs() < 1e-9);
        assert_eq!(share_within(&predicted, &actual, 0.05), 0.5);
        assert_eq!(share_within(&predicted, &actual, 0.1 + 1e-12), 1.0);
        assert_eq!(r_squared(&actual, &actual), 1.0);
        assert!((rmse(&[1.0, 3.0], &[2.0, 2.0]) - 1.0).abs() < 1e-12);
    }
}
