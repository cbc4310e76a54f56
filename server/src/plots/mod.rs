//! SVG plots of fits and searches, drawn on the server so that a notebook, the dashboard or a
//! browser shows them from a stable URL. Scatter and line charts on linear or log axes are all
//! these need, so there is no plotting dependency. Every text is escaped; the documents carry no
//! ids, so several can be inlined in one page.
//!
//! One file per plot kind (`fits`, `pareto`, `speed`); `figure` draws the axes and panels they
//! share.

mod figure;
mod fits;
mod pareto;
mod speed;

use serde::Deserialize;

use flash_core::fit::CostMetric;

pub use fits::{accuracy_fit, hardware_fit, hardware_residuals};
pub use pareto::pareto;
pub use speed::device_speed;

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
pub(super) fn unit(metric: CostMetric) -> &'static str {
    match metric {
        CostMetric::Latency => "ms",
        CostMetric::Energy => "mJ",
        CostMetric::Area => "mm²",
    }
}

pub(super) fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::figure::*;
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
