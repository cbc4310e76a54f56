//! Reading an ONNX node: its label and operator, its attributes, convolution and pooling windows,
//! weight matrices and the values of small integer constants.

use super::error::{ImportError, bad_attribute, invalid};
use crate::ir::MAX_DIM;
use crate::onnx::proto::{AttributeProto, AttributeType, NodeProto, TensorProto, data_type};

/// Most values read from one integer constant (slice bounds, reshape targets).
const MAX_CONSTANT_VALUES: usize = 16;

/// The name errors and IR nodes use for an ONNX node: its name, else its first output.
pub(super) fn label(n: &NodeProto) -> &str {
    match n.name.as_deref() {
        Some(name) if !name.is_empty() => name,
        _ => n.output.first().map_or("", String::as_str),
    }
}

pub(super) fn op_type(n: &NodeProto) -> &str {
    n.op_type.as_deref().unwrap_or("")
}

/// `v` as a size in `min..=MAX_DIM`.
pub(super) fn to_dim(v: i64, min: u64) -> Option<u64> {
    u64::try_from(v).ok().filter(|&v| v >= min && v <= MAX_DIM)
}

pub(super) fn attribute<'n>(n: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

pub(super) fn has_type(a: &AttributeProto, t: AttributeType) -> bool {
    a.r#type.is_none_or(|v| v == t as i32)
}

/// Integer attribute `name`, or `default` when absent (`None`: required).
pub(super) fn attr_int(
    n: &NodeProto,
    name: &str,
    default: Option<i64>,
) -> Result<i64, ImportError> {
    match attribute(n, name) {
        Some(a) if has_type(a, AttributeType::Int) => Ok(a.i.unwrap_or(0)),
        Some(_) => Err(bad_attribute(label(n), name, "must be an integer")),
        None => default.ok_or_else(|| bad_attribute(label(n), name, "is required")),
    }
}

/// Integer-list attribute `name`, if present.
pub(super) fn attr_ints<'n>(
    n: &'n NodeProto,
    name: &str,
) -> Result<Option<&'n [i64]>, ImportError> {
    match attribute(n, name) {
        Some(a) if has_type(a, AttributeType::Ints) => Ok(Some(&a.ints)),
        Some(_) => Err(bad_attribute(label(n), name, "must be a list of integers")),
        None => Ok(None),
    }
}

/// Kernel, stride and padding of a convolution or pooling node, when the window is square and
/// symmetric. `weights` gives the kernel when the attribute is absent.
pub(super) fn window(
    n: &NodeProto,
    weights: Option<[u64; 2]>,
) -> Result<(u64, u64, u64), ImportError> {
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
pub(super) fn matrix(n: &NodeProto, t: &TensorProto) -> Result<[u64; 2], ImportError> {
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
pub(super) fn int_values(t: &TensorProto) -> Option<Vec<i64>> {
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
