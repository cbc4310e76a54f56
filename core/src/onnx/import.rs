//! ONNX -> IR for convolutional networks. Only the topology and the sizes that the metrics need
//! are read: weight tensors contribute their dims, never their values.
//!
//! # Operator mapping
//! - `Conv` (square kernel, equal strides, equal pads, no dilation, `auto_pad` NOTSET or VALID),
//!   `BatchNormalization`, `Relu`, `Concat` (channel axis), `MaxPool` / `AveragePool` (same
//!   window rules, `ceil_mode` 0), `GlobalAveragePool` and `Flatten` (axis 1) map one to one.
//! - `Add` and `Sum` of computed tensors become an element-wise add.
//! - `Clip` becomes ReLU: both are element-wise activations, and the metrics only see topology.
//! - `Identity` and `Dropout` (inference) are transparent: their output is their input.
//! - `Reshape` to `[1, -1]`, `[1, K]`, `[0, -1]` or `[-1, K]` with a constant shape is a flatten.
//! - `Gemm` (`transA` 0) and `MatMul` with a constant right operand become a linear layer; an `Add`
//!   of a constant to a `MatMul` read nowhere else becomes that layer's bias.
//! - `Slice` with constant bounds on the channel axis (steps 1) becomes a channel slice.
//! - `Constant` nodes and initializers feed the constant inputs above.
//!
//! Nodes may come in any order: they are sorted topologically (keeping the file's order where it
//! is free), nodes the output does not depend on are dropped, and a cycle is an error. The graph
//! input must be `[N, C, H, W]` with N = 1 or symbolic.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use prost::Message;

use super::proto::{
    AttributeProto, AttributeType, ModelProto, NodeProto, TensorProto, data_type,
    tensor_shape_proto::dimension, type_proto,
};
use crate::ir::{Graph, GraphError, MAX_DIM, Node, Op};

/// Most ONNX nodes accepted.
pub const MAX_NODES: usize = 2_000_000;
/// Bound on parameters + MACs + activation elements of an imported graph, far enough below
/// `u64::MAX` that no metric can overflow.
const MAX_COUNT: u64 = 1 << 56;
/// Most values read from one integer constant (slice bounds, reshape targets).
const MAX_CONSTANT_VALUES: usize = 16;

/// Why bytes are not an importable ONNX model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("not a valid ONNX protobuf (malformed or truncated): {0}")]
    Malformed(String),
    #[error("invalid ONNX model: {0}")]
    Invalid(String),
    #[error("node {node:?}: operator {op_type:?} is not supported{detail}")]
    Unsupported {
        node: String,
        op_type: String,
        /// Empty, or `": why"` when the operator is supported only in other forms.
        detail: String,
    },
    #[error(
        "node {node:?}: input {tensor:?} must be a constant (an initializer or a Constant node)"
    )]
    MissingInitializer { node: String, tensor: String },
    #[error("node {node:?}: attribute {attribute:?} {message}")]
    BadAttribute {
        node: String,
        attribute: String,
        message: String,
    },
    #[error("the graph has a cycle through node {node:?}")]
    Cycle { node: String },
    #[error("model too large: {0}")]
    TooLarge(String),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

fn invalid(message: impl Into<String>) -> ImportError {
    ImportError::Invalid(message.into())
}

fn unsupported(node: &str, op_type: &str, detail: &str) -> ImportError {
    ImportError::Unsupported {
        node: node.to_string(),
        op_type: op_type.to_string(),
        detail: if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        },
    }
}

fn bad_attribute(node: &str, attribute: &str, message: impl Into<String>) -> ImportError {
    ImportError::BadAttribute {
        node: node.to_string(),
        attribute: attribute.to_string(),
        message: message.into(),
    }
}

/// The name errors and IR nodes use for an ONNX node: its name, else its first output.
fn label(n: &NodeProto) -> &str {
    match n.name.as_deref() {
        Some(name) if !name.is_empty() => name,
        _ => n.output.first().map_or("", String::as_str),
    }
}

