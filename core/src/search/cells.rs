//! The features of every candidate and every coupling of a space's cells: what each problem's
//! cell tables are computed from. They depend on the space alone, so for the built-in spaces
//! they are computed once per process and shared by every search.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::features::{FeatureVector, Layout, cell_nn_degree};
use crate::space::Space;

/// Per cell: each grid candidate's features and NN-Degree, and each coupling's features.
#[derive(Clone)]
pub(super) struct CellFeatures {
    /// Per cell, per grid candidate: its features at a zero-channel input (the last cell's
    /// with the head and the constant) and its NN-Degree.
    pub(super) candidates: Vec<Vec<(FeatureVector, f64)>>,
    /// Per cell, per (previous width index, width index), row-major (cell 0: only row 0): the
    /// coupling's features.
    pub(super) couplings: Vec<Vec<FeatureVector>>,
}

impl CellFeatures {
    fn of(space: &Space) -> Self {
        let layout = Layout::new(space.input_shape, space.num_classes, space.num_cells);
        let last = space.num_cells - 1;
        let nw = space.widths.len();
        let candidates = (0..space.num_cells)
            .map(|c| {
                (0..space.cell_choices())
                    .map(|i| {
                        let cell = space.cell_at(i);
                        let mut counts = layout.cell(c, 0, &cell);
                        if c == last {
                            counts = counts + layout.head(cell.width);
                        }
                        let x = counts.features(if c == last { 1.0 } else { 0.0 });
                        (x, cell_nn_degree(&cell))
                    })
                    .collect()
            })
            .collect();
        let couplings = (0..space.num_cells)
            .map(|c| {
                let prevs = if c == 0 { 1 } else { nw };
                space.widths[..prevs]
                    .iter()
                    .flat_map(|&pw| {
                        let layout = &layout;
                        space
                            .widths
                            .iter()
                            .map(move |&w| layout.coupling(c, pw, w).features(0.0))
                    })
                    .collect()
            })
            .collect();
        CellFeatures {
            candidates,
            couplings,
        }
    }

    /// The features of `space`'s cells: shared for a built-in space, computed for another.
    pub(super) fn of_space(space: &Space) -> Cow<'static, CellFeatures> {
        static BUILT_IN: OnceLock<Vec<OnceLock<CellFeatures>>> = OnceLock::new();
        let all = Space::all();
        match all.iter().position(|s| s == space) {
            Some(i) => {
                let cache = BUILT_IN.get_or_init(|| all.iter().map(|_| OnceLock::new()).collect());
                Cow::Borrowed(cache[i].get_or_init(|| CellFeatures::of(&all[i])))
            }
            None => Cow::Owned(CellFeatures::of(space)),
        }
    }
}
