//! The grid-shaped cell spaces and their lookup by name.

use serde::Serialize;

use super::{ArchSpec, CellSpec};

/// A grid-shaped cell space: every cell takes one width, depth and tc from the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Space {
    pub name: &'static str,
    pub description: &'static str,
    pub input_shape: [u64; 3],
    pub num_classes: u64,
    pub num_cells: usize,
    pub widths: Vec<u64>,
    pub depths: Vec<u64>,
    pub tcs: Vec<u64>,
}

/// The cell grid of FLASH's space: widths `w0, 2 w0, ..., 8 w0`, depths 3..=12 and skip budgets
/// `0, t0, ..., 49 t0` (4000 choices a cell), three cells, ten classes.
fn densenet_space(
    name: &'static str,
    description: &'static str,
    input_shape: [u64; 3],
    width_step: u64,
    tc_step: u64,
) -> Space {
    Space {
        name,
        description,
        input_shape,
        num_classes: 10,
        num_cells: 3,
        widths: (1..=8).map(|i| width_step * i).collect(),
        depths: (3..=12).collect(),
        tcs: (0..50).map(|i| tc_step * i).collect(),
    }
}

static SPACES: std::sync::LazyLock<Vec<Space>> = std::sync::LazyLock::new(|| {
    vec![
        densenet_space(
            "flash-densenet",
            "FLASH's DenseNet-type cell network on CIFAR-10-shaped input (3x32x32, 10 classes)",
            [3, 32, 32],
            16,
            8,
        ),
        densenet_space(
            "flash-densenet-digits",
            "The same cells, half as wide, on 8x8 grey digits (1x8x8, 10 classes): small enough to \
             train on a CPU, for the committed accuracy data",
            [1, 8, 8],
            8,
            4,
        ),
    ]
});

impl Space {
    pub fn all() -> &'static [Space] {
        &SPACES
    }

    pub fn by_name(name: &str) -> Option<&'static Space> {
        SPACES.iter().find(|s| s.name == name)
    }

    pub fn names() -> Vec<&'static str> {
        SPACES.iter().map(|s| s.name).collect()
    }

    /// The default space.
    pub fn default_space() -> &'static Space {
        &SPACES[0]
    }

    /// Choices for one cell.
    pub fn cell_choices(&self) -> u64 {
        (self.widths.len() * self.depths.len() * self.tcs.len()) as u64
    }

    /// Exact number of configurations (choices per cell to the power of the cell count).
    pub fn size(&self) -> u128 {
        (self.cell_choices() as u128).pow(self.num_cells as u32)
    }

    pub fn contains(&self, spec: &ArchSpec) -> bool {
        spec.space == self.name
            && spec.input_shape == self.input_shape
            && spec.num_classes == self.num_classes
            && spec.cells.len() == self.num_cells
            && spec.cells.iter().all(|c| {
                self.widths.contains(&c.width)
                    && self.depths.contains(&c.depth)
                    && self.tcs.contains(&c.tc)
            })
    }

    /// The cell at grid index `i` (0..cell_choices), widths varying slowest.
    pub fn cell_at(&self, i: u64) -> CellSpec {
        let (nd, nt) = (self.depths.len() as u64, self.tcs.len() as u64);
        CellSpec {
            width: self.widths[(i / (nd * nt)) as usize],
            depth: self.depths[((i / nt) % nd) as usize],
            tc: self.tcs[(i % nt) as usize],
        }
    }

    /// The spec with the given cells, in this space's shape.
    pub fn spec(&self, cells: Vec<CellSpec>) -> ArchSpec {
        ArchSpec {
            space: self.name.to_string(),
            input_shape: self.input_shape,
            num_classes: self.num_classes,
            cells,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_space_has_64_billion_configurations() {
        assert_eq!(Space::default_space().size(), 64_000_000_000);
    }
}
