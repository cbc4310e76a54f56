//! IR -> ONNX (opset 17, IR version 8). One ONNX node per IR node, in the IR's order (a channel
//! shuffle is PyTorch's three: reshape, transpose, reshape), so import gives back the same graph. Weights are drawn from [`SplitMix64`] (He-uniform, so activations stay
//! finite); BatchNorm is the identity (scale 1, shift 0, running mean 0, variance 1). A channel
//! slice becomes a `Slice` on axis 1 whose bounds are `Constant` nodes, so the initializers are
//! exactly the parameters counted by `metrics::compute` plus the BatchNorm running statistics.

use std::collections::HashSet;

use prost::Message;

use super::proto::{
    AttributeProto, AttributeType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, data_type, tensor_shape_proto,
    type_proto,
};
use crate::ir::{Activation, Graph, Op, Shape};
use crate::rng::SplitMix64;
use crate::space::ArchSpec;

/// Opset of the default domain that exported models import.
pub const OPSET: i64 = 17;
/// ONNX IR version matching opset 17.
pub const IR_VERSION: i64 = 8;
/// Weight seed of [`export_spec`]: a constant, so a spec always exports to the same bytes.
pub const DEFAULT_SEED: u64 = 0x464C_4153_485F_4F4E;

/// The most parameters a served export may hold (512 MiB of float weights). The grids of the
/// ImageNet-shaped spaces hold networks of billions of parameters, whose export would take
/// gigabytes of memory (and break protobuf's 2 GiB message limit); their metrics, predictions
/// and searches need no export.
pub const MAX_EXPORT_PARAMS: u64 = 1 << 27;

/// Why a network of `params` parameters cannot be exported, if it cannot.
pub fn too_large_to_export(params: u64) -> Option<String> {
    (params > MAX_EXPORT_PARAMS).then(|| {
        format!(
            "the network has {params} parameters, more than the {MAX_EXPORT_PARAMS} an export may \
             hold (its metrics, predictions and searches need no export)"
        )
    })
}

/// Name of the graph input tensor (`[1, C, H, W]`, float32).
pub const INPUT_NAME: &str = "input";
/// Name of the graph output tensor (`[1, num_classes]` for a classifier).
pub const OUTPUT_NAME: &str = "output";

/// Serialised ONNX model of `spec`'s network with weights from [`DEFAULT_SEED`].
pub fn export_spec(spec: &ArchSpec) -> Vec<u8> {
    export(&spec.to_graph(), DEFAULT_SEED)
}

/// Serialised ONNX model of `graph` with weights drawn from `seed`. The same graph and seed give
/// the same bytes.
pub fn export(graph: &Graph, seed: u64) -> Vec<u8> {
    to_model(graph, seed).encode_to_vec()
}

