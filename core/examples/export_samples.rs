//! Writes exported ONNX models to a directory, for checking them with the ONNX tools:
//!
//!     cargo run -p flash-core --example export_samples -- DIR [N]
//!
//! DIR gets the issue's example spec, N (default 4) specs sampled from `flash-densenet` with seed
//! 1, the largest spec of the space, and a small graph using every exported operator.

use flash_core::ir::{Graph, Node, Op};
use flash_core::onnx::{DEFAULT_SEED, export, export_spec};
use flash_core::space::{ArchSpec, CellSpec, Space};

const EXAMPLE: &str = r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: export_samples DIR [N]")?);
    let n: usize = args.next().map_or(Ok(4), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;

    let space = Space::default_space();
    let mut models = vec![(
        "example".to_string(),
        export_spec(&ArchSpec::from_json(EXAMPLE)?),
    )];
    for (i, spec) in space.sample_uniform(n, 1).iter().enumerate() {
        models.push((format!("sample{i}"), export_spec(spec)));
    }
    let largest = CellSpec {
        width: *space.widths.last().ok_or("empty grid")?,
        depth: *space.depths.last().ok_or("empty grid")?,
        tc: *space.tcs.last().ok_or("empty grid")?,
    };
    models.push((
        "largest".into(),
        export_spec(&space.spec(vec![largest; space.num_cells])),
    ));
    models.push(("all_ops".into(), export(&all_ops()?, DEFAULT_SEED)));

    for (name, bytes) in models {
        let path = dir.join(format!("{name}.onnx"));
        std::fs::write(&path, &bytes)?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

/// Every operator of the IR: biased and grouped convolutions, both poolings, two- and
/// three-operand adds, a channel slice, and two linear layers (with and without bias).
fn all_ops() -> Result<Graph, flash_core::GraphError> {
    let conv = |out_channels, kernel, stride, padding, groups, bias| Op::Conv {
        out_channels,
        kernel,
        stride,
        padding,
        groups,
        bias,
    };
    Graph::new(
        [4, 16, 16],
        vec![
            Node::new("input", Op::Input, vec![]),
            Node::new("stem", conv(8, 3, 1, 1, 1, true), vec![0]),
            Node::new("stem.relu", Op::Relu, vec![1]),
            Node::new("grouped", conv(8, 3, 1, 1, 4, false), vec![2]),
            Node::new("grouped.bn", Op::BatchNorm, vec![3]),
            Node::new("pointwise", conv(8, 1, 1, 0, 1, false), vec![4]),
            Node::new("add2", Op::Add, vec![5, 2]),
            Node::new("add3", Op::Add, vec![6, 5, 2]),
            Node::new("slice", Op::ChannelSlice { start: 2, end: 6 }, vec![7]),
            Node::new("concat", Op::Concat, vec![7, 8]),
            Node::new(
                "max",
                Op::MaxPool {
                    kernel: 3,
                    stride: 2,
                    padding: 1,
                },
                vec![9],
            ),
            Node::new(
                "avg",
                Op::AvgPool {
                    kernel: 2,
                    stride: 2,
                    padding: 0,
                },
                vec![10],
            ),
            Node::new("gap", Op::GlobalAvgPool, vec![11]),
            Node::new("flatten", Op::Flatten, vec![12]),
            Node::new(
                "hidden",
                Op::Linear {
                    out_features: 16,
                    bias: false,
                },
                vec![13],
            ),
            Node::new("hidden.relu", Op::Relu, vec![14]),
            Node::new(
                "classifier",
                Op::Linear {
                    out_features: 10,
                    bias: true,
                },
                vec![15],
            ),
        ],
    )
}
