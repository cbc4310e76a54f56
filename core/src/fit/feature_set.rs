//! The candidate feature sets of hardware models.

use serde::{Deserialize, Serialize};
use strum::VariantArray;

use crate::features::{Feature, MAX_STAGES};

// `FeatureSet::VARIANTS` lists the sets in this order. (Not in the doc comment: that is the
// OpenAPI description.)
/// The candidate feature sets, smallest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, VariantArray, strum::Display,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FeatureSet {
    /// MACs and a constant: the FLOPs-only baseline.
    Macs,
    /// MACs, activation and weight bytes, constant.
    MacsBytes,
    /// MACs, bytes, concat copies, kernel launches, constant.
    MacsBytesKernels,
    /// MACs per operator kind, bytes, concat copies, kernel launches, constant.
    PerKind,
    /// Per stage: MACs, layers and concat bytes; constant.
    PerStage,
    /// Per stage: MACs, layers, activation and concat bytes; layers per operator kind, weight
    /// bytes, constant.
    PerStageAndKind,
}

const PER_STAGE: [Feature; 3 * MAX_STAGES + 1] = {
    let mut f = [Feature::Constant; 3 * MAX_STAGES + 1];
    let mut s = 0;
    while s < MAX_STAGES {
        f[s] = Feature::stage_macs(s);
        f[MAX_STAGES + s] = Feature::stage_layers(s);
        f[2 * MAX_STAGES + s] = Feature::stage_concat_bytes(s);
        s += 1;
    }
    f
};

const PER_STAGE_AND_KIND: [Feature; 4 * MAX_STAGES + 10] = {
    use Feature::*;
    let rest = [
        Conv3x3Layers,
        Conv1x1Layers,
        DepthwiseLayers,
        ConvOtherLayers,
        LinearLayers,
        PoolLayers,
        AddLayers,
        ConcatLayers,
        WeightBytes,
        Constant,
    ];
    let mut f = [Constant; 4 * MAX_STAGES + 10];
    let mut s = 0;
    while s < MAX_STAGES {
        f[s] = Feature::stage_macs(s);
        f[MAX_STAGES + s] = Feature::stage_layers(s);
        f[2 * MAX_STAGES + s] = Feature::stage_activation_bytes(s);
        f[3 * MAX_STAGES + s] = Feature::stage_concat_bytes(s);
        s += 1;
    }
    let mut k = 0;
    while k < rest.len() {
        f[4 * MAX_STAGES + k] = rest[k];
        k += 1;
    }
    f
};

impl FeatureSet {
    pub fn features(self) -> &'static [Feature] {
        use Feature::*;
        match self {
            FeatureSet::Macs => &[Macs, Constant],
            FeatureSet::MacsBytes => &[Macs, ActivationBytes, WeightBytes, Constant],
            FeatureSet::MacsBytesKernels => &[
                Macs,
                ActivationBytes,
                WeightBytes,
                ConcatBytes,
                Kernels,
                Constant,
            ],
            FeatureSet::PerKind => &[
                MacsConv3x3,
                MacsConv1x1,
                MacsDepthwise,
                MacsConvOther,
                MacsLinear,
                ActivationBytes,
                WeightBytes,
                ConcatBytes,
                Kernels,
                Constant,
            ],
            FeatureSet::PerStage => &PER_STAGE,
            FeatureSet::PerStageAndKind => &PER_STAGE_AND_KIND,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_grow_and_list_each_feature_once() {
        for pair in FeatureSet::VARIANTS.windows(2) {
            assert!(pair[0].features().len() < pair[1].features().len());
        }
        for &set in FeatureSet::VARIANTS {
            let mut f = set.features().to_vec();
            f.sort();
            f.dedup();
            assert_eq!(f.len(), set.features().len(), "{set:?}");
            assert!(f.contains(&Feature::Constant));
        }
        let stage2 = [
            Feature::Stage2Macs,
            Feature::Stage2Layers,
            Feature::Stage2ConcatBytes,
        ];
        assert!(stage2.iter().all(|f| PER_STAGE.contains(f)));
        assert!(!PER_STAGE.contains(&Feature::Stage2ActivationBytes));
        assert!(PER_STAGE.iter().all(|f| PER_STAGE_AND_KIND.contains(f)));
    }
}
