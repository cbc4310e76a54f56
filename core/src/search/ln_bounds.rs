//! Bounds of the natural logarithm from a table of lines: a bound costs a few instructions and
//! no call, where the library's logarithm costs a call of a few dozen cycles, and the last
//! cell's passes bound accuracy (a logarithm of params or NN-Degree) hundreds of thousands of
//! times a search. Only bounds use them: a network's own values use the exact logarithm.

use std::sync::LazyLock;

/// Lines per octave.
const STEPS: usize = 256;

/// Added to an upper bound and taken from a lower one: the rounding of the few operations of a
/// bound (values up to 710 in magnitude) stays under 1e-12.
const SLACK: f64 = 1e-11;

/// Per step `j` of an octave's mantissa `m` in `[1, 2)`, the lines `a + b m` bounding `ln m` from
/// above and from below on `[c_j, c_j + 1 / STEPS)`, with `c_j = 1 + j / STEPS`.
pub(super) struct LnBounds {
    /// The tangent at `c_j`: the logarithm is concave, so it lies under each of its tangents.
    /// At most `(1 / STEPS)^2 / 2` (7.6e-6) above it on the step.
    above: [(f64, f64); STEPS],
    /// The chord from `c_j` to `c_{j+1}`: over the step, the logarithm lies above it. At most
    /// `(1 / STEPS)^2 / 8` (1.9e-6) below it.
    below: [(f64, f64); STEPS],
}

static TABLE: LazyLock<LnBounds> = LazyLock::new(|| {
    let c = |j: usize| 1.0 + j as f64 / STEPS as f64;
    let mut table = LnBounds {
        above: [(0.0, 0.0); STEPS],
        below: [(0.0, 0.0); STEPS],
    };
    for j in 0..STEPS {
        let (x, y) = (c(j), c(j + 1));
        table.above[j] = (x.ln() - 1.0, 1.0 / x);
        let slope = (y.ln() - x.ln()) / (y - x);
        table.below[j] = (x.ln() - slope * x, slope);
    }
    table
});

impl LnBounds {
    /// The table, built once per process.
    pub(super) fn get() -> &'static Self {
        &TABLE
    }

    /// A number at least `ln x`, within 1e-5 of it; `ln x` itself where `x` is not a positive
    /// normal number (zero, negative, subnormal, infinite or NaN).
    #[inline(always)]
    pub(super) fn above(&self, x: f64) -> f64 {
        self.bound(x, &self.above, SLACK)
    }

    /// A number at most `ln x`, within 1e-5 of it; `ln x` itself where `x` is not a positive
    /// normal number.
    #[inline(always)]
    pub(super) fn below(&self, x: f64) -> f64 {
        self.bound(x, &self.below, -SLACK)
    }

    /// `ln x = e ln 2 + ln m` for `x = 2^e m` with `m` in `[1, 2)`, `ln m` from `lines`.
    #[inline(always)]
    fn bound(&self, x: f64, lines: &[(f64, f64); STEPS], slack: f64) -> f64 {
        const MANTISSA: u64 = (1 << 52) - 1;
        let bits = x.to_bits();
        let biased = bits >> 52;
        // The sign bit set, or the exponent all zeros or all ones.
        if biased == 0 || biased >= 0x7ff {
            return x.ln();
        }
        let m = f64::from_bits(bits & MANTISSA | 1023 << 52);
        let (a, b) = lines[(bits >> (52 - STEPS.trailing_zeros())) as usize & (STEPS - 1)];
        (biased as f64 - 1023.0) * std::f64::consts::LN_2 + a + b * m + slack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn the_bounds_hold_and_are_close() {
        let t = LnBounds::get();
        let mut r = SplitMix64::new(5);
        let mut xs: Vec<f64> = (0..200_000)
            .map(|_| (r.unit_f32() as f64 * 80.0 - 40.0).exp() * (1.0 + r.unit_f32() as f64))
            .collect();
        // Steps' ends, octaves' ends and their neighbours, the extremes of normal numbers.
        for e in -5..30 {
            for j in 0..=STEPS {
                let x = 2f64.powi(e) * (1.0 + j as f64 / STEPS as f64);
                xs.extend([x, x.next_up(), x.next_down()]);
            }
        }
        xs.extend([f64::MIN_POSITIVE, f64::MAX, 1.0, 2.0, 0.5]);
        for x in xs {
            let ln = x.ln();
            let (above, below) = (t.above(x), t.below(x));
            assert!(above >= ln && above - ln < 1e-5, "{x}: {above} vs {ln}");
            assert!(below <= ln && ln - below < 1e-5, "{x}: {below} vs {ln}");
        }
        // Where there is no bound to take, the logarithm itself.
        for x in [0.0, -0.0, -1.0, 1e-310, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(t.above(x).to_bits(), x.ln().to_bits(), "{x}");
            assert_eq!(t.below(x).to_bits(), x.ln().to_bits(), "{x}");
        }
        assert!(t.above(f64::NAN).is_nan() && t.below(f64::NAN).is_nan());
    }
}
