//! The accuracy predictor on the committed digits data (examples/data/digits-accuracy.json, 40
//! architectures trained with PyTorch): fitted on 25, it predicts the other 15 about as well as
//! its leave-one-out figures say, and its intervals cover them.

use flash_core::ArchSpec;
use flash_core::fit::{AccuracyRecord, fit_accuracy, stats};

fn records() -> Vec<(ArchSpec, f64)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/digits-accuracy.json");
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    data["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                ArchSpec::from_value(&r["spec"]).unwrap(),
                r["accuracy"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn fitted_on_25_it_predicts_the_other_15_as_reported() {
    let all = records();
    assert_eq!(all.len(), 40);
    // The records are sorted by NN-Degree: every 8 records, 5 fit and 3 are held out, so both
    // sets span the whole range.
    let (mut fit_on, mut held) = (Vec::new(), Vec::new());
    for (i, r) in all.iter().enumerate() {
        if i % 8 < 5 {
            fit_on.push(r)
        } else {
            held.push(r)
        }
    }
    assert_eq!((fit_on.len(), held.len()), (25, 15));
    let train: Vec<AccuracyRecord> = fit_on
        .iter()
        .map(|(s, a)| AccuracyRecord::from_spec(s, *a))
        .collect();
    let fit = fit_accuracy(&train, &[]).unwrap();
    let predicted: Vec<f64> = held
        .iter()
        .map(|(s, _)| fit.model.predict_spec(s).value)
        .collect();
    let actual: Vec<f64> = held.iter().map(|(_, a)| *a).collect();
    let held_rmse = stats::rmse(&predicted, &actual);
    let covered = held
        .iter()
        .filter(|(s, a)| {
            let i = fit.model.predict_spec(s);
            i.lower <= *a && *a <= i.upper
        })
        .count();
    eprintln!(
        "digits: form {:?}; LOO RMSE {:.4} (params only {:.4}), Spearman {:.3}, Kendall {:.3}; held-out RMSE {:.4}, {covered}/15 inside the 95% intervals; {}",
        fit.model.form,
        fit.errors.loo_rmse,
        fit.baseline_params.errors.loo_rmse,
        fit.errors.spearman,
        fit.errors.kendall,
        held_rmse,
        fit.reason
    );
    // The reported leave-one-out error is an honest estimate of the error on new architectures.
    assert!(held_rmse <= 2.0 * fit.errors.loo_rmse && held_rmse >= 0.5 * fit.errors.loo_rmse);
    assert!(
        covered >= 12,
        "{covered}/15 inside the 95% prediction intervals"
    );
}
