//! Fit plots: predicted against measured (or trained), residuals, accuracy against NN-Degree.

use super::figure::*;
use super::*;
use flash_client::{AccuracyModelRecord, HardwareModelRecord};

fn hardware_title(m: &HardwareModelRecord) -> Vec<String> {
    vec![
        format!("{} · {} · v{}", m.device, <&str>::from(m.metric), m.version),
        format!(
            "leave-one-out MAPE {:.2}% · {} within ±10% · {} within ±5%",
            m.fit.loo.mape,
            percent(m.fit.loo.within_10),
            percent(m.fit.loo.within_5),
        ),
        format!(
            "n = {} · features {} · MACs-only MAPE {:.2}%{}",
            m.fit.n,
            serde_json::to_value(m.fit.feature_set)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            m.fit.baseline_macs.mape,
            m.fit.model.interval.map_or(String::new(), |i| {
                let (lower, upper) = i.factors(flash_core::fit::INTERVAL_LEVEL);
                format!(
                    " · 95% interval {:+.1}% / {:+.1}%",
                    100.0 * (lower - 1.0),
                    100.0 * (upper - 1.0)
                )
            })
        ),
    ]
}

/// Leave-one-out predicted against measured, with y = x and the +-10% band.
pub fn hardware_fit(m: &HardwareModelRecord, scale: Option<Scale>) -> String {
    let u = unit(m.metric);
    let values: Vec<f64> = m
        .samples
        .iter()
        .flat_map(|s| [s.actual, s.loo_predicted])
        .collect();
    let axis = Axis::over(&values, scale, format!("measured ({u})"));
    let y = Axis {
        label: format!("predicted, leave-one-out ({u})"),
        ..axis.clone()
    };
    let mut layers: Vec<Layer> = identity_layers(&axis).into();
    if let Some(interval) = m.fit.model.interval {
        // The measured value lies in [lower, upper] x the prediction, so the prediction lies in
        // [1 / upper, 1 / lower] x the measured value: two lines through the origin.
        let (lower, upper) = interval.factors(flash_core::fit::INTERVAL_LEVEL);
        let ends = [axis.lo, axis.hi];
        for (factor, label) in [
            (1.0 / upper, Some("95% prediction interval".to_string())),
            (1.0 / lower, None),
        ] {
            layers.push(Layer::Line {
                points: ends.iter().map(|v| (*v, v * factor)).collect(),
                color: ORANGE,
                dashed: true,
                label,
            });
        }
    }
    let points = m
        .samples
        .iter()
        .map(|s| (s.actual, s.loo_predicted))
        .collect();
    layers.push(sample_points(m, points));
    Figure {
        title: hardware_title(m),
        panels: vec![Panel {
            subtitle: String::new(),
            x: axis,
            y,
            layers,
        }],
    }
    .render()
}

/// One dot per fitted architecture at `points` (in sample order), named by its id.
fn sample_points(m: &HardwareModelRecord, points: Vec<(f64, f64)>) -> Layer {
    Layer::Points {
        points,
        names: m
            .samples
            .iter()
            .map(|s| s.architecture_id.clone())
            .collect(),
        color: BLUE,
        marker: Marker::Dot,
        size: 4.0,
        label: "architecture".into(),
        class: "points",
    }
}

/// Relative leave-one-out residuals against the measured value, with the +-10% band.
pub fn hardware_residuals(m: &HardwareModelRecord, scale: Option<Scale>) -> String {
    let u = unit(m.metric);
    let points: Vec<(f64, f64)> = m
        .samples
        .iter()
        .map(|s| (s.actual, (s.loo_predicted - s.actual) / s.actual * 100.0))
        .collect();
    let x = Axis::over(
        &points.iter().map(|p| p.0).collect::<Vec<_>>(),
        scale,
        format!("measured ({u})"),
    );
    let mut ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    ys.extend([-12.0, 12.0]);
    let y = Axis::over(
        &ys,
        Some(Scale::Linear),
        "residual, (predicted − measured) / measured (%)",
    );
    let ends = [x.lo, x.hi];
    let layers = vec![
        Layer::Band {
            upper: ends.iter().map(|v| (*v, 10.0)).collect(),
            lower: ends.iter().map(|v| (*v, -10.0)).collect(),
            label: "±10%".into(),
        },
        Layer::HLine {
            value: 0.0,
            color: GREY,
            label: None,
        },
        sample_points(m, points),
    ];
    Figure {
        title: hardware_title(m),
        panels: vec![Panel {
            subtitle: "residuals".into(),
            x,
            y,
            layers,
        }],
    }
    .render()
}

