//! Metrics of any network graph: counts that drive the hardware models (parameters, MACs per
//! operator kind, bytes moved, kernels) and the topology metrics of the seed papers (NN-Degree,
//! NN-Mass, backpropagation distance, effective depth and width). Everything is one pass of
//! dynamic programming over the DAG in topological order; paths are never enumerated.
//!
//! # Topology on a general graph
//! Each node carries its channel provenance: the list of (source layer, channel count) segments
//! its channels come from, where a source is a convolution or the input. Concat appends lists,
//! Add merges them (each operand is a link), a channel slice cuts them, and other operators pass
//! them through. For a convolution whose input has provenance P, the regular link is the most
//! recent source in P (the previous layer) and every other segment is a skip link.
//! - Stages are the stretches between downsamplings: a stride > 1 convolution or pooling starts
//!   a new stage (stage = the largest stage among the inputs, plus one if downsampling). Global
//!   average pooling does not start one, so a classifier head belongs to the last stage.
//! - A layer's degree is its output channels (its regular width) plus its skip input channels;
//!   a downsampling convolution opens its stage and receives no skip links (those into it come
//!   from the previous stage).
//!   NN-Degree is the sum over stages of the mean degree of the stage's convolutions. On a cell
//!   network this is exactly `sum_c (w_c + (1/d_c) sum_j t_{c,j})`.
//! - NN-Mass is the sum over stages of `rho_s w_s d_s` with `rho_s = skips_s / (w_s (d_s-2)(d_s-1)/2)`,
//!   which is `2 d_s skips_s / ((d_s-2)(d_s-1))` whatever the width; a stage with fewer than 3
//!   layers uses 1 for the denominator. On a cell network this is the closed form of
//!   `ArchSpec::nn_mass`, counting the skip channels that arrive by concatenation. Addition-type
//!   skips (ResNet, MobileNet blocks) add the reference notes' per-block NN-Mass instead: see
//!   `blocks` for the rule per block kind.
//! - In NN-Degree, the channels an add merges in count as skip links like concatenated ones: a
//!   convolution after a residual join receives the branch (regular) and the shortcut (skip).
//! - A product (`Mul`) is not a link: a squeeze-and-excitation gate rescales its data operand,
//!   whose provenance passes through; a product of one shape (SiLU) merges like an add. A channel
//!   shuffle permutes the segments, so the slices ShuffleNet takes after it see both branches.

use serde::{Deserialize, Serialize};

use crate::ir::{Graph, Mul, Op, Shape};

mod blocks;
mod counts;
mod provenance;

pub(crate) use counts::{ConvKind, Fields, PerKind};
pub use counts::{LayerCounts, MacCounts, StageCounts};
use provenance::Provenance;

