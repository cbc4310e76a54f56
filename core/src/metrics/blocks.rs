//! NN-Mass of addition-type skips, counted per residual block by the reference notes' rules:
//! - a **basic** block (two convolutions on the residual branch, as in ResNet-18/34): `in + out`;
//! - a **bottleneck** (three: reduce, transform, expand, as in ResNet-50, ResNeXt, RegNet, and
//!   MobileNetV2/V3 and EfficientNet's inverted residuals, whose squeeze-and-excitation
//!   convolutions sit on the gate, off the branch): `(in + 2 mid) in / (2 in + mid)`, with `mid`
//!   the branch's first convolution's output channels;
//! - any other branch (one convolution, or four and more): the basic rule, `in + out`.
//!
//! `in` is the block input's channels and `out` the add's. A block is an add of two operands whose
//! main paths (each node's data input, back to the nearest add, concat or graph input) meet at
//! the block input: the shortcut reaches it directly or through one projection convolution, the
//! residual branch through the others. Adds of more operands, or whose operands do not meet so,
//! count nothing here.

use std::collections::HashSet;

use crate::ir::{Graph, Mul, Op};

/// The nodes from `node` back along its data inputs, `node` first, ending at the first add,
/// concat or graph input (included).
fn main_path(graph: &Graph, node: usize) -> Vec<usize> {
    let nodes = graph.nodes();
    let mut path = vec![node];
    let mut at = node;
    loop {
        let n = &nodes[at];
        let next = match n.op {
            Op::Input | Op::Add | Op::Concat => return path,
            Op::Mul => {
                let shapes: Vec<_> = n.inputs.iter().map(|&j| graph.shape(j)).collect();
                Mul::of(&shapes).map_or(n.inputs[0], |m| n.inputs[m.data()])
            }
            _ => n.inputs[0],
        };
        path.push(next);
        at = next;
    }
}

/// The convolutions among `path`, nearest the add first.
fn convs(graph: &Graph, path: &[usize]) -> Vec<usize> {
    path.iter()
        .copied()
        .filter(|&i| matches!(graph.nodes()[i].op, Op::Conv { .. }))
        .collect()
}

/// The NN-Mass of the block that `add` (a two-operand add) closes, if it is one.
fn block_mass(graph: &Graph, add: usize) -> Option<f64> {
    let [a, b] = graph.nodes()[add].inputs[..] else {
        return None;
    };
    let (path_a, path_b) = (main_path(graph, a), main_path(graph, b));
    let on_b: HashSet<usize> = path_b.iter().copied().collect();
    let meet = path_a.iter().position(|i| on_b.contains(i))?;
    let input = path_a[meet];
    let meet_b = path_b.iter().position(|&i| i == input)?;
    let (convs_a, convs_b) = (
        convs(graph, &path_a[..meet]),
        convs(graph, &path_b[..meet_b]),
    );
    let (branch, shortcut) = if convs_a.len() >= convs_b.len() {
        (convs_a, convs_b)
    } else {
        (convs_b, convs_a)
    };
    if shortcut.len() > 1 || branch.is_empty() {
        return None;
    }
    let c_in = graph.shape(input).channels() as f64;
    let c_out = graph.shape(add).channels() as f64;
    Some(match branch[..] {
        [_, _, first] => {
            let mid = graph.shape(first).channels() as f64;
            (c_in + 2.0 * mid) * c_in / (2.0 * c_in + mid)
        }
        _ => c_in + c_out,
    })
}

/// The addition-type NN-Mass of `graph`: the sum over its residual blocks.
pub(super) fn addition_mass(graph: &Graph) -> f64 {
    graph
        .nodes()
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::Add) && n.inputs.len() == 2)
        .filter_map(|(i, _)| block_mass(graph, i))
        .sum()
}
