//! Specs: a network of a cell space as users write it, its identity and its closed-form
//! topology metrics.

use serde::{Deserialize, Serialize};

use super::grid::Space;

/// One cell of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CellSpec {
    /// Channels of every layer of the cell.
    pub width: u64,
    /// Number of layers (>= 3).
    pub depth: u64,
    /// Skip budget: the most skip channels one layer receives.
    pub tc: u64,
}

impl CellSpec {
    /// Skip channels received by layer `j` (0-based) of this cell.
    pub fn skips(&self, j: u64) -> u64 {
        if j < 2 {
            0
        } else {
            self.tc.min((j - 1) * self.width)
        }
    }

    /// Sum of skip channels over the cell's layers.
    pub fn total_skips(&self) -> u64 {
        (2..self.depth).map(|j| self.skips(j)).sum()
    }
}

/// A network of a cell space, as users write it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchSpec {
    /// Name of the space whose network family this is (e.g. `flash-densenet`).
    pub space: String,
    /// Input shape `[channels, height, width]`.
    pub input_shape: [u64; 3],
    pub num_classes: u64,
    pub cells: Vec<CellSpec>,
}

impl ArchSpec {
    /// The space named by the spec (always known for a parsed spec).
    pub fn space(&self) -> Option<&'static Space> {
        Space::by_name(&self.space)
    }

    /// Whether the spec is a point of its space's grid (its input shape, class count, cell count
    /// and every cell's width, depth and tc on the grid).
    pub fn in_space(&self) -> bool {
        self.space().is_some_and(|s| s.contains(self))
    }

    /// Canonical JSON: fixed key order, no whitespace. Identity is the hash of these bytes.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("spec serialises")
    }

    /// The architecture id: hash of the canonical spec.
    pub fn id(&self) -> String {
        crate::identity::architecture_id(self.canonical_json().as_bytes())
    }

    /// NN-Degree in closed form: sum over cells of `w_c + (1/d_c) sum_{j=2}^{d_c-1} t_{c,j}`.
    pub fn nn_degree(&self) -> f64 {
        self.cells
            .iter()
            .map(|c| c.width as f64 + c.total_skips() as f64 / c.depth as f64)
            .sum()
    }

    /// NN-Mass in closed form: sum over cells of `rho_c w_c d_c`, with density
    /// `rho_c = sum_j t_{c,j} / (w_c (d_c-2)(d_c-1)/2)`.
    pub fn nn_mass(&self) -> f64 {
        self.cells
            .iter()
            .map(|c| {
                let (w, d) = (c.width as f64, c.depth as f64);
                let rho = c.total_skips() as f64 / (w * (d - 2.0) * (d - 1.0) / 2.0);
                rho * w * d
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use crate::space::test_support::cells;

    #[test]
    fn nn_mass_matches_the_reference_vectors() {
        let m = cells([(32, 13, 40), (64, 13, 80), (128, 13, 125)]).nn_mass();
        assert!((m - 526.106).abs() < 1e-3, "{m}");
        let m = cells([(32, 8, 10), (64, 8, 20), (128, 8, 40)]).nn_mass();
        assert!((m - 160.0).abs() < 1e-9, "{m}");
        assert_eq!(cells([(32, 8, 0), (64, 8, 0), (128, 8, 0)]).nn_mass(), 0.0);
        let m = cells([(32, 13, 10_000), (64, 13, 10_000), (128, 13, 10_000)]).nn_mass();
        assert!((m - 2912.0).abs() < 1e-9, "{m}");
    }
}