/// Imports an ONNX model (serialised `ModelProto`) as an IR graph.
pub fn import(bytes: &[u8]) -> Result<Graph, ImportError> {
    let model = ModelProto::decode(bytes).map_err(|e| ImportError::Malformed(e.to_string()))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the model has no graph"))?;
    if graph.node.len() > MAX_NODES {
        return Err(ImportError::TooLarge(format!(
            "{} nodes (at most {MAX_NODES})",
            graph.node.len()
        )));
    }

    let mut constants: HashMap<&str, &TensorProto> = HashMap::new();
    for t in &graph.initializer {
        constants.insert(t.name.as_deref().unwrap_or(""), t);
    }
    for n in graph.node.iter().filter(|n| op_type(n) == "Constant") {
        let out = n.output.first().map_or("", String::as_str);
        let value = n
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some("value"))
            .and_then(|a| a.t.as_ref())
            .ok_or_else(|| bad_attribute(label(n), "value", "must be a tensor"))?;
        if out.is_empty() || constants.insert(out, value).is_some() {
            return Err(invalid(format!(
                "tensor {out:?} is defined twice or unnamed"
            )));
        }
    }

    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|v| !constants.contains_key(v.name.as_deref().unwrap_or("")))
        .collect();
    let [input] = inputs[..] else {
        return Err(invalid(format!(
            "expected one graph input besides initializers, found {}",
            inputs.len()
        )));
    };
    let input_name = input.name.as_deref().unwrap_or("");
    let input_shape = input_shape(input)
        .ok_or_else(|| invalid(format!("graph input {input_name:?} must be [1, C, H, W]")))?;
    let [output] = &graph.output[..] else {
        return Err(invalid(format!(
            "expected one graph output, found {}",
            graph.output.len()
        )));
    };
    let output_name = output.name.as_deref().unwrap_or("");

    // Producer of every computed tensor.
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        if op_type(n) == "Constant" {
            continue;
        }
        for out in n.output.iter().filter(|o| !o.is_empty()) {
            let out = out.as_str();
            if out == input_name || constants.contains_key(out) || producer.insert(out, i).is_some()
            {
                return Err(invalid(format!("tensor {out:?} is defined twice")));
            }
        }
    }
    let order = sort(
        graph.node.as_slice(),
        &producer,
        &constants,
        input_name,
        output_name,
    )?;

    // Readers of each tensor among the kept nodes (a MatMul output read once may take a bias).
    let mut uses: HashMap<&str, usize> = HashMap::from([(output_name, 1)]);
    for &i in &order {
        for name in &graph.node[i].input {
            *uses.entry(name.as_str()).or_default() += 1;
        }
    }

    let mut b = Builder {
        nodes: vec![Node::new(input_name, Op::Input, vec![])],
        channels: vec![Some(input_shape[0])],
        values: HashMap::from([(input_name, 0)]),
        constants,
        checks: Vec::new(),
        biasable: HashMap::new(),
    };
    for &i in &order {
        b.convert(&graph.node[i], &uses)?;
    }
    let Some(&out) = b.values.get(output_name) else {
        return Err(invalid(format!(
            "graph output {output_name:?} is not a computed tensor"
        )));
    };
    if out != b.nodes.len() - 1 {
        return Err(invalid(format!(
            "graph output {output_name:?} is not the last computed tensor"
        )));
    }
    let ir = Graph::new(input_shape, b.nodes)?;
    for (node, expected, what) in b.checks {
        let got = ir.shape(node).elements();
        if got != expected {
            return Err(invalid(format!(
                "{what}: expected {expected} features, the graph gives {got}"
            )));
        }
    }
    check_size(&ir)?;
    Ok(ir)
}

fn op_type(n: &NodeProto) -> &str {
    n.op_type.as_deref().unwrap_or("")
}

/// `[C, H, W]` of a `[1 or symbolic, C, H, W]` tensor input.
fn input_shape(v: &super::proto::ValueInfoProto) -> Option<[u64; 3]> {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    let dims = &t.shape.as_ref()?.dim;
    let [batch, c, h, w] = &dims[..] else {
        return None;
    };
    match batch.value {
        Some(dimension::Value::DimValue(1) | dimension::Value::DimParam(_)) | None => {}
        _ => return None,
    }
    let value = |d: &super::proto::tensor_shape_proto::Dimension| match d.value {
        Some(dimension::Value::DimValue(v)) => to_dim(v, 1),
        _ => None,
    };
    Some([value(c)?, value(h)?, value(w)?])
}

/// `v` as a size in `min..=MAX_DIM`.
fn to_dim(v: i64, min: u64) -> Option<u64> {
    u64::try_from(v).ok().filter(|&v| v >= min && v <= MAX_DIM)
}

