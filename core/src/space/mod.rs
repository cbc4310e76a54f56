//! Search spaces: the DenseNet-type cell network of FLASH (`flash-densenet`), its grid, specs and
//! sampling.
//!
//! # The cell network (exact definition)
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

mod error;
mod graph;
mod grid;
mod parse;
mod sampling;
mod spec;

pub use error::{FieldError, SpecError};
pub use grid::Space;
pub use parse::{MAX_CELLS, MAX_DEPTH, MAX_WIDTH};
pub use spec::{ArchSpec, CellSpec};

#[cfg(test)]
mod test_support {
    use super::{ArchSpec, CellSpec, Space};

    /// The spec of the default space with cells `(width, depth, tc)`.
    pub(super) fn cells(spec: [(u64, u64, u64); 3]) -> ArchSpec {
        Space::default_space().spec(
            spec.iter()
                .map(|&(width, depth, tc)| CellSpec { width, depth, tc })
                .collect(),
        )
    }
}
