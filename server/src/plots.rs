//! SVG plots of fits and searches, drawn on the server so that a notebook, the dashboard or a
//! browser shows them from a stable URL. Scatter and line charts on linear or log axes are all
//! these need, so there is no plotting dependency. Every text is escaped; the documents carry no
//! ids, so several can be inlined in one page.

use std::fmt::Write;

use flash_core::fit::CostMetric;
use serde::Deserialize;

use flash_client::{
    AccuracyModelRecord, DeviceReference, HardwareModelRecord, ReferencePoint, SearchRecord,
};

const PANEL_W: f64 = 560.0;
const PANEL_H: f64 = 440.0;
const MARGIN_L: f64 = 72.0;
const MARGIN_R: f64 = 20.0;
const MARGIN_T: f64 = 16.0;
const MARGIN_B: f64 = 56.0;
const TITLE_LINE: f64 = 20.0;

const BLUE: &str = "#1f77b4";
const ORANGE: &str = "#ff7f0e";
const GREEN: &str = "#2ca02c";
const RED: &str = "#d62728";
const GREY: &str = "#555555";
const BAND: &str = "#9ecae1";

/// Axis scale of a plot; without one, log when the values span more than a factor of 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Linear,
    Log,
}

/// Escapes text for SVG (and XML) content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a tick label or figure: short, without trailing zeros.
pub fn number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// One axis: its range, scale and label.
#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    label: String,
}

impl Axis {
    /// An axis over `values` (and `extra`, such as a limit that must show), padded a little.
    fn over(values: &[f64], scale: Option<Scale>, label: impl Into<String>) -> Axis {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let positive = finite.iter().all(|v| *v > 0.0) && !finite.is_empty();
        let (mut lo, mut hi) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        if finite.is_empty() {
            (lo, hi) = (0.0, 1.0);
        }
        let log = match scale {
            Some(Scale::Log) => positive,
            Some(Scale::Linear) => false,
            None => positive && hi / lo > 10.0,
        };
        if log {
            let (l, h) = (lo.log10(), hi.log10());
            let pad = ((h - l) * 0.05).max(0.02);
            (lo, hi) = (10f64.powf(l - pad), 10f64.powf(h + pad));
        } else {
            let span = hi - lo;
            let pad = if span > 0.0 {
                span * 0.05
            } else {
                lo.abs().max(1.0) * 0.05
            };
            (lo, hi) = (lo - pad, hi + pad);
        }
        Axis {
            lo,
            hi,
            log,
            label: label.into(),
        }
    }

    fn t(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (l, h) = (
                self.lo.log10().floor() as i32,
                self.hi.log10().ceil() as i32,
            );
            let decades: Vec<f64> = (l..=h).map(|e| 10f64.powi(e)).collect();
            let mut ticks: Vec<f64> = decades
                .iter()
                .copied()
                .filter(|v| (self.lo..=self.hi).contains(v))
                .collect();
            if ticks.len() < 3 {
                ticks = decades
                    .iter()
                    .flat_map(|d| [1.0, 2.0, 5.0].map(|m| m * d))
                    .filter(|v| (self.lo..=self.hi).contains(v))
                    .collect();
            }
            if ticks.len() < 2 {
                return linear_ticks(self.lo, self.hi);
            }
            ticks
        } else {
            linear_ticks(self.lo, self.hi)
        }
    }
}

/// About six round ticks within `lo..=hi`.
fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// How a point series is marked.
#[derive(Debug, Clone, Copy)]
enum Marker {
    Dot,
    Ring,
    Diamond,
}

/// One thing drawn in a panel.
enum Layer {
    Points {
        points: Vec<(f64, f64)>,
        /// Tooltip of each point (architecture ids).
        names: Vec<String>,
        color: &'static str,
        marker: Marker,
        size: f64,
        label: String,
        class: &'static str,
    },
    Line {
        points: Vec<(f64, f64)>,
        color: &'static str,
        dashed: bool,
        label: Option<String>,
    },
    /// A filled area between two polylines.
    Band {
        upper: Vec<(f64, f64)>,
        lower: Vec<(f64, f64)>,
        label: String,
    },
    /// A line at `x = value` across the panel.
    VLine {
        value: f64,
        color: &'static str,
        label: String,
    },
    /// A line at `y = value` across the panel.
    HLine {
        value: f64,
        color: &'static str,
        label: Option<String>,
    },
}

