//! The per-cell terms of the ResNet and MobileNet spaces.
//!
//! As for DenseNet cells (`closed_form`), every count of such a network is the sum of one term
//! per cell, and a cell's term depends only on the cell, its position and the previous cell's
//! width: the cell's first block is the only part that reads the previous cell's output, and
//! the stem and head are fixed parts of the first and last cell's terms. `stage_form` gives
//! each term in closed form; the tests check it against `metrics::compute` on the graph of the
//! cell alone (`Space::cell_graph`), which is exact because every count of `metrics` is a sum
//! over nodes, each node lies in one cell, and its count depends only on its own shapes.
//!
//! NN-Degree decomposes the same way, because each cell after the first is exactly one stage
//! (its first convolution downsamples) and a downsampling convolution receives no skip links:
//! the stage's mean degree is a function of its cell. The first cell shares its stage with the
//! stem only, and the head's convolution (MobileNet) lies in the last cell's stage. The degree of
//! a cell does not depend on the previous width: the first convolution's output channels are
//! set by the cell alone (`multiplier * width`, `expansion * width`).

use super::Counts;
use crate::space::{CellSpec, Space};

/// Input channels at which a candidate's own term is computed; a coupling is the difference
/// between the term at the previous cell's width and at this.
pub const REFERENCE_CHANNELS: u64 = 1;

/// The term of cell `c` of a ResNet or MobileNet `space` reading `cin` channels (ignored for
/// the first cell, which reads the stem or the image), and its NN-Degree.
pub fn cell_term(space: &Space, c: usize, cin: u64, cell: &CellSpec) -> (Counts, f64) {
    let counts = super::stage_form::stage_term(space, c, cin, cell);
    (counts, cell.nn_degree(c, &space.surroundings()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureVector;
    use crate::metrics::compute;
    use crate::space::Family;

    /// The closed form against the metrics of the cell's own graph, its stages shifted to the
    /// cell's place, on every cell of every ResNet and MobileNet space at several input widths.
    #[test]
    fn closed_form_terms_equal_the_cell_graphs_metrics() {
        for space in Space::all().iter().filter(|s| s.family != Family::Densenet) {
            let shift = |c: usize| {
                if c == 0 {
                    0
                } else {
                    space.stem.map_or(0, |s| s.downsamplings()) + c - 1
                }
            };
            for c in 0..space.num_cells {
                for i in 0..space.cell_choices() {
                    let cell = space.cell_at(i);
                    for cin in [REFERENCE_CHANNELS, 16, cell.width] {
                        let m = compute(&space.cell_graph(c, cin, &cell));
                        let (counts, degree) = cell_term(space, c, cin, &cell);
                        let want = Counts::from_metrics_at(&m, shift(c));
                        assert_eq!(counts, want, "{} cell {c} {cell:?} cin {cin}", space.name);
                        assert!(
                            (degree - m.nn_degree).abs() < 1e-9 * m.nn_degree,
                            "{} cell {c} {cell:?} cin {cin}: {degree} vs {}",
                            space.name,
                            m.nn_degree
                        );
                    }
                }
            }
        }
    }

    /// The decomposition: a whole network's features and NN-Degree are the sums of its cells'
    /// terms at their previous widths.
    #[test]
    fn cell_terms_sum_to_the_network() {
        for space in Space::all().iter().filter(|s| s.family != Family::Densenet) {
            for spec in space.sample_uniform(12, 5) {
                let mut x = FeatureVector::default();
                let mut degree = 0.0;
                let mut prev = REFERENCE_CHANNELS;
                for (c, cell) in spec.cells.iter().enumerate() {
                    let (counts, g) = cell_term(space, c, prev, cell);
                    let last = c + 1 == spec.cells.len();
                    let t = counts.features(if last { 1.0 } else { 0.0 });
                    for (a, b) in x.0.iter_mut().zip(t.0) {
                        *a += b;
                    }
                    degree += g;
                    prev = cell.width;
                }
                let m = compute(&spec.to_graph());
                assert_eq!(x, FeatureVector::from_metrics(&m), "{}", space.name);
                assert!(
                    (degree - m.nn_degree).abs() < 1e-9 * degree,
                    "{}",
                    space.name
                );
                // The spec's own closed forms agree.
                let closed = spec.nn_degree();
                assert!(
                    (closed - m.nn_degree).abs() < 1e-9 * closed,
                    "{}",
                    space.name
                );
                assert_eq!(
                    Counts::of_spec(&spec),
                    Counts::from_metrics(&m),
                    "{}",
                    space.name
                );
            }
        }
    }
}
