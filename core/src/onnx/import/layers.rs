//! The ONNX operators that take more than one IR node's worth of reading: convolutions, pooling,
//! reductions, softmax, and the reshapes, transposes, pads, slices and splits that the importer
//! maps to channel operations or folds into their reader.

use super::builder::{Builder, View};
use super::error::{ImportError, bad_attribute, invalid, unsupported};
use super::read::{attr_int, attr_ints, label, op_type, to_dim, window};
use crate::ir::{Activation, MAX_DIM, Op, Shape};
use crate::onnx::proto::NodeProto;

impl<'a> Builder<'a> {
    pub(super) fn conv(&mut self, n: &'a NodeProto) -> Result<usize, ImportError> {
        let name = label(n);
        let src = self.input_name(n, 0)?;
        let (x, pre_padding) = match self.views.get(src) {
            Some(&View::Padded { x, padding }) => (x, padding),
            _ => (self.data(n, 0)?, 0),
        };
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
        let c = self.shapes[x].channels();
        if per_group.saturating_mul(groups) != c {
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
            padding: padding + pre_padding,
            groups,
            bias,
        };
        self.push(name, conv, vec![x])
    }

    pub(super) fn pool(&mut self, n: &'a NodeProto) -> Result<usize, ImportError> {
        let x = self.data(n, 0)?;
        let ceil_mode = match attr_int(n, "ceil_mode", Some(0))? {
            0 => false,
            1 => true,
            _ => return Err(bad_attribute(label(n), "ceil_mode", "must be 0 or 1")),
        };
        let (kernel, stride, padding) = window(n, None)?;
        let pool = if op_type(n) == "MaxPool" {
            Op::MaxPool {
                kernel,
                stride,
                padding,
                ceil_mode,
            }
        } else {
            Op::AvgPool {
                kernel,
                stride,
                padding,
                ceil_mode,
            }
        };
        self.push(label(n), pool, vec![x])
    }

    /// Softmax over the channels (or features) of one sample.
    pub(super) fn softmax(&mut self, n: &'a NodeProto) -> Result<usize, ImportError> {
        let x = self.data(n, 0)?;
        let axis = attr_int(n, "axis", Some(-1))?;
        let rank = match self.shapes[x] {
            Shape::Chw(_) => 4,
            Shape::Flat(_) => 2,
        };
        if axis != 1 && axis != 1 - rank {
            return Err(unsupported(
                label(n),
                "Softmax",
                "only a softmax over the channel or feature axis (1) is supported",
            ));
        }
        let function = Activation::Softmax;
        self.push(label(n), Op::Activation { function }, vec![x])
    }

    /// ReduceMean over H and W: global average pooling, flattened unless `keepdims`.
    pub(super) fn reduce_mean(&mut self, n: &'a NodeProto) -> Result<usize, ImportError> {
        let name = label(n);
        let x = self.data(n, 0)?;
        // Opset 18 moved the axes from an attribute to an input.
        let axes = match attr_ints(n, "axes")? {
            Some(axes) => axes.to_vec(),
            None if n.input.get(1).is_some_and(|a| !a.is_empty()) => self.ints(n, 1)?,
            None => Vec::new(),
        };
        let mut sorted: Vec<i64> = axes
            .iter()
            .map(|&a| if a < 0 { a + 4 } else { a })
            .collect();
        sorted.sort_unstable();
        if sorted != [2, 3] || !matches!(self.shapes[x], Shape::Chw(_)) {
            return Err(unsupported(
                name,
                "ReduceMean",
                &format!(
                    "only a mean over H and W (axes [2, 3]) of a CxHxW tensor is supported, got axes {axes:?}"
                ),
            ));
        }
        let pooled = self.push(name, Op::GlobalAvgPool, vec![x])?;
        match attr_int(n, "keepdims", Some(1))? {
            0 => self.push(&format!("{name}.flatten"), Op::Flatten, vec![pooled]),
            _ => Ok(pooled),
        }
    }