/// Indices of the nodes the output depends on, in a topological order that keeps the file's
/// order wherever the dependencies allow (smallest ready index first).
fn sort(
    nodes: &[NodeProto],
    producer: &HashMap<&str, usize>,
    constants: &HashMap<&str, &TensorProto>,
    input_name: &str,
    output_name: &str,
) -> Result<Vec<usize>, ImportError> {
    // Computed tensors a node reads, by producing node.
    let sources = |n: &NodeProto| -> Result<Vec<usize>, ImportError> {
        let mut out = Vec::new();
        for name in &n.input {
            let name = name.as_str();
            if name.is_empty() || name == input_name || constants.contains_key(name) {
                continue;
            }
            match producer.get(name) {
                Some(&p) => out.push(p),
                None => {
                    return Err(invalid(format!(
                        "node {:?} reads tensor {name:?}, which nothing defines",
                        label(n)
                    )));
                }
            }
        }
        Ok(out)
    };
    let mut kept = vec![false; nodes.len()];
    let mut stack: Vec<usize> = producer.get(output_name).copied().into_iter().collect();
    let mut sources_of: HashMap<usize, Vec<usize>> = HashMap::new();
    while let Some(i) = stack.pop() {
        if kept[i] {
            continue;
        }
        kept[i] = true;
        let s = sources(&nodes[i])?;
        stack.extend(s.iter().copied().filter(|&p| !kept[p]));
        sources_of.insert(i, s);
    }
    let mut waiting: HashMap<usize, usize> = HashMap::new();
    let mut readers: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut ready = BinaryHeap::new();
    for (&i, s) in &sources_of {
        waiting.insert(i, s.len());
        for &p in s {
            readers.entry(p).or_default().push(i);
        }
        if s.is_empty() {
            ready.push(Reverse(i));
        }
    }
    let mut order = Vec::with_capacity(sources_of.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &r in readers.get(&i).map_or(&[][..], Vec::as_slice) {
            let w = waiting.get_mut(&r).expect("every reader is kept");
            *w -= 1;
            if *w == 0 {
                ready.push(Reverse(r));
            }
        }
    }
    if order.len() < sources_of.len() {
        let placed: HashSet<usize> = order.iter().copied().collect();
        let stuck = (0..nodes.len())
            .find(|i| kept[*i] && !placed.contains(i))
            .expect("some kept node is unplaced");
        return Err(ImportError::Cycle {
            node: label(&nodes[stuck]).to_string(),
        });
    }
    Ok(order)
}

struct Builder<'a> {
    nodes: Vec<Node>,
    /// Channels of each IR node's output when it is CxHxW (None when flat).
    channels: Vec<Option<u64>>,
    /// IR node computing each ONNX tensor.
    values: HashMap<&'a str, usize>,
    constants: HashMap<&'a str, &'a TensorProto>,
    /// (IR node, element count its output must have, what requires it), checked after shape
    /// inference.
    checks: Vec<(usize, u64, String)>,
    /// Linear layers made from a MatMul, by output tensor: an Add of a constant may be their bias.
    biasable: HashMap<&'a str, usize>,
}

