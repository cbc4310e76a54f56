//! Search spaces: grids of cell networks of three families, their specs and sampling.
//! - `flash-densenet` (and `flash-densenet-digits`): the DenseNet-type cell network of FLASH.
//! - `flash-resnet` (and `-imagenet`): ResNet / Wide-ResNet-type stages.
//! - `flash-mobilenet` (and `-imagenet`): MobileNetV2-type inverted residual stages.
//!
//! In every family cell 0 keeps the resolution and every later cell halves it with the stride of
//! its first convolution, so that each cell after the first is exactly one stage (which keeps
//! every count and NN-Degree a sum of per-cell terms, and the search exact: see
//! `features::cell_term`). Torchvision's ResNet-50 and MobileNetV2 put the stride on a later
//! convolution of the block instead; ResNet-18 and -34 have it first too, and are points of
//! `flash-resnet-imagenet`.
//!
//! # The DenseNet cell network (exact definition)
//! A spec has an input shape `[C, H, W]`, a class count and cells `c = 0..`, each with width
//! `w_c`, depth `d_c >= 3` and skip budget `tc_c >= 0`.
//! - Layer 0 of cell c: Conv 3x3 (pad 1, no bias) from the previous cell's width (the input's
//!   channels for c = 0) to `w_c`, stride 1 in cell 0 and 2 in later cells; BatchNorm; ReLU.
//! - Layer j >= 1: input = concat(output of layer j-1, `t_{c,j}` skip channels); Conv 3x3
//!   (`w_c + t_{c,j} -> w_c`, stride 1, pad 1, no bias); BatchNorm; ReLU. `t_{c,1} = 0` and
//!   `t_{c,j} = min(tc_c, (j-1) w_c)` for j >= 2.
//! - Skip channels of layer j come from the outputs of layers 0..=j-2 of the same cell, most
//!   recent first: all of layer j-2's channels in ascending order, then layer j-3's, ..., until
//!   `t_{c,j}` are taken (the last layer used may contribute a prefix of its channels). This rule
//!   is the "which channels" part of the architecture: it is fixed, so the spec alone determines
//!   the graph.
//! - Head: GlobalAveragePool, Flatten, Linear(`w_last -> num_classes`, with bias).
//!
//! # ResNet and MobileNet cells
//! Both start with the space's stem (Conv kxk with padding k/2, BatchNorm, ReLU, and for the
//! ImageNet ResNet a 3x3 stride-2 max pool) and end with the same head, after (MobileNet) a 1x1
//! Conv to `head_width` channels with BatchNorm and ReLU. Every Conv has no bias and is followed
//! by BatchNorm. A cell of width `w` and depth `d` is `d` blocks; the first takes the previous
//! cell's `cin` channels and the cell's stride, the others `w` channels and stride 1.
//! - ResNet basic block: Conv 3x3 (`-> k w`, stride s), ReLU, Conv 3x3 (`-> w`); bottleneck:
//!   Conv 1x1 (`-> k w / 4`, stride s), ReLU, Conv 3x3, ReLU, Conv 1x1 (`-> w`). The shortcut is
//!   the identity, or a 1x1 Conv (`-> w`, stride s) when the stride or the channels change; the
//!   sum passes through a ReLU.
//! - MobileNet inverted residual: Conv 1x1 (`-> e w`, stride s), ReLU, depthwise Conv kxk,
//!   ReLU, Conv 1x1 (`-> w`, linear); the identity shortcut is added when the stride is 1 and
//!   the channels do not change.

mod catalog;
mod degree;
mod error;
mod graph;
mod grid;
mod parse;
mod sampling;
mod spec;

pub use degree::Surroundings;
pub use error::{FieldError, SpecError};
pub use grid::{Family, Space, Stem};
pub use parse::{MAX_CELLS, MAX_DEPTH, MAX_WIDTH};
pub use spec::{ArchSpec, Block, CellSpec};

#[cfg(test)]
mod test_support {
    use super::{ArchSpec, CellSpec, Space};

    /// The spec of the default space with cells `(width, depth, tc)`.
    pub(super) fn cells(spec: [(u64, u64, u64); 3]) -> ArchSpec {
        Space::default_space().spec(
            spec.iter()
                .map(|&(width, depth, tc)| CellSpec::dense(width, depth, tc))
                .collect(),
        )
    }
}
