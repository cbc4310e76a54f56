//! ONNX export and import: determinism, parameter counts, round trips and hostile input.

use flash_core::ir::{Graph, Node, Op};
use flash_core::metrics;
use flash_core::onnx::proto::{
    AttributeProto, AttributeType, GraphProto, ModelProto, NodeProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, data_type, tensor_shape_proto, type_proto,
};
use flash_core::onnx::{DEFAULT_SEED, ImportError, export, export_spec, import};
use flash_core::rng::SplitMix64;
use flash_core::space::{ArchSpec, CellSpec, Space};
use proptest::prelude::*;
use prost::Message;

const EXAMPLE: &str = r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#;

fn example() -> ArchSpec {
    ArchSpec::from_json(EXAMPLE).unwrap()
}

/// Small random cell networks: widths 1..48, depths 3..8, 1 to 3 cells.
fn small_specs(n: usize, seed: u64) -> Vec<ArchSpec> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let cells = (0..1 + rng.below(3))
                .map(|_| CellSpec::dense(1 + rng.below(47), 3 + rng.below(6), rng.below(200)))
                .collect();
            Space::default_space().spec(cells)
        })
        .collect()
}

fn decode(bytes: &[u8]) -> ModelProto {
    ModelProto::decode(bytes).unwrap()
}

/// Numbers held by float initializers other than BatchNorm running means and variances.
fn initializer_params(model: &ModelProto) -> u64 {
    let graph = model.graph.as_ref().unwrap();
    let running: Vec<&str> = graph
        .node
        .iter()
        .filter(|n| n.op_type.as_deref() == Some("BatchNormalization"))
        .flat_map(|n| n.input[3..5].iter().map(String::as_str))
        .collect();
    graph
        .initializer
        .iter()
        .filter(|t| !running.contains(&t.name.as_deref().unwrap()))
        .map(|t| {
            assert_eq!(t.data_type, Some(data_type::FLOAT));
            let count: i64 = t.dims.iter().product();
            let raw = t.raw_data.as_deref().unwrap();
            assert_eq!(raw.len() as i64, 4 * count);
            assert!(
                raw.chunks_exact(4)
                    .all(|c| f32::from_le_bytes(c.try_into().unwrap()).is_finite())
            );
            count as u64
        })
        .sum()
}

#[test]
fn export_is_deterministic_and_differs_between_specs() {
    let a = export_spec(&example());
    assert_eq!(a, export_spec(&example()));
    let specs = small_specs(10, 3);
    let bytes: Vec<Vec<u8>> = specs.iter().map(export_spec).collect();
    for i in 0..bytes.len() {
        for j in 0..i {
            assert_eq!(bytes[i] == bytes[j], specs[i] == specs[j]);
        }
    }
    let graph = example().to_graph();
    assert_ne!(export(&graph, 1), export(&graph, 2));
    let model = decode(&a);
    assert_eq!(model.ir_version, Some(8));
    assert_eq!(model.opset_import[0].version, Some(17));
}

#[test]
fn initializers_hold_exactly_the_parameters() {
    let graphs = [example().to_graph(), flash_core::ir::every_operator()]
        .into_iter()
        .chain(
            small_specs(20, 5)
                .iter()
                .map(ArchSpec::to_graph)
                .collect::<Vec<_>>(),
        );
    for graph in graphs {
        let model = decode(&export(&graph, DEFAULT_SEED));
        assert_eq!(initializer_params(&model), metrics::compute(&graph).params);
    }
}

#[test]
fn round_trip_gives_the_same_graph_and_metrics() {
    let mut graphs = vec![example().to_graph(), flash_core::ir::every_operator()];
    graphs.extend(small_specs(120, 7).iter().map(ArchSpec::to_graph));
    for graph in &graphs {
        let imported = import(&export(graph, DEFAULT_SEED)).unwrap();
        assert_eq!(&imported, graph);
        assert_eq!(metrics::compute(&imported), metrics::compute(graph));
    }
}