impl<'a> Builder<'a> {
    fn convert(
        &mut self,
        n: &'a NodeProto,
        uses: &HashMap<&str, usize>,
    ) -> Result<(), ImportError> {
        let (name, op) = (label(n), op_type(n));
        if !matches!(n.domain.as_deref(), None | Some("" | "ai.onnx")) {
            let domain = n.domain.as_deref().unwrap_or("");
            return Err(unsupported(name, &format!("{domain}:{op}"), ""));
        }
        let out = match n.output.first().map(String::as_str) {
            Some(out) if !out.is_empty() => out,
            _ => return Err(invalid(format!("node {name:?} has no output"))),
        };
        let emitted = match op {
            "Identity" | "Dropout" => {
                let src = self.input_name(n, 0)?;
                if let Some(&t) = self.constants.get(src) {
                    self.constants.insert(out, t);
                } else {
                    let x = self.data(n, 0)?;
                    self.values.insert(out, x);
                }
                return Ok(());
            }
            "Relu" | "Clip" => {
                let x = self.data(n, 0)?;
                self.push(name, Op::Relu, vec![x], self.channels[x])
            }
            "BatchNormalization" => {
                let x = self.data(n, 0)?;
                for k in 1..5 {
                    self.constant(n, k)?;
                }
                self.push(name, Op::BatchNorm, vec![x], self.channels[x])
            }
            "Conv" => self.conv(n)?,
            "Concat" => {
                let axis = attr_int(n, "axis", None)?;
                if axis != 1 && axis != -3 {
                    return Err(unsupported(
                        name,
                        op,
                        "only the channel axis (1) is supported",
                    ));
                }
                let mut xs = Vec::with_capacity(n.input.len());
                let mut channels = Some(0u64);
                for k in 0..n.input.len() {
                    let x = self.data(n, k)?;
                    channels = channels
                        .zip(self.channels[x])
                        .map(|(a, b)| a.saturating_add(b));
                    xs.push(x);
                }
                self.push(name, Op::Concat, xs, channels)
            }
            "Add" | "Sum" => {
                let operands: Vec<&str> = n.input.iter().map(String::as_str).collect();
                if op == "Add"
                    && let Some(linear) = self.bias_of(&operands, uses)
                {
                    if let Op::Linear { bias, .. } = &mut self.nodes[linear].op {
                        *bias = true;
                    }
                    self.values.insert(out, linear);
                    return Ok(());
                }
                let mut xs = Vec::with_capacity(n.input.len());
                for k in 0..n.input.len() {
                    xs.push(self.data(n, k)?);
                }
                let channels = xs.first().and_then(|&x| self.channels[x]);
                self.push(name, Op::Add, xs, channels)
            }
            "MaxPool" | "AveragePool" => {
                let x = self.data(n, 0)?;
                if attr_int(n, "ceil_mode", Some(0))? != 0 {
                    return Err(bad_attribute(name, "ceil_mode", "must be 0"));
                }
                let (kernel, stride, padding) = window(n, None)?;
                let pool = if op == "MaxPool" {
                    Op::MaxPool {
                        kernel,
                        stride,
                        padding,
                    }
                } else {
                    Op::AvgPool {
                        kernel,
                        stride,
                        padding,
                    }
                };
                self.push(name, pool, vec![x], self.channels[x])
            }
            "GlobalAveragePool" => {
                let x = self.data(n, 0)?;
                self.push(name, Op::GlobalAvgPool, vec![x], self.channels[x])
            }
            "Flatten" => {
                let x = self.data(n, 0)?;
                if attr_int(n, "axis", Some(1))? != 1 {
                    return Err(bad_attribute(name, "axis", "must be 1"));
                }
                self.push(name, Op::Flatten, vec![x], None)
            }
            "Reshape" => {
                let x = self.data(n, 0)?;
                let shape = self.ints(n, 1)?;
                let features = match shape[..] {
                    [0 | 1, -1] => None,
                    [-1..=1, k] if k > 0 => Some(k as u64),
                    _ => {
                        return Err(unsupported(
                            name,
                            op,
                            &format!(
                                "only a flatten to [1, -1] or [1, K] is supported, got {shape:?}"
                            ),
                        ));
                    }
                };
                let idx = self.push(name, Op::Flatten, vec![x], None);
                if let Some(k) = features {
                    self.checks.push((idx, k, format!("reshape {name:?}")));
                }
                idx
            }
            "Gemm" => {
                let x = self.data(n, 0)?;
                if attr_int(n, "transA", Some(0))? != 0 {
                    return Err(bad_attribute(name, "transA", "must be 0"));
                }
                let trans_b = attr_int(n, "transB", Some(0))? != 0;
                let [k, m] = matrix(n, self.constant(n, 1)?)?;
                let (in_features, out_features) = if trans_b { (m, k) } else { (k, m) };
                let bias = n.input.get(2).is_some_and(|c| !c.is_empty());
                if bias {
                    self.constant(n, 2)?;
                }
                let idx = self.push(name, Op::Linear { out_features, bias }, vec![x], None);
                self.checks
                    .push((x, in_features, format!("input of {name:?}")));
                idx
            }
            "MatMul" => {
                let x = self.data(n, 0)?;
                let [in_features, out_features] = matrix(n, self.constant(n, 1)?)?;
                let idx = self.push(
                    name,
                    Op::Linear {
                        out_features,
                        bias: false,
                    },
                    vec![x],
                    None,
                );
                self.checks
                    .push((x, in_features, format!("input of {name:?}")));
                self.biasable.insert(out, idx);
                idx
            }
            "Slice" => self.slice(n)?,
            _ => return Err(unsupported(name, op, "")),
        };
        self.values.insert(out, emitted);
        Ok(())
    }

