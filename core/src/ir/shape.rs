//! Shape inference: the output shape of one node from its inputs' shapes, with every size
//! checked against [`MAX_DIM`].

use super::{GraphError, MAX_DIM, Mul, Node, Op, Shape};

/// The output shape of node `i` (`node`, reading `inputs`), or why the node is not valid there.
pub(crate) fn infer_shape(
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
    // ONNX Runtime's rule: with ceil_mode a last window that would start in the right or bottom
    // padding is dropped.
    let window = |[c, h, w]: [u64; 3], kernel: u64, stride: u64, padding: u64, ceil: bool| {
        check_dim("kernel", kernel)?;
        check_dim("stride", stride)?;
        if padding > MAX_DIM {
            return Err(shape_err(format!("padding {padding} exceeds {MAX_DIM}")));
        }
        let extent = |size: u64| -> Result<u64, GraphError> {
            let padded = size + 2 * padding;
            if kernel > padded {
                return Err(shape_err(format!(
                    "kernel {kernel} is larger than the padded input {padded}"
                )));
            }
            let span = padded - kernel;
            let mut out = if ceil {
                span.div_ceil(stride)
            } else {
                span / stride
            } + 1;
            if ceil && (out - 1) * stride >= size + padding {
                out -= 1;
            }
            Ok(out)
        };
        Ok([c, extent(h)?, extent(w)?])
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
            let [_, h, w] = window(chw, *kernel, *stride, *padding, false)?;
            Ok(Shape::Chw([*out_channels, h, w]))
        }
        Op::BatchNorm | Op::Relu | Op::Activation { .. } => match inputs {
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
        Op::Mul => match (inputs, Mul::of(inputs)) {
            (_, Some(mul)) => Ok(inputs[mul.data()]),
            ([a, b], None) => Err(shape_err(format!(
                "mul takes two inputs of one shape, or a CxHxW input and a Cx1x1 gate: {a:?} vs {b:?}"
            ))),
            _ => Err(arity("2")),
        },
        Op::ChannelSlice { start, end } => {
            let [c, h, w] = one_chw()?;
            if start >= end || *end > c {
                return Err(shape_err(format!(
                    "channel slice {start}..{end} is empty or outside 0..{c}"
                )));
            }
            Ok(Shape::Chw([end - start, h, w]))
        }
        Op::ChannelShuffle { groups } => {
            let chw = one_chw()?;
            check_dim("groups", *groups)?;
            if chw[0] % groups != 0 {
                return Err(shape_err(format!(
                    "groups {groups} must divide the {} channels",
                    chw[0]
                )));
            }
            Ok(Shape::Chw(chw))
        }
        Op::MaxPool {
            kernel,
            stride,
            padding,
            ceil_mode,
        }
        | Op::AvgPool {
            kernel,
            stride,
            padding,
            ceil_mode,
        } => Ok(Shape::Chw(window(
            one_chw()?,
            *kernel,
            *stride,
            *padding,
            *ceil_mode,
        )?)),
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
