//! Converting ONNX nodes, one at a time, into IR nodes (the operator mapping of the module
//! documentation). Each IR node's shape is inferred as it is made, so later nodes (a `Shape`,
//! a reshape's `0` and `-1`) can read it.

use std::collections::HashMap;

use super::error::{ImportError, bad_attribute, invalid, unsupported};
use super::read::{attr_int, int_values, label, matrix, op_type};
use super::shapes::is_arithmetic;
use crate::ir::{Activation, GraphError, Node, Op, Shape, infer_shape};
use crate::onnx::proto::{NodeProto, TensorProto};

/// A tensor that is not an IR node: a view that only certain readers may take.
#[derive(Debug, Clone, Copy)]
pub(super) enum View {
    /// `[N, groups, C / groups, H, W]` of IR node `x` (a channel shuffle's first reshape).
    Grouped { x: usize, groups: u64 },
    /// The grouped view with its two channel axes swapped (the shuffle's transpose).
    Swapped { x: usize, groups: u64 },
    /// IR node `x` zero-padded by `padding` on each side of H and W, for a convolution to take.
    Padded { x: usize, padding: u64 },
}

pub(super) struct Builder<'a> {
    pub(super) input_shape: [u64; 3],
    pub(super) nodes: Vec<Node>,
    /// Output shape of each IR node.
    pub(super) shapes: Vec<Shape>,
    /// IR node computing each ONNX tensor.
    pub(super) values: HashMap<&'a str, usize>,
    pub(super) constants: HashMap<&'a str, &'a TensorProto>,
    /// Integer tensors computed from constants and shapes (the exporter's shape subgraphs).
    pub(super) known: HashMap<&'a str, Vec<i64>>,
    pub(super) views: HashMap<&'a str, View>,
    /// Linear layers made from a MatMul, by output tensor: an Add of a constant may be their bias.
    pub(super) biasable: HashMap<&'a str, usize>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(
        input_name: &'a str,
        input_shape: [u64; 3],
        constants: HashMap<&'a str, &'a TensorProto>,
    ) -> Self {
        Builder {
            input_shape,
            nodes: vec![Node::new(input_name, Op::Input, vec![])],
            shapes: vec![Shape::Chw(input_shape)],
            values: HashMap::from([(input_name, 0)]),
            constants,
            known: HashMap::new(),
            views: HashMap::new(),
            biasable: HashMap::new(),
        }
    }

    /// Converts `n`; a shape that cannot be inferred is reported with the tensor it is for.
    pub(super) fn convert(
        &mut self,
        n: &'a NodeProto,
        uses: &HashMap<&str, usize>,
    ) -> Result<(), ImportError> {
        self.convert_node(n, uses).map_err(|e| match e {
            ImportError::Graph(
                ref g @ (GraphError::Shape { .. }
                | GraphError::Arity { .. }
                | GraphError::ZeroSize { .. }),
            ) => ImportError::Shape {
                node: label(n).to_string(),
                tensor: n.output.first().cloned().unwrap_or_default(),
                message: match g {
                    GraphError::Shape { message, .. } => message.clone(),
                    other => other.to_string(),
                },
            },
            other => other,
        })
    }

    fn convert_node(
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
        if op == "Shape" || (is_arithmetic(op) && self.all_integer(n)) {
            let values = self.evaluate(n)?;
            self.known.insert(out, values);
            return Ok(());
        }
        let emitted = match op {
            "Identity" | "Dropout" => {
                let src = self.input_name(n, 0)?;
                if let Some(&t) = self.constants.get(src) {
                    self.constants.insert(out, t);
                } else if let Some(v) = self.known.get(src) {
                    self.known.insert(out, v.clone());
                } else {
                    let x = self.data(n, 0)?;
                    self.values.insert(out, x);
                }
                return Ok(());
            }
            "Relu" | "Clip" => {
                let x = self.data(n, 0)?;
                self.push(name, Op::Relu, vec![x])?
            }
            "Sigmoid" | "HardSigmoid" | "HardSwish" => {
                let x = self.data(n, 0)?;
                let function = match op {
                    "Sigmoid" => Activation::Sigmoid,
                    "HardSigmoid" => Activation::HardSigmoid,
                    _ => Activation::HardSwish,
                };
                self.push(name, Op::Activation { function }, vec![x])?
            }
            "Softmax" => self.softmax(n)?,
            "BatchNormalization" => {
                let x = self.data(n, 0)?;
                for k in 1..5 {
                    self.constant(n, k)?;
                }
                self.push(name, Op::BatchNorm, vec![x])?
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
                let xs = self.all_data(n)?;
                self.push(name, Op::Concat, xs)?
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
                let xs = self.all_data(n)?;
                self.push(name, Op::Add, xs)?
            }
            "Mul" => {
                let xs = self.all_data(n)?;
                if xs.len() != 2 {
                    return Err(invalid(format!("node {name:?} (Mul) needs 2 inputs")));
                }
                self.push(name, Op::Mul, xs)?
            }
            "MaxPool" | "AveragePool" => self.pool(n)?,
            "GlobalAveragePool" => {
                let x = self.data(n, 0)?;
                self.push(name, Op::GlobalAvgPool, vec![x])?
            }
            "ReduceMean" => self.reduce_mean(n)?,
            "Flatten" => {
                let x = self.data(n, 0)?;
                if attr_int(n, "axis", Some(1))? != 1 {
                    return Err(bad_attribute(name, "axis", "must be 1"));
                }
                self.push(name, Op::Flatten, vec![x])?
            }
            "Reshape" => match self.reshape(n)? {
                Some(emitted) => emitted,
                None => return Ok(()),
            },
            "Transpose" => {
                self.transpose(n, out)?;
                return Ok(());
            }
            "Pad" => {
                self.pad(n, out)?;
                return Ok(());
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
                self.expect_features(n, x, in_features)?;
                self.push(name, Op::Linear { out_features, bias }, vec![x])?
            }
            "MatMul" => {
                let x = self.data(n, 0)?;
                let [in_features, out_features] = matrix(n, self.constant(n, 1)?)?;
                self.expect_features(n, x, in_features)?;
                let linear = Op::Linear {
                    out_features,
                    bias: false,
                };
                let idx = self.push(name, linear, vec![x])?;
                self.biasable.insert(out, idx);
                idx
            }
            "Slice" => self.slice(n)?,
            "Split" => return self.split(n),
            _ => return Err(unsupported(name, op, "")),
        };
        self.values.insert(out, emitted);
        Ok(())
    }

    /// Appends an IR node, inferring its shape now.
    pub(super) fn push(
        &mut self,
        name: &str,
        op: Op,
        inputs: Vec<usize>,
    ) -> Result<usize, ImportError> {
        let node = Node::new(name, op, inputs);
        let in_shapes: Vec<Shape> = node.inputs.iter().map(|&j| self.shapes[j]).collect();
        let shape = infer_shape(self.nodes.len(), &node, &in_shapes, self.input_shape)?;
        self.nodes.push(node);
        self.shapes.push(shape);
        Ok(self.nodes.len() - 1)
    }

    pub(super) fn input_name(&self, n: &'a NodeProto, k: usize) -> Result<&'a str, ImportError> {
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
    pub(super) fn data(&self, n: &'a NodeProto, k: usize) -> Result<usize, ImportError> {
        let name = self.input_name(n, k)?;
        if let Some(&x) = self.values.get(name) {
            return Ok(x);
        }
        let detail = match self.views.get(name) {
            Some(View::Grouped { .. } | View::Swapped { .. }) => format!(
                "input {k} ({name:?}) is a 5-d view, which only a channel shuffle \
                 (reshape, transpose [0, 2, 1, 3, 4], reshape) may read"
            ),
            Some(View::Padded { .. }) => {
                format!("input {k} ({name:?}) is a padded tensor, which only a Conv may read")
            }
            None => format!("input {k} ({name:?}) is a constant, expected a computed tensor"),
        };
        Err(unsupported(label(n), op_type(n), &detail))
    }

    /// The IR nodes computing every input of `n`.
    fn all_data(&self, n: &'a NodeProto) -> Result<Vec<usize>, ImportError> {
        (0..n.input.len()).map(|k| self.data(n, k)).collect()
    }

    /// The constant tensor of input `k` of `n`.
    pub(super) fn constant(
        &self,
        n: &'a NodeProto,
        k: usize,
    ) -> Result<&'a TensorProto, ImportError> {
        let name = self.input_name(n, k)?;
        self.constants
            .get(name)
            .copied()
            .ok_or_else(|| ImportError::MissingInitializer {
                node: label(n).to_string(),
                tensor: name.to_string(),
            })
    }

    /// The integers of input `k` of `n`: a short int32 or int64 constant, or an integer tensor
    /// computed from shapes.
    pub(super) fn ints(&self, n: &'a NodeProto, k: usize) -> Result<Vec<i64>, ImportError> {
        let name = self.input_name(n, k)?;
        if let Some(v) = self.known.get(name) {
            return Ok(v.clone());
        }
        let t = self.constant(n, k)?;
        int_values(t).ok_or_else(|| {
            invalid(format!(
                "node {:?}: input {k} must be a short int32 or int64 vector",
                label(n)
            ))
        })
    }

    /// Whether every input of `n` is an integer tensor known here (so `n` is shape arithmetic).
    fn all_integer(&self, n: &NodeProto) -> bool {
        n.input.iter().filter(|i| !i.is_empty()).all(|i| {
            self.known.contains_key(i.as_str())
                || self
                    .constants
                    .get(i.as_str())
                    .is_some_and(|t| int_values(t).is_some())
        })
    }

    /// Checks that IR node `x` gives `features` elements, as the linear layer `n` reads it.
    fn expect_features(&self, n: &NodeProto, x: usize, features: u64) -> Result<(), ImportError> {
        let got = self.shapes[x].elements();
        if got != features {
            return Err(invalid(format!(
                "input of {:?}: expected {features} features, the graph gives {got}",
                label(n)
            )));
        }
        Ok(())
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
}