    /// A reshape: a flatten, the first or last step of a channel shuffle, or no change. `None`
    /// when it only records a view.
    pub(super) fn reshape(&mut self, n: &'a NodeProto) -> Result<Option<usize>, ImportError> {
        let (name, out) = (label(n), n.output[0].as_str());
        let target = self.ints(n, 1)?;
        if attr_int(n, "allowzero", Some(0))? != 0 && target.contains(&0) {
            return Err(bad_attribute(
                name,
                "allowzero",
                "must be 0 where a dim is 0",
            ));
        }
        let src = self.input_name(n, 0)?;
        if let Some(&View::Swapped { x, groups }) = self.views.get(src) {
            let Shape::Chw([c, h, w]) = self.shapes[x] else {
                unreachable!("only CxHxW tensors are viewed");
            };
            let from = [1, groups, c / groups, h, w];
            if resolve(&from, &target) != Some(vec![1, c, h, w]) {
                return Err(unsupported(
                    name,
                    "Reshape",
                    &format!(
                        "a shuffled 5-d view must be reshaped back to [N, {c}, {h}, {w}], got {target:?}"
                    ),
                ));
            }
            return self
                .push(name, Op::ChannelShuffle { groups }, vec![x])
                .map(Some);
        }
        let x = self.data(n, 0)?;
        let from: Vec<u64> = match self.shapes[x] {
            Shape::Chw([c, h, w]) => vec![1, c, h, w],
            Shape::Flat(f) => vec![1, f],
        };
        let Some(to) = resolve(&from, &target) else {
            return Err(unsupported(
                name,
                "Reshape",
                &format!("cannot reshape {from:?} to {target:?}"),
            ));
        };
        match (&from[..], &to[..]) {
            (_, [1, _]) if from.len() == 4 => self.push(name, Op::Flatten, vec![x]).map(Some),
            _ if to == from => {
                self.values.insert(out, x);
                Ok(None)
            }
            ([1, c, h, w], [1, groups, per_group, vh, vw])
                if [vh, vw] == [h, w] && groups * per_group == *c =>
            {
                let groups = *groups;
                self.views.insert(out, View::Grouped { x, groups });
                Ok(None)
            }
            _ => Err(unsupported(
                name,
                "Reshape",
                &format!(
                    "only a flatten to [N, K], a channel shuffle's [N, groups, C / groups, H, W] \
                     and back, or no change is supported; got {from:?} -> {to:?}"
                ),
            )),
        }
    }

    /// The transpose of a channel shuffle (swapping the two channel axes of a grouped view).
    pub(super) fn transpose(&mut self, n: &'a NodeProto, out: &'a str) -> Result<(), ImportError> {
        let src = self.input_name(n, 0)?;
        let perm = attr_ints(n, "perm")?.unwrap_or(&[]);
        match self.views.get(src) {
            Some(&View::Grouped { x, groups }) if perm == [0, 2, 1, 3, 4] => {
                self.views.insert(out, View::Swapped { x, groups });
                Ok(())
            }
            _ => Err(unsupported(
                label(n),
                "Transpose",
                "only a channel shuffle's transpose (perm [0, 2, 1, 3, 4] of a reshape to \
                 [N, groups, C / groups, H, W]) is supported",
            )),
        }
    }

    /// A constant zero pad of H and W, equal on every side, folded into the Conv that reads it.
    pub(super) fn pad(&mut self, n: &'a NodeProto, out: &'a str) -> Result<(), ImportError> {
        let name = label(n);
        let x = self.data(n, 0)?;
        let mode = super::read::attribute(n, "mode").and_then(|a| a.s.as_deref());
        if !matches!(mode, None | Some(b"constant")) {
            return Err(unsupported(
                name,
                "Pad",
                "only constant (zero) padding is supported",
            ));
        }
        // Opset 11 moved the pads (and the value) from attributes to inputs.
        let pads = match attr_ints(n, "pads")? {
            Some(p) => p.to_vec(),
            None => self.ints(n, 1)?,
        };
        let zero_value = match n.input.get(2).filter(|v| !v.is_empty()) {
            None => true,
            Some(_) => self
                .constant(n, 2)
                .ok()
                .and_then(|t| t.raw_data.as_deref())
                .is_some_and(|raw| raw.iter().all(|&b| b == 0)),
        };
        let padding = match pads[..] {
            [0, 0, t, l, 0, 0, b, r] if t == l && t == b && t == r && t >= 0 => t as u64,
            _ => {
                return Err(unsupported(
                    name,
                    "Pad",
                    &format!("only equal padding of H and W is supported, got pads {pads:?}"),
                ));
            }
        };
        if !zero_value {
            return Err(unsupported(
                name,
                "Pad",
                "only a zero pad value is supported",
            ));
        }
        if padding > MAX_DIM {
            return Err(bad_attribute(
                name,
                "pads",
                format!("must be at most {MAX_DIM}"),
            ));
        }
        self.views.insert(out, View::Padded { x, padding });
        Ok(())
    }

