//! A device's speed history: its reference network's latency over time.

use super::figure::*;
use super::*;
use flash_client::{DeviceReference, ReferencePoint};

/// A device's speed over time: the reference network's median latency in each paired
/// measurement (with its 95% interval), one series per reference network, and the device's
/// current reference latency as a line. A slow-down or throttling shows as a rise.
pub fn device_speed(
    device: &str,
    points: &[ReferencePoint],
    references: &[DeviceReference],
) -> String {
    let start = points
        .iter()
        .map(|p| p.created_at_unix_ms)
        .min()
        .unwrap_or(0);
    let hours = |p: &ReferencePoint| (p.created_at_unix_ms - start) as f64 / 3.6e6;
    let x = Axis::over(
        &points.iter().map(hours).collect::<Vec<_>>(),
        Some(Scale::Linear),
        format!(
            "hours since {}",
            points
                .first()
                .map_or("the first measurement", |p| p.created_at.as_str())
        ),
    );
    let mut ys: Vec<f64> = points
        .iter()
        .flat_map(|p| [p.p50_ci_low_ms, p.p50_ci_high_ms])
        .collect();
    ys.extend(references.iter().map(|r| r.latency_ms));
    let y = Axis::over(&ys, Some(Scale::Linear), "reference network p50 (ms)");
    let mut layers = Vec::new();
    for (r, color) in references
        .iter()
        .zip([BLUE, ORANGE, GREEN, GREY].iter().cycle())
    {
        let mine: Vec<&ReferencePoint> = points
            .iter()
            .filter(|p| p.reference_architecture_id == r.architecture_id)
            .collect();
        for p in &mine {
            layers.push(Layer::Line {
                points: vec![(hours(p), p.p50_ci_low_ms), (hours(p), p.p50_ci_high_ms)],
                color,
                dashed: false,
                label: None,
            });
        }
        layers.push(Layer::Points {
            points: mine.iter().map(|p| (hours(p), p.p50_ms)).collect(),
            names: mine
                .iter()
                .map(|p| format!("measurement {}", p.measurement_id))
                .collect(),
            color,
            marker: Marker::Dot,
            size: 3.0,
            label: format!(
                "reference {}",
                &r.architecture_id[..r.architecture_id.len().min(8)]
            ),
            class: "points",
        });
        layers.push(Layer::HLine {
            value: r.latency_ms,
            color: RED,
            label: Some(format!(
                "reference latency {} ms (median of the latest {})",
                number(r.latency_ms),
                r.window
            )),
        });
    }
    Figure {
        title: vec![
            format!("Speed of {device}"),
            format!("{} paired measurements", points.len()),
        ],
        panels: if points.is_empty() {
            Vec::new()
        } else {
            vec![Panel {
                subtitle: "reference network latency over time".into(),
                x,
                y,
                layers,
            }]
        },
    }
    .render()
}
