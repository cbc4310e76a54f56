//! The one intermediate representation of every network: a DAG of layers with shapes inferred
//! from the input shape. Specs of a search space, ONNX imports and ONNX exports all go through it,
//! and every metric is computed from it.

use serde::{Deserialize, Serialize};

mod shape;

pub(crate) use shape::infer_shape;

/// A tensor shape without the batch dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Channels, height, width.
    Chw([u64; 3]),
    /// A flat feature vector.
    Flat(u64),
}

impl Shape {
    pub fn elements(&self) -> u64 {
        match *self {
            Shape::Chw([c, h, w]) => c.saturating_mul(h).saturating_mul(w),
            Shape::Flat(n) => n,
        }
    }

    pub fn channels(&self) -> u64 {
        match *self {
            Shape::Chw([c, _, _]) => c,
            Shape::Flat(n) => n,
        }
    }
}

/// The operator of one node. Convolutions and linear layers are the parametrised layers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "op", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Op {
    Input,
    Conv {
        out_channels: u64,
        kernel: u64,
        stride: u64,
        padding: u64,
        groups: u64,
        bias: bool,
    },
    BatchNorm,
    Relu,
    /// An element-wise activation other than ReLU.
    Activation {
        function: Activation,
    },
    /// Channel concatenation, inputs in order.
    Concat,
    /// Element-wise sum of inputs of one shape.
    Add,
    /// Element-wise product of two inputs of one shape (SiLU's `x * sigmoid(x)`), or of a CxHxW
    /// input and a Cx1x1 gate broadcast over it (squeeze-and-excitation), in either order.
    Mul,
    /// Channels `start..end` of the input (how a cell layer takes part of an earlier output).
    ChannelSlice {
        start: u64,
        end: u64,
    },
    /// ShuffleNet's channel shuffle: channel `g * (C / groups) + k` moves to `k * groups + g`.
    ChannelShuffle {
        groups: u64,
    },
    MaxPool {
        kernel: u64,
        stride: u64,
        padding: u64,
        /// Output sizes rounded up (ONNX `ceil_mode`); absent in graphs stored before it existed.
        #[serde(default, skip_serializing_if = "is_false")]
        ceil_mode: bool,
    },
    AvgPool {
        kernel: u64,
        stride: u64,
        padding: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        ceil_mode: bool,
    },
    GlobalAvgPool,
    Flatten,
    Linear {
        out_features: u64,
        bias: bool,
    },
}

/// Skipped when false, so graphs without the field keep their canonical bytes (their identity).
fn is_false(b: &bool) -> bool {
    !b
}

/// The element-wise functions of [`Op::Activation`]. The IR keeps the function, not its
/// constants: HardSigmoid is PyTorch's (`x / 6 + 1 / 2`, clipped to [0, 1]) on export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Activation {
    Sigmoid,
    HardSigmoid,
    HardSwish,
    /// Over the channels (or features) of one sample.
    Softmax,
}

/// How the two operands of an [`Op::Mul`] combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mul {
    /// Both of one shape.
    Same,
    /// Operand `gate` (0 or 1) is Cx1x1, broadcast over the other's CxHxW.
    Gate { gate: usize },
}

impl Mul {
    /// How `inputs` multiply, or `None` when they cannot.
    pub fn of(inputs: &[Shape]) -> Option<Mul> {
        let [a, b] = inputs else {
            return None;
        };
        if a == b {
            return Some(Mul::Same);
        }
        let gates = |x: &Shape, g: &Shape| match (x, g) {
            (Shape::Chw([c, _, _]), Shape::Chw([gc, 1, 1])) => c == gc,
            _ => false,
        };
        if gates(a, b) {
            Some(Mul::Gate { gate: 1 })
        } else if gates(b, a) {
            Some(Mul::Gate { gate: 0 })
        } else {
            None
        }
    }

    /// The operand whose shape the product has.
    pub fn data(self) -> usize {
        match self {
            Mul::Same => 0,
            Mul::Gate { gate } => 1 - gate,
        }
    }
}

impl Op {
    /// The operator's name, as its serde tag spells it (`global_avg_pool`).
    pub fn kind(&self) -> &'static str {
        self.into()
    }

    /// Convolutions and linear layers: the layers that hold weights and count for depth.
    pub fn is_parametrised(&self) -> bool {
        matches!(self, Op::Conv { .. } | Op::Linear { .. })
    }
}