/// Leave-one-out predicted against trained accuracy; beside it, accuracy against NN-Degree with
/// the fitted curve (`nn_degrees` in sample order, `None` where the architecture is unknown).
pub fn accuracy_fit(m: &AccuracyModelRecord, nn_degrees: &[Option<f64>]) -> String {
    let values: Vec<f64> = m
        .samples
        .iter()
        .flat_map(|s| [s.actual, s.loo_predicted])
        .collect();
    let axis = Axis::over(&values, Some(Scale::Linear), "trained accuracy");
    let y = Axis {
        label: "predicted accuracy, leave-one-out".into(),
        ..axis.clone()
    };
    let names: Vec<String> = m
        .samples
        .iter()
        .map(|s| s.architecture_id.clone())
        .collect();
    let mut layers: Vec<Layer> = identity_layers(&axis).into();
    layers.remove(0);
    layers.push(Layer::Points {
        points: m
            .samples
            .iter()
            .map(|s| (s.actual, s.loo_predicted))
            .collect(),
        names: names.clone(),
        color: BLUE,
        marker: Marker::Dot,
        size: 4.0,
        label: "architecture".into(),
        class: "points",
    });
    let mut panels = vec![Panel {
        subtitle: "predicted against trained".into(),
        x: axis,
        y,
        layers,
    }];
    let by_degree: Vec<(f64, f64, String)> = m
        .samples
        .iter()
        .zip(nn_degrees)
        .zip(&names)
        .filter_map(|((s, d), n)| d.map(|g| (g, s.actual, n.clone())))
        .collect();
    if !by_degree.is_empty() {
        let gs: Vec<f64> = by_degree.iter().map(|p| p.0).collect();
        let x = Axis::over(&gs, None, "NN-Degree");
        let mut layers = Vec::new();
        // The curve is a function of NN-Degree alone only when the form has no params term.
        if !m.fit.model.form.log_params {
            let curve: Vec<(f64, f64)> = (0..=100)
                .map(|i| {
                    let t = i as f64 / 100.0;
                    let g = if x.log {
                        10f64.powf(x.lo.log10() + t * (x.hi.log10() - x.lo.log10()))
                    } else {
                        x.lo + t * (x.hi - x.lo)
                    };
                    (g, m.fit.model.mean(g, 1.0))
                })
                .collect();
            layers.push(Layer::Line {
                points: curve,
                color: ORANGE,
                dashed: false,
                label: Some(format!("fit: {}", m.fit.model.form)),
            });
        }
        let mut accs: Vec<f64> = by_degree.iter().map(|p| p.1).collect();
        if let Some(Layer::Line { points, .. }) = layers.first() {
            let (lo, hi) = accs
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                    (l.min(*v), h.max(*v))
                });
            let span = (hi - lo).max(0.01);
            accs.extend(
                points
                    .iter()
                    .map(|p| p.1)
                    .filter(|v| *v > lo - span && *v < hi + span),
            );
        }
        let y = Axis::over(&accs, Some(Scale::Linear), "trained accuracy");
        layers.push(Layer::Points {
            points: by_degree.iter().map(|p| (p.0, p.1)).collect(),
            names: by_degree.iter().map(|p| p.2.clone()).collect(),
            color: BLUE,
            marker: Marker::Dot,
            size: 4.0,
            label: "architecture".into(),
            class: "points",
        });
        panels.push(Panel {
            subtitle: "accuracy against NN-Degree".into(),
            x,
            y,
            layers,
        });
    }
    let space = m.space.as_deref().unwrap_or("any space");
    Figure {
        title: vec![
            format!("{} ({space}) · accuracy · v{}", m.dataset, m.version),
            format!(
                "form {}: leave-one-out RMSE {:.4}, R² {:.3}, Spearman {:.3} (n = {}; params-only RMSE {:.4})",
                m.fit.model.form,
                m.fit.errors.loo_rmse,
                m.fit.errors.loo_r2,
                m.fit.errors.spearman,
                m.fit.n,
                m.fit.baseline_params.errors.loo_rmse
            ),
        ],
        panels,
    }
    .render()
}
