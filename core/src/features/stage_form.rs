//! The terms of ResNet and MobileNet cells in closed form: the counts of each block's nodes by
//! the rules of `metrics` (a node moves its input and output elements, a BatchNorm or ReLU right
//! after a convolution fuses into its kernel), the first block from the previous cell's width
//! and the cell's stride, and `depth - 1` identical blocks after it. (NN-Degree in closed form
//! is `CellSpec::nn_degree`.)

use super::Counts;
use crate::metrics::{ConvKind, Fields, PerKind};
use crate::space::{Block, CellSpec, Family, Space};

/// Counts of nodes in one stage.
#[derive(Default, Clone, Copy)]
struct Tally {
    counts: Counts,
}

impl Tally {
    /// A convolution (no bias) from `cin` channels of `pin` pixels to `cout` of `pout`.
    fn conv(&mut self, cin: u64, cout: u64, k: u64, groups: u64, pin: u64, pout: u64) {
        let per_out = cin / groups * k * k;
        let c = &mut self.counts;
        c.params += cout * per_out;
        let macs = pout * cout * per_out;
        let kind = ConvKind::of(k, groups, cin);
        *c.macs_by_kind.conv_mut(kind) += macs;
        *c.layers_by_kind.conv_mut(kind) += 1;
        c.activation_bytes += 4 * (cin * pin + cout * pout);
        c.kernels += 1;
    }

    /// BatchNorm and, if `relu`, ReLU, both fused into the convolution before them.
    fn bn(&mut self, channels: u64, pixels: u64, relu: bool) {
        self.counts.params += 2 * channels;
        self.counts.activation_bytes += 4 * 2 * channels * pixels * (1 + u64::from(relu));
    }

    /// A two-operand add, and if `relu` a ReLU after it (its own kernel).
    fn add(&mut self, channels: u64, pixels: u64, relu: bool) {
        let n = channels * pixels;
        self.counts.activation_bytes += 4 * (3 * n + if relu { 2 * n } else { 0 });
        self.counts.kernels += 1 + u64::from(relu);
        self.counts.layers_by_kind.add += 1;
    }

    fn times(self, n: u64) -> Tally {
        let c = self.counts;
        Tally {
            counts: Counts {
                params: c.params * n,
                macs_by_kind: c.macs_by_kind.times(n),
                layers_by_kind: c.layers_by_kind.times(n),
                activation_bytes: c.activation_bytes * n,
                concat_bytes: c.concat_bytes * n,
                kernels: c.kernels * n,
                ..Counts::default()
            },
        }
    }

    fn plus(self, o: Tally) -> Tally {
        Tally {
            counts: self.counts + o.counts,
        }
    }
}

/// One block: input channels `cin` at `pin` pixels, stride `stride` to `p` pixels.
fn block(cell: &CellSpec, cin: u64, pin: u64, p: u64, stride: u64) -> Tally {
    let w = cell.width;
    let mut t = Tally::default();
    match cell.family() {
        Family::Resnet => {
            let k = cell.multiplier.unwrap_or(1);
            match cell.block.unwrap_or(Block::Basic) {
                Block::Basic => {
                    t.conv(cin, k * w, 3, 1, pin, p);
                    t.bn(k * w, p, true);
                    t.conv(k * w, w, 3, 1, p, p);
                    t.bn(w, p, false);
                }
                Block::Bottleneck => {
                    let m = k * w / 4;
                    t.conv(cin, m, 1, 1, pin, p);
                    t.bn(m, p, true);
                    t.conv(m, m, 3, 1, p, p);
                    t.bn(m, p, true);
                    t.conv(m, w, 1, 1, p, p);
                    t.bn(w, p, false);
                }
            }
            if stride != 1 || cin != w {
                t.conv(cin, w, 1, 1, pin, p);
                t.bn(w, p, false);
            }
            t.add(w, p, true);
            t
        }
        _ => {
            let h = cell.expansion.unwrap_or(1) * w;
            let k = cell.kernel.unwrap_or(3);
            t.conv(cin, h, 1, 1, pin, p);
            t.bn(h, p, true);
            t.conv(h, h, k, h, p, p);
            t.bn(h, p, true);
            t.conv(h, w, 1, 1, p, p);
            t.bn(w, p, false);
            if stride == 1 && cin == w {
                t.add(w, p, false);
            }
            t
        }
    }
}

/// The term of cell `c` of a ResNet or MobileNet `space` reading `cin` channels; equal to
/// `metrics::compute` on `Space::cell_graph` (tested in `cell_term`).
pub(super) fn stage_term(space: &Space, c: usize, cin: u64, cell: &CellSpec) -> Counts {
    let stem_stages = space.stem.map_or(0, |s| s.downsamplings());
    let pixels = |[h, w]: [u64; 2]| h * w;
    let stride = Space::cell_stride(c);
    let (pin, p) = (
        pixels(space.cell_resolution(c)),
        pixels(space.cell_resolution(c + 1)),
    );
    let mut stages: Vec<(usize, Tally)> = Vec::new();
    let mut own = Tally::default();
    let cin = match (c, space.stem) {
        (0, Some(stem)) => {
            // The stem: a convolution from the image, then a max pool that starts the cells'
            // stage; without the pool the stem shares the first cell's stage.
            let [c0, h0, w0] = space.input_shape;
            let ps = pixels(stem.conv_resolution([h0, w0]));
            let mut t = Tally::default();
            t.conv(c0, stem.width, stem.kernel, 1, h0 * w0, ps);
            t.bn(stem.width, ps, true);
            if stem.max_pool {
                stages.push((usize::from(stem.stride > 1), t));
                let pool = &mut own.counts;
                pool.activation_bytes += 4 * stem.width * (ps + pin);
                pool.kernels += 1;
                pool.layers_by_kind.pool += 1;
            } else {
                own = t;
            }
            stem.width
        }
        (0, None) => space.input_shape[0],
        _ => cin,
    };
    own = own.plus(block(cell, cin, pin, p, stride));
    if cell.depth > 1 {
        let rest = block(cell, cell.width, p, p, 1);
        own = own.plus(rest.times(cell.depth - 1));
    }
    if c + 1 == space.num_cells {
        let w = cell.width;
        let mut width = w;
        if let Some(hw) = space.head_width {
            own.conv(w, hw, 1, 1, p, p);
            own.bn(hw, p, true);
            width = hw;
        }
        let k = space.num_classes;
        let head = &mut own.counts;
        head.activation_bytes += 4 * (width * p + 2 * width + k);
        head.kernels += 2;
        head.layers_by_kind.pool += 1;
        head.layers_by_kind.linear += 1;
        head.macs_by_kind.linear += width * k;
        head.params += width * k + k;
    }
    stages.push((stem_stages + c, own));
    stages
        .into_iter()
        .fold(Counts::default(), |counts, (stage, t)| {
            counts + t.counts.in_stage(super::stage_slot(stage))
        })
}
