//! The counts of a cell spec in closed form.
//!
//! For a cell spec every count equals what `metrics::compute(&spec.to_graph())` reports, but it
//! takes O(cells) integer arithmetic instead of building a graph. Every count is a sum of a head
//! term and one term per cell, and a cell's term depends only on the cell's (width, depth, tc),
//! the previous cell's width (its input channels) and the cell's input resolution, which is fixed
//! by the cell's position. Linear models over these counts therefore decompose the same way,
//! which is what makes the co-design search exact and fast.
//!
//! In a cell network cell c is stage c, since every cell after the first opens with a stride-2
//! conv, and the head (global average pool, flatten, linear) belongs to the last cell's stage:
//! global average pooling does not start a stage. So each term lies whole in one stage slot.
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
//! - layers: `d` 3x3 convs, and `d - 2` concats when `tc > 0` plus the slices;
//! - kernels (Conv + BatchNorm + ReLU fused): `d`, plus `d - 2` concats when `tc > 0`, plus slices.
//!
//! Only the `cin` terms (the first conv's weights, MACs and input reads) depend on the previous
//! cell: that is [`Layout::coupling`].

use serde::{Deserialize, Serialize};

use super::{Feature, FeatureVector, MAX_STAGES, stage_slot};
use crate::metrics::{LayerCounts, MacCounts, Metrics, StageCounts};
use crate::space::{ArchSpec, CellSpec, Family};