/// One chart: axes, layers and a subtitle.
struct Panel {
    subtitle: String,
    x: Axis,
    y: Axis,
    layers: Vec<Layer>,
}

/// Panels side by side under a title of one or more lines.
struct Figure {
    title: Vec<String>,
    panels: Vec<Panel>,
}

impl Figure {
    fn render(&self) -> String {
        let cols = self.panels.len().max(1) as f64;
        let head = TITLE_LINE * self.title.len() as f64 + 12.0;
        let (w, h) = (PANEL_W * cols, head + PANEL_H);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12" role="img">"#
        );
        let _ = write!(
            s,
            r#"<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>"#
        );
        for (i, line) in self.title.iter().enumerate() {
            let weight = if i == 0 { "bold" } else { "normal" };
            let size = if i == 0 { 15 } else { 12 };
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle" font-size="{size}" font-weight="{weight}">{}</text>"#,
                w / 2.0,
                TITLE_LINE * (i as f64 + 1.0),
                escape(line)
            );
        }
        if self.panels.is_empty() {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle" fill="{GREY}">nothing to plot</text>"#,
                w / 2.0,
                head + PANEL_H / 2.0
            );
        }
        for (i, p) in self.panels.iter().enumerate() {
            let _ = write!(
                s,
                r#"<g transform="translate({},{head})">"#,
                PANEL_W * i as f64
            );
            p.render(&mut s);
            s.push_str("</g>");
        }
        s.push_str("</svg>\n");
        s
    }
}

