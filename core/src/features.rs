//! The per-architecture counts that hardware models are fitted on, in closed form for cell specs.
//!
//! For a cell spec every count equals what `metrics::compute(&spec.to_graph())` reports, but it
//! takes O(cells) integer arithmetic instead of building a graph. Every count is a sum of a head
//! term and one term per cell, and a cell's term depends only on the cell's (width, depth, tc),
//! the previous cell's width (its input channels) and the cell's input resolution, which is fixed
//! by the cell's position. Linear models over these counts therefore decompose the same way,
//! which is what makes the co-design search exact and fast.
//!
//! # Cell c in closed form
//! With `P` the cell's output pixels, `P_in` its input pixels, `cin` its input channels, `w`, `d`:
//! layer k = j - 1 (j = 2..d-1) receives `t = min(tc, k w)` skip channels; with
//! `m = min(d - 2, tc / w)` the first m such layers take whole earlier outputs and the other
//! `d - 2 - m` take `tc` channels, one channel slice of `r = tc mod w` each when `r > 0`. So the
//! total skips are `S = w m (m + 1) / 2 + tc (d - 2 - m)`, and
//! - params: `9 cin w + 9 w ((d - 1) w + S) + 2 w d`; MACs (3x3 convs): `9 w P (cin + (d - 1) w + S)`;
//! - activation elements: `cin P_in + 5 w P + 6 (d - 1) w P + S P` for the conv, BatchNorm and
//!   ReLU nodes, plus `2 ((d - 2) w + S) P` for the concats when `tc > 0` and `(w + r) P` per slice;
//! - concat elements: `((d - 2) w + S) P` when `tc > 0`, plus `r P` per slice;
//! - kernels (Conv + BatchNorm + ReLU fused): `d`, plus `d - 2` concats when `tc > 0`, plus slices.

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::space::{ArchSpec, CellSpec};

/// Number of entries of a [`FeatureVector`].
pub const NUM_FEATURES: usize = 11;

/// One count a hardware model may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// All multiply-accumulates.
    Macs,
    MacsConv3x3,
    MacsConv1x1,
    MacsDepthwise,
    MacsConvOther,
    MacsLinear,
    ActivationBytes,
    ConcatBytes,
    WeightBytes,
    Kernels,
    /// 1 for every architecture: the fixed cost of a run.
    Constant,
}

impl Feature {
    /// Every feature, in [`FeatureVector`] order.
    pub const ALL: [Feature; NUM_FEATURES] = [
        Feature::Macs,
        Feature::MacsConv3x3,
        Feature::MacsConv1x1,
        Feature::MacsDepthwise,
        Feature::MacsConvOther,
        Feature::MacsLinear,
        Feature::ActivationBytes,
        Feature::ConcatBytes,
        Feature::WeightBytes,
        Feature::Kernels,
        Feature::Constant,
    ];

    /// Position in a [`FeatureVector`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Values of every [`Feature`] of one architecture (or of one cell's share), in `Feature::ALL`
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FeatureVector(pub [f64; NUM_FEATURES]);

impl FeatureVector {
    pub fn get(&self, f: Feature) -> f64 {
        self.0[f.index()]
    }

    /// The features of any graph's metrics (the way ONNX imports are scored).
    pub fn from_metrics(m: &Metrics) -> Self {
        let k = &m.macs_by_kind;
        FeatureVector([
            m.macs as f64,
            k.conv3x3 as f64,
            k.conv1x1 as f64,
            k.depthwise as f64,
            k.conv_other as f64,
            k.linear as f64,
            m.activation_bytes as f64,
            m.concat_bytes as f64,
            m.weight_bytes as f64,
            m.kernels as f64,
            1.0,
        ])
    }

    /// The closed-form features of a cell spec.
    pub fn of_spec(spec: &ArchSpec) -> Self {
        Counts::of_spec(spec).features(1.0)
    }