/// One node as given to [`Graph::new`]: an operator and the indices of earlier nodes it reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    #[serde(flatten)]
    pub op: Op,
    pub inputs: Vec<usize>,
}

impl Node {
    pub fn new(name: impl Into<String>, op: Op, inputs: Vec<usize>) -> Self {
        Node {
            name: name.into(),
            op,
            inputs,
        }
    }
}

/// Why a graph is not a valid network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the graph has no nodes")]
    Empty,
    #[error("node 0 must be the only input node")]
    InputNotFirst,
    #[error("node {node} ({name}) reads node {input}, which does not exist")]
    DanglingInput {
        node: usize,
        name: String,
        input: usize,
    },
    #[error(
        "node {node} ({name}) reads node {input}, which is not before it: the graph has a cycle"
    )]
    Cycle {
        node: usize,
        name: String,
        input: usize,
    },
    #[error("node {node} ({name}): expected {expected} inputs, got {got}")]
    Arity {
        node: usize,
        name: String,
        expected: &'static str,
        got: usize,
    },
    #[error("node {node} ({name}): {message}")]
    Shape {
        node: usize,
        name: String,
        message: String,
    },
    #[error("node {node} ({name}): {field} must be >= 1")]
    ZeroSize {
        node: usize,
        name: String,
        field: &'static str,
    },
    #[error("the input shape has a zero or absurd dimension: {0:?}")]
    BadInput([u64; 3]),
    #[error(
        "the graph's output (its last node) is not read by any later node, but node {node} ({name}) is not read by anything either: a network has one output"
    )]
    ExtraOutput { node: usize, name: String },
}

/// Largest dimension accepted anywhere (keeps every count far from u64 overflow).
pub const MAX_DIM: u64 = 1 << 24;

/// A validated network: nodes in topological order (every input index is smaller than the node's
/// own), node 0 the input, the last node the output, with each node's output shape inferred.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Graph {
    input_shape: [u64; 3],
    nodes: Vec<Node>,
    #[serde(skip)]
    shapes: Vec<Shape>,
}

impl Graph {
    /// Validates `nodes` and infers shapes. Node 0 must be `Op::Input`; inputs must refer to earlier
    /// nodes (anything else is reported as a dangling input or a cycle).
    pub fn new(input_shape: [u64; 3], nodes: Vec<Node>) -> Result<Self, GraphError> {
        if input_shape.iter().any(|&d| d == 0 || d > MAX_DIM) {
            return Err(GraphError::BadInput(input_shape));
        }
        if nodes.is_empty() {
            return Err(GraphError::Empty);
        }
        let mut shapes = Vec::with_capacity(nodes.len());
        let mut read = vec![false; nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            if (i == 0) != matches!(node.op, Op::Input) {
                return Err(GraphError::InputNotFirst);
            }
            for &input in &node.inputs {
                if input >= nodes.len() {
                    return Err(GraphError::DanglingInput {
                        node: i,
                        name: node.name.clone(),
                        input,
                    });
                }
                if input >= i {
                    return Err(GraphError::Cycle {
                        node: i,
                        name: node.name.clone(),
                        input,
                    });
                }
                read[input] = true;
            }
            let inputs: Vec<Shape> = node.inputs.iter().map(|&j| shapes[j]).collect();
            shapes.push(infer_shape(i, node, &inputs, input_shape)?);
        }
        if let Some(unread) = (0..nodes.len() - 1).find(|&i| !read[i]) {
            return Err(GraphError::ExtraOutput {
                node: unread,
                name: nodes[unread].name.clone(),
            });
        }
        Ok(Graph {
            input_shape,
            nodes,
            shapes,
        })
    }

    pub fn input_shape(&self) -> [u64; 3] {
        self.input_shape
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Output shape of node `i`.
    pub fn shape(&self, i: usize) -> Shape {
        self.shapes[i]
    }

    pub fn output_shape(&self) -> Shape {
        *self.shapes.last().expect("a graph has at least one node")
    }

    /// Canonical bytes of the graph (operators, edges and input shape; node names excluded), the
    /// basis of an imported architecture's identity.
    pub fn canonical_json(&self) -> String {
        #[derive(Serialize)]
        struct Canonical<'a> {
            input_shape: [u64; 3],
            nodes: Vec<(&'a Op, &'a [usize])>,
        }
        let canonical = Canonical {
            input_shape: self.input_shape,
            nodes: self
                .nodes
                .iter()
                .map(|n| (&n.op, n.inputs.as_slice()))
                .collect(),
        };
        serde_json::to_string(&canonical).expect("graph serialises")
    }
}

