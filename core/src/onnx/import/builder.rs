//! Converting ONNX nodes, one at a time, into IR nodes (the operator mapping of the module
//! documentation).

use std::collections::HashMap;

use super::error::{ImportError, bad_attribute, invalid, unsupported};
use super::read::{attr_int, attr_ints, int_values, label, matrix, op_type, to_dim, window};
use crate::ir::{MAX_DIM, Node, Op};
use crate::onnx::proto::{NodeProto, TensorProto};

pub(super) struct Builder<'a> {
    pub(super) nodes: Vec<Node>,
    /// Channels of each IR node's output when it is CxHxW (None when flat).
    pub(super) channels: Vec<Option<u64>>,
    /// IR node computing each ONNX tensor.
    pub(super) values: HashMap<&'a str, usize>,
    pub(super) constants: HashMap<&'a str, &'a TensorProto>,
    /// (IR node, element count its output must have, what requires it), checked after shape
    /// inference.
    pub(super) checks: Vec<(usize, u64, String)>,
    /// Linear layers made from a MatMul, by output tensor: an Add of a constant may be their bias.
    pub(super) biasable: HashMap<&'a str, usize>,
}

impl<'a> Builder<'a> {
    pub(super) fn convert(
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
