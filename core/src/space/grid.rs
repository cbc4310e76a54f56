//! The grid-shaped cell spaces: their families, grids and lookup by name.

use serde::{Deserialize, Serialize};

use super::catalog::SPACES;
use super::{ArchSpec, Block, CellSpec};

/// The kind of network a space generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Family {
    /// DenseNet-type cells: concatenated skips under a per-cell budget.
    Densenet,
    /// ResNet / Wide-ResNet-type stages of basic or bottleneck blocks.
    Resnet,
    /// MobileNetV2-type stages of inverted residual blocks.
    Mobilenet,
}

/// The fixed layers before the first cell: a convolution (padding `kernel / 2`), BatchNorm and
/// ReLU, then optionally a 3x3 stride-2 max pool (padding 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stem {
    pub width: u64,
    pub kernel: u64,
    pub stride: u64,
    pub max_pool: bool,
}

impl Stem {
    /// The `[height, width]` after the stem's convolution (before any pool).
    pub fn conv_resolution(&self, input: [u64; 2]) -> [u64; 2] {
        input.map(|n| (n + 2 * (self.kernel / 2) - self.kernel) / self.stride + 1)
    }

    /// How many times the stem halves the resolution (each starts a stage).
    pub fn downsamplings(&self) -> usize {
        usize::from(self.stride > 1) + usize::from(self.max_pool)
    }
}

/// A grid-shaped cell space: every cell takes one point of the grid of its family.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Space {
    pub name: &'static str,
    pub description: &'static str,
    pub input_shape: [u64; 3],
    pub num_classes: u64,
    pub num_cells: usize,
    pub family: Family,
    pub widths: Vec<u64>,
    pub depths: Vec<u64>,
    /// DenseNet: skip budgets (empty for the other families).
    pub tcs: Vec<u64>,
    /// ResNet: block kinds (empty for the other families).
    pub blocks: Vec<Block>,
    /// ResNet: inner width multipliers.
    pub multipliers: Vec<u64>,
    /// MobileNet: expansion ratios.
    pub expansions: Vec<u64>,
    /// MobileNet: depthwise kernel sizes.
    pub kernels: Vec<u64>,
    /// Layers before the first cell, if any.
    pub stem: Option<Stem>,
    /// MobileNet: channels of the 1x1 convolution (with BatchNorm and ReLU) between the last
    /// cell and the pooling.
    pub head_width: Option<u64>,
}

impl Space {
    /// A space of `family` with an empty grid, which the caller fills in.
    pub(crate) fn with_empty_grid(
        name: &'static str,
        description: &'static str,
        family: Family,
        input_shape: [u64; 3],
        num_classes: u64,
    ) -> Space {
        Space {
            name,
            description,
            input_shape,
            num_classes,
            num_cells: 0,
            family,
            widths: Vec::new(),
            depths: Vec::new(),
            tcs: Vec::new(),
            blocks: Vec::new(),
            multipliers: Vec::new(),
            expansions: Vec::new(),
            kernels: Vec::new(),
            stem: None,
            head_width: None,
        }
    }

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

    /// The choices of a cell besides width and depth: skip budgets for DenseNet, (block,
    /// multiplier) for ResNet, (expansion, kernel) for MobileNet.
    fn kinds(&self) -> u64 {
        (match self.family {
            Family::Densenet => self.tcs.len(),
            Family::Resnet => self.blocks.len() * self.multipliers.len(),
            Family::Mobilenet => self.expansions.len() * self.kernels.len(),
        }) as u64
    }

    /// Choices for one cell.
    pub fn cell_choices(&self) -> u64 {
        self.widths.len() as u64 * self.depths.len() as u64 * self.kinds()
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
            && spec.cells.iter().all(|c| self.contains_cell(c))
    }

