//! The one intermediate representation of every network: a DAG of layers with shapes inferred
//! from the input shape. Specs of a search space, ONNX imports and ONNX exports all go through it,
//! and every metric is computed from it.

use serde::{Deserialize, Serialize};

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
    /// Channel concatenation, inputs in order.
    Concat,
    /// Element-wise sum of inputs of one shape.
    Add,
    /// Channels `start..end` of the input (how a cell layer takes part of an earlier output).
    ChannelSlice {
        start: u64,
        end: u64,
    },
    MaxPool {
        kernel: u64,
        stride: u64,
        padding: u64,
    },
    AvgPool {
        kernel: u64,
        stride: u64,
        padding: u64,
    },
    GlobalAvgPool,
    Flatten,
    Linear {
        out_features: u64,
        bias: bool,
    },
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

fn infer_shape(
    i: usize,
    node: &Node,
    inputs: &[Shape],
    input_shape: [u64; 3],
) -> Result<Shape, GraphError> {
    let name = &node.name;
    let shape_err = |message: String| GraphError::Shape {
        node: i,
        name: name.clone(),
        message,
    };
    let zero = |field: &'static str| GraphError::ZeroSize {
        node: i,
        name: name.clone(),
        field,
    };
    let arity = |expected: &'static str| GraphError::Arity {
        node: i,
        name: name.clone(),
        expected,
        got: inputs.len(),
    };
    let one_chw = || -> Result<[u64; 3], GraphError> {
        match inputs {
            [Shape::Chw(chw)] => Ok(*chw),
            [Shape::Flat(_)] => Err(shape_err("expects a CxHxW input, got a flat vector".into())),
            _ => Err(arity("1")),
        }
    };
    let check_dim = |field: &'static str, value: u64| -> Result<(), GraphError> {
        if value == 0 {
            Err(zero(field))
        } else if value > MAX_DIM {
            Err(shape_err(format!("{field} = {value} exceeds {MAX_DIM}")))
        } else {
            Ok(())
        }
    };
    let window = |[c, h, w]: [u64; 3], kernel: u64, stride: u64, padding: u64| {
        check_dim("kernel", kernel)?;
        check_dim("stride", stride)?;
        if padding > MAX_DIM {
            return Err(shape_err(format!("padding {padding} exceeds {MAX_DIM}")));
        }
        let (hp, wp) = (h + 2 * padding, w + 2 * padding);
        if kernel > hp || kernel > wp {
            return Err(shape_err(format!(
                "kernel {kernel} is larger than the padded input {hp}x{wp}"
            )));
        }
        Ok([c, (hp - kernel) / stride + 1, (wp - kernel) / stride + 1])
    };
    match &node.op {
        Op::Input => {
            if !inputs.is_empty() {
                return Err(arity("0"));
            }
            Ok(Shape::Chw(input_shape))
        }
        Op::Conv {
            out_channels,
            kernel,
            stride,
            padding,
            groups,
            ..
        } => {
            let chw = one_chw()?;
            check_dim("out_channels", *out_channels)?;
            check_dim("groups", *groups)?;
            if chw[0] % groups != 0 || out_channels % groups != 0 {
                return Err(shape_err(format!(
                    "groups {groups} must divide input channels {} and output channels {out_channels}",
                    chw[0]
                )));
            }
            let [_, h, w] = window(chw, *kernel, *stride, *padding)?;
            Ok(Shape::Chw([*out_channels, h, w]))
        }
        Op::BatchNorm | Op::Relu => match inputs {
            [s] => Ok(*s),
            _ => Err(arity("1")),
        },
        Op::Concat => {
            let first = match inputs.first() {
                Some(Shape::Chw(chw)) => *chw,
                Some(Shape::Flat(_)) => {
                    return Err(shape_err("concat expects CxHxW inputs".into()));
                }
                None => return Err(arity(">= 1")),
            };
            let mut channels = 0u64;
            for s in inputs {
                match s {
                    Shape::Chw([c, h, w]) if [*h, *w] == [first[1], first[2]] => channels += c,
                    other => {
                        return Err(shape_err(format!(
                            "concat inputs must share height and width {}x{}, got {other:?}",
                            first[1], first[2]
                        )));
                    }
                }
            }
            if channels > MAX_DIM {
                return Err(shape_err(format!("{channels} channels exceed {MAX_DIM}")));
            }
            Ok(Shape::Chw([channels, first[1], first[2]]))
        }
        Op::Add => {
            let first = *inputs.first().ok_or_else(|| arity(">= 2"))?;
            if inputs.len() < 2 {
                return Err(arity(">= 2"));
            }
            if let Some(other) = inputs.iter().find(|s| **s != first) {
                return Err(shape_err(format!(
                    "add inputs must share one shape: {first:?} vs {other:?}"
                )));
            }
            Ok(first)
        }
        Op::ChannelSlice { start, end } => {
            let [c, h, w] = one_chw()?;
            if start >= end || *end > c {
                return Err(shape_err(format!(
                    "channel slice {start}..{end} is empty or outside 0..{c}"
                )));
            }
            Ok(Shape::Chw([end - start, h, w]))
        }
        Op::MaxPool {
            kernel,
            stride,
            padding,
        }
        | Op::AvgPool {
            kernel,
            stride,
            padding,
        } => Ok(Shape::Chw(window(one_chw()?, *kernel, *stride, *padding)?)),
        Op::GlobalAvgPool => {
            let [c, _, _] = one_chw()?;
            Ok(Shape::Chw([c, 1, 1]))
        }
        Op::Flatten => match inputs {
            [s] => Ok(Shape::Flat(s.elements())),
            _ => Err(arity("1")),
        },
        Op::Linear { out_features, .. } => {
            check_dim("out_features", *out_features)?;
            match inputs {
                [Shape::Flat(_)] => Ok(Shape::Flat(*out_features)),
                [Shape::Chw(_)] => Err(shape_err(
                    "linear expects a flat input (flatten first)".into(),
                )),
                _ => Err(arity("1")),
            }
        }
    }
}

/// A small reference network that uses every operator of the IR: biased, grouped and pointwise
/// convolutions, both poolings, two- and three-operand adds, a channel slice, a concat and two
/// linear layers (with and without bias). The ONNX conformance checks export and import it.
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
                },
                vec![9],
            ),
            Node::new(
                "avg",
                Op::AvgPool {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                },
                vec![10],
            ),
            Node::new("gap", Op::GlobalAvgPool, vec![11]),
            Node::new("flatten", Op::Flatten, vec![12]),
            Node::new("hidden", linear(16, false), vec![13]),
            Node::new("hidden.relu", Op::Relu, vec![14]),
            Node::new("classifier", linear(10, true), vec![15]),
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
    fn operator_kinds_are_their_serde_tags() {
        for node in every_operator().nodes() {
            let json = serde_json::to_value(&node.op).unwrap();
            assert_eq!(json["op"], node.op.kind(), "{:?}", node.op);
        }
        assert_eq!(Op::GlobalAvgPool.kind(), "global_avg_pool");
    }
}
