//! Benchmark of batch scoring: predicted accuracy with its interval and two hardware costs for
//! 10^6 sampled specs of the default space, closed-form counts only, one core.

use std::time::Instant;

use flash_core::features::Feature;
use flash_core::fit::{
    AccuracyForm, AccuracyModel, CostMetric, DegreeTerm, HardwareModel, predict_batch,
};
use flash_core::space::Space;

fn main() {
    let space = Space::default_space();
    let n = 1_000_000;
    let specs = space.sample_uniform(n, 3);
    let accuracy = AccuracyModel {
        form: AccuracyForm::new(Some(DegreeTerm::Log), true),
        coefficients: vec![0.4, 0.07, 0.005],
        residual_std: 0.01,
        t_quantile: 2.07,
        inverse_gram: vec![4.0, -0.7, 0.1, -0.7, 0.12, 0.0, 0.1, 0.0, 0.01],
        fitted_nn_degree: None,
        fitted_params: None,
    };
    let features = vec![
        Feature::Macs,
        Feature::ActivationBytes,
        Feature::WeightBytes,
        Feature::ConcatBytes,
        Feature::Kernels,
        Feature::Constant,
    ];
    let hardware = [
        HardwareModel::new(
            CostMetric::Latency,
            features.clone(),
            vec![2e-8, 2e-10, 1e-10, 1e-9, 0.004, 0.05],
        )
        .expect("model"),
        HardwareModel::new(
            CostMetric::Energy,
            features,
            vec![3e-7, 5e-9, 1e-9, 1e-8, 0.02, 0.5],
        )
        .expect("model"),
    ];
    let mut rates = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = predict_batch(&specs, Some(&accuracy), &hardware);
        rates.push(n as f64 / t.elapsed().as_secs_f64());
        checksum += out.iter().map(|p| p.costs[0]).sum::<f64>();
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "batch prediction, {n} specs, one core: median {:.3e} architectures/s (min {:.3e}, max {:.3e}; checksum {checksum:.3e})",
        rates[2], rates[0], rates[4]
    );
}
