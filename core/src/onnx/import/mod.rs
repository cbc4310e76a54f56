//! ONNX -> IR for convolutional networks. Only the topology and the sizes that the metrics need
//! are read: weight tensors contribute their dims, never their values.
//!
//! # Operator mapping
//! - `Conv` (square kernel, equal strides, equal pads, no dilation, `auto_pad` NOTSET or VALID;
//!   grouped and depthwise included), `BatchNormalization`, `Relu`, `Concat` (channel axis),
//!   `MaxPool` / `AveragePool` (same window rules, `ceil_mode` 0 or 1), `GlobalAveragePool` and
//!   `Flatten` (axis 1) map one to one.
//! - `Sigmoid`, `HardSigmoid`, `HardSwish` and `Softmax` (channel or feature axis) become
//!   activations; `Clip` (ReLU6) becomes ReLU: the metrics only see topology.
//! - `Add` and `Sum` of computed tensors become an element-wise add; `Mul` of two computed
//!   tensors an element-wise product (SiLU's `x * sigmoid(x)`, or a squeeze-and-excitation gate).
//! - `ReduceMean` over H and W is global average pooling (then a flatten unless `keepdims`).
//! - `Identity` and `Dropout` (inference) are transparent: their output is their input.
//! - `Reshape` (to a constant or computed shape) is a flatten to `[N, K]`, no change, or, with
//!   `Transpose` `[0, 2, 1, 3, 4]` between two of them, PyTorch's channel shuffle
//!   (`[N, g, C / g, H, W]`, swap, `[N, C, H, W]`), which becomes one IR node.
//! - `Gemm` (`transA` 0) and `MatMul` with a constant right operand become a linear layer; an `Add`
//!   of a constant to a `MatMul` read nowhere else becomes that layer's bias.
//! - `Slice` with constant or computed bounds on the channel axis (steps 1) becomes a channel
//!   slice; `Split` of the channel axis one channel slice per output.
//! - `Pad` with zeros, equal on every side of H and W, is folded into the `Conv` that reads it.
//! - `Constant` nodes and initializers feed the constant inputs above. `Shape` and integer
//!   `Gather`/`Unsqueeze`/`Squeeze`/`Concat`/`Slice`/`Cast`/`Add`/`Sub`/`Mul`/`Div` (the shape
//!   subgraphs exporters emit) are evaluated at import, since every shape is known.
//! - Initializers are read for their dims only, never their values (except small integer
//!   tensors), so a model whose weights live in external data imports from its graph alone.
//!
//! Nodes may come in any order: they are sorted topologically (keeping the file's order where it
//! is free), nodes the output does not depend on are dropped, and a cycle is an error. The graph
//! input must be `[N, C, H, W]` with N = 1 or symbolic.

mod builder;
mod error;
mod layers;
mod order;
mod read;
mod shapes;

use std::collections::HashMap;

use prost::Message;

use self::builder::Builder;
use self::error::{bad_attribute, invalid};
use self::order::sort;
use self::read::{label, op_type, to_dim};
use super::proto::{ModelProto, TensorProto, tensor_shape_proto::dimension, type_proto};
use crate::ir::{Graph, Op};

pub use self::error::ImportError;

/// Most ONNX nodes accepted.
pub const MAX_NODES: usize = 2_000_000;
/// Bound on parameters + MACs + activation elements of an imported graph, far enough below
/// `u64::MAX` that no metric can overflow.
const MAX_COUNT: u64 = 1 << 56;

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

    let mut b = Builder::new(input_name, input_shape, constants);
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
    check_size(&ir)?;
    Ok(ir)
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
