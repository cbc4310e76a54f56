//! Axes, panels and figures: what every plot kind draws with.

use std::fmt::Write;

use super::*;

/// One axis: its range, scale and label.
#[derive(Debug, Clone)]
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) log: bool,
    pub(super) label: String,
}

impl Axis {
    /// An axis over `values` (and `extra`, such as a limit that must show), padded a little.
    pub(super) fn over(values: &[f64], scale: Option<Scale>, label: impl Into<String>) -> Axis {
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

    pub(super) fn t(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    pub(super) fn ticks(&self) -> Vec<f64> {
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
pub(super) fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
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
pub(super) enum Marker {
    Dot,
    Ring,
    Diamond,
}

/// One thing drawn in a panel.
pub(super) enum Layer {
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
pub(super) struct Panel {
    pub(super) subtitle: String,
    pub(super) x: Axis,
    pub(super) y: Axis,
    pub(super) layers: Vec<Layer>,
}

/// Panels side by side under a title of one or more lines.
pub(super) struct Figure {
    pub(super) title: Vec<String>,
    pub(super) panels: Vec<Panel>,
}

impl Figure {
    pub(super) fn render(&self) -> String {
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
    pub(super) fn render(&self, s: &mut String) {
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

pub(super) enum LegendKey {
    Area,
    Line(bool),
    Marker(Marker),
}

pub(super) fn marker_svg(
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

pub(super) fn path_points(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of segment `a`-`b` inside `rect` (Liang-Barsky).
pub(super) fn clip_segment(
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
pub(super) fn clip_polygon(
    poly: &[(f64, f64)],
    (x0, y0, x1, y1): (f64, f64, f64, f64),
) -> Vec<(f64, f64)> {
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

/// The y = x line and the +-10% band over an axis.
pub(super) fn identity_layers(axis: &Axis) -> [Layer; 2] {
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
