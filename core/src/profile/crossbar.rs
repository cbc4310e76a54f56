//! The analytic model of an in-memory-computing accelerator of resistive crossbars.

use serde::{Deserialize, Serialize};

use crate::ir::{Graph, Op, Shape};
use crate::space::FieldError;

/// An in-memory-computing accelerator of resistive crossbars: weights stay in the arrays, each
/// conv or linear layer is unrolled to a (inputs x outputs) matrix and mapped onto tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossbarModel {
    /// Word lines of one crossbar (matrix rows: unrolled inputs).
    pub rows: u64,
    /// Bit lines of one crossbar (matrix columns, times cells per weight).
    pub cols: u64,
    /// Bits stored per cell.
    pub cell_bits: u32,
    /// Bits per weight; a weight spans `ceil(weight_bits / cell_bits)` adjacent cells.
    pub weight_bits: u32,
    /// Area of one tile: the array with its DACs, ADCs and sample-and-hold.
    pub tile_area_mm2: f64,
    /// One full-precision matrix-vector product on a tile (all input bit slices).
    pub tile_latency_ns: f64,
    /// Energy of one full-precision MAC in the array, ADC share included.
    pub mac_energy_pj: f64,
    /// Buffers, shift-and-add, activation and pooling units and the interconnect, as fractions
    /// of the tiles' area and energy.
    pub peripheral_area_fraction: f64,
    pub peripheral_energy_fraction: f64,
    /// Digital post-processing after each matrix-vector product (partial-sum reduction across
    /// row tiles, activation), not overlapped with the array.
    pub peripheral_latency_ns: f64,
    /// Where the numbers come from.
    pub source: String,
}

/// Latency, energy and area of one network on a [`CrossbarModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossbarEstimate {
    /// Conv and linear layers mapped.
    pub layers: u64,
    pub tiles: u64,
    /// Weight cells used over cells of the mapped tiles.
    pub utilization: f64,
    pub macs: u64,
    pub area_mm2: f64,
    pub latency_ms: f64,
    pub energy_mj: f64,
}

impl CrossbarModel {
    pub fn cells_per_weight(&self) -> u64 {
        u64::from(self.weight_bits.div_ceil(self.cell_bits))
    }

    /// Tiles holding a `rows x cols` weight matrix.
    pub fn tiles_for(&self, rows: u64, cols: u64) -> u64 {
        rows.div_ceil(self.rows) * (cols * self.cells_per_weight()).div_ceil(self.cols)
    }

    /// Maps every conv (one matrix per group) and linear layer of `graph`. Layers run one after
    /// the other, each with all its tiles in parallel, one matrix-vector product per output
    /// position; BatchNorm is folded into the weights and the other operators run in the
    /// peripherals.
    pub fn evaluate(&self, graph: &Graph) -> CrossbarEstimate {
        let (mut layers, mut tiles, mut macs, mut weights) = (0u64, 0u64, 0u64, 0u64);
        let mut latency_ns = 0.0;
        for (i, node) in graph.nodes().iter().enumerate() {
            let input = node.inputs.first().map(|&j| graph.shape(j));
            let (rows, cols, matrices, positions) = match (&node.op, input, graph.shape(i)) {
                (
                    Op::Conv {
                        out_channels,
                        kernel,
                        groups,
                        ..
                    },
                    Some(Shape::Chw([cin, _, _])),
                    Shape::Chw([_, h, w]),
                ) => (
                    cin / groups * kernel * kernel,
                    out_channels / groups,
                    *groups,
                    h * w,
                ),
                (Op::Linear { out_features, .. }, Some(s), _) => {
                    (s.elements(), *out_features, 1, 1)
                }
                _ => continue,
            };
            layers += 1;
            tiles += matrices * self.tiles_for(rows, cols);
            weights += matrices * rows * cols;
            macs += matrices * rows * cols * positions;
            latency_ns += positions as f64 * (self.tile_latency_ns + self.peripheral_latency_ns);
        }
        let cells = (tiles * self.rows * self.cols) as f64;
        CrossbarEstimate {
            layers,
            tiles,
            utilization: if tiles == 0 {
                0.0
            } else {
                (weights * self.cells_per_weight()) as f64 / cells
            },
            macs,
            area_mm2: tiles as f64 * self.tile_area_mm2 * (1.0 + self.peripheral_area_fraction),
            latency_ms: latency_ns * 1e-6,
            energy_mj: macs as f64
                * self.mac_energy_pj
                * (1.0 + self.peripheral_energy_fraction)
                * 1e-9,
        }
    }

