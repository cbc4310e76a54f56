//! The network graph of a spec, built as the [`space`](super) module documentation defines it.

use super::ArchSpec;
use crate::ir::{Graph, Node, Op};

impl ArchSpec {
    /// Builds the network graph exactly as the [`space`](super) module documentation defines
    /// it.
    pub fn to_graph(&self) -> Graph {
        let mut nodes = vec![Node::new("input", Op::Input, vec![])];
        let push = |nodes: &mut Vec<Node>, name: String, op: Op, inputs: Vec<usize>| {
            nodes.push(Node::new(name, op, inputs));
            nodes.len() - 1
        };
        let mut prev = 0usize;
        for (c, cell) in self.cells.iter().enumerate() {
            let mut outputs: Vec<usize> = Vec::with_capacity(cell.depth as usize);
            for j in 0..cell.depth {
                let name = |part: &str| format!("cell{c}.layer{j}.{part}");
                let stride = if j == 0 && c > 0 { 2 } else { 1 };
                let input = if j == 0 {
                    prev
                } else {
                    let t = cell.skips(j);
                    let mut parts = vec![*outputs.last().expect("layer j-1 exists")];
                    let mut left = t;
                    for src in (0..j.saturating_sub(1)).rev() {
                        if left == 0 {
                            break;
                        }
                        let take = left.min(cell.width);
                        let out = outputs[src as usize];
                        parts.push(if take == cell.width {
                            out
                        } else {
                            push(
                                &mut nodes,
                                name(&format!("skip{src}")),
                                Op::ChannelSlice {
                                    start: 0,
                                    end: take,
                                },
                                vec![out],
                            )
                        });
                        left -= take;
                    }
                    if parts.len() == 1 {
                        parts[0]
                    } else {
                        push(&mut nodes, name("concat"), Op::Concat, parts)
                    }
                };
                let conv = push(
                    &mut nodes,
                    name("conv"),
                    Op::Conv {
                        out_channels: cell.width,
                        kernel: 3,
                        stride,
                        padding: 1,
                        groups: 1,
                        bias: false,
                    },
                    vec![input],
                );
                let bn = push(&mut nodes, name("bn"), Op::BatchNorm, vec![conv]);
                let relu = push(&mut nodes, name("relu"), Op::Relu, vec![bn]);
                outputs.push(relu);
            }
            prev = *outputs.last().expect("depth >= 3");
        }
        let gap = push(&mut nodes, "head.gap".into(), Op::GlobalAvgPool, vec![prev]);
        let flat = push(&mut nodes, "head.flatten".into(), Op::Flatten, vec![gap]);
        push(
            &mut nodes,
            "head.linear".into(),
            Op::Linear {
                out_features: self.num_classes,
                bias: true,
            },
            vec![flat],
        );
        Graph::new(self.input_shape, nodes).expect("a parsed spec always builds a valid graph")
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::Op;
    use crate::space::test_support::cells;

    #[test]
    fn skips_take_the_most_recent_layers_first() {
        let spec = cells([(16, 5, 20), (16, 3, 0), (16, 3, 0)]);
        let g = spec.to_graph();
        // Layer 4 of cell 0 takes all 16 channels of layer 2 and the first 4 of layer 1.
        let concat = g
            .nodes()
            .iter()
            .position(|n| n.name == "cell0.layer4.concat")
            .unwrap();
        let parts = &g.nodes()[concat].inputs;
        let names: Vec<&str> = parts.iter().map(|&i| g.nodes()[i].name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cell0.layer3.relu",
                "cell0.layer2.relu",
                "cell0.layer4.skip1"
            ]
        );
        let slice = &g.nodes()[parts[2]];
        assert_eq!(slice.op, Op::ChannelSlice { start: 0, end: 4 });
        assert_eq!(g.nodes()[slice.inputs[0]].name, "cell0.layer1.relu");
    }
}