    fn push(&mut self, name: &str, op: Op, inputs: Vec<usize>, channels: Option<u64>) -> usize {
        self.nodes.push(Node::new(name, op, inputs));
        self.channels.push(channels);
        self.nodes.len() - 1
    }

    fn input_name(&self, n: &'a NodeProto, k: usize) -> Result<&'a str, ImportError> {
        match n.input.get(k).map(String::as_str) {
            Some(name) if !name.is_empty() => Ok(name),
            _ => Err(invalid(format!(
                "node {:?} ({}) needs input {k}",
                label(n),
                op_type(n)
            ))),
        }
    }

    /// The IR node computing input `k` of `n`.
    fn data(&self, n: &'a NodeProto, k: usize) -> Result<usize, ImportError> {
        let name = self.input_name(n, k)?;
        self.values.get(name).copied().ok_or_else(|| {
            unsupported(
                label(n),
                op_type(n),
                &format!("input {k} ({name:?}) is a constant, expected a computed tensor"),
            )
        })
    }

    /// The constant tensor of input `k` of `n`.
    fn constant(&self, n: &'a NodeProto, k: usize) -> Result<&'a TensorProto, ImportError> {
        let name = self.input_name(n, k)?;
        self.constants
            .get(name)
            .copied()
            .ok_or_else(|| ImportError::MissingInitializer {
                node: label(n).to_string(),
                tensor: name.to_string(),
            })
    }

    /// The integers of constant input `k` of `n`.
    fn ints(&self, n: &'a NodeProto, k: usize) -> Result<Vec<i64>, ImportError> {
        let t = self.constant(n, k)?;
        int_values(t).ok_or_else(|| {
            invalid(format!(
                "node {:?}: input {k} must be a short int32 or int64 vector",
                label(n)
            ))
        })
    }

    /// The linear layer that `Add(operands)` gives a bias: one operand a MatMul's output read
    /// only here, the other a constant.
    fn bias_of(&self, operands: &[&str], uses: &HashMap<&str, usize>) -> Option<usize> {
        let (linear, bias) = match operands {
            [a, b] if self.constants.contains_key(b) => (*a, *b),
            [a, b] if self.constants.contains_key(a) => (*b, *a),
            _ => return None,
        };
        let &idx = self.biasable.get(linear)?;
        if uses.get(linear) != Some(&1) || bias.is_empty() {
            return None;
        }
        Some(idx)
    }

    fn conv(&mut self, n: &'a NodeProto) -> Result<usize, ImportError> {
        let name = label(n);
        let x = self.data(n, 0)?;
        let w = self.constant(n, 1)?;
        let dims: Vec<u64> = w.dims.iter().filter_map(|&d| to_dim(d, 1)).collect();
        let &[out_channels, per_group, kh, kw] = &dims[..] else {
            return Err(invalid(format!(
                "node {name:?}: the weight must have 4 dimensions in 1..={MAX_DIM}, got {:?}",
                w.dims
            )));
        };
        let (kernel, stride, padding) = window(n, Some([kh, kw]))?;
        let group = attr_int(n, "group", Some(1))?;
        let groups =
            to_dim(group, 1).ok_or_else(|| bad_attribute(name, "group", "must be >= 1"))?;
        if let Some(c) = self.channels[x]
            && per_group.saturating_mul(groups) != c
        {
            return Err(invalid(format!(
                "node {name:?}: the weight takes {per_group} x {groups} input channels, the input has {c}"
            )));
        }
        let bias = n.input.get(2).is_some_and(|b| !b.is_empty());
        if bias {
            self.constant(n, 2)?;
        }
        let conv = Op::Conv {
            out_channels,
            kernel,
            stride,
            padding,
            groups,
            bias,
        };
        Ok(self.push(name, conv, vec![x], Some(out_channels)))
    }

    fn slice(&mut self, n: &'a NodeProto) -> Result<usize, ImportError> {
        let (name, op) = (label(n), op_type(n));
        let x = self.data(n, 0)?;
        let optional = |k: usize| n.input.get(k).is_some_and(|s| !s.is_empty());
        // Opset >= 10 takes bounds as inputs, earlier opsets as attributes.
        let (starts, ends, axes, steps) = if n.input.len() >= 3 {
            (
                self.ints(n, 1)?,
                self.ints(n, 2)?,
                if optional(3) {
                    Some(self.ints(n, 3)?)
                } else {
                    None
                },
                if optional(4) {
                    Some(self.ints(n, 4)?)
                } else {
                    None
                },
            )
        } else {
            let ints = |a: &str| attr_ints(n, a).map(|v| v.map(<[i64]>::to_vec));
            (
                ints("starts")?.ok_or_else(|| bad_attribute(name, "starts", "is required"))?,
                ints("ends")?.ok_or_else(|| bad_attribute(name, "ends", "is required"))?,
                ints("axes")?,
                None,
            )
        };
        let only_channels = |v: &Option<Vec<i64>>, allowed: &[i64]| match v {
            Some(v) => v.len() == 1 && allowed.contains(&v[0]),
            None => false,
        };
        if !only_channels(&axes, &[1, -3])
            || !(steps.is_none() || only_channels(&steps, &[1]))
            || starts.len() != 1
            || ends.len() != 1
        {
            return Err(unsupported(
                name,
                op,
                "only a slice of the channel axis (axes [1], steps [1]) is supported",
            ));
        }
        let Some(c) = self.channels[x] else {
            return Err(unsupported(
                name,
                op,
                "only a slice of a CxHxW tensor is supported",
            ));
        };
        // ONNX semantics: negative bounds count from the end, then clamp to 0..=c.
        let bound = |v: i64| -> u64 {
            let c = c as i128;
            let v = if v < 0 { v as i128 + c } else { v as i128 };
            v.clamp(0, c) as u64
        };
        let (start, end) = (bound(starts[0]), bound(ends[0]));
        Ok(self.push(
            name,
            Op::ChannelSlice { start, end },
            vec![x],
            Some(end.saturating_sub(start)),
        ))
    }
}

fn attribute<'n>(n: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

fn has_type(a: &AttributeProto, t: AttributeType) -> bool {
    a.r#type.is_none_or(|v| v == t as i32)
}

/// Integer attribute `name`, or `default` when absent (`None`: required).
fn attr_int(n: &NodeProto, name: &str, default: Option<i64>) -> Result<i64, ImportError> {
    match attribute(n, name) {
        Some(a) if has_type(a, AttributeType::Int) => Ok(a.i.unwrap_or(0)),
        Some(_) => Err(bad_attribute(label(n), name, "must be an integer")),
        None => default.ok_or_else(|| bad_attribute(label(n), name, "is required")),
    }
}

/// Integer-list attribute `name`, if present.
fn attr_ints<'n>(n: &'n NodeProto, name: &str) -> Result<Option<&'n [i64]>, ImportError> {
    match attribute(n, name) {
        Some(a) if has_type(a, AttributeType::Ints) => Ok(Some(&a.ints)),
        Some(_) => Err(bad_attribute(label(n), name, "must be a list of integers")),
        None => Ok(None),
    }
}

