//! A search's Pareto fronts, with the limits and the verified winners.

use flash_core::fit::CostMetric;

use super::figure::*;
use super::*;
use flash_client::SearchRecord;

/// The limit a request sets on `device.metric`.
fn limit_of(s: &SearchRecord, device: &str, metric: CostMetric) -> Option<f64> {
    let d = s.request.devices.iter().find(|d| d.device == device)?;
    match metric {
        CostMetric::Latency => d.max_latency_ms,
        CostMetric::Energy => d.max_energy_mj,
        CostMetric::Area => d.max_area_mm2,
    }
}

fn cost_of(scored: &flash_core::search::Scored, device: &str, metric: CostMetric) -> Option<f64> {
    scored
        .costs
        .iter()
        .find(|c| c.device == device && c.metric == metric)
        .map(|c| c.value)
}

/// Predicted accuracy against each limited cost: the Pareto front, the limit, the winner and the
/// winners' measured costs.
pub fn pareto(s: &SearchRecord, scale: Option<Scale>) -> String {
    let best = s.result.best.as_ref();
    // One panel per cost: the fronts against a single cost, else the winner's costs.
    let mut costs: Vec<(String, CostMetric, Option<&flash_core::search::ParetoFront>)> = s
        .result
        .fronts
        .iter()
        .filter(|f| f.against.len() == 1)
        .filter_map(|f| {
            let (device, metric) = f.against[0].rsplit_once('.')?;
            let metric = serde_json::from_value(serde_json::json!(metric)).ok()?;
            Some((device.to_string(), metric, Some(f)))
        })
        .collect();
    if costs.is_empty()
        && let Some(b) = best
    {
        costs = b
            .costs
            .iter()
            .map(|c| (c.device.clone(), c.metric, None))
            .collect();
    }
    let accuracy_of = |id: &str| {
        best.into_iter()
            .chain(s.result.fronts.iter().flat_map(|f| f.points.iter()))
            .find(|p| p.id == id)
            .map(|p| p.accuracy.value)
    };
    let mut panels = Vec::new();
    for (device, metric, front) in costs {
        let u = unit(metric);
        let name = <&str>::from(metric);
        let limit = limit_of(s, &device, metric);
        let front_points: Vec<(f64, f64, String)> = front
            .map(|f| {
                f.points
                    .iter()
                    .filter_map(|p| {
                        Some((cost_of(p, &device, metric)?, p.accuracy.value, p.id.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let winner = best.and_then(|b| Some((cost_of(b, &device, metric)?, b.accuracy.value)));
        // Measured points: each verified architecture at its measured cost (the normalized
        // latency, the figure the limit is judged on) and its predicted accuracy.
        let mut measured = Vec::new();
        let mut links = Vec::new();
        for v in s.verification.iter().filter(|v| v.device == device) {
            let (predicted, actual) = match metric {
                CostMetric::Latency => (v.predicted_latency_ms, v.measured_latency_ms),
                CostMetric::Energy => (v.predicted_energy_mj, v.measured_energy_mj),
                CostMetric::Area => (None, None),
            };
            if let (Some(actual), Some(acc)) = (actual, accuracy_of(&v.architecture_id)) {
                measured.push((actual, acc, v.architecture_id.clone()));
                if let Some(p) = predicted {
                    links.push(Layer::Line {
                        points: vec![(p, acc), (actual, acc)],
                        color: RED,
                        dashed: true,
                        label: None,
                    });
                }
            }
        }
        let mut xs: Vec<f64> = front_points.iter().map(|p| p.0).collect();
        xs.extend(winner.map(|w| w.0));
        xs.extend(measured.iter().map(|p| p.0));
        xs.extend(limit);
        let mut ys: Vec<f64> = front_points.iter().map(|p| p.1).collect();
        ys.extend(winner.map(|w| w.1));
        ys.extend(measured.iter().map(|p| p.1));
        if let flash_core::search::Objective::MinCost { min_accuracy, .. } = &s.request.objective {
            ys.push(*min_accuracy);
        }
        let x = Axis::over(&xs, scale, format!("predicted {name} on {device} ({u})"));
        let y = Axis::over(&ys, Some(Scale::Linear), "predicted accuracy");
        let mut layers = Vec::new();
        if !front_points.is_empty() {
            layers.push(Layer::Line {
                points: front_points.iter().map(|p| (p.0, p.1)).collect(),
                color: BLUE,
                dashed: false,
                label: None,
            });
            layers.push(Layer::Points {
                points: front_points.iter().map(|p| (p.0, p.1)).collect(),
                names: front_points.iter().map(|p| p.2.clone()).collect(),
                color: BLUE,
                marker: Marker::Dot,
                size: 2.5,
                label: format!("Pareto front ({} points)", front_points.len()),
                class: "points",
            });
        }
        if let Some(l) = limit {
            layers.push(Layer::VLine {
                value: l,
                color: RED,
                label: format!("limit {} {u}", number(l)),
            });
        }
        if let flash_core::search::Objective::MinCost { min_accuracy, .. } = &s.request.objective {
            layers.push(Layer::HLine {
                value: *min_accuracy,
                color: RED,
                label: Some(format!("accuracy ≥ {}", number(*min_accuracy))),
            });
        }
        layers.extend(links);
        if !measured.is_empty() {
            let what = if metric == CostMetric::Latency {
                "measured (normalized)"
            } else {
                "measured"
            };
            layers.push(Layer::Points {
                points: measured.iter().map(|p| (p.0, p.1)).collect(),
                names: measured.iter().map(|p| p.2.clone()).collect(),
                color: RED,
                marker: Marker::Ring,
                size: 6.0,
                label: format!("{what} ({})", measured.len()),
                class: "measured",
            });
        }
        if let (Some((wx, wy)), Some(b)) = (winner, best) {
            layers.push(Layer::Points {
                points: vec![(wx, wy)],
                names: vec![b.id.clone()],
                color: GREEN,
                marker: Marker::Diamond,
                size: 8.0,
                label: "winner".into(),
                class: "winner",
            });
        }
        panels.push(Panel {
            subtitle: format!("{device} · {name}"),
            x,
            y,
            layers,
        });
    }
    let mut title = vec![
        format!("search {}", s.id),
        format!("{} · {}", s.request.dataset, s.request.space),
    ];
    match best {
        Some(b) => title.extend([
            format!("winner {}", b.id),
            format!(
                "predicted accuracy {:.4} · NN-Degree {:.1} · {} params",
                b.accuracy.value,
                b.nn_degree,
                number(b.params as f64)
            ),
        ]),
        None => title.push("no architecture meets the limits".into()),
    }
    Figure { title, panels }.render()
}