/// A small reference network that uses every operator of the IR: biased, grouped and pointwise
/// convolutions, both poolings (floor and ceil sizes), two- and three-operand adds, a channel
/// slice, a concat, a channel shuffle, every activation, both kinds of product (SiLU and a
/// squeeze-and-excitation gate) and two linear layers (with and without bias). The ONNX
/// conformance checks export and import it.
pub fn every_operator() -> Graph {
    let conv = |out_channels, kernel, groups, bias| Op::Conv {
        out_channels,
        kernel,
        stride: 1,
        padding: kernel / 2,
        groups,
        bias,
    };
    let linear = |out_features, bias| Op::Linear { out_features, bias };
    let activation = |function| Op::Activation { function };
    Graph::new(
        [4, 16, 16],
        vec![
            Node::new("input", Op::Input, vec![]),
            Node::new("stem", conv(8, 3, 1, true), vec![0]),
            Node::new("stem.relu", Op::Relu, vec![1]),
            Node::new("grouped", conv(8, 3, 4, false), vec![2]),
            Node::new("grouped.bn", Op::BatchNorm, vec![3]),
            Node::new("pointwise", conv(8, 1, 1, false), vec![4]),
            Node::new("add2", Op::Add, vec![5, 2]),
            Node::new("add3", Op::Add, vec![6, 5, 2]),
            Node::new("slice", Op::ChannelSlice { start: 2, end: 6 }, vec![7]),
            Node::new("concat", Op::Concat, vec![7, 8]),
            Node::new(
                "max",
                Op::MaxPool {
                    kernel: 3,
                    stride: 2,
                    padding: 1,
                    ceil_mode: false,
                },
                vec![9],
            ),
            Node::new(
                "avg",
                Op::AvgPool {
                    kernel: 3,
                    stride: 2,
                    padding: 0,
                    ceil_mode: true,
                },
                vec![10],
            ),
            Node::new("shuffle", Op::ChannelShuffle { groups: 3 }, vec![11]),
            Node::new("sigmoid", activation(Activation::Sigmoid), vec![12]),
            Node::new("silu", Op::Mul, vec![12, 13]),
            Node::new("se.pool", Op::GlobalAvgPool, vec![14]),
            Node::new("se.fc", conv(12, 1, 1, true), vec![15]),
            Node::new("se.gate", activation(Activation::HardSigmoid), vec![16]),
            Node::new("se.scale", Op::Mul, vec![17, 14]),
            Node::new("hard_swish", activation(Activation::HardSwish), vec![18]),
            Node::new("gap", Op::GlobalAvgPool, vec![19]),
            Node::new("flatten", Op::Flatten, vec![20]),
            Node::new("hidden", linear(16, false), vec![21]),
            Node::new("hidden.relu", Op::Relu, vec![22]),
            Node::new("classifier", linear(10, true), vec![23]),
            Node::new("softmax", activation(Activation::Softmax), vec![24]),
        ],
    )
    .expect("the reference graph is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(out: u64) -> Op {
        Op::Conv {
            out_channels: out,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
            bias: false,
        }
    }

    #[test]
    fn infers_shapes_through_a_small_network() {
        let g = Graph::new(
            [3, 8, 8],
            vec![
                Node::new("in", Op::Input, vec![]),
                Node::new("c", conv(4), vec![0]),
                Node::new("gap", Op::GlobalAvgPool, vec![1]),
                Node::new("flat", Op::Flatten, vec![2]),
                Node::new(
                    "fc",
                    Op::Linear {
                        out_features: 10,
                        bias: true,
                    },
                    vec![3],
                ),
            ],
        )
        .unwrap();
        assert_eq!(g.shape(1), Shape::Chw([4, 8, 8]));
        assert_eq!(g.output_shape(), Shape::Flat(10));
    }

    #[test]
    fn rejects_cycles_dangling_inputs_shapes_and_zero_sizes() {
        let input = Node::new("in", Op::Input, vec![]);
        let cycle = Graph::new(
            [3, 8, 8],
            vec![input.clone(), Node::new("r", Op::Relu, vec![1])],
        );
        assert!(matches!(cycle, Err(GraphError::Cycle { node: 1, .. })));
        let dangling = Graph::new(
            [3, 8, 8],
            vec![input.clone(), Node::new("r", Op::Relu, vec![7])],
        );
        assert!(matches!(
            dangling,
            Err(GraphError::DanglingInput { input: 7, .. })
        ));
        let zero = Graph::new(
            [3, 8, 8],
            vec![input.clone(), Node::new("c", conv(0), vec![0])],
        );
        assert!(matches!(
            zero,
            Err(GraphError::ZeroSize {
                field: "out_channels",
                ..
            })
        ));
        let mismatch = Graph::new(
            [3, 8, 8],
            vec![
                input.clone(),
                Node::new(
                    "c",
                    Op::Conv {
                        out_channels: 3,
                        kernel: 3,
                        stride: 2,
                        padding: 1,
                        groups: 1,
                        bias: false,
                    },
                    vec![0],
                ),
                Node::new("add", Op::Add, vec![0, 1]),
            ],
        );
        assert!(matches!(mismatch, Err(GraphError::Shape { node: 2, .. })));
        assert!(matches!(
            Graph::new([0, 8, 8], vec![input]),
            Err(GraphError::BadInput(_))
        ));
        assert!(matches!(
            Graph::new([3, 8, 8], vec![]),
            Err(GraphError::Empty)
        ));
    }

    #[test]
    fn ceil_mode_rounds_up_but_never_starts_a_window_in_the_padding() {
        let pool = |size, kernel, stride, padding, ceil_mode| {
            let op = Op::MaxPool {
                kernel,
                stride,
                padding,
                ceil_mode,
            };
            let nodes = vec![
                Node::new("in", Op::Input, vec![]),
                Node::new("pool", op, vec![0]),
            ];
            Graph::new([1, size, size], nodes).unwrap().output_shape()
        };
        // SqueezeNet's first pooling: 111 -> 55 either way; 112 -> 56 with ceil, 55 without.
        assert_eq!(pool(111, 3, 2, 0, true), Shape::Chw([1, 55, 55]));
        assert_eq!(pool(112, 3, 2, 0, true), Shape::Chw([1, 56, 56]));
        assert_eq!(pool(112, 3, 2, 0, false), Shape::Chw([1, 55, 55]));
        // 5 padded to 7, kernel 2, stride 2: ceil gives 4 windows, but the fourth would start
        // at 6, inside the right padding, so ONNX Runtime (and PyTorch) keep 3.
        assert_eq!(pool(5, 2, 2, 1, true), Shape::Chw([1, 3, 3]));
        // Stored graphs without the field read as floor mode, and floor mode writes no field.
        let stored: Op =
            serde_json::from_str(r#"{"op":"avg_pool","kernel":2,"stride":2,"padding":0}"#).unwrap();
        assert!(matches!(
            stored,
            Op::AvgPool {
                ceil_mode: false,
                ..
            }
        ));
        assert!(!serde_json::to_string(&stored).unwrap().contains("ceil"));
    }

    #[test]
    fn products_take_one_shape_or_a_channel_gate_in_either_order() {
        let (x, gate) = (Shape::Chw([8, 4, 4]), Shape::Chw([8, 1, 1]));
        assert_eq!(Mul::of(&[x, x]), Some(Mul::Same));
        assert_eq!(Mul::of(&[x, gate]), Some(Mul::Gate { gate: 1 }));
        assert_eq!(Mul::of(&[gate, x]).map(Mul::data), Some(1));
        assert_eq!(Mul::of(&[x, Shape::Chw([4, 1, 1])]), None);
        assert_eq!(Mul::of(&[x, Shape::Flat(8)]), None);
        assert_eq!(Mul::of(&[x]), None);
        let bad = Graph::new(
            [8, 4, 4],
            vec![
                Node::new("in", Op::Input, vec![]),
                Node::new("shuffle", Op::ChannelShuffle { groups: 3 }, vec![0]),
            ],
        );
        assert!(matches!(bad, Err(GraphError::Shape { node: 1, .. })));
    }

    #[test]
    fn operator_kinds_are_their_serde_tags() {
        for node in every_operator().nodes() {
            let json = serde_json::to_value(&node.op).unwrap();
            assert_eq!(json["op"], node.op.kind(), "{:?}", node.op);
        }
        assert_eq!(Op::GlobalAvgPool.kind(), "global_avg_pool");
    }
}