    fn contains_cell(&self, c: &CellSpec) -> bool {
        let on = |list: &[u64], v: Option<u64>| v.is_some_and(|v| list.contains(&v));
        let family_fields = match self.family {
            Family::Densenet => on(&self.tcs, c.tc),
            Family::Resnet => {
                c.block.is_some_and(|b| self.blocks.contains(&b))
                    && on(&self.multipliers, c.multiplier)
            }
            Family::Mobilenet => on(&self.expansions, c.expansion) && on(&self.kernels, c.kernel),
        };
        c.family() == self.family
            && self.widths.contains(&c.width)
            && self.depths.contains(&c.depth)
            && family_fields
    }

    /// The cell at grid index `i` (0..cell_choices). Widths vary slowest; then, for DenseNet,
    /// depth and skip budget; for the other families the kind (block and multiplier, or
    /// expansion and kernel) and depth fastest. So the candidates of one coupling group (see
    /// [`group_size`](Self::group_size)) are consecutive.
    pub fn cell_at(&self, i: u64) -> CellSpec {
        let nd = self.depths.len() as u64;
        let nk = self.kinds();
        let width = self.widths[(i / (nd * nk)) as usize];
        match self.family {
            Family::Densenet => CellSpec::dense(
                width,
                self.depths[((i / nk) % nd) as usize],
                self.tcs[(i % nk) as usize],
            ),
            family => {
                let depth = self.depths[(i % nd) as usize];
                let k = ((i / nd) % nk) as usize;
                if family == Family::Resnet {
                    let nm = self.multipliers.len();
                    CellSpec::residual(width, depth, self.blocks[k / nm], self.multipliers[k % nm])
                } else {
                    let nk = self.kernels.len();
                    CellSpec::inverted(width, depth, self.expansions[k / nk], self.kernels[k % nk])
                }
            }
        }
    }

    /// Consecutive candidates that share every dependence on the previous cell (a coupling
    /// group): a DenseNet cell depends on it through its width only, a ResNet or MobileNet cell
    /// through its width and kind (its first block reads the previous cell's output).
    pub fn group_size(&self) -> u64 {
        match self.family {
            Family::Densenet => self.depths.len() as u64 * self.kinds(),
            _ => self.depths.len() as u64,
        }
    }

    /// Coupling groups per cell.
    pub fn num_groups(&self) -> usize {
        (self.cell_choices() / self.group_size()) as usize
    }

    /// The width index of coupling group `g`: the output width the next cell couples to.
    pub fn group_width(&self, g: usize) -> usize {
        g / (self.num_groups() / self.widths.len())
    }

    /// What surrounds this space's cells, for their NN-Degree.
    pub fn surroundings(&self) -> super::Surroundings {
        super::Surroundings {
            stem: self.stem,
            head_width: self.head_width,
            input_channels: self.input_shape[0],
            num_cells: self.num_cells,
        }
    }

    /// The stride of cell `c`'s first layer: 1 for the first cell, 2 for the others.
    pub fn cell_stride(c: usize) -> u64 {
        if c == 0 { 1 } else { 2 }
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

    #[test]
    fn every_grid_index_is_a_distinct_cell_of_the_space_and_groups_share_width_and_kind() {
        for space in Space::all() {
            let n = space.cell_choices();
            let cells: Vec<CellSpec> = (0..n).map(|i| space.cell_at(i)).collect();
            let distinct: std::collections::HashSet<_> = cells.iter().collect();
            assert_eq!(distinct.len() as u64, n, "{}", space.name);
            for (i, c) in cells.iter().enumerate() {
                let spec = space.spec(vec![*c; space.num_cells]);
                assert!(space.contains(&spec), "{} {c:?}", space.name);
                let g = i / space.group_size() as usize;
                assert_eq!(space.widths[space.group_width(g)], c.width);
                let first = cells[g * space.group_size() as usize];
                if space.family != Family::Densenet {
                    assert_eq!(
                        (first.block, first.multiplier, first.expansion, first.kernel),
                        (c.block, c.multiplier, c.expansion, c.kernel)
                    );
                }
            }
        }
    }
}