impl Panel {
    fn render(&self, s: &mut String) {
        let top = MARGIN_T + if self.subtitle.is_empty() { 0.0 } else { 14.0 };
        let (x0, x1) = (MARGIN_L, PANEL_W - MARGIN_R);
        let (y0, y1) = (top, PANEL_H - MARGIN_B);
        let px = |v: f64| x0 + self.x.t(v) * (x1 - x0);
        let py = |v: f64| y1 - self.y.t(v) * (y1 - y0);
        let rect = (x0, y0, x1, y1);
        if !self.subtitle.is_empty() {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
                (x0 + x1) / 2.0,
                MARGIN_T + 8.0,
                escape(&self.subtitle)
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="#fbfbfb" stroke="#999"/>"##,
            x1 - x0,
            y1 - y0
        );
        s.push_str(r#"<g class="ticks">"#);
        for t in self.x.ticks() {
            let x = px(t);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                y1 + 16.0,
                escape(&number(t))
            );
        }
        for t in self.y.ticks() {
            let y = py(t);
            let _ = write!(
                s,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                escape(&number(t))
            );
        }
        s.push_str("</g>");
        let scale = |a: &Axis| if a.log { " (log)" } else { "" };
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}{}</text>"#,
            (x0 + x1) / 2.0,
            PANEL_H - 18.0,
            escape(&self.x.label),
            scale(&self.x)
        );
        let _ = write!(
            s,
            r#"<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}{}</text>"#,
            (y0 + y1) / 2.0,
            escape(&self.y.label),
            scale(&self.y)
        );
        let map = |pts: &[(f64, f64)]| -> Vec<(f64, f64)> {
            pts.iter()
                .filter(|(x, y)| {
                    x.is_finite()
                        && y.is_finite()
                        && (!self.x.log || *x > 0.0)
                        && (!self.y.log || *y > 0.0)
                })
                .map(|(x, y)| (px(*x), py(*y)))
                .collect()
        };
        let mut legend: Vec<(String, &str, LegendKey)> = Vec::new();
        for layer in &self.layers {
            match layer {
                Layer::Band {
                    upper,
                    lower,
                    label,
                } => {
                    let mut poly = map(upper);
                    poly.extend(map(lower).into_iter().rev());
                    let poly = clip_polygon(&poly, rect);
                    if poly.len() >= 3 {
                        let _ = write!(
                            s,
                            r#"<polygon class="band" points="{}" fill="{BAND}" fill-opacity="0.35" stroke="none"/>"#,
                            path_points(&poly)
                        );
                    }
                    legend.push((label.clone(), BAND, LegendKey::Area));
                }
                Layer::Line {
                    points,
                    color,
                    dashed,
                    label,
                } => {
                    let dash = if *dashed {
                        r#" stroke-dasharray="6 4""#
                    } else {
                        ""
                    };
                    for seg in map(points).windows(2) {
                        if let Some((a, b)) = clip_segment(seg[0], seg[1], rect) {
                            let _ = write!(
                                s,
                                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.5"{dash}/>"#,
                                a.0, a.1, b.0, b.1
                            );
                        }
                    }
                    if let Some(label) = label {
                        legend.push((label.clone(), color, LegendKey::Line(*dashed)));
                    }
                }
                Layer::VLine {
                    value,
                    color,
                    label,
                } => {
                    let x = px(*value);
                    if x.is_finite() && (x0..=x1).contains(&x) {
                        let _ = write!(
                            s,
                            r#"<line class="limit" x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="{color}" stroke-width="2" stroke-dasharray="8 4"/>"#
                        );
                    }
                    legend.push((label.clone(), color, LegendKey::Line(true)));
                }
                Layer::HLine {
                    value,
                    color,
                    label,
                } => {
                    let y = py(*value);
                    if y.is_finite() && (y0..=y1).contains(&y) {
                        let _ = write!(
                            s,
                            r#"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="{color}" stroke-width="1.5" stroke-dasharray="6 4"/>"#
                        );
                    }
                    if let Some(label) = label {
                        legend.push((label.clone(), color, LegendKey::Line(true)));
                    }
                }
                Layer::Points {
                    points,
                    names,
                    color,
                    marker,
                    size,
                    label,
                    class,
                } => {
                    let _ = write!(s, r#"<g class="{class}">"#);
                    for (i, (x, y)) in points.iter().enumerate() {
                        let Some(&(cx, cy)) = map(&[(*x, *y)]).first() else {
                            continue;
                        };
                        let tip = names.get(i).map(|n| {
                            format!(
                                "<title>{}: {}, {}</title>",
                                escape(n),
                                number(*x),
                                number(*y)
                            )
                        });
                        marker_svg(s, *marker, cx, cy, *size, color, tip.as_deref());
                    }
                    s.push_str("</g>");
                    legend.push((label.clone(), color, LegendKey::Marker(*marker)));
                }
            }
        }
        // The legend sits in the top-left corner, on a white box so data under it stays legible.
        let lx = x0 + 8.0;
        let ly = y0 + 8.0;
        let width = legend
            .iter()
            .map(|(l, _, _)| l.chars().count() as f64 * 6.6 + 34.0)
            .fold(0.0, f64::max);
        if !legend.is_empty() {
            let _ = write!(
                s,
                r##"<rect x="{lx}" y="{ly}" width="{width:.0}" height="{}" fill="white" fill-opacity="0.85" stroke="#ccc"/>"##,
                legend.len() as f64 * 16.0 + 6.0
            );
        }
        for (i, (label, color, key)) in legend.iter().enumerate() {
            let cy = ly + 12.0 + i as f64 * 16.0;
            match key {
                LegendKey::Area => {
                    let _ = write!(
                        s,
                        r#"<rect x="{}" y="{}" width="18" height="9" fill="{color}" fill-opacity="0.5"/>"#,
                        lx + 6.0,
                        cy - 5.0
                    );
                }
                LegendKey::Line(dashed) => {
                    let dash = if *dashed {
                        r#" stroke-dasharray="5 3""#
                    } else {
                        ""
                    };
                    let _ = write!(
                        s,
                        r#"<line x1="{}" y1="{cy}" x2="{}" y2="{cy}" stroke="{color}" stroke-width="2"{dash}/>"#,
                        lx + 6.0,
                        lx + 24.0
                    );
                }
                LegendKey::Marker(m) => {
                    let mut unused = String::new();
                    marker_svg(&mut unused, *m, lx + 15.0, cy, 4.0, color, None);
                    s.push_str(&unused);
                }
            }
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">{}</text>"#,
                lx + 30.0,
                cy + 4.0,
                escape(label)
            );
        }
    }
}

enum LegendKey {
    Area,
    Line(bool),
    Marker(Marker),
}

fn marker_svg(
    s: &mut String,
    marker: Marker,
    x: f64,
    y: f64,
    r: f64,
    color: &str,
    tip: Option<&str>,
) {
    let tip = tip.unwrap_or("");
    let _ = match marker {
        Marker::Dot => write!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{color}" fill-opacity="0.8">{tip}</circle>"#
        ),
        Marker::Ring => write!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="white" stroke="{color}" stroke-width="2.5">{tip}</circle>"#
        ),
        Marker::Diamond => write!(
            s,
            r#"<path d="M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z" fill="{color}" stroke="black">{tip}</path>"#,
            y - r,
            x + r,
            y + r,
            x - r
        ),
    };
}