/// Everything computed from a graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Metrics {
    /// Conv weights (and biases) + 2 per BatchNorm channel + linear weights and biases.
    pub params: u64,
    /// Total multiply-accumulates for one inference.
    pub macs: u64,
    pub macs_by_kind: MacCounts,
    /// Bytes of float32 activations read and written by all operators.
    pub activation_bytes: u64,
    /// Bytes of float32 weights (4 x params).
    pub weight_bytes: u64,
    /// Bytes written by concat, channel-slice and channel-shuffle copies (part of
    /// `activation_bytes`).
    pub concat_bytes: u64,
    /// Kernels launched after the usual Conv + BatchNorm + ReLU fusion (an estimate).
    pub kernels: u64,
    /// Nodes of the graph, input included.
    pub nodes: u64,
    /// Convolutions and linear layers.
    pub parametrised_layers: u64,
    /// Layers per operator kind (zero in rows stored before it existed).
    #[serde(default)]
    pub layers_by_kind: LayerCounts,
    /// Counts of each stage, first to last (see the module docs for what a stage is; empty in
    /// rows stored before it existed).
    #[serde(default)]
    pub stages: Vec<StageCounts>,
    /// Parametrised layers on the longest input-to-output path.
    pub depth: u64,
    pub nn_degree: f64,
    pub nn_mass: f64,
    /// Mean over convolutions of the fewest parametrised layers from it to the output
    /// (Log-DenseNet's backpropagation distance).
    pub backprop_distance_mean: f64,
    pub backprop_distance_max: u64,
    /// Mean number of parametrised layers over all input-to-output paths (Chen et al.).
    pub effective_depth: f64,
    /// Paths with at least one parametrised layer divided by the effective depth; `None` when
    /// it exceeds f64 (then only its logarithm is reported).
    pub effective_width: Option<f64>,
    pub log_effective_width: f64,
    /// Natural logarithm of the number of input-to-output paths.
    pub log_paths: f64,
}

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// Computes every metric of `graph` in one topological pass (and one reverse pass).
pub fn compute(graph: &Graph) -> Metrics {
    let nodes = graph.nodes();
    let n = nodes.len();
    let mut macs = MacCounts::default();
    let (mut params, mut activation_elems, mut concat_elems, mut kernels) =
        (0u64, 0u64, 0u64, 0u64);
    let mut layers = LayerCounts::default();
    let mut per_stage: Vec<StageCounts> = Vec::new();
    let mut fused = vec![false; n];
    let mut provenance: Vec<Provenance> = Vec::with_capacity(n);
    let mut stage = vec![0usize; n];
    // per stage: (convolutions, sum of degrees, sum of concatenated skip channels)
    let mut topology: Vec<(u64, u64, u64)> = Vec::new();
    let mut longest = vec![0u64; n];
    // log number of paths from the input, mean parametrised layers over them, log number of
    // paths with no parametrised layer
    let mut log_paths = vec![f64::NEG_INFINITY; n];
    let mut mean_layers = vec![0.0f64; n];
    let mut log_plain = vec![f64::NEG_INFINITY; n];

    for (i, node) in nodes.iter().enumerate() {
        let shape = graph.shape(i);
        let in_shapes: Vec<Shape> = node.inputs.iter().map(|&j| graph.shape(j)).collect();
        let in_elems: u64 = in_shapes.iter().map(Shape::elements).sum();
        let out_elems = shape.elements();
        let is_param = node.op.is_parametrised();

        // Path statistics.
        if i == 0 {
            log_paths[0] = 0.0;
            log_plain[0] = 0.0;
        } else {
            let total = node
                .inputs
                .iter()
                .fold(f64::NEG_INFINITY, |a, &j| log_add(a, log_paths[j]));
            log_paths[i] = total;
            mean_layers[i] = node
                .inputs
                .iter()
                .map(|&j| (log_paths[j] - total).exp() * mean_layers[j])
                .sum::<f64>()
                + if is_param { 1.0 } else { 0.0 };
            log_plain[i] = if is_param {
                f64::NEG_INFINITY
            } else {
                node.inputs
                    .iter()
                    .fold(f64::NEG_INFINITY, |a, &j| log_add(a, log_plain[j]))
            };
        }
        longest[i] =
            node.inputs.iter().map(|&j| longest[j]).max().unwrap_or(0) + u64::from(is_param);

        // Stages and provenance.
        let downsamples = match node.op {
            Op::Conv { stride, .. } | Op::MaxPool { stride, .. } | Op::AvgPool { stride, .. } => {
                stride > 1
            }
            _ => false,
        };
        stage[i] =
            node.inputs.iter().map(|&j| stage[j]).max().unwrap_or(0) + usize::from(downsamples);
        let prov: Provenance = match &node.op {
            Op::Input => provenance::own(0, shape.channels()),
            Op::Conv { out_channels, .. } => {
                // The links into a downsampling convolution cross from the previous stage: a
                // stage's degree counts the skips within it.
                let skips = if downsamples {
                    provenance::Skips::NONE
                } else {
                    provenance::skips(&provenance[node.inputs[0]])
                };
                if topology.len() <= stage[i] {
                    topology.resize(stage[i] + 1, (0, 0, 0));
                }
                let st = &mut topology[stage[i]];
                st.0 += 1;
                st.1 += out_channels + skips.concatenated + skips.added;
                st.2 += skips.concatenated;
                provenance::own(i, *out_channels)
            }
            Op::Concat => provenance::concat(node.inputs.iter().map(|&j| &provenance[j])),
            Op::Add => provenance::merge(node.inputs.iter().map(|&j| &provenance[j])),
            Op::Mul => match Mul::of(&in_shapes) {
                Some(Mul::Gate { gate }) => provenance[node.inputs[1 - gate]].clone(),
                _ => provenance::merge(node.inputs.iter().map(|&j| &provenance[j])),
            },
            Op::ChannelSlice { start, end } => {
                provenance::slice(&provenance[node.inputs[0]], *start, *end)
            }
            Op::ChannelShuffle { groups } => {
                provenance::shuffle(&provenance[node.inputs[0]], *groups)
            }
            Op::Flatten | Op::Linear { .. } => Vec::new(),
            _ => provenance[node.inputs[0]].clone(),
        };
        provenance.push(prov);

        // Counts, in total and for the node's stage.
        if per_stage.len() <= stage[i] {
            per_stage.resize(stage[i] + 1, StageCounts::default());
        }
        let here = &mut per_stage[stage[i]];
        match &node.op {
            Op::Input => {}
            Op::Conv {
                out_channels,
                kernel,
                groups,
                bias,
                ..
            } => {
                let in_c = in_shapes[0].channels();
                let per_out = (in_c / groups) * kernel * kernel;
                params += out_channels * per_out + if *bias { *out_channels } else { 0 };
                let kind = ConvKind::of(*kernel, *groups, in_c);
                *macs.conv_mut(kind) += out_elems * per_out;
                *layers.conv_mut(kind) += 1;
                here.macs += out_elems * per_out;
                here.layers += 1;
            }
            Op::Linear { out_features, bias } => {
                let in_f = in_shapes[0].elements();
                params += in_f * out_features + if *bias { *out_features } else { 0 };
                macs.linear += in_f * out_features;
                layers.linear += 1;
                here.macs += in_f * out_features;
                here.layers += 1;
            }
            Op::BatchNorm => params += 2 * shape.channels(),
            Op::Concat | Op::ChannelSlice { .. } | Op::ChannelShuffle { .. } => {
                concat_elems += out_elems;
                layers.concat += 1;
                here.concat_bytes += 4 * out_elems;
            }
            Op::MaxPool { .. } | Op::AvgPool { .. } | Op::GlobalAvgPool => layers.pool += 1,
            Op::Add => layers.add += 1,
            Op::Mul => layers.mul += 1,
            Op::Relu | Op::Activation { .. } | Op::Flatten => {}
        }
        if !matches!(node.op, Op::Input | Op::Flatten) {
            activation_elems += in_elems + out_elems;
            here.activation_bytes += 4 * (in_elems + out_elems);
        }
        let follows_fusable = |j: usize| matches!(nodes[j].op, Op::Conv { .. }) || fused[j];
        fused[i] = match node.op {
            Op::BatchNorm | Op::Relu | Op::Activation { .. } => follows_fusable(node.inputs[0]),
            _ => false,
        };
        if !fused[i] && !matches!(node.op, Op::Input | Op::Flatten) {
            kernels += 1;
        }
    }

    // Reverse pass: fewest parametrised layers from each node to the output.
    let mut to_output = vec![u64::MAX; n];
    to_output[n - 1] = 0;
    for i in (0..n).rev() {
        if to_output[i] == u64::MAX {
            continue;
        }
        for &j in &nodes[i].inputs {
            let via = to_output[i] + u64::from(nodes[i].op.is_parametrised());
            to_output[j] = to_output[j].min(via);
        }
    }
    let convs: Vec<u64> = (0..n)
        .filter(|&i| matches!(nodes[i].op, Op::Conv { .. }))
        .map(|i| to_output[i])
        .collect();
    let (backprop_distance_mean, backprop_distance_max) = if convs.is_empty() {
        (0.0, 0)
    } else {
        (
            convs.iter().sum::<u64>() as f64 / convs.len() as f64,
            *convs.iter().max().expect("non-empty"),
        )
    };

    let mut nn_degree = 0.0;
    let mut nn_mass = 0.0;
    for &(convs, degree_sum, skip_sum) in topology.iter().filter(|s| s.0 > 0) {
        let d = convs as f64;
        nn_degree += degree_sum as f64 / d;
        let denominator = if convs >= 3 {
            (d - 2.0) * (d - 1.0)
        } else {
            1.0
        };
        nn_mass += 2.0 * d * skip_sum as f64 / denominator;
    }
    nn_mass += blocks::addition_mass(graph);

    let out = n - 1;
    let effective_depth = mean_layers[out];
    let log_with_param = if log_plain[out] == f64::NEG_INFINITY {
        log_paths[out]
    } else {
        log_paths[out] + (-(log_plain[out] - log_paths[out]).exp()).ln_1p()
    };
    let log_effective_width = log_with_param - effective_depth.ln();
    let effective_width = Some(log_effective_width.exp()).filter(|w| w.is_finite());

    Metrics {
        params,
        macs: macs.total(),
        macs_by_kind: macs,
        activation_bytes: 4 * activation_elems,
        weight_bytes: 4 * params,
        concat_bytes: 4 * concat_elems,
        kernels,
        nodes: n as u64,
        parametrised_layers: layers.parametrised(),
        layers_by_kind: layers,
        stages: per_stage,
        depth: longest[out],
        nn_degree,
        nn_mass,
        backprop_distance_mean,
        backprop_distance_max,
        effective_depth,
        effective_width,
        log_effective_width,
        log_paths: log_paths[out],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;
    use crate::space::{ArchSpec, CellSpec, Space};
    use proptest::prelude::*;

    fn spec(cells: &[(u64, u64, u64)]) -> ArchSpec {
        Space::default_space().spec(
            cells
                .iter()
                .map(|&(width, depth, tc)| CellSpec::dense(width, depth, tc))
                .collect(),
        )
    }

    #[test]
    fn counts_of_the_example_spec() {
        let s = spec(&[(32, 8, 16), (64, 8, 32), (128, 8, 64)]);
        let m = compute(&s.to_graph());
        // params by hand: per cell, layer 0 conv + layers 1..7 convs + 8 BN layers
        let cell = |cin: u64, w: u64, tc: u64| -> u64 {
            let skips: u64 = (1..8).map(|j| CellSpec::dense(w, 8, tc).skips(j)).sum();
            cin * w * 9 + (7 * w + skips) * w * 9 + 8 * 2 * w
        };
        let expected = cell(3, 32, 16) + cell(32, 64, 32) + cell(64, 128, 64) + 128 * 10 + 10;
        assert_eq!(m.params, expected);
        assert_eq!(m.depth, 25);
        assert_eq!(m.parametrised_layers, 25);
        assert_eq!(m.macs_by_kind.linear, 1280);
        assert_eq!(m.macs, m.macs_by_kind.conv3x3 + 1280);
        assert!((m.nn_degree - s.nn_degree()).abs() < 1e-9);
        assert!((m.nn_mass - s.nn_mass()).abs() < 1e-9);
        // one conv kernel per layer, a concat and a slice (tc < width) for layers 2..7, gap, linear
        assert_eq!(m.kernels, 24 + 3 * 6 + 3 * 6 + 2);
    }

    #[test]
    fn a_chain_has_one_path_and_distances_along_it() {
        let s = spec(&[(16, 3, 0), (16, 3, 0), (16, 3, 0)]);
        let m = compute(&s.to_graph());
        assert!((m.log_paths - 0.0).abs() < 1e-12);
        assert!((m.effective_depth - 10.0).abs() < 1e-12);
        assert!((m.effective_width.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(m.backprop_distance_max, 9);
        assert!((m.backprop_distance_mean - 5.0).abs() < 1e-12);
        assert_eq!(m.nn_degree, 48.0);
    }

    #[test]
    fn skips_shorten_backprop_distance_and_add_paths() {
        let chain = compute(&spec(&[(16, 6, 0), (16, 3, 0), (16, 3, 0)]).to_graph());
        let dense = compute(&spec(&[(16, 6, 64), (16, 3, 0), (16, 3, 0)]).to_graph());
        assert!(dense.log_paths > chain.log_paths);
        assert!(dense.backprop_distance_mean < chain.backprop_distance_mean);
        assert!(dense.effective_depth < chain.effective_depth);
    }

    #[test]
    fn layers_per_kind_and_per_stage_on_a_general_graph() {
        let conv = |c, kernel, stride, groups| Op::Conv {
            out_channels: c,
            kernel,
            stride,
            padding: kernel / 2,
            groups,
            bias: false,
        };
        let g = Graph::new(
            [4, 8, 8],
            vec![
                Node::new("in", Op::Input, vec![]),
                Node::new("c0", conv(8, 3, 1, 1), vec![0]),
                Node::new(
                    "pool",
                    Op::MaxPool {
                        kernel: 2,
                        stride: 2,
                        padding: 0,
                        ceil_mode: false,
                    },
                    vec![1],
                ),
                Node::new("pw", conv(8, 1, 1, 1), vec![2]),
                Node::new("dw", conv(8, 3, 1, 8), vec![3]),
                Node::new("add", Op::Add, vec![4, 2]),
                Node::new("gap", Op::GlobalAvgPool, vec![5]),
                Node::new("flat", Op::Flatten, vec![6]),
                Node::new(
                    "fc",
                    Op::Linear {
                        out_features: 2,
                        bias: true,
                    },
                    vec![7],
                ),
            ],
        )
        .unwrap();
        let m = compute(&g);
        assert_eq!(
            m.layers_by_kind,
            LayerCounts {
                conv3x3: 1,
                conv1x1: 1,
                depthwise: 1,
                conv_other: 0,
                linear: 1,
                pool: 2,
                add: 1,
                concat: 0,
                mul: 0,
            }
        );
        // The stride-2 pool opens stage 1; global pooling and the linear layer stay in it.
        // Activation elements: c0 256 + 512; then pool 512 + 128, pw and dw 128 + 128 each,
        // add 256 + 128, gap 128 + 8, linear 8 + 2.
        assert_eq!(
            m.stages,
            vec![
                StageCounts {
                    macs: 64 * 8 * 36,
                    layers: 1,
                    activation_bytes: 4 * 768,
                    concat_bytes: 0,
                },
                StageCounts {
                    macs: 16 * 8 * 8 + 16 * 8 * 9 + 16,
                    layers: 3,
                    activation_bytes: 4 * 1682,
                    concat_bytes: 0,
                },
            ]
        );
        assert_eq!(m.macs, m.stages[0].macs + m.stages[1].macs);
        assert_eq!(
            m.activation_bytes,
            m.stages[0].activation_bytes + m.stages[1].activation_bytes
        );
        // Rows stored before these counts existed still parse, with them empty.
        let mut old = serde_json::to_value(&m).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("layers_by_kind");
        fields.remove("stages");
        let back: Metrics = serde_json::from_value(old).unwrap();
        assert_eq!(
            (back.layers_by_kind, back.stages),
            (LayerCounts::default(), vec![])
        );
    }

    #[test]
    fn residual_additions_are_skip_links_in_nn_degree_and_blocks_in_nn_mass() {
        let conv = |c| Op::Conv {
            out_channels: c,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
            bias: false,
        };
        let g = Graph::new(
            [8, 4, 4],
            vec![
                Node::new("in", Op::Input, vec![]),
                Node::new("c0", conv(8), vec![0]),
                Node::new("c1", conv(8), vec![1]),
                Node::new("c2", conv(8), vec![2]),
                Node::new("add", Op::Add, vec![3, 1]),
                Node::new("c3", conv(8), vec![4]),
                Node::new("gap", Op::GlobalAvgPool, vec![5]),
                Node::new("flat", Op::Flatten, vec![6]),
                Node::new(
                    "fc",
                    Op::Linear {
                        out_features: 2,
                        bias: true,
                    },
                    vec![7],
                ),
            ],
        )
        .unwrap();
        let m = compute(&g);
        // 4 convs of width 8 in one stage; c3 gets 8 skip channels from c0
        assert!((m.nn_degree - (8.0 + 8.0 / 4.0)).abs() < 1e-12);
        // One basic block (c1, c2 on the branch, c0 the block input): in + out.
        assert!((m.nn_mass - 16.0).abs() < 1e-12, "{}", m.nn_mass);
        assert!((m.log_paths - 2f64.ln()).abs() < 1e-12);
    }

    fn arb_spec() -> impl Strategy<Value = ArchSpec> {
        prop::collection::vec((1u64..48, 3u64..9, 0u64..200), 1..4).prop_map(|cells| spec(&cells))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn graph_topology_metrics_equal_the_closed_forms(s in arb_spec()) {
            let m = compute(&s.to_graph());
            prop_assert!((m.nn_degree - s.nn_degree()).abs() < 1e-9 * s.nn_degree().max(1.0));
            prop_assert!((m.nn_mass - s.nn_mass()).abs() < 1e-9 * s.nn_mass().max(1.0));
        }

        #[test]
        fn zero_tc_gives_the_sum_of_widths(cells in prop::collection::vec((1u64..200, 3u64..13), 1..5)) {
            let s = spec(&cells.iter().map(|&(w, d)| (w, d, 0)).collect::<Vec<_>>());
            let widths: u64 = cells.iter().map(|c| c.0).sum();
            prop_assert_eq!(s.nn_degree(), widths as f64);
            prop_assert_eq!(compute(&s.to_graph()).nn_degree, widths as f64);
        }

        #[test]
        fn nn_degree_never_decreases_as_tc_grows(w in 1u64..128, d in 3u64..13, tc in 0u64..400, more in 0u64..400) {
            let a = spec(&[(w, d, tc)]);
            let b = spec(&[(w, d, tc + more)]);
            prop_assert!(b.nn_degree() >= a.nn_degree());
        }
    }
}
