//! Specs: a network of a cell space as users write it, its identity and its topology metrics.

use serde::{Deserialize, Serialize};

use super::grid::{Family, Space};

/// The block a `flash-resnet` cell repeats.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Block {
    /// Two 3x3 convolutions (ResNet-18/34).
    Basic,
    /// 1x1 reduce, 3x3, 1x1 expand (ResNet-50, Wide-ResNet-50).
    Bottleneck,
}

/// One cell of a spec. `width` and `depth` are common to every family; the other fields belong to
/// one family each and are absent in the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CellSpec {
    /// Output channels of the cell (of every layer, in a DenseNet cell).
    pub width: u64,
    /// Layers of a DenseNet cell (>= 3); blocks of a ResNet or MobileNet cell (>= 1).
    pub depth: u64,
    /// DenseNet cells: the skip budget, the most skip channels one layer receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tc: Option<u64>,
    /// ResNet cells: the block kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<Block>,
    /// ResNet cells: the inner width multiplier (Wide-ResNet's k): a basic block's first
    /// convolution has `multiplier * width` channels, a bottleneck's inner ones
    /// `multiplier * width / 4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<u64>,
    /// MobileNet cells: the expansion ratio (>= 2): inner channels `expansion * width`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion: Option<u64>,
    /// MobileNet cells: the depthwise kernel size (odd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<u64>,
}

impl CellSpec {
    /// A DenseNet cell.
    pub fn dense(width: u64, depth: u64, tc: u64) -> Self {
        CellSpec {
            width,
            depth,
            tc: Some(tc),
            block: None,
            multiplier: None,
            expansion: None,
            kernel: None,
        }
    }

    /// A ResNet cell.
    pub fn residual(width: u64, depth: u64, block: Block, multiplier: u64) -> Self {
        CellSpec {
            block: Some(block),
            multiplier: Some(multiplier),
            tc: None,
            ..CellSpec::dense(width, depth, 0)
        }
    }

    /// A MobileNet cell.
    pub fn inverted(width: u64, depth: u64, expansion: u64, kernel: u64) -> Self {
        CellSpec {
            expansion: Some(expansion),
            kernel: Some(kernel),
            tc: None,
            ..CellSpec::dense(width, depth, 0)
        }
    }

    /// The family whose fields the cell has.
    pub fn family(&self) -> Family {
        if self.block.is_some() {
            Family::Resnet
        } else if self.expansion.is_some() {
            Family::Mobilenet
        } else {
            Family::Densenet
        }
    }

    /// The skip budget of a DenseNet cell (0 for other families).
    pub fn tc(&self) -> u64 {
        self.tc.unwrap_or(0)
    }

    /// Skip channels received by layer `j` (0-based) of a DenseNet cell.
    pub fn skips(&self, j: u64) -> u64 {
        if j < 2 {
            0
        } else {
            self.tc().min((j - 1) * self.width)
        }
    }

    /// Sum of skip channels over a DenseNet cell's layers.
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

    /// The family of the spec's cells.
    pub fn family(&self) -> Family {
        self.cells
            .first()
            .map_or(Family::Densenet, CellSpec::family)
    }

    /// Whether the spec is a point of its space's grid (its input shape, class count, cell count
    /// and every cell on the grid).
    pub fn in_space(&self) -> bool {
        self.space().is_some_and(|s| s.contains(self))
    }