#[test]
fn the_largest_spec_of_the_space_exports_and_round_trips() {
    let space = Space::default_space();
    let cell = CellSpec::dense(128, 12, 392);
    let spec = space.spec(vec![cell; 3]);
    assert!(spec.in_space());
    let graph = spec.to_graph();
    let bytes = export_spec(&spec);
    let m = metrics::compute(&graph);
    assert!(m.params > 15_000_000, "{}", m.params);
    assert_eq!(initializer_params(&decode(&bytes)), m.params);
    assert_eq!(metrics::compute(&import(&bytes).unwrap()), m);
}

#[test]
fn every_space_exports_and_round_trips() {
    for space in Space::all().iter().filter(|s| s.input_shape[1] <= 64) {
        for spec in space.sample_uniform(3, 8) {
            let graph = spec.to_graph();
            let bytes = export_spec(&spec);
            let m = metrics::compute(&graph);
            assert_eq!(
                initializer_params(&decode(&bytes)),
                m.params,
                "{}",
                space.name
            );
            assert_eq!(
                metrics::compute(&import(&bytes).unwrap()),
                m,
                "{}",
                space.name
            );
        }
    }
}

// ---- hand-built models, the way other exporters write them ----

fn tensor(name: &str, dtype: i32, dims: &[i64]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(dtype),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn ints_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        int64_data: values.to_vec(),
        ..tensor(name, data_type::INT64, &[values.len() as i64])
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: Some(name.into()),
        op_type: Some(op.into()),
        ..Default::default()
    }
}

fn with_ints(mut n: NodeProto, name: &str, values: &[i64]) -> NodeProto {
    n.attribute.push(AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    });
    n
}

fn with_int(mut n: NodeProto, name: &str, value: i64) -> NodeProto {
    n.attribute.push(AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    });
    n
}

fn value_info(name: &str, dims: &[tensor_shape_proto::dimension::Value]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|v| tensor_shape_proto::Dimension {
            value: Some(v.clone()),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(data_type::FLOAT),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
    }
}