/// Kernel, stride and padding of a convolution or pooling node, when the window is square and
/// symmetric. `weights` gives the kernel when the attribute is absent.
fn window(n: &NodeProto, weights: Option<[u64; 2]>) -> Result<(u64, u64, u64), ImportError> {
    let name = label(n);
    let same =
        |attribute: &str, values: &[i64], count: usize, min: u64| -> Result<u64, ImportError> {
            match values {
                [first, rest @ ..] if values.len() == count && rest.iter().all(|v| v == first) => {
                    to_dim(*first, min).ok_or_else(|| {
                        bad_attribute(name, attribute, format!("must be in {min}..={MAX_DIM}"))
                    })
                }
                _ => Err(bad_attribute(
                    name,
                    attribute,
                    format!("must hold {count} equal values (square, symmetric windows only)"),
                )),
            }
        };
    let kernel = match (attr_ints(n, "kernel_shape")?, weights) {
        (Some(k), _) => same("kernel_shape", k, 2, 1)?,
        (None, Some([kh, kw])) => same("kernel_shape", &[kh as i64, kw as i64], 2, 1)?,
        (None, None) => return Err(bad_attribute(name, "kernel_shape", "is required")),
    };
    if let (Some(k), Some([kh, kw])) = (attr_ints(n, "kernel_shape")?, weights)
        && k != [kh as i64, kw as i64]
    {
        return Err(bad_attribute(
            name,
            "kernel_shape",
            "disagrees with the weight",
        ));
    }
    let stride = same("strides", attr_ints(n, "strides")?.unwrap_or(&[1, 1]), 2, 1)?;
    let mut padding = same("pads", attr_ints(n, "pads")?.unwrap_or(&[0; 4]), 4, 0)?;
    if let Some(d) = attr_ints(n, "dilations")?
        && d.iter().any(|&v| v != 1)
    {
        return Err(bad_attribute(name, "dilations", "must all be 1"));
    }
    match attribute(n, "auto_pad") {
        None => {}
        Some(a) if !has_type(a, AttributeType::String) => {
            return Err(bad_attribute(name, "auto_pad", "must be a string"));
        }
        Some(a) => match a.s.as_deref().unwrap_or(b"") {
            b"" | b"NOTSET" => {}
            b"VALID" => padding = 0,
            _ => {
                return Err(bad_attribute(
                    name,
                    "auto_pad",
                    "must be NOTSET or VALID (SAME padding is not supported; give pads)",
                ));
            }
        },
    }
    Ok((kernel, stride, padding))
}

