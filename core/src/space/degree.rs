//! NN-Degree of a cell in closed form, for every family: what `metrics` computes on the cell's
//! stage (its convolutions' mean degree, a degree being output channels plus skip channels),
//! summed over the stages the cell spans. A block's first convolution receives as skip links
//! every earlier source its input joins by addition, and a downsampling convolution none.

use super::grid::{Family, Stem};
use super::{Block, CellSpec};

/// The fixed layers around the cells that share their stages: the stem (before the first
/// cell) and the head's convolution (after the last).
#[derive(Debug, Clone, Copy)]
pub struct Surroundings {
    pub stem: Option<Stem>,
    pub head_width: Option<u64>,
    /// Channels of the network's input.
    pub input_channels: u64,
    pub num_cells: usize,
}

impl CellSpec {
    /// NN-Degree of this cell as cell `c` of a network with `around` it: the mean degree of its
    /// stage's convolutions (with the stem's when they share the first stage, and the head's
    /// in the last), plus the stem's own stage when a max pool separates it.
    pub fn nn_degree(&self, c: usize, around: &Surroundings) -> f64 {
        let w = self.width;
        let d = self.depth;
        if self.family() == Family::Densenet {
            return w as f64 + self.total_skips() as f64 / d as f64;
        }
        let stride = super::Space::cell_stride(c);
        let cin = match (c, around.stem) {
            (0, Some(stem)) => stem.width,
            (0, None) => around.input_channels,
            _ => 0,
        };
        // (degree sum, convolutions) of the cell's stage, and the sources joined by addition
        // at the cell's output.
        let (mut sum, mut convs, sources) = match self.family() {
            Family::Resnet => {
                let k = self.multiplier.unwrap_or(1);
                let projection = u64::from(stride != 1 || cin != w);
                // Block j >= 1 receives the j earlier joined sources: sum_j j w.
                let skips = w * d * (d - 1) / 2;
                let (sum, convs) = match self.block.unwrap_or(Block::Basic) {
                    Block::Basic => (d * k * w + d * w, 2 * d),
                    Block::Bottleneck => (2 * d * (k * w / 4) + d * w, 3 * d),
                };
                (sum + skips + projection * w, convs + projection, d + 1)
            }
            _ => {
                let h = self.expansion.unwrap_or(1) * w;
                let residual = u64::from(stride == 1 && cin == w);
                // Block j >= 1 receives residual + j - 1 joined sources.
                let skips = w * ((d - 1) * residual + (d - 1) * d.saturating_sub(2) / 2);
                (2 * d * h + d * w + skips, 3 * d, d + residual)
            }
        };
        let mut stem_stage = 0.0;
        if let (0, Some(stem)) = (c, around.stem) {
            if stem.max_pool {
                stem_stage = stem.width as f64;
            } else {
                sum += stem.width;
                convs += 1;
            }
        }
        if let (true, Some(head)) = (c + 1 == around.num_cells, around.head_width) {
            sum += head + (sources - 1) * w;
            convs += 1;
        }
        stem_stage + sum as f64 / convs as f64
    }
}
