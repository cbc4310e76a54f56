//! The count types of a graph's metrics that add up over its parts: MACs and layers per
//! operator kind, and the counts of one stage. Each type lists its fields once ([`Fields`]);
//! adding, the per-kind accessor and the parametrised sum are written once over that list.

use serde::{Deserialize, Serialize};

/// One `u64` field of a count struct.
type Field<T> = for<'a> fn(&'a mut T) -> &'a mut u64;

/// A struct of `u64` counts that add up field by field.
pub(crate) trait Fields: Copy + 'static {
    /// Every field of the struct, each once. Per-kind counts ([`PerKind`]) list the
    /// parametrised kinds first: the convolutions in [`ConvKind`] order, then linear layers.
    const FIELDS: &'static [Field<Self>];

    /// The field-by-field sum.
    fn plus(mut self, mut other: Self) -> Self {
        for field in Self::FIELDS {
            *field(&mut self) += *field(&mut other);
        }
        self
    }

    /// Every field times `n`.
    fn times(mut self, n: u64) -> Self {
        for field in Self::FIELDS {
            *field(&mut self) *= n;
        }
        self
    }
}

/// Parametrised kinds at the head of a [`PerKind`] field list: four convolution kinds, linear.
const PARAMETRISED_KINDS: usize = 5;

/// Counts per operator kind, convolutions split by [`ConvKind`].
pub(crate) trait PerKind: Fields {
    /// The count of convolutions of `kind`.
    fn conv_mut(&mut self, kind: ConvKind) -> &mut u64 {
        Self::FIELDS[kind as usize](self)
    }

    /// The sum over the convolution kinds and linear layers.
    fn parametrised_sum(mut self) -> u64 {
        Self::FIELDS[..PARAMETRISED_KINDS]
            .iter()
            .map(|field| *field(&mut self))
            .sum()
    }
}

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
        self.parametrised_sum()
    }
}

impl Fields for MacCounts {
    const FIELDS: &'static [Field<Self>] = &[
        |c| &mut c.conv3x3,
        |c| &mut c.conv1x1,
        |c| &mut c.depthwise,
        |c| &mut c.conv_other,
        |c| &mut c.linear,
    ];
}

impl PerKind for MacCounts {}

impl std::ops::Add for MacCounts {
    type Output = MacCounts;
    fn add(self, o: MacCounts) -> MacCounts {
        self.plus(o)
    }
}

/// How a convolution is counted: depthwise first, then by kernel size. The discriminant is the
/// kind's position in a [`PerKind`] field list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConvKind {
    Conv3x3 = 0,
    Conv1x1 = 1,
    Depthwise = 2,
    Other = 3,
}

impl ConvKind {
    pub(crate) fn of(kernel: u64, groups: u64, in_channels: u64) -> Self {
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
    /// Concats, channel slices and channel shuffles: the copies `concat_bytes` counts.
    pub concat: u64,
    /// Element-wise products (squeeze-and-excitation gates, SiLU); zero in rows stored before
    /// it existed.
    #[serde(default)]
    pub mul: u64,
}

impl LayerCounts {
    /// Convolutions and linear layers.
    pub fn parametrised(&self) -> u64 {
        self.parametrised_sum()
    }
}

impl Fields for LayerCounts {
    const FIELDS: &'static [Field<Self>] = &[
        |c| &mut c.conv3x3,
        |c| &mut c.conv1x1,
        |c| &mut c.depthwise,
        |c| &mut c.conv_other,
        |c| &mut c.linear,
        |c| &mut c.pool,
        |c| &mut c.add,
        |c| &mut c.concat,
        |c| &mut c.mul,
    ];
}

impl PerKind for LayerCounts {}

impl std::ops::Add for LayerCounts {
    type Output = LayerCounts;
    fn add(self, o: LayerCounts) -> LayerCounts {
        self.plus(o)
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

impl Fields for StageCounts {
    const FIELDS: &'static [Field<Self>] = &[
        |c| &mut c.macs,
        |c| &mut c.layers,
        |c| &mut c.activation_bytes,
        |c| &mut c.concat_bytes,
    ];
}

impl std::ops::Add for StageCounts {
    type Output = StageCounts;
    fn add(self, o: StageCounts) -> StageCounts {
        self.plus(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field listed once: 1 added through each entry gives 1 in every field.
    fn ones<T: Fields + Default>() -> T {
        assert_eq!(size_of::<T>(), T::FIELDS.len() * size_of::<u64>());
        let mut c = T::default();
        for field in T::FIELDS {
            *field(&mut c) += 1;
        }
        c
    }

    #[test]
    fn each_type_lists_every_field_once() {
        let m: MacCounts = ones();
        assert_eq!(
            m,
            MacCounts {
                conv3x3: 1,
                conv1x1: 1,
                depthwise: 1,
                conv_other: 1,
                linear: 1
            }
        );
        let l: LayerCounts = ones();
        assert_eq!(
            l,
            LayerCounts {
                conv3x3: 1,
                conv1x1: 1,
                depthwise: 1,
                conv_other: 1,
                linear: 1,
                pool: 1,
                add: 1,
                concat: 1,
                mul: 1
            }
        );
        let s: StageCounts = ones();
        assert_eq!(
            s,
            StageCounts {
                macs: 1,
                layers: 1,
                activation_bytes: 1,
                concat_bytes: 1
            }
        );
    }

    #[test]
    fn sums_and_kinds_by_hand() {
        let mut l = LayerCounts {
            linear: 2,
            pool: 3,
            add: 5,
            concat: 7,
            ..LayerCounts::default()
        };
        *l.conv_mut(ConvKind::of(3, 1, 16)) += 11;
        *l.conv_mut(ConvKind::of(1, 1, 16)) += 13;
        *l.conv_mut(ConvKind::of(3, 16, 16)) += 17;
        *l.conv_mut(ConvKind::of(5, 1, 16)) += 19;
        assert_eq!(
            (l.conv3x3, l.conv1x1, l.depthwise, l.conv_other),
            (11, 13, 17, 19)
        );
        assert_eq!(l.parametrised(), 11 + 13 + 17 + 19 + 2);
        let twice = l + l;
        assert_eq!((twice.depthwise, twice.concat), (34, 14));

        let mut m = MacCounts {
            linear: 100,
            ..MacCounts::default()
        };
        *m.conv_mut(ConvKind::Depthwise) += 9;
        *m.conv_mut(ConvKind::Other) += 1;
        assert_eq!((m.depthwise, m.conv_other, m.total()), (9, 1, 110));
        assert_eq!((m + m).total(), 220);
    }
}