    pub fn dot(&self, weights: &[f64; NUM_FEATURES]) -> f64 {
        self.0.iter().zip(weights).map(|(x, w)| x * w).sum()
    }
}

/// Integer counts of a cell network or of one of its terms. For a whole spec they equal the
/// corresponding fields of `metrics::compute` on its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    pub params: u64,
    pub macs_conv3x3: u64,
    pub macs_linear: u64,
    pub activation_bytes: u64,
    pub concat_bytes: u64,
    pub kernels: u64,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            params: self.params + o.params,
            macs_conv3x3: self.macs_conv3x3 + o.macs_conv3x3,
            macs_linear: self.macs_linear + o.macs_linear,
            activation_bytes: self.activation_bytes + o.activation_bytes,
            concat_bytes: self.concat_bytes + o.concat_bytes,
            kernels: self.kernels + o.kernels,
        }
    }
}

/// Where each cell of a network sits: its input resolution and whether it downsamples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    input_shape: [u64; 3],
    num_classes: u64,
    /// Input `[height, width]` of each cell, and the last cell's output as the final entry.
    resolutions: Vec<[u64; 2]>,
}

impl Layout {
    pub fn new(input_shape: [u64; 3], num_classes: u64, num_cells: usize) -> Self {
        let mut resolutions = vec![[input_shape[1], input_shape[2]]];
        for c in 0..num_cells {
            let [h, w] = resolutions[c];
            // Cell 0 keeps the resolution, later cells open with a stride-2 3x3 conv (pad 1).
            resolutions.push(if c == 0 {
                [h, w]
            } else {
                [(h - 1) / 2 + 1, (w - 1) / 2 + 1]
            });
        }
        Layout {
            input_shape,
            num_classes,
            resolutions,
        }
    }

    pub fn of_spec(spec: &ArchSpec) -> Self {
        Layout::new(spec.input_shape, spec.num_classes, spec.cells.len())
    }

    pub fn num_cells(&self) -> usize {
        self.resolutions.len() - 1
    }

    /// Input channels of cell `c` given the previous cell's width (ignored for cell 0).
    pub fn in_channels(&self, c: usize, prev_width: u64) -> u64 {
        if c == 0 {
            self.input_shape[0]
        } else {
            prev_width
        }
    }

    /// The term of cell `c` (0-based), with `prev_width` the previous cell's width.
    pub fn cell(&self, c: usize, prev_width: u64, cell: &CellSpec) -> Counts {
        let cin = self.in_channels(c, prev_width);
        let [hi, wi] = self.resolutions[c];
        let [ho, wo] = self.resolutions[c + 1];
        let (p_in, p) = (hi * wi, ho * wo);
        let (w, d, tc) = (cell.width, cell.depth, cell.tc);
        let m = (d - 2).min(tc / w);
        let s = w * m * (m + 1) / 2 + tc * (d - 2 - m);
        let r = tc % w;
        let slices = if r > 0 { d - 2 - m } else { 0 };
        let concat_elems = if tc > 0 { ((d - 2) * w + s) * p } else { 0 } + slices * r * p;
        let activation_elems = cin * p_in
            + 5 * w * p
            + 6 * (d - 1) * w * p
            + s * p
            + if tc > 0 { 2 * ((d - 2) * w + s) * p } else { 0 }
            + slices * (w + r) * p;
        Counts {
            params: 9 * cin * w + 9 * w * ((d - 1) * w + s) + 2 * w * d,
            macs_conv3x3: 9 * w * p * (cin + (d - 1) * w + s),
            macs_linear: 0,
            activation_bytes: 4 * activation_elems,
            concat_bytes: 4 * concat_elems,
            kernels: d + if tc > 0 { d - 2 } else { 0 } + slices,
        }
    }

    /// Whether `spec` has this layout's input shape, class count and cell count.
    pub fn fits(&self, spec: &ArchSpec) -> bool {
        spec.input_shape == self.input_shape
            && spec.num_classes == self.num_classes
            && spec.cells.len() == self.num_cells()
    }

    /// The counts of a spec that [`fits`](Self::fits) this layout.
    pub fn counts(&self, spec: &ArchSpec) -> Counts {
        let mut total = Counts::default();
        let mut prev = 0;
        for (c, cell) in spec.cells.iter().enumerate() {
            total = total + self.cell(c, prev, cell);
            prev = cell.width;
        }
        total + self.head(prev)
    }

    /// The head (global average pool, flatten, linear) after a last cell of width `last_width`.
    pub fn head(&self, last_width: u64) -> Counts {
        let [h, w] = self.resolutions[self.num_cells()];
        let k = self.num_classes;
        Counts {
            params: last_width * k + k,
            macs_conv3x3: 0,
            macs_linear: last_width * k,
            activation_bytes: 4 * (last_width * h * w + 2 * last_width + k),
            concat_bytes: 0,
            kernels: 2,
        }
    }
}