/// The ONNX model of `graph` with weights drawn from `seed`.
pub fn to_model(graph: &Graph, seed: u64) -> ModelProto {
    let mut b = Builder {
        rng: SplitMix64::new(seed),
        names: HashSet::from([INPUT_NAME.to_string(), OUTPUT_NAME.to_string()]),
        nodes: Vec::new(),
        initializers: Vec::new(),
    };
    let nodes = graph.nodes();
    let last = nodes.len() - 1;
    // ONNX tensor holding each IR node's output.
    let mut tensors: Vec<String> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let out = match i {
            0 => INPUT_NAME.to_string(),
            i if i == last => OUTPUT_NAME.to_string(),
            _ => b.fresh(&node.name),
        };
        let ins: Vec<String> = node.inputs.iter().map(|&j| tensors[j].clone()).collect();
        let in_channels = node
            .inputs
            .first()
            .map_or(0, |&j| graph.shape(j).channels());
        let name = node.name.as_str();
        match &node.op {
            Op::Input => {}
            Op::Conv {
                out_channels,
                kernel,
                stride,
                padding,
                groups,
                bias,
            } => {
                let fan_in = in_channels / groups * kernel * kernel;
                let dims = [*out_channels, in_channels / groups, *kernel, *kernel];
                let mut inputs = vec![ins[0].clone(), b.he_uniform(name, "weight", &dims, fan_in)];
                if *bias {
                    inputs.push(b.filled(name, "bias", *out_channels, 0.0));
                }
                let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                b.node(
                    "Conv",
                    name,
                    inputs,
                    &out,
                    vec![
                        ints("kernel_shape", vec![k, k]),
                        ints("strides", vec![s, s]),
                        ints("pads", vec![p, p, p, p]),
                        ints("dilations", vec![1, 1]),
                        int("group", *groups as i64),
                    ],
                );
            }
            Op::BatchNorm => {
                let c = graph.shape(i).channels();
                let inputs = vec![
                    ins[0].clone(),
                    b.filled(name, "scale", c, 1.0),
                    b.filled(name, "shift", c, 0.0),
                    b.filled(name, "running_mean", c, 0.0),
                    b.filled(name, "running_var", c, 1.0),
                ];
                b.node("BatchNormalization", name, inputs, &out, vec![]);
            }
            Op::Relu => b.node("Relu", name, ins, &out, vec![]),
            Op::Activation { function } => {
                let (op_type, attributes) = match function {
                    Activation::Sigmoid => ("Sigmoid", vec![]),
                    Activation::HardSigmoid => ("HardSigmoid", vec![float("alpha", 1.0 / 6.0)]),
                    Activation::HardSwish => ("HardSwish", vec![]),
                    Activation::Softmax => ("Softmax", vec![int("axis", 1)]),
                };
                b.node(op_type, name, ins, &out, attributes);
            }
            // Broadcasting makes a [1, C, 1, 1] gate scale every position.
            Op::Mul => b.node("Mul", name, ins, &out, vec![]),
            Op::Concat => b.node("Concat", name, ins, &out, vec![int("axis", 1)]),
            // ONNX Add is binary; Sum takes any number of operands.
            Op::Add if ins.len() == 2 => b.node("Add", name, ins, &out, vec![]),
            Op::Add => b.node("Sum", name, ins, &out, vec![]),
            Op::ChannelSlice { start, end } => {
                let starts = b.constant(name, "starts", &[*start as i64]);
                let ends = b.constant(name, "ends", &[*end as i64]);
                let axes = b.constant(name, "axes", &[1]);
                let inputs = vec![ins[0].clone(), starts, ends, axes];
                b.node("Slice", name, inputs, &out, vec![]);
            }
            // PyTorch's form, which the importer reads back as one shuffle: view as
            // [1, groups, C / groups, H, W], swap the two channel axes, view as [1, C, H, W].
            Op::ChannelShuffle { groups } => {
                let Shape::Chw([c, h, w]) = graph.shape(i) else {
                    unreachable!("a channel shuffle's output is CxHxW (shape inference)");
                };
                let dims = |v: &[u64]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
                let grouped = b.constant(name, "grouped", &dims(&[1, *groups, c / groups, h, w]));
                let flat = b.constant(name, "shape", &dims(&[1, c, h, w]));
                let viewed = b.fresh(&format!("{name}.grouped"));
                let swapped = b.fresh(&format!("{name}.swapped"));
                b.node(
                    "Reshape",
                    &viewed,
                    vec![ins[0].clone(), grouped],
                    &viewed,
                    vec![],
                );
                let perm = vec![ints("perm", vec![0, 2, 1, 3, 4])];
                b.node("Transpose", &swapped, vec![viewed], &swapped, perm);
                b.node("Reshape", name, vec![swapped, flat], &out, vec![]);
            }
            Op::MaxPool {
                kernel,
                stride,
                padding,
                ceil_mode,
            } => b.node(
                "MaxPool",
                name,
                ins,
                &out,
                pool_attributes(*kernel, *stride, *padding, *ceil_mode),
            ),
            Op::AvgPool {
                kernel,
                stride,
                padding,
                ceil_mode,
            } => b.node(
                "AveragePool",
                name,
                ins,
                &out,
                pool_attributes(*kernel, *stride, *padding, *ceil_mode),
            ),
            Op::GlobalAvgPool => b.node("GlobalAveragePool", name, ins, &out, vec![]),
            Op::Flatten => b.node("Flatten", name, ins, &out, vec![int("axis", 1)]),
            Op::Linear { out_features, bias } => {
                let in_features = graph.shape(node.inputs[0]).elements();
                let dims = [*out_features, in_features];
                let mut inputs = vec![
                    ins[0].clone(),
                    b.he_uniform(name, "weight", &dims, in_features),
                ];
                if *bias {
                    inputs.push(b.filled(name, "bias", *out_features, 0.0));
                }
                b.node("Gemm", name, inputs, &out, vec![int("transB", 1)]);
            }
        }
        tensors.push(out);
    }
    // A graph that is only its input still needs a node producing the output.
    if last == 0 {
        b.node(
            "Identity",
            "output",
            vec![INPUT_NAME.into()],
            OUTPUT_NAME,
            vec![],
        );
    }

    let output_dims = match graph.output_shape() {
        Shape::Chw([c, h, w]) => vec![1, c, h, w],
        Shape::Flat(n) => vec![1, n],
    };
    let [c, h, w] = graph.input_shape();
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("flash".into()),
        graph: Some(GraphProto {
            node: b.nodes,
            name: Some("flash".into()),
            initializer: b.initializers,
            input: vec![value_info(INPUT_NAME, &[1, c, h, w])],
            output: vec![value_info(OUTPUT_NAME, &output_dims)],
        }),
    }
}