/// Integer counts of a network or of one of its terms. For a whole cell spec they equal the
/// corresponding fields of `metrics::compute` on its graph, stages merged into their slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    pub params: u64,
    pub macs_by_kind: MacCounts,
    pub layers_by_kind: LayerCounts,
    pub activation_bytes: u64,
    pub concat_bytes: u64,
    pub kernels: u64,
    /// Per stage slot (see [`MAX_STAGES`]).
    pub stages: [StageCounts; MAX_STAGES],
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            params: self.params + o.params,
            macs_by_kind: self.macs_by_kind + o.macs_by_kind,
            layers_by_kind: self.layers_by_kind + o.layers_by_kind,
            activation_bytes: self.activation_bytes + o.activation_bytes,
            concat_bytes: self.concat_bytes + o.concat_bytes,
            kernels: self.kernels + o.kernels,
            stages: std::array::from_fn(|s| self.stages[s] + o.stages[s]),
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
        let [ho, wo] = self.resolutions[c + 1];
        let p = ho * wo;
        let (w, d, tc) = (cell.width, cell.depth, cell.tc());
        let m = (d - 2).min(tc / w);
        let s = w * m * (m + 1) / 2 + tc * (d - 2 - m);
        let r = tc % w;
        let slices = if r > 0 { d - 2 - m } else { 0 };
        let concats = if tc > 0 { d - 2 } else { 0 };
        let concat_elems = if tc > 0 { ((d - 2) * w + s) * p } else { 0 } + slices * r * p;
        let activation_elems = 5 * w * p
            + 6 * (d - 1) * w * p
            + s * p
            + if tc > 0 { 2 * ((d - 2) * w + s) * p } else { 0 }
            + slices * (w + r) * p;
        let own = Counts {
            params: 9 * w * ((d - 1) * w + s) + 2 * w * d,
            macs_by_kind: MacCounts {
                conv3x3: 9 * w * p * ((d - 1) * w + s),
                ..MacCounts::default()
            },
            layers_by_kind: LayerCounts {
                conv3x3: d,
                concat: concats + slices,
                ..LayerCounts::default()
            },
            activation_bytes: 4 * activation_elems,
            concat_bytes: 4 * concat_elems,
            kernels: d + concats + slices,
            ..Counts::default()
        };
        (own + self.input_term(c, self.in_channels(c, prev_width), w)).in_stage(stage_slot(c))
    }

    /// The part of cell `c`'s term that depends on the previous cell's width, for a cell of
    /// width `width`: zero for cell 0 (its input is the image), so that
    /// `cell(c, prev, x) == cell(c, 0, x) + coupling(c, prev, x.width)`.
    pub fn coupling(&self, c: usize, prev_width: u64, width: u64) -> Counts {
        if c == 0 {
            Counts::default()
        } else {
            self.input_term(c, prev_width, width)
                .in_stage(stage_slot(c))
        }
    }

    /// What `cin` input channels add to cell `c`'s first conv (width `w`): its weights, its
    /// MACs and the input activations it reads.
    fn input_term(&self, c: usize, cin: u64, w: u64) -> Counts {
        let [hi, wi] = self.resolutions[c];
        let [ho, wo] = self.resolutions[c + 1];
        Counts {
            params: 9 * cin * w,
            macs_by_kind: MacCounts {
                conv3x3: 9 * w * ho * wo * cin,
                ..MacCounts::default()
            },
            activation_bytes: 4 * cin * hi * wi,
            ..Counts::default()
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

    /// The head (global average pool, flatten, linear) after a last cell of width `last_width`,
    /// in the last cell's stage.
    pub fn head(&self, last_width: u64) -> Counts {
        let [h, w] = self.resolutions[self.num_cells()];
        let k = self.num_classes;
        Counts {
            params: last_width * k + k,
            macs_by_kind: MacCounts {
                linear: last_width * k,
                ..MacCounts::default()
            },
            layers_by_kind: LayerCounts {
                linear: 1,
                pool: 1,
                ..LayerCounts::default()
            },
            activation_bytes: 4 * (last_width * h * w + 2 * last_width + k),
            kernels: 2,
            ..Counts::default()
        }
        .in_stage(stage_slot(self.num_cells().saturating_sub(1)))
    }
}

impl Counts {
    /// The counts of a whole spec: in closed form (the head plus every cell's term), or from the
    /// metrics of its graph for a ResNet or MobileNet spec not in its space's shape.
    pub fn of_spec(spec: &ArchSpec) -> Self {
        match spec.family() {
            Family::Densenet => Layout::of_spec(spec).counts(spec),
            _ => Counts::and_degree(spec).0,
        }
    }

    /// The counts and NN-Degree of a whole spec, in closed form (see [`Counts::of_spec`]);
    /// otherwise from its graph's metrics, built once.
    pub fn and_degree(spec: &ArchSpec) -> (Self, f64) {
        match (spec.family(), spec.space()) {
            (Family::Densenet, _) => (Layout::of_spec(spec).counts(spec), spec.nn_degree()),
            // In the shape of its space: the sum of the cells' closed-form terms.
            (family, Some(space))
                if space.family == family
                    && space.input_shape == spec.input_shape
                    && space.num_classes == spec.num_classes
                    && space.num_cells == spec.cells.len() =>
            {
                let mut counts = Counts::default();
                let mut prev = 0;
                for (c, cell) in spec.cells.iter().enumerate() {
                    counts = counts + super::cell_term(space, c, prev, cell).0;
                    prev = cell.width;
                }
                (counts, spec.nn_degree())
            }
            _ => {
                let m = crate::metrics::compute(&spec.to_graph());
                (Counts::from_metrics(&m), m.nn_degree)
            }
        }
    }

    /// The counts of any graph's metrics, its stages merged into their slots.
    pub fn from_metrics(m: &Metrics) -> Self {
        Counts::from_metrics_at(m, 0)
    }

    /// The counts of a part of a network whose stage 0 is the network's stage `first_stage`.
    pub(super) fn from_metrics_at(m: &Metrics, first_stage: usize) -> Self {
        let mut stages = [StageCounts::default(); MAX_STAGES];
        for (s, counts) in m.stages.iter().enumerate() {
            let slot = stage_slot(s + first_stage);
            stages[slot] = stages[slot] + *counts;
        }
        Counts {
            params: m.params,
            macs_by_kind: m.macs_by_kind,
            layers_by_kind: m.layers_by_kind,
            activation_bytes: m.activation_bytes,
            concat_bytes: m.concat_bytes,
            kernels: m.kernels,
            stages,
        }
    }

    pub fn macs(&self) -> u64 {
        self.macs_by_kind.total()
    }

    /// These counts (of no stage yet) placed whole in stage slot `slot`: a cell's term and the
    /// head each lie in one stage.
    pub(super) fn in_stage(mut self, slot: usize) -> Counts {
        debug_assert_eq!(self.stages, Counts::default().stages);
        self.stages[slot] = StageCounts {
            macs: self.macs(),
            layers: self.layers_by_kind.parametrised(),
            activation_bytes: self.activation_bytes,
            concat_bytes: self.concat_bytes,
        };
        self
    }

    /// The feature vector of these counts; `constant` is 1 for a whole network (or a head term)
    /// and 0 for a cell's term, so that terms add up to the network's vector.
    pub fn features(&self, constant: f64) -> FeatureVector {
        use Feature::*;
        let (k, l) = (&self.macs_by_kind, &self.layers_by_kind);
        let mut x = FeatureVector::default();
        for (f, v) in [
            (Macs, k.total()),
            (MacsConv3x3, k.conv3x3),
            (MacsConv1x1, k.conv1x1),
            (MacsDepthwise, k.depthwise),
            (MacsConvOther, k.conv_other),
            (MacsLinear, k.linear),
            (ActivationBytes, self.activation_bytes),
            (ConcatBytes, self.concat_bytes),
            (WeightBytes, 4 * self.params),
            (Kernels, self.kernels),
            (Conv3x3Layers, l.conv3x3),
            (Conv1x1Layers, l.conv1x1),
            (DepthwiseLayers, l.depthwise),
            (ConvOtherLayers, l.conv_other),
            (LinearLayers, l.linear),
            (PoolLayers, l.pool),
            (AddLayers, l.add),
            (ConcatLayers, l.concat),
        ] {
            x.0[f.index()] = v as f64;
        }
        for (slot, st) in self.stages.iter().enumerate() {
            x.0[Feature::stage_macs(slot).index()] = st.macs as f64;
            x.0[Feature::stage_layers(slot).index()] = st.layers as f64;
            x.0[Feature::stage_activation_bytes(slot).index()] = st.activation_bytes as f64;
            x.0[Feature::stage_concat_bytes(slot).index()] = st.concat_bytes as f64;
        }
        x.0[Constant.index()] = constant;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::compute;
    use crate::space::Space;
    use proptest::prelude::*;

    /// Up to 8 cells, so that stages past the last slot are merged too.
    fn arb_spec() -> impl Strategy<Value = ArchSpec> {
        (
            1u64..4,
            5u64..40,
            5u64..40,
            1u64..20,
            prop::collection::vec((1u64..40, 3u64..10, 0u64..300), 1..9),
        )
            .prop_map(|(c, h, w, k, cells)| ArchSpec {
                space: "flash-densenet".into(),
                input_shape: [c, h, w],
                num_classes: k,
                cells: cells
                    .into_iter()
                    .map(|(width, depth, tc)| CellSpec::dense(width, depth, tc))
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
            prop_assert_eq!(c.macs_by_kind, m.macs_by_kind);
            prop_assert_eq!(c.macs(), m.macs);
            prop_assert_eq!(c.layers_by_kind, m.layers_by_kind);
            prop_assert_eq!(c.layers_by_kind.parametrised(), m.parametrised_layers);
            prop_assert_eq!(c.activation_bytes, m.activation_bytes);
            prop_assert_eq!(c.concat_bytes, m.concat_bytes);
            prop_assert_eq!(c.kernels, m.kernels);
            // Cell c is stage c, the head is in the last one; later stages share the last slot.
            prop_assert_eq!(m.stages.len(), spec.cells.len());
            prop_assert_eq!(c, Counts::from_metrics(&m));
            for (s, st) in m.stages.iter().enumerate().take(MAX_STAGES - 1) {
                prop_assert_eq!(*st, c.stages[s]);
            }
            let slots = c.stages.iter().fold(StageCounts::default(), |a, b| a + *b);
            prop_assert_eq!(
                (slots.macs, slots.layers, slots.activation_bytes, slots.concat_bytes),
                (m.macs, m.parametrised_layers, m.activation_bytes, m.concat_bytes)
            );
            prop_assert_eq!(FeatureVector::of_spec(&spec), FeatureVector::from_metrics(&m));
            let around = Space::default_space().surroundings();
            let degree: f64 = spec.cells.iter().enumerate().map(|(c, cell)| cell.nn_degree(c, &around)).sum();
            prop_assert!((degree - spec.nn_degree()).abs() < 1e-9 * degree);
        }

        #[test]
        fn a_cell_term_depends_on_the_previous_width_only_through_its_coupling(
            spec in arb_spec(),
            prev in 1u64..64,
        ) {
            let layout = Layout::of_spec(&spec);
            for (c, cell) in spec.cells.iter().enumerate() {
                prop_assert_eq!(
                    layout.cell(c, prev, cell),
                    layout.cell(c, 0, cell) + layout.coupling(c, prev, cell.width)
                );
            }
        }
    }

    #[test]
    fn counts_match_on_random_specs_of_both_spaces() {
        for space in Space::all().iter().filter(|s| s.family == Family::Densenet) {
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
    fn the_coupling_is_the_first_convs_input_in_the_cells_stage() {
        let layout = Layout::new([3, 32, 32], 10, 3);
        // 16x16 output pixels, 32x32 input pixels, 48 input channels, width 32
        let k = layout.coupling(1, 48, 32);
        assert_eq!(k.params, 9 * 48 * 32);
        assert_eq!(k.macs(), 9 * 32 * 256 * 48);
        assert_eq!(k.activation_bytes, 4 * 48 * 1024);
        assert_eq!(
            k.stages[1],
            StageCounts {
                macs: k.macs(),
                layers: 0,
                activation_bytes: k.activation_bytes,
                concat_bytes: 0
            }
        );
        assert_eq!(k.stages[0], StageCounts::default());
        assert_eq!(
            (k.kernels, k.concat_bytes, k.layers_by_kind),
            (0, 0, LayerCounts::default())
        );
        assert_eq!(layout.coupling(0, 48, 32), Counts::default());
    }
}