    pub(super) fn slice(&mut self, n: &'a NodeProto) -> Result<usize, ImportError> {
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
        let Shape::Chw([c, _, _]) = self.shapes[x] else {
            return Err(unsupported(
                name,
                op,
                "only a slice of a CxHxW tensor is supported",
            ));
        };
        let (start, end) = (bound(starts[0], c), bound(ends[0], c));
        self.push(name, Op::ChannelSlice { start, end }, vec![x])
    }

    /// A split of the channel axis: one channel slice per output.
    pub(super) fn split(&mut self, n: &'a NodeProto) -> Result<(), ImportError> {
        let name = label(n);
        let x = self.data(n, 0)?;
        if !matches!(attr_int(n, "axis", Some(0))?, 1 | -3) {
            return Err(unsupported(
                name,
                "Split",
                "only a split of the channel axis (1) is supported",
            ));
        }
        let Shape::Chw([c, _, _]) = self.shapes[x] else {
            return Err(unsupported(
                name,
                "Split",
                "only a split of a CxHxW tensor is supported",
            ));
        };
        let outputs = n.output.len() as u64;
        // Sizes: an input (opset >= 13), an attribute (earlier), or equal parts (the last one
        // smaller when C does not divide, as opset 18's num_outputs says).
        let sizes: Vec<i64> = if n.input.get(1).is_some_and(|s| !s.is_empty()) {
            self.ints(n, 1)?
        } else if let Some(split) = attr_ints(n, "split")? {
            split.to_vec()
        } else {
            let part = c.div_ceil(outputs.max(1));
            (0..outputs)
                .map(|k| (c.saturating_sub(k * part)).min(part) as i64)
                .collect()
        };
        if sizes.len() as u64 != outputs
            || sizes.iter().any(|&s| s <= 0)
            || sizes.iter().sum::<i64>() != c as i64
        {
            return Err(invalid(format!(
                "node {name:?}: split sizes {sizes:?} must be {outputs} positive parts of {c} channels"
            )));
        }
        let mut start = 0u64;
        for (k, (out, size)) in n.output.iter().zip(&sizes).enumerate() {
            let end = start + *size as u64;
            let slice = self.push(
                &format!("{name}.{k}"),
                Op::ChannelSlice { start, end },
                vec![x],
            )?;
            if !out.is_empty() {
                self.values.insert(out.as_str(), slice);
            }
            start = end;
        }
        Ok(())
    }
}

/// ONNX slice bounds: negative values count from the end, then clamp to `0..=c`.
fn bound(v: i64, c: u64) -> u64 {
    let c = c as i128;
    let v = if v < 0 { v as i128 + c } else { v as i128 };
    v.clamp(0, c) as u64
}

/// The dims a reshape of `from` to `target` gives (ONNX rules with `allowzero` 0: a 0 copies the
/// input's dim, one -1 takes what remains), or `None` when the element counts cannot agree.
fn resolve(from: &[u64], target: &[i64]) -> Option<Vec<u64>> {
    let total: u64 = from.iter().product();
    let mut dims = Vec::with_capacity(target.len());
    let mut infer = None;
    for (k, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(k);
                dims.push(1);
            }
            0 => dims.push(*from.get(k)?),
            t if t > 0 => dims.push(u64::try_from(t).ok()?),
            _ => return None,
        }
    }
    let known = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    if let Some(k) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return None;
        }
        dims[k] = total / known;
    }
    (dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))? == total).then_some(dims)
}
