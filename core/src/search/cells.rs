//! The features of every candidate and every coupling of a space's cells: what each problem's
//! cell tables are computed from. They depend on the space alone, so for the built-in spaces
//! they are computed once per process and shared by every search.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::features::{FeatureVector, Layout, NUM_FEATURES, REFERENCE_CHANNELS, cell_term};
use crate::space::{CellSpec, Family, Space};

/// Per cell, per grid candidate: its features and NN-Degree.
type Candidates = Vec<Vec<(FeatureVector, f64)>>;

/// Per cell, per (previous width index, coupling group): the coupling's features.
type Couplings = Vec<Vec<FeatureVector>>;

/// Per cell: each grid candidate's features and NN-Degree, and each coupling's features.
#[derive(Clone)]
pub(super) struct CellFeatures {
    /// Per cell, per grid candidate: its features at a zero-channel input (the last cell's
    /// with the head and the constant) and its NN-Degree.
    pub(super) candidates: Candidates,
    /// Per cell, per (previous width index, coupling group), row-major (cell 0: only row 0): the
    /// coupling's features. A DenseNet cell's groups are its widths.
    pub(super) couplings: Couplings,
    /// Per cell, `candidates` by feature.
    pub(super) columns: Vec<CellColumns>,
}

/// A cell's candidates by feature: each feature's values over the candidates, and their
/// NN-Degrees. A problem's quantities weigh a few of the features each, and reading those
/// columns alone takes a fraction of the time of reading every candidate's whole vector.
#[derive(Clone)]
pub(super) struct CellColumns {
    /// Feature-major: feature `f` of candidate `i` at `f * n + i`.
    features: Vec<f64>,
    pub(super) degree: Vec<f64>,
}

impl CellColumns {
    fn of(candidates: &[(FeatureVector, f64)]) -> Self {
        let n = candidates.len();
        let mut features = vec![0.0; NUM_FEATURES * n];
        for (i, (x, _)) in candidates.iter().enumerate() {
            for (f, &v) in x.0.iter().enumerate() {
                features[f * n + i] = v;
            }
        }
        CellColumns {
            features,
            degree: candidates.iter().map(|c| c.1).collect(),
        }
    }

    /// Feature `f` of every candidate.
    pub(super) fn feature(&self, f: usize) -> &[f64] {
        let n = self.degree.len();
        &self.features[f * n..(f + 1) * n]
    }
}

impl CellFeatures {
    fn of(space: &Space) -> Self {
        let (candidates, couplings) = match space.family {
            Family::Densenet => Self::closed_form(space),
            _ => Self::from_cell_terms(space),
        };
        CellFeatures {
            columns: candidates.iter().map(|c| CellColumns::of(c)).collect(),
            candidates,
            couplings,
        }
    }

    /// DenseNet cells: every term in closed form, candidates at a zero-channel input.
    fn closed_form(space: &Space) -> (Candidates, Couplings) {
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
                        (x, cell.nn_degree(c, &space.surroundings()))
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
        (candidates, couplings)
    }

    /// ResNet and MobileNet cells: every term in closed form (`cell_term`), candidates at [`REFERENCE_CHANNELS`] input channels and couplings as differences from
    /// them. A group's candidates differ in depth only, which the first block does not see, so
    /// one candidate stands for its group.
    fn from_cell_terms(space: &Space) -> (Candidates, Couplings) {
        let last = space.num_cells - 1;
        let term = |c: usize, cin: u64, cell: &CellSpec| {
            let (counts, degree) = cell_term(space, c, cin, cell);
            (counts.features(if c == last { 1.0 } else { 0.0 }), degree)
        };
        let candidates = (0..space.num_cells)
            .map(|c| {
                (0..space.cell_choices())
                    .map(|i| term(c, REFERENCE_CHANNELS, &space.cell_at(i)))
                    .collect()
            })
            .collect();
        let groups = space.num_groups();
        let couplings = (0..space.num_cells)
            .map(|c| {
                if c == 0 {
                    // The first cell reads the stem or the image: nothing varies.
                    return vec![FeatureVector::default(); groups];
                }
                let reps: Vec<(CellSpec, FeatureVector)> = (0..groups)
                    .map(|g| {
                        let cell = space.cell_at(g as u64 * space.group_size());
                        (cell, term(c, REFERENCE_CHANNELS, &cell).0)
                    })
                    .collect();
                space
                    .widths
                    .iter()
                    .flat_map(|&pw| {
                        reps.iter().map(move |(cell, at_reference)| {
                            let mut x = term(c, pw, cell).0;
                            for (v, r) in x.0.iter_mut().zip(at_reference.0) {
                                *v -= r;
                            }
                            x
                        })
                    })
                    .collect()
            })
            .collect();
        (candidates, couplings)
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