fn model(nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> Vec<u8> {
    use tensor_shape_proto::dimension::Value::{DimParam, DimValue};
    let mut input = vec![value_info(
        "x",
        &[DimParam("N".into()), DimValue(3), DimValue(8), DimValue(8)],
    )];
    // Older exporters also list initializers as graph inputs.
    input.extend(
        initializers
            .iter()
            .map(|t| value_info(t.name.as_deref().unwrap(), &[])),
    );
    ModelProto {
        ir_version: Some(7),
        graph: Some(GraphProto {
            node: nodes,
            initializer: initializers,
            input,
            output: vec![value_info("y", &[DimParam("N".into()), DimValue(5)])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// conv -> clip -> identity -> dropout -> gap -> reshape -> matmul + bias, listed out of order,
/// with a Constant node and a node the output does not need.
fn foreign_model() -> (Vec<NodeProto>, Vec<TensorProto>) {
    let mut shape = node("Constant", "", &[], "shape");
    shape.attribute.push(AttributeProto {
        name: Some("value".into()),
        r#type: Some(AttributeType::Tensor as i32),
        t: Some(ints_tensor("", &[1, -1])),
        ..Default::default()
    });
    let nodes = vec![
        node("Add", "fc.bias_add", &["fc.mm", "fc.b"], "y"),
        node("MatMul", "fc", &["flat", "fc.w"], "fc.mm"),
        node("Reshape", "flatten", &["pooled", "shape"], "flat"),
        shape,
        node("GlobalAveragePool", "gap", &["drop"], "pooled"),
        node("Dropout", "drop", &["same"], "drop"),
        node("Identity", "same", &["act"], "same"),
        node("Relu", "unused", &["act"], "dead"),
        node("Clip", "relu6", &["c", "lo", "hi"], "act"),
        with_ints(
            with_ints(node("Conv", "conv", &["x", "w", "b"], "c"), "pads", &[1; 4]),
            "strides",
            &[2, 2],
        ),
    ];
    let initializers = vec![
        tensor("w", data_type::FLOAT, &[6, 3, 3, 3]),
        tensor("b", data_type::FLOAT, &[6]),
        tensor("lo", data_type::FLOAT, &[]),
        tensor("hi", data_type::FLOAT, &[]),
        tensor("fc.w", data_type::FLOAT, &[6, 5]),
        tensor("fc.b", data_type::FLOAT, &[5]),
    ];
    (nodes, initializers)
}

#[test]
fn imports_graphs_written_by_other_exporters() {
    let (nodes, initializers) = foreign_model();
    let g = import(&model(nodes, initializers)).unwrap();
    let expected = Graph::new(
        [3, 8, 8],
        vec![
            Node::new("x", Op::Input, vec![]),
            Node::new(
                "conv",
                Op::Conv {
                    out_channels: 6,
                    kernel: 3,
                    stride: 2,
                    padding: 1,
                    groups: 1,
                    bias: true,
                },
                vec![0],
            ),
            Node::new("relu6", Op::Relu, vec![1]),
            Node::new("gap", Op::GlobalAvgPool, vec![2]),
            Node::new("flatten", Op::Flatten, vec![3]),
            Node::new(
                "fc",
                Op::Linear {
                    out_features: 5,
                    bias: true,
                },
                vec![4],
            ),
        ],
    )
    .unwrap();
    assert_eq!(g, expected);
    assert_eq!(metrics::compute(&g).params, 6 * 27 + 6 + 6 * 5 + 5);
}

#[test]
fn zero_pads_fold_into_their_conv_and_splits_become_channel_slices() {
    let mut split = with_int(node("Split", "split", &["c", "sizes"], "s0"), "axis", 1);
    split.output.push("s1".into());
    let nodes = vec![
        node("Pad", "pad", &["x", "pads"], "padded"),
        node("Conv", "conv", &["padded", "w"], "c"),
        split,
        with_int(node("Concat", "swap", &["s1", "s0"], "cat"), "axis", 1),
        node("GlobalAveragePool", "gap", &["cat"], "pooled"),
        node("Flatten", "flatten", &["pooled"], "flat"),
        with_int(
            node("Gemm", "fc", &["flat", "fc.w", "fc.b"], "y"),
            "transB",
            1,
        ),
    ];
    let initializers = vec![
        ints_tensor("pads", &[0, 0, 1, 1, 0, 0, 1, 1]),
        tensor("w", data_type::FLOAT, &[6, 3, 3, 3]),
        ints_tensor("sizes", &[2, 4]),
        tensor("fc.w", data_type::FLOAT, &[5, 6]),
        tensor("fc.b", data_type::FLOAT, &[5]),
    ];
    let g = import(&model(nodes.clone(), initializers.clone())).unwrap();
    let ops: Vec<&Op> = g.nodes().iter().map(|n| &n.op).collect();
    assert_eq!(
        ops[1],
        &Op::Conv {
            out_channels: 6,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
            bias: false,
        }
    );
    assert_eq!(ops[2], &Op::ChannelSlice { start: 0, end: 2 });
    assert_eq!(ops[3], &Op::ChannelSlice { start: 2, end: 6 });
    assert_eq!(g.nodes()[4].inputs, vec![3, 2]);
    assert_eq!(g.output_shape(), flash_core::ir::Shape::Flat(5));

    // Without sizes the channels split into equal parts.
    let mut equal = nodes.clone();
    equal[2].input.truncate(1);
    let g = import(&model(equal, initializers.clone())).unwrap();
    assert_eq!(g.nodes()[3].op, Op::ChannelSlice { start: 3, end: 6 });

    // A pad that is not the same on every side, or that something other than a Conv reads,
    // is named.
    let mut lopsided = initializers.clone();
    lopsided[0] = ints_tensor("pads", &[0, 0, 1, 0, 0, 0, 1, 0]);
    let err = import(&model(nodes.clone(), lopsided)).unwrap_err();
    assert!(
        matches!(&err, ImportError::Unsupported { node, op_type, .. } if node == "pad" && op_type == "Pad"),
        "{err}"
    );
    let mut pooled = nodes;
    pooled[4].input[0] = "padded".into();
    let err = import(&model(pooled, initializers)).unwrap_err();
    assert!(err.to_string().contains("padded"), "{err}");
}

/// A model written by the Python `onnx` package (`onnx.helper`, opset 17, checked with
/// `onnx.checker.check_model(full_check=True)`): conv, batch norm, clip, a slice with
/// negative and open bounds, concat, max pool, global pool, reshape and matmul + bias.
const PYTHON_ONNX_MODEL: &str = concat!(
    "08083ad2060a510a01780a01771201631a04636f6e762204436f6e762a150a0c6b65726e656c5f73686170654003",
    "4003a001072a110a04706164734001400140014001a001072a100a077374726964657340014001a001070a2b0a01",
    "630a01730a01620a016d0a01761202626e1a02626e221242617463684e6f726d616c697a6174696f6e0a1c0a0262",
    "6e0a026c6f0a0268691201611a0572656c75362204436c69700a210a01610a0273740a02656e0a0261781202736c",
    "1a05736c6963652205536c6963650a290a01610a02736c12036361741a06636f6e6361742206436f6e6361742a0b",
    "0a04617869731801a001020a400a036361741201701a04706f6f6c22074d6178506f6f6c2a150a0c6b65726e656c",
    "5f736861706540024002a001072a100a077374726964657340024002a001070a1e0a01701201671a036761702211",
    "476c6f62616c41766572616765506f6f6c0a200a01670a0573686170651202666c1a07666c617474656e22075265",
    "73686170650a180a02666c0a02667712026d6d1a02666322064d61744d756c0a190a026d6d0a0266621201791a07",
    "66632e6269617322034164641201672a57080208010803080310014201774a480000003f0000003f0000003f0000",
    "003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f",
    "0000003f0000003f0000003f2a11080210014201734a080000003f0000003f2a11080210014201624a080000003f",
    "0000003f2a110802100142016d4a080000003f0000003f2a11080210014201764a080000003f0000003f2a0c1001",
    "42026c6f4a04000000002a0c1001420268694a040000c0402a1208011007420273744a08ffffffffffffffff2a12",
    "080110074202656e4a08ffffffffffffff7f2a1208011007420261784a0801000000000000002a1d080210074205",
    "73686170654a100100000000000000ffffffffffffffff2a3c080308041001420266774a300000003f0000003f00",
    "00003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f0000003f2a1a0804100142",
    "0266624a100000003f0000003f0000003f0000003f5a1c0a017812170a15080112110a0312014e0a0208010a0208",
    "040a02080462140a0179120f0a0d080112090a0312014e0a02080442040a001011",
);

#[test]
fn reads_and_rewrites_a_model_from_the_reference_implementation() {
    let bytes = hex::decode(PYTHON_ONNX_MODEL).unwrap();
    // Every field the reference wrote survives a decode and encode unchanged.
    assert_eq!(decode(&bytes).encode_to_vec(), bytes);
    let conv = Op::Conv {
        out_channels: 2,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups: 1,
        bias: false,
    };
    let pool = Op::MaxPool {
        kernel: 2,
        stride: 2,
        padding: 0,
        ceil_mode: false,
    };
    let linear = Op::Linear {
        out_features: 4,
        bias: true,
    };
    let expected = Graph::new(
        [1, 4, 4],
        vec![
            Node::new("x", Op::Input, vec![]),
            Node::new("conv", conv, vec![0]),
            Node::new("bn", Op::BatchNorm, vec![1]),
            Node::new("relu6", Op::Relu, vec![2]),
            Node::new("slice", Op::ChannelSlice { start: 1, end: 2 }, vec![3]),
            Node::new("concat", Op::Concat, vec![3, 4]),
            Node::new("pool", pool, vec![5]),
            Node::new("gap", Op::GlobalAvgPool, vec![6]),
            Node::new("flatten", Op::Flatten, vec![7]),
            Node::new("fc", linear, vec![8]),
        ],
    )
    .unwrap();
    assert_eq!(import(&bytes).unwrap(), expected);
}

#[test]
fn an_unsupported_operator_is_named_with_its_node() {
    let mut m = decode(&export_spec(&example()));
    let graph = m.graph.as_mut().unwrap();
    let relu = graph
        .node
        .iter_mut()
        .find(|n| n.op_type.as_deref() == Some("Relu"))
        .unwrap();
    relu.op_type = Some("LeakyRelu".into());
    let err = import(&m.encode_to_vec()).unwrap_err();
    assert_eq!(
        err,
        ImportError::Unsupported {
            node: "cell0.layer0.relu".into(),
            op_type: "LeakyRelu".into(),
            detail: String::new(),
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("cell0.layer0.relu") && text.contains("LeakyRelu"),
        "{text}"
    );
}

#[test]
fn weights_must_be_constants_and_attributes_must_fit_the_ir() {
    let (mut nodes, initializers) = foreign_model();
    // The conv weight computed from the input instead of stored.
    nodes[9].input[1] = "x".into();
    assert!(matches!(
        import(&model(nodes, initializers.clone())),
        Err(ImportError::MissingInitializer { node, tensor }) if node == "conv" && tensor == "x"
    ));
    let (mut nodes, _) = foreign_model();
    nodes[9] = with_ints(nodes[9].clone(), "dilations", &[2, 2]);
    assert!(matches!(
        import(&model(nodes, initializers.clone())),
        Err(ImportError::BadAttribute { attribute, .. }) if attribute == "dilations"
    ));
    let (mut nodes, _) = foreign_model();
    nodes[9].attribute[0].ints = vec![1, 0, 1, 0];
    assert!(matches!(
        import(&model(nodes, initializers.clone())),
        Err(ImportError::BadAttribute { attribute, .. }) if attribute == "pads"
    ));
    // A weight nothing defines.
    let (nodes, mut initializers) = foreign_model();
    initializers.remove(0);
    let err = import(&model(nodes, initializers)).unwrap_err();
    assert!(err.to_string().contains("\"w\""), "{err}");
}

#[test]
fn a_cycle_is_an_error() {
    let (mut nodes, initializers) = foreign_model();
    // gap now reads flat, which reads pooled, which gap writes.
    nodes[4].input[0] = "flat".into();
    assert!(matches!(
        import(&model(nodes, initializers)),
        Err(ImportError::Cycle { .. })
    ));
}

#[test]
fn huge_or_malformed_models_fail_cleanly() {
    assert!(matches!(import(b""), Err(ImportError::Invalid(_))));
    assert!(matches!(
        import(&[0xff; 16]),
        Err(ImportError::Malformed(_))
    ));
    // A 4096 x 4096 x 4096 input through a 9x9 convolution to 65536 channels.
    let mut m = decode(&export(&flash_core::ir::every_operator(), DEFAULT_SEED));
    let graph = m.graph.as_mut().unwrap();
    let huge = 1 << 12;
    let ty = graph.input[0].r#type.as_mut().unwrap();
    let Some(type_proto::Value::TensorType(t)) = ty.value.as_mut() else {
        unreachable!("exported inputs are tensors")
    };
    for d in &mut t.shape.as_mut().unwrap().dim[1..] {
        d.value = Some(tensor_shape_proto::dimension::Value::DimValue(huge));
    }
    graph.node.truncate(2);
    graph.node[1].output[0] = "output".into();
    graph.node[0].attribute[0].ints = vec![9, 9];
    graph.node[0].attribute[2].ints = vec![4; 4];
    graph.initializer[0].dims = vec![1 << 16, huge, 9, 9];
    assert!(matches!(
        import(&m.encode_to_vec()),
        Err(ImportError::TooLarge(_))
    ));
}

#[test]
fn every_truncation_of_a_model_is_handled() {
    let bytes = export(&flash_core::ir::every_operator(), DEFAULT_SEED);
    for len in 0..bytes.len() {
        if let Ok(g) = import(&bytes[..len]) {
            metrics::compute(&g);
        }
    }
}

fn seed_models() -> Vec<Vec<u8>> {
    let (nodes, initializers) = foreign_model();
    vec![
        export(&flash_core::ir::every_operator(), DEFAULT_SEED),
        export_spec(&Space::default_space().spec(vec![CellSpec::dense(3, 4, 5)])),
        model(nodes, initializers),
        hex::decode(PYTHON_ONNX_MODEL).unwrap(),
        // Shape subgraphs, channel shuffles and splits; squeeze-and-excitation gates.
        include_bytes!("../fixtures/zoo/shufflenet_v2_x1_0.onnx").to_vec(),
        include_bytes!("../fixtures/zoo/mobilenet_v3_small.onnx").to_vec(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_bytes_never_panic(
        which in 0usize..6,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = seed_models().swap_remove(which);
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes[i] ^= 1 << (byte % 8),
                2 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let len = bytes.len();
        bytes.truncate(len - cut.index(len / 8 + 1).min(len));
        if let Ok(g) = import(&bytes) {
            metrics::compute(&g);
        }
    }
}