/// `[rows, cols]` of a 2-D weight matrix.
fn matrix(n: &NodeProto, t: &TensorProto) -> Result<[u64; 2], ImportError> {
    match t.dims[..] {
        [r, c] => match (to_dim(r, 1), to_dim(c, 1)) {
            (Some(r), Some(c)) => Ok([r, c]),
            _ => Err(invalid(format!(
                "node {:?}: weight dims {:?} outside 1..={MAX_DIM}",
                label(n),
                t.dims
            ))),
        },
        _ => Err(invalid(format!(
            "node {:?}: the weight must be a matrix, got dims {:?}",
            label(n),
            t.dims
        ))),
    }
}

/// The values of a short int32 or int64 tensor (at most [`MAX_CONSTANT_VALUES`]).
fn int_values(t: &TensorProto) -> Option<Vec<i64>> {
    let mut count = 1usize;
    for &d in &t.dims {
        count = count.checked_mul(usize::try_from(d).ok()?)?;
    }
    if count > MAX_CONSTANT_VALUES {
        return None;
    }
    let values: Vec<i64> = match (t.data_type?, t.raw_data.as_deref()) {
        (data_type::INT64, Some(raw)) => raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect(),
        (data_type::INT32, Some(raw)) => raw
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("chunks of 4"))))
            .collect(),
        (data_type::INT64, None) => t.int64_data.clone(),
        (data_type::INT32, None) => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
        _ => return None,
    };
    (values.len() == count).then_some(values)
}

/// Rejects graphs whose parameters, MACs and activations together exceed [`MAX_COUNT`], so that
/// computing their metrics cannot overflow.
fn check_size(graph: &Graph) -> Result<(), ImportError> {
    let mut total = 0u64;
    for (i, node) in graph.nodes().iter().enumerate() {
        let out = graph.shape(i).elements();
        let mut cost = out;
        for &j in &node.inputs {
            cost = cost.saturating_add(graph.shape(j).elements());
        }
        match node.op {
            Op::Conv {
                out_channels,
                kernel,
                groups,
                ..
            } => {
                let per_out = (graph.shape(node.inputs[0]).channels() / groups)
                    .saturating_mul(kernel)
                    .saturating_mul(kernel);
                cost = cost
                    .saturating_add(per_out.saturating_mul(out_channels))
                    .saturating_add(per_out.saturating_mul(out))
                    .saturating_add(out_channels);
            }
            Op::Linear { out_features, .. } => {
                let weights = graph
                    .shape(node.inputs[0])
                    .elements()
                    .saturating_mul(out_features);
                cost = cost
                    .saturating_add(weights.saturating_mul(2))
                    .saturating_add(out_features);
            }
            _ => {}
        }
        total = total.saturating_add(cost);
        if total > MAX_COUNT {
            return Err(ImportError::TooLarge(format!(
                "parameters, MACs and activations exceed {MAX_COUNT} at node {i} ({})",
                node.name
            )));
        }
    }
    Ok(())
}