    /// Canonical JSON: fixed key order, no whitespace. Identity is the hash of these bytes.
    ///
    /// Written out here, byte for byte what `serde_json` writes for the struct (a test checks
    /// it): a search scores a thousand networks or more, and `serde_json`'s generic path was
    /// more than half of the time their ids took. A space name that JSON must escape goes the
    /// generic way.
    pub fn canonical_json(&self) -> String {
        if self
            .space
            .bytes()
            .any(|b| b < 0x20 || b == b'"' || b == b'\\')
        {
            return serde_json::to_string(self).expect("spec serialises");
        }
        let mut out = String::with_capacity(80 + 64 * self.cells.len());
        let mut digits = itoa::Buffer::new();
        let mut number = |out: &mut String, n: u64| out.push_str(digits.format(n));
        out.push_str("{\"space\":\"");
        out.push_str(&self.space);
        out.push_str("\",\"input_shape\":[");
        for (i, &n) in self.input_shape.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            number(&mut out, n);
        }
        out.push_str("],\"num_classes\":");
        number(&mut out, self.num_classes);
        out.push_str(",\"cells\":[");
        for (i, cell) in self.cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"width\":");
            number(&mut out, cell.width);
            out.push_str(",\"depth\":");
            number(&mut out, cell.depth);
            if let Some(tc) = cell.tc {
                out.push_str(",\"tc\":");
                number(&mut out, tc);
            }
            if let Some(block) = cell.block {
                out.push_str(",\"block\":\"");
                out.push_str(block.into());
                out.push('"');
            }
            for (key, value) in [
                ("multiplier", cell.multiplier),
                ("expansion", cell.expansion),
                ("kernel", cell.kernel),
            ] {
                if let Some(n) = value {
                    out.push_str(",\"");
                    out.push_str(key);
                    out.push_str("\":");
                    number(&mut out, n);
                }
            }
            out.push('}');
        }
        out.push_str("]}");
        out
    }

    /// The architecture id: hash of the canonical spec.
    pub fn id(&self) -> String {
        crate::identity::architecture_id(self.canonical_json().as_bytes())
    }

    /// NN-Degree in closed form: the sum over cells of [`CellSpec::nn_degree`], which for
    /// DenseNet cells is `w_c + (1/d_c) sum_{j=2}^{d_c-1} t_{c,j}`. It equals the graph rule of
    /// `metrics` on the spec's network (tested there).
    pub fn nn_degree(&self) -> f64 {
        // A DenseNet cell's degree is its own; other families' depend on the stem and head.
        let space = match self.family() {
            Family::Densenet => None,
            _ => self.space(),
        };
        let around = super::Surroundings {
            stem: space.and_then(|s| s.stem),
            head_width: space.and_then(|s| s.head_width),
            input_channels: self.input_shape[0],
            num_cells: self.cells.len(),
        };
        self.cells
            .iter()
            .enumerate()
            .map(|(c, cell)| cell.nn_degree(c, &around))
            .sum()
    }

    /// NN-Mass: for DenseNet cells in closed form, the sum over cells of `rho_c w_c d_c`, with
    /// density `rho_c = sum_j t_{c,j} / (w_c (d_c-2)(d_c-1)/2)`; for the other families the
    /// per-block rule of `metrics` on the spec's network.
    pub fn nn_mass(&self) -> f64 {
        match self.family() {
            Family::Densenet => self
                .cells
                .iter()
                .map(|c| {
                    let (w, d) = (c.width as f64, c.depth as f64);
                    let rho = c.total_skips() as f64 / (w * (d - 2.0) * (d - 1.0) / 2.0);
                    rho * w * d
                })
                .sum(),
            _ => crate::metrics::compute(&self.to_graph()).nn_mass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::test_support::cells;

    #[test]
    fn canonical_json_is_what_serde_json_writes() {
        let mut specs: Vec<ArchSpec> = Space::all()
            .iter()
            .flat_map(|s| s.sample_uniform(100, 5))
            .collect();
        // Every optional field at once, large numbers, and names JSON must escape or not.
        let mut odd = cells([(16, 3, 0), (32, 4, 8), (64, 5, 16)]);
        odd.cells.push(CellSpec {
            width: u64::MAX,
            depth: 0,
            tc: Some(7),
            block: Some(Block::Bottleneck),
            multiplier: Some(2),
            expansion: Some(6),
            kernel: Some(5),
        });
        odd.cells.push(CellSpec::residual(64, 2, Block::Basic, 1));
        for name in [
            "", "a\"b", "a\\b", "x\ny", "t\tab", "\u{1}", "\u{7f}", "ünï", "é/ü",
        ] {
            specs.push(ArchSpec {
                space: name.into(),
                cells: Vec::new(),
                ..odd.clone()
            });
            specs.push(ArchSpec {
                space: name.into(),
                ..odd.clone()
            });
        }
        for spec in &specs {
            assert_eq!(
                spec.canonical_json(),
                serde_json::to_string(spec).unwrap(),
                "{spec:?}"
            );
        }
    }

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