fn path_points(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of segment `a`-`b` inside `rect` (Liang-Barsky).
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, y0, x1, y1): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// The part of a polygon inside `rect` (Sutherland-Hodgman).
fn clip_polygon(poly: &[(f64, f64)], (x0, y0, x1, y1): (f64, f64, f64, f64)) -> Vec<(f64, f64)> {
    type Inside = fn((f64, f64), f64) -> bool;
    let edges: [(Inside, f64, bool); 4] = [
        (|p, v| p.0 >= v, x0, true),
        (|p, v| p.0 <= v, x1, true),
        (|p, v| p.1 >= v, y0, false),
        (|p, v| p.1 <= v, y1, false),
    ];
    let mut out = poly.to_vec();
    for (inside, v, vertical) in edges {
        let input = std::mem::take(&mut out);
        for (i, &cur) in input.iter().enumerate() {
            let prev = input[(i + input.len() - 1) % input.len()];
            let cross = |p: (f64, f64), q: (f64, f64)| {
                if vertical {
                    let t = (v - p.0) / (q.0 - p.0);
                    (v, p.1 + t * (q.1 - p.1))
                } else {
                    let t = (v - p.1) / (q.1 - p.1);
                    (p.0 + t * (q.0 - p.0), v)
                }
            };
            match (inside(cur, v), inside(prev, v)) {
                (true, true) => out.push(cur),
                (true, false) => {
                    out.push(cross(prev, cur));
                    out.push(cur);
                }
                (false, true) => out.push(cross(prev, cur)),
                (false, false) => {}
            }
        }
    }
    out
}

fn unit(metric: CostMetric) -> &'static str {
    match metric {
        CostMetric::Latency => "ms",
        CostMetric::Energy => "mJ",
        CostMetric::Area => "mm²",
    }
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// The y = x line and the +-10% band over an axis.
fn identity_layers(axis: &Axis) -> [Layer; 2] {
    let ends = [axis.lo, axis.hi];
    [
        Layer::Band {
            upper: ends.iter().map(|v| (*v, v * 1.1)).collect(),
            lower: ends.iter().map(|v| (*v, v * 0.9)).collect(),
            label: "±10%".into(),
        },
        Layer::Line {
            points: ends.iter().map(|v| (*v, *v)).collect(),
            color: GREY,
            dashed: false,
            label: Some("y = x".into()),
        },
    ]
}

fn hardware_title(m: &HardwareModelRecord) -> Vec<String> {
    vec![
        format!(
            "{} · {} · v{}",
            m.device,
            crate::store::metric_name(m.metric),
            m.version
        ),
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
    layers.push(Layer::Points {
        points: m
            .samples
            .iter()
            .map(|s| (s.actual, s.loo_predicted))
            .collect(),
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
    });
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
        },
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
        let name = crate::store::metric_name(metric);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(1234.0), "1234");
        assert_eq!(number(1.5e9), "1.5e9");
        assert_eq!(number(0.00012), "1.2e-4");
    }

    #[test]
    fn ticks_fall_in_range() {
        let a = Axis::over(&[0.8, 7.9], Some(Scale::Log), "x");
        let ticks = a.ticks();
        assert!(ticks.len() >= 2, "{ticks:?}");
        assert!(ticks.iter().all(|t| (a.lo..=a.hi).contains(t)));
        let l = linear_ticks(0.0, 1.0);
        assert_eq!(l.first(), Some(&0.0));
        assert!((l.last().unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn clipping_keeps_inside_parts() {
        let rect = (0.0, 0.0, 10.0, 10.0);
        let (a, b) = clip_segment((-5.0, 5.0), (15.0, 5.0), rect).unwrap();
        assert_eq!((a, b), ((0.0, 5.0), (10.0, 5.0)));
        assert!(clip_segment((-5.0, -5.0), (-1.0, -1.0), rect).is_none());
        let square = [(-5.0, -5.0), (5.0, -5.0), (5.0, 5.0), (-5.0, 5.0)];
        let clipped = clip_polygon(&square, rect);
        assert!(
            clipped
                .iter()
                .all(|p| (0.0..=10.0).contains(&p.0) && (0.0..=10.0).contains(&p.1))
        );
        assert_eq!(clipped.len(), 4);
    }
}
