//! The network graph of a spec, built as the [`space`](super) module documentation defines it,
//! and the graphs of parts of one (a cell alone), from which the per-cell terms are computed.

use super::grid::{Family, Space, Stem};
use super::{ArchSpec, Block, CellSpec};
use crate::ir::{Graph, Node, Op};

impl ArchSpec {
    /// Builds the network graph exactly as the [`space`](super) module documentation defines
    /// it, with the stem and head of the spec's space (none for a space not built in).
    pub fn to_graph(&self) -> Graph {
        let space = self.space();
        Network {
            input_shape: self.input_shape,
            num_classes: self.num_classes,
            stem: space.and_then(|s| s.stem),
            head_width: space.and_then(|s| s.head_width),
            first_cell: 0,
            cells: &self.cells,
            head: true,
        }
        .build()
    }
}

impl Space {
    /// Input `[height, width]` of cell `c` of this space's networks.
    pub fn cell_resolution(&self, c: usize) -> [u64; 2] {
        let halve = |n: u64| (n - 1) / 2 + 1;
        let mut r = [self.input_shape[1], self.input_shape[2]];
        if let Some(stem) = self.stem {
            r = stem.conv_resolution(r);
            if stem.max_pool {
                r = r.map(halve);
            }
        }
        // Cell c reads cell c - 1's output; every cell after the first opens with a stride-2
        // convolution of kernel 1 (padding 0) or 3 (padding 1): both map n to (n - 1) / 2 + 1.
        for _ in 1..c {
            r = r.map(halve);
        }
        r
    }

    /// The graph of cell `c` of this space alone, reading `cin` channels at the cell's input
    /// resolution; cell 0 reads the image through the stem instead (`cin` is ignored), and the
    /// last cell is followed by the head.
    /// (The oracle of the closed-form cell terms' tests.)
    #[cfg(test)]
    pub(crate) fn cell_graph(&self, c: usize, cin: u64, cell: &CellSpec) -> Graph {
        let [h, w] = self.cell_resolution(c);
        Network {
            input_shape: if c == 0 {
                self.input_shape
            } else {
                [cin, h, w]
            },
            num_classes: self.num_classes,
            stem: self.stem,
            head_width: self.head_width,
            first_cell: c,
            cells: std::slice::from_ref(cell),
            head: c + 1 == self.num_cells,
        }
        .build()
    }
}

/// A network, or the part of one from cell `first_cell` on: the stem when `first_cell` is 0, the
/// cells given, and the head when `head` is set.
struct Network<'a> {
    /// The input of the part: the image for cell 0, the previous cell's output otherwise.
    pub input_shape: [u64; 3],
    pub num_classes: u64,
    pub stem: Option<Stem>,
    pub head_width: Option<u64>,
    pub first_cell: usize,
    pub cells: &'a [CellSpec],
    pub head: bool,
}

impl Network<'_> {
    pub fn build(&self) -> Graph {
        let mut b = Builder {
            nodes: vec![Node::new("input", Op::Input, vec![])],
        };
        let (mut x, mut channels) = (0, self.input_shape[0]);
        if let (Some(stem), 0) = (self.stem, self.first_cell) {
            x = b.conv_bn("stem", x, stem.width, stem.kernel, stem.stride, 1, true);
            if stem.max_pool {
                let pool = Op::MaxPool {
                    kernel: 3,
                    stride: 2,
                    padding: 1,
                    ceil_mode: false,
                };
                x = b.push("stem.pool".into(), pool, vec![x]);
            }
            channels = stem.width;
        }
        for (i, cell) in self.cells.iter().enumerate() {
            let c = self.first_cell + i;
            let stride = Space::cell_stride(c);
            x = match cell.family() {
                Family::Densenet => b.dense_cell(c, cell, x, stride),
                Family::Resnet => b.residual_cell(c, cell, x, channels, stride),
                Family::Mobilenet => b.inverted_cell(c, cell, x, channels, stride),
            };
            channels = cell.width;
        }
        if self.head {
            if let Some(width) = self.head_width {
                x = b.conv_bn("head", x, width, 1, 1, 1, true);
            }
            let gap = b.push("head.gap".into(), Op::GlobalAvgPool, vec![x]);
            let flat = b.push("head.flatten".into(), Op::Flatten, vec![gap]);
            let linear = Op::Linear {
                out_features: self.num_classes,
                bias: true,
            };
            b.push("head.linear".into(), linear, vec![flat]);
        }
        Graph::new(self.input_shape, b.nodes).expect("a parsed spec always builds a valid graph")
    }
}

