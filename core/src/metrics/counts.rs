//! The count types of a graph's metrics that add up over its parts: MACs and layers per
//! operator kind, and the counts of one stage.

use serde::{Deserialize, Serialize};

/// Multiply-accumulates per operator kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MacCounts {
    /// Dense (or grouped, not depthwise) 3x3 convolutions.
    pub conv3x3: u64,
    /// 1x1 (pointwise) convolutions.
    pub conv1x1: u64,
    /// Depthwise convolutions (groups = input channels).
    pub depthwise: u64,
    /// Convolutions of any other kernel size.
    pub conv_other: u64,
    /// Linear (fully connected) layers.
    pub linear: u64,
}

impl MacCounts {
    pub fn total(&self) -> u64 {
        self.conv3x3 + self.conv1x1 + self.depthwise + self.conv_other + self.linear
    }

    pub(super) fn conv_mut(&mut self, kind: ConvKind) -> &mut u64 {
        match kind {
            ConvKind::Conv3x3 => &mut self.conv3x3,
            ConvKind::Conv1x1 => &mut self.conv1x1,
            ConvKind::Depthwise => &mut self.depthwise,
            ConvKind::Other => &mut self.conv_other,
        }
    }
}

impl std::ops::Add for MacCounts {
    type Output = MacCounts;
    fn add(self, o: MacCounts) -> MacCounts {
        MacCounts {
            conv3x3: self.conv3x3 + o.conv3x3,
            conv1x1: self.conv1x1 + o.conv1x1,
            depthwise: self.depthwise + o.depthwise,
            conv_other: self.conv_other + o.conv_other,
            linear: self.linear + o.linear,
        }
    }
}

/// How a convolution is counted: depthwise first, then by kernel size.
#[derive(Clone, Copy)]
pub(super) enum ConvKind {
    Conv3x3,
    Conv1x1,
    Depthwise,
    Other,
}

impl ConvKind {
    pub(super) fn of(kernel: u64, groups: u64, in_channels: u64) -> Self {
        if groups > 1 && groups == in_channels {
            ConvKind::Depthwise
        } else if kernel == 1 {
            ConvKind::Conv1x1
        } else if kernel == 3 {
            ConvKind::Conv3x3
        } else {
            ConvKind::Other
        }
    }
}

/// Layers (graph nodes) per operator kind; convolutions split as in [`MacCounts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerCounts {
    pub conv3x3: u64,
    pub conv1x1: u64,
    pub depthwise: u64,
    pub conv_other: u64,
    pub linear: u64,
    /// Max, average and global average pooling.
    pub pool: u64,
    /// Element-wise additions (residual joins).
    pub add: u64,
    /// Concats and channel slices: the copies `concat_bytes` counts.
    pub concat: u64,
}

impl LayerCounts {
    /// Convolutions and linear layers.
    pub fn parametrised(&self) -> u64 {
        self.conv3x3 + self.conv1x1 + self.depthwise + self.conv_other + self.linear
    }

    pub(super) fn conv_mut(&mut self, kind: ConvKind) -> &mut u64 {
        match kind {
            ConvKind::Conv3x3 => &mut self.conv3x3,
            ConvKind::Conv1x1 => &mut self.conv1x1,
            ConvKind::Depthwise => &mut self.depthwise,
            ConvKind::Other => &mut self.conv_other,
        }
    }
}

impl std::ops::Add for LayerCounts {
    type Output = LayerCounts;
    fn add(self, o: LayerCounts) -> LayerCounts {
        LayerCounts {
            conv3x3: self.conv3x3 + o.conv3x3,
            conv1x1: self.conv1x1 + o.conv1x1,
            depthwise: self.depthwise + o.depthwise,
            conv_other: self.conv_other + o.conv_other,
            linear: self.linear + o.linear,
            pool: self.pool + o.pool,
            add: self.add + o.add,
            concat: self.concat + o.concat,
        }
    }
}

/// The counts of one stage (the layers between two downsamplings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageCounts {
    pub macs: u64,
    /// Convolutions and linear layers.
    pub layers: u64,
    /// Bytes of float32 activations read and written by the stage's operators.
    pub activation_bytes: u64,
    /// Bytes written by the stage's concat and channel-slice copies.
    pub concat_bytes: u64,
}

impl std::ops::Add for StageCounts {
    type Output = StageCounts;
    fn add(self, o: StageCounts) -> StageCounts {
        StageCounts {
            macs: self.macs + o.macs,
            layers: self.layers + o.layers,
            activation_bytes: self.activation_bytes + o.activation_bytes,
            concat_bytes: self.concat_bytes + o.concat_bytes,
        }
    }
}
