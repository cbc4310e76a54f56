//! The per-architecture counts that hardware models are fitted on: [`Feature`] names them and a
//! [`FeatureVector`] holds their values, from any graph's metrics or, for cell specs, in closed
//! form (`closed_form`).
//!
//! # Stages
//! A stage is the run of layers between two downsamplings (`metrics` assigns one to every node;
//! global average pooling does not start one, so a classifier head is in the last stage).
//! Per-stage features have [`MAX_STAGES`] slots so that a [`FeatureVector`] keeps a fixed size;
//! stages past the last slot are added into it.

use serde::{Deserialize, Serialize};
use strum::{EnumCount, VariantArray};

use crate::metrics::Metrics;
use crate::space::ArchSpec;

mod cell_terms;
mod closed_form;
mod stage_form;

pub use cell_terms::{REFERENCE_CHANNELS, cell_term};
pub use closed_form::{Counts, Layout};

/// Stage slots of the per-stage features; a network's stages from the last slot on share it.
pub const MAX_STAGES: usize = 6;

/// The slot of stage `stage`.
pub fn stage_slot(stage: usize) -> usize {
    stage.min(MAX_STAGES - 1)
}

/// Number of entries of a [`FeatureVector`]: 11 totals, 8 layer kinds, 4 counts per stage slot.
pub const NUM_FEATURES: usize = Feature::COUNT;
const _: () = assert!(NUM_FEATURES == 11 + 8 + 4 * MAX_STAGES);

// `Feature::VARIANTS` (strum's `VariantArray`) lists every feature in `FeatureVector` order. (Not
// in the doc comment: that is the OpenAPI description.)
/// One count a hardware model may use.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    EnumCount,
    VariantArray,
    strum::IntoStaticStr,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    /// Layers of one operator kind each, as in `metrics::LayerCounts`.
    Conv3x3Layers,
    Conv1x1Layers,
    DepthwiseLayers,
    ConvOtherLayers,
    LinearLayers,
    PoolLayers,
    AddLayers,
    /// Concats and channel slices.
    ConcatLayers,
    /// MACs of stage slot 0; the next five are slots 1 to 5 (see [`MAX_STAGES`]).
    Stage0Macs,
    Stage1Macs,
    Stage2Macs,
    Stage3Macs,
    Stage4Macs,
    Stage5Macs,
    /// Convolutions and linear layers of stage slot 0; the next five are slots 1 to 5.
    Stage0Layers,
    Stage1Layers,
    Stage2Layers,
    Stage3Layers,
    Stage4Layers,
    Stage5Layers,
    /// Activation bytes read and written in stage slot 0; the next five are slots 1 to 5.
    Stage0ActivationBytes,
    Stage1ActivationBytes,
    Stage2ActivationBytes,
    Stage3ActivationBytes,
    Stage4ActivationBytes,
    Stage5ActivationBytes,
    /// Concat and channel-slice bytes of stage slot 0; the next five are slots 1 to 5.
    Stage0ConcatBytes,
    Stage1ConcatBytes,
    Stage2ConcatBytes,
    Stage3ConcatBytes,
    Stage4ConcatBytes,
    Stage5ConcatBytes,
}

impl Feature {
    /// Position in a [`FeatureVector`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// MACs of stage slot `slot` (< [`MAX_STAGES`]).
    pub const fn stage_macs(slot: usize) -> Feature {
        Feature::in_slot(Feature::Stage0Macs, slot)
    }

    /// Convolutions and linear layers of stage slot `slot`.
    pub const fn stage_layers(slot: usize) -> Feature {
        Feature::in_slot(Feature::Stage0Layers, slot)
    }

    /// Activation bytes of stage slot `slot`.
    pub const fn stage_activation_bytes(slot: usize) -> Feature {
        Feature::in_slot(Feature::Stage0ActivationBytes, slot)
    }

    /// Concat and channel-slice bytes of stage slot `slot`.
    pub const fn stage_concat_bytes(slot: usize) -> Feature {
        Feature::in_slot(Feature::Stage0ConcatBytes, slot)
    }

    const fn in_slot(first: Feature, slot: usize) -> Feature {
        assert!(slot < MAX_STAGES, "no such stage slot");
        Feature::VARIANTS[first.index() + slot]
    }
}

/// Values of every [`Feature`] of one architecture (or of one cell's share), in
/// `Feature::VARIANTS` order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureVector(pub [f64; NUM_FEATURES]);

impl Default for FeatureVector {
    fn default() -> Self {
        FeatureVector([0.0; NUM_FEATURES])
    }
}

impl FeatureVector {
    pub fn get(&self, f: Feature) -> f64 {
        self.0[f.index()]
    }

    /// The features of any graph's metrics (the way ONNX imports are scored).
    pub fn from_metrics(m: &Metrics) -> Self {
        Counts::from_metrics(m).features(1.0)
    }

    /// The closed-form features of a cell spec.
    pub fn of_spec(spec: &ArchSpec) -> Self {
        Counts::of_spec(spec).features(1.0)
    }

    pub fn dot(&self, weights: &[f64; NUM_FEATURES]) -> f64 {
        self.0.iter().zip(weights).map(|(x, w)| x * w).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_listed_in_index_order_with_named_stage_slots() {
        assert_eq!(Feature::VARIANTS.len(), NUM_FEATURES);
        for (i, f) in Feature::VARIANTS.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
        assert_eq!(Feature::stage_macs(2), Feature::Stage2Macs);
        assert_eq!(Feature::stage_layers(5), Feature::Stage5Layers);
        assert_eq!(
            Feature::stage_activation_bytes(0),
            Feature::Stage0ActivationBytes
        );
        assert_eq!(Feature::stage_concat_bytes(3), Feature::Stage3ConcatBytes);
        let names = serde_json::to_string(&[Feature::Stage2Macs, Feature::Conv3x3Layers]).unwrap();
        assert_eq!(names, r#"["stage2_macs","conv3x3_layers"]"#);
        for &f in Feature::VARIANTS {
            assert_eq!(serde_json::to_value(f).unwrap(), <&str>::from(f));
        }
    }
}