    pub(super) fn validate(&self, errors: &mut Vec<FieldError>) {
        for (field, v) in [("crossbar.rows", self.rows), ("crossbar.cols", self.cols)] {
            if !(1..=65_536).contains(&v) {
                errors.push(FieldError::new(field, "must be in 1..=65536"));
            }
        }
        if !(1..=8).contains(&self.cell_bits) {
            errors.push(FieldError::new("crossbar.cell_bits", "must be in 1..=8"));
        }
        if !(1..=32).contains(&self.weight_bits) {
            errors.push(FieldError::new("crossbar.weight_bits", "must be in 1..=32"));
        } else if u64::from(self.weight_bits.div_ceil(self.cell_bits.max(1))) > self.cols {
            errors.push(FieldError::new(
                "crossbar.weight_bits",
                "one weight needs more cells than a crossbar has columns",
            ));
        }
        let positive = [
            ("crossbar.tile_area_mm2", self.tile_area_mm2),
            ("crossbar.tile_latency_ns", self.tile_latency_ns),
            ("crossbar.mac_energy_pj", self.mac_energy_pj),
        ];
        for (field, v) in positive {
            if !(v.is_finite() && v > 0.0 && v < 1e9) {
                errors.push(FieldError::new(field, "must be a finite number > 0"));
            }
        }
        let overheads = [
            (
                "crossbar.peripheral_area_fraction",
                self.peripheral_area_fraction,
            ),
            (
                "crossbar.peripheral_energy_fraction",
                self.peripheral_energy_fraction,
            ),
            ("crossbar.peripheral_latency_ns", self.peripheral_latency_ns),
        ];
        for (field, v) in overheads {
            if !(v.is_finite() && (0.0..1e9).contains(&v)) {
                errors.push(FieldError::new(field, "must be a finite number >= 0"));
            }
        }
        if self.source.trim().is_empty() {
            errors.push(FieldError::new(
                "crossbar.source",
                "must say where the numbers come from",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{Graph, Node, Op};
    use crate::profile::Profile;
    use crate::profile::test_support::ANALYTIC;

    #[test]
    fn crossbar_mapping_by_hand() {
        let model = Profile::parse(ANALYTIC)
            .unwrap()
            .crossbar()
            .unwrap()
            .clone();
        assert_eq!(model.cells_per_weight(), 4);
        // 3x3 conv 16 -> 64 channels: 144 rows (2 row tiles), 64 * 4 = 256 cells (2 col tiles)
        assert_eq!(model.tiles_for(144, 64), 4);
        let conv = |out, groups| Op::Conv {
            out_channels: out,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups,
            bias: false,
        };
        let graph = Graph::new(
            [16, 8, 8],
            vec![
                Node::new("in", Op::Input, vec![]),
                Node::new("c1", conv(64, 1), vec![0]),
                Node::new("bn", Op::BatchNorm, vec![1]),
                Node::new("dw", conv(64, 64), vec![2]),
                Node::new("gap", Op::GlobalAvgPool, vec![3]),
                Node::new("flat", Op::Flatten, vec![4]),
                Node::new(
                    "fc",
                    Op::Linear {
                        out_features: 10,
                        bias: true,
                    },
                    vec![5],
                ),
            ],
        )
        .unwrap();
        let e = model.evaluate(&graph);
        assert_eq!(e.layers, 3);
        // c1: 4 tiles; depthwise: 64 matrices of 9 x 1, one tile each; fc: 64 x 10 -> 1 tile
        assert_eq!(e.tiles, 4 + 64 + 1);
        let macs = 144 * 64 * 64 + 64 * 9 * 64 + 64 * 10;
        assert_eq!(e.macs, macs);
        assert_eq!(e.macs, crate::metrics::compute(&graph).macs_by_kind.total());
        let weights = 144 * 64 + 64 * 9 + 640;
        assert!((e.utilization - (weights * 4) as f64 / (69.0 * 128.0 * 128.0)).abs() < 1e-12);
        assert!((e.area_mm2 - 69.0 * 0.01 * 1.5).abs() < 1e-12);
        // two 8x8 convs of 64 positions and the linear layer's one, 1000 ns each
        assert!((e.latency_ms - 129.0 * 1000.0 * 1e-6).abs() < 1e-12);
        assert!((e.energy_mj - macs as f64 * 1.25e-9).abs() < 1e-15);
    }
}
