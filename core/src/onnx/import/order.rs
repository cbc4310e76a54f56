//! The order nodes are converted in: topological, the file's order where it is free, and only the
//! nodes the output depends on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::error::{ImportError, invalid};
use super::read::label;
use crate::onnx::proto::{NodeProto, TensorProto};

/// Indices of the nodes the output depends on, in a topological order that keeps the file's
/// order wherever the dependencies allow (smallest ready index first).
pub(super) fn sort(
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
