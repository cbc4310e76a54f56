//! The integer subgraphs exporters emit to compute shapes and bounds at run time (PyTorch's
//! `x.size()` arithmetic, as in ShuffleNet's `chunk`): `Shape` of a computed tensor, then
//! `Gather`, `Unsqueeze`, `Squeeze`, `Concat`, `Slice`, `Cast` and `Add`/`Sub`/`Mul`/`Div` over
//! integers. Every shape is known at import, so these are evaluated here to the constants their
//! readers (a `Reshape`, a `Slice`) need. Values are kept as flat vectors: the ranks do not
//! matter to any reader.

use super::builder::Builder;
use super::error::{ImportError, bad_attribute, invalid, unsupported};
use super::read::{attr_int, label, op_type};
use crate::ir::Shape;
use crate::onnx::proto::NodeProto;

/// Most values an evaluated integer tensor may hold (shapes and bounds are a handful).
const MAX_VALUES: usize = 64;

/// Operators that are shape arithmetic when every input is an integer tensor known at import.
pub(super) fn is_arithmetic(op: &str) -> bool {
    matches!(
        op,
        "Gather"
            | "Unsqueeze"
            | "Squeeze"
            | "Concat"
            | "Slice"
            | "Cast"
            | "Add"
            | "Sub"
            | "Mul"
            | "Div"
    )
}

impl<'a> Builder<'a> {
    /// The values of `n`'s output, a `Shape` or shape arithmetic ([`is_arithmetic`]).
    pub(super) fn evaluate(&self, n: &'a NodeProto) -> Result<Vec<i64>, ImportError> {
        let (name, op) = (label(n), op_type(n));
        let too_many = || {
            invalid(format!(
                "node {name:?}: more than {MAX_VALUES} integer values"
            ))
        };
        let values = match op {
            "Shape" => {
                let x = self.data(n, 0)?;
                let dims: Vec<i64> = match self.shapes[x] {
                    Shape::Chw([c, h, w]) => vec![1, c as i64, h as i64, w as i64],
                    Shape::Flat(f) => vec![1, f as i64],
                };
                let rank = dims.len() as i64;
                let at = |a: &str, default| -> Result<usize, ImportError> {
                    let v = attr_int(n, a, Some(default))?;
                    Ok((if v < 0 { v + rank } else { v }).clamp(0, rank) as usize)
                };
                let (start, end) = (at("start", 0)?, at("end", rank)?);
                dims[start..end.max(start)].to_vec()
            }
            "Gather" => {
                if attr_int(n, "axis", Some(0))? != 0 {
                    return Err(bad_attribute(name, "axis", "must be 0 on integer tensors"));
                }
                let (data, indices) = (self.ints(n, 0)?, self.ints(n, 1)?);
                let len = data.len() as i64;
                indices
                    .iter()
                    .map(|&i| {
                        let i = if i < 0 { i + len } else { i };
                        data.get(usize::try_from(i).ok()?).copied()
                    })
                    .collect::<Option<Vec<i64>>>()
                    .ok_or_else(|| invalid(format!("node {name:?}: index out of range")))?
            }
            "Unsqueeze" | "Squeeze" | "Cast" => self.ints(n, 0)?,
            "Concat" => {
                let mut all = Vec::new();
                for k in 0..n.input.len() {
                    all.extend(self.ints(n, k)?);
                    if all.len() > MAX_VALUES {
                        return Err(too_many());
                    }
                }
                all
            }
            "Slice" => {
                let data = self.ints(n, 0)?;
                let (starts, ends) = (self.ints(n, 1)?, self.ints(n, 2)?);
                let step = match n.input.get(4).filter(|s| !s.is_empty()) {
                    Some(_) => self.ints(n, 4)?,
                    None => vec![1],
                };
                let ([start], [end], [1]) = (&starts[..], &ends[..], &step[..]) else {
                    return Err(unsupported(
                        name,
                        op,
                        "only a step-1 slice of a 1-d integer tensor",
                    ));
                };
                let len = data.len() as i64;
                let at = |v: i64| (if v < 0 { v + len } else { v }).clamp(0, len) as usize;
                data[at(*start)..at(*end).max(at(*start))].to_vec()
            }
            _ => self.arithmetic(n)?,
        };
        if values.len() > MAX_VALUES {
            return Err(too_many());
        }
        Ok(values)
    }

    /// `Add`, `Sub`, `Mul` or `Div` of two integer tensors, a one-value operand broadcast.
    /// Division truncates, as ONNX Runtime's integer `Div` does.
    fn arithmetic(&self, n: &'a NodeProto) -> Result<Vec<i64>, ImportError> {
        let (name, op) = (label(n), op_type(n));
        let (a, b) = (self.ints(n, 0)?, self.ints(n, 1)?);
        let len = match (a.len(), b.len()) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            (x, y) => {
                return Err(invalid(format!(
                    "node {name:?}: integer operands of {x} and {y} values do not broadcast"
                )));
            }
        };
        let pick = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
        (0..len)
            .map(|i| {
                let (x, y) = (pick(&a, i), pick(&b, i));
                match op {
                    "Add" => x.checked_add(y),
                    "Sub" => x.checked_sub(y),
                    "Mul" => x.checked_mul(y),
                    _ => x.checked_div(y),
                }
            })
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| {
                invalid(format!(
                    "node {name:?}: integer {op} overflows or divides by zero"
                ))
            })
    }
}