/// Appends nodes, returning each one's index.
struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    fn push(&mut self, name: String, op: Op, inputs: Vec<usize>) -> usize {
        self.nodes.push(Node::new(name, op, inputs));
        self.nodes.len() - 1
    }

    /// Convolution (no bias, padding `kernel / 2`), BatchNorm and, if `relu`, ReLU, named
    /// `{name}.conv`, `{name}.bn`, `{name}.relu`.
    #[allow(clippy::too_many_arguments)]
    fn conv_bn(
        &mut self,
        name: &str,
        x: usize,
        out_channels: u64,
        kernel: u64,
        stride: u64,
        groups: u64,
        relu: bool,
    ) -> usize {
        let conv = Op::Conv {
            out_channels,
            kernel,
            stride,
            padding: kernel / 2,
            groups,
            bias: false,
        };
        let conv = self.push(format!("{name}.conv"), conv, vec![x]);
        let bn = self.push(format!("{name}.bn"), Op::BatchNorm, vec![conv]);
        if relu {
            self.push(format!("{name}.relu"), Op::Relu, vec![bn])
        } else {
            bn
        }
    }

    /// A DenseNet cell (see the [`space`](super) docs).
    fn dense_cell(&mut self, c: usize, cell: &CellSpec, x: usize, stride: u64) -> usize {
        let mut outputs: Vec<usize> = Vec::with_capacity(cell.depth as usize);
        for j in 0..cell.depth {
            let name = |part: &str| format!("cell{c}.layer{j}.{part}");
            let input = if j == 0 {
                x
            } else {
                let mut parts = vec![*outputs.last().expect("layer j-1 exists")];
                let mut left = cell.skips(j);
                for src in (0..j.saturating_sub(1)).rev() {
                    if left == 0 {
                        break;
                    }
                    let take = left.min(cell.width);
                    let out = outputs[src as usize];
                    parts.push(if take == cell.width {
                        out
                    } else {
                        let slice = Op::ChannelSlice {
                            start: 0,
                            end: take,
                        };
                        self.push(name(&format!("skip{src}")), slice, vec![out])
                    });
                    left -= take;
                }
                if parts.len() == 1 {
                    parts[0]
                } else {
                    self.push(name("concat"), Op::Concat, parts)
                }
            };
            let stride = if j == 0 { stride } else { 1 };
            let layer = format!("cell{c}.layer{j}");
            outputs.push(self.conv_bn(&layer, input, cell.width, 3, stride, 1, true));
        }
        *outputs.last().expect("depth >= 3")
    }

    /// A ResNet cell: `depth` blocks, the first with the cell's stride on its first convolution
    /// and a 1x1 projection shortcut when the stride or the channels change.
    fn residual_cell(
        &mut self,
        c: usize,
        cell: &CellSpec,
        x: usize,
        cin: u64,
        stride: u64,
    ) -> usize {
        let (w, k) = (cell.width, cell.multiplier.unwrap_or(1));
        let block = cell.block.unwrap_or(Block::Basic);
        let (mut x, mut cin) = (x, cin);
        for j in 0..cell.depth {
            let name = |part: &str| format!("cell{c}.block{j}.{part}");
            let s = if j == 0 { stride } else { 1 };
            let branch = match block {
                Block::Basic => {
                    let a = self.conv_bn(&name("a"), x, k * w, 3, s, 1, true);
                    self.conv_bn(&name("b"), a, w, 3, 1, 1, false)
                }
                Block::Bottleneck => {
                    let mid = k * w / 4;
                    let a = self.conv_bn(&name("a"), x, mid, 1, s, 1, true);
                    let b = self.conv_bn(&name("b"), a, mid, 3, 1, 1, true);
                    self.conv_bn(&name("c"), b, w, 1, 1, 1, false)
                }
            };
            let shortcut = if s != 1 || cin != w {
                self.conv_bn(&name("shortcut"), x, w, 1, s, 1, false)
            } else {
                x
            };
            let add = self.push(name("add"), Op::Add, vec![branch, shortcut]);
            x = self.push(name("relu"), Op::Relu, vec![add]);
            cin = w;
        }
        x
    }

    /// A MobileNet cell: `depth` inverted residual blocks (1x1 expansion to `expansion * width`,
    /// depthwise `kernel`, 1x1 linear projection), the first with the cell's stride on its
    /// expansion, the others with an identity shortcut.
    fn inverted_cell(
        &mut self,
        c: usize,
        cell: &CellSpec,
        x: usize,
        cin: u64,
        stride: u64,
    ) -> usize {
        let w = cell.width;
        let hidden = cell.expansion.unwrap_or(1) * w;
        let kernel = cell.kernel.unwrap_or(3);
        let (mut x, mut cin) = (x, cin);
        for j in 0..cell.depth {
            let name = |part: &str| format!("cell{c}.block{j}.{part}");
            let s = if j == 0 { stride } else { 1 };
            let expand = self.conv_bn(&name("expand"), x, hidden, 1, s, 1, true);
            let dw = self.conv_bn(&name("depthwise"), expand, hidden, kernel, 1, hidden, true);
            let project = self.conv_bn(&name("project"), dw, w, 1, 1, 1, false);
            x = if s == 1 && cin == w {
                self.push(name("add"), Op::Add, vec![project, x])
            } else {
                project
            };
            cin = w;
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::Op;
    use crate::space::test_support::cells;

    #[test]
    fn skips_take_the_most_recent_layers_first() {
        let spec = cells([(16, 5, 20), (16, 3, 0), (16, 3, 0)]);
        let g = spec.to_graph();
        // Layer 4 of cell 0 takes all 16 channels of layer 2 and the first 4 of layer 1.
        let concat = g
            .nodes()
            .iter()
            .position(|n| n.name == "cell0.layer4.concat")
            .unwrap();
        let parts = &g.nodes()[concat].inputs;
        let names: Vec<&str> = parts.iter().map(|&i| g.nodes()[i].name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cell0.layer3.relu",
                "cell0.layer2.relu",
                "cell0.layer4.skip1"
            ]
        );
        let slice = &g.nodes()[parts[2]];
        assert_eq!(slice.op, Op::ChannelSlice { start: 0, end: 4 });
        assert_eq!(g.nodes()[slice.inputs[0]].name, "cell0.layer1.relu");
    }
}