struct Builder {
    rng: SplitMix64,
    /// Every tensor name in use (ONNX graphs are in SSA form).
    names: HashSet<String>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Builder {
    /// A tensor name not yet used, `base` itself when possible.
    fn fresh(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "tensor" } else { base };
        let mut name = base.to_string();
        let mut k = 1;
        while !self.names.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    fn node(
        &mut self,
        op_type: &str,
        name: &str,
        input: Vec<String>,
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input,
            output: vec![output.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op_type.to_string()),
            domain: None,
            attribute,
        });
    }

    fn initializer(&mut self, node: &str, part: &str, dims: &[u64], raw: Vec<u8>) -> String {
        let name = self.fresh(&format!("{node}.{part}"));
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type::FLOAT),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..Default::default()
        });
        name
    }

    /// A float tensor uniform in `±sqrt(6 / fan_in)` (He initialisation for ReLU networks).
    fn he_uniform(&mut self, node: &str, part: &str, dims: &[u64], fan_in: u64) -> String {
        let bound = (6.0 / fan_in.max(1) as f64).sqrt() as f32;
        let count: u64 = dims.iter().product();
        let mut raw = Vec::with_capacity(4 * count as usize);
        for _ in 0..count {
            let v = (2.0 * self.rng.unit_f32() - 1.0) * bound;
            raw.extend_from_slice(&v.to_le_bytes());
        }
        self.initializer(node, part, dims, raw)
    }

    /// A float vector of `len` copies of `value`.
    fn filled(&mut self, node: &str, part: &str, len: u64, value: f32) -> String {
        let raw = value.to_le_bytes().repeat(len as usize);
        self.initializer(node, part, &[len], raw)
    }

    /// A `Constant` node holding the int64 vector `values`; returns its output.
    fn constant(&mut self, node: &str, part: &str, values: &[i64]) -> String {
        let name = self.fresh(&format!("{node}.{part}"));
        let tensor = TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(data_type::INT64),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        };
        let attribute = AttributeProto {
            name: Some("value".into()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(tensor),
            ..Default::default()
        };
        self.node("Constant", &name, vec![], &name, vec![attribute]);
        name
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values,
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

fn pool_attributes(kernel: u64, stride: u64, padding: u64, ceil: bool) -> Vec<AttributeProto> {
    let (k, s, p) = (kernel as i64, stride as i64, padding as i64);
    vec![
        ints("kernel_shape", vec![k, k]),
        ints("strides", vec![s, s]),
        ints("pads", vec![p, p, p, p]),
        int("ceil_mode", i64::from(ceil)),
    ]
}

fn value_info(name: &str, dims: &[u64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(data_type::FLOAT),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
    }
}