impl Counts {
    /// The counts of a whole cell spec: the head plus every cell's term.
    pub fn of_spec(spec: &ArchSpec) -> Self {
        Layout::of_spec(spec).counts(spec)
    }

    pub fn macs(&self) -> u64 {
        self.macs_conv3x3 + self.macs_linear
    }

    /// The feature vector of these counts; `constant` is 1 for a whole network (or a head term)
    /// and 0 for a cell's term, so that terms add up to the network's vector.
    pub fn features(&self, constant: f64) -> FeatureVector {
        FeatureVector([
            self.macs() as f64,
            self.macs_conv3x3 as f64,
            0.0,
            0.0,
            0.0,
            self.macs_linear as f64,
            self.activation_bytes as f64,
            self.concat_bytes as f64,
            4.0 * self.params as f64,
            self.kernels as f64,
            constant,
        ])
    }
}

/// NN-Degree contribution of one cell: `w + S / d`.
pub fn cell_nn_degree(cell: &CellSpec) -> f64 {
    let (w, d, tc) = (cell.width, cell.depth, cell.tc);
    let m = (d - 2).min(tc / w);
    let s = w * m * (m + 1) / 2 + tc * (d - 2 - m);
    w as f64 + s as f64 / d as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::compute;
    use crate::space::Space;
    use proptest::prelude::*;

    fn arb_spec() -> impl Strategy<Value = ArchSpec> {
        (
            1u64..4,
            5u64..40,
            5u64..40,
            1u64..20,
            prop::collection::vec((1u64..40, 3u64..10, 0u64..300), 1..5),
        )
            .prop_map(|(c, h, w, k, cells)| ArchSpec {
                space: "flash-densenet".into(),
                input_shape: [c, h, w],
                num_classes: k,
                cells: cells
                    .into_iter()
                    .map(|(width, depth, tc)| CellSpec { width, depth, tc })
                    .collect(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn closed_form_counts_equal_the_graph_metrics(spec in arb_spec()) {
            let m = compute(&spec.to_graph());
            let c = Counts::of_spec(&spec);
            prop_assert_eq!(c.params, m.params);
            prop_assert_eq!(c.macs_conv3x3, m.macs_by_kind.conv3x3);
            prop_assert_eq!(c.macs_linear, m.macs_by_kind.linear);
            prop_assert_eq!(c.macs(), m.macs);
            prop_assert_eq!(c.activation_bytes, m.activation_bytes);
            prop_assert_eq!(c.concat_bytes, m.concat_bytes);
            prop_assert_eq!(c.kernels, m.kernels);
            prop_assert_eq!(FeatureVector::of_spec(&spec), FeatureVector::from_metrics(&m));
            let degree: f64 = spec.cells.iter().map(cell_nn_degree).sum();
            prop_assert!((degree - spec.nn_degree()).abs() < 1e-9 * degree);
        }
    }

    #[test]
    fn counts_match_on_random_specs_of_both_spaces() {
        for space in Space::all() {
            for spec in space.sample_uniform(20, 11) {
                let m = compute(&spec.to_graph());
                assert_eq!(
                    FeatureVector::of_spec(&spec),
                    FeatureVector::from_metrics(&m)
                );
            }
        }
    }

    #[test]
    fn a_cell_term_depends_on_the_previous_width_only_through_its_first_conv() {
        let layout = Layout::new([3, 32, 32], 10, 3);
        let cell = CellSpec {
            width: 32,
            depth: 7,
            tc: 40,
        };
        let a = layout.cell(1, 16, &cell);
        let b = layout.cell(1, 48, &cell);
        // 16x16 output pixels, 32x32 input pixels, 32 more input channels
        assert_eq!(b.params - a.params, 9 * 32 * 32);
        assert_eq!(b.macs_conv3x3 - a.macs_conv3x3, 9 * 32 * 256 * 32);
        assert_eq!(b.activation_bytes - a.activation_bytes, 4 * 32 * 1024);
        assert_eq!((a.kernels, a.concat_bytes), (b.kernels, b.concat_bytes));
    }
}
