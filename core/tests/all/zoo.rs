//! torchvision's classification CNNs, as `torch.onnx` exports them at opset 17 with the weights
//! left out (the fixtures and `reference.json` are made by `scripts/export_zoo.py`, which says
//! how): each imports from its graph alone, with parameters exactly the file's trainable
//! initializers and MACs within 1% of an independent count taken from the PyTorch modules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use flash_core::ir::{Graph, Shape};
use flash_core::metrics;
use flash_core::onnx::proto::ModelProto;
use flash_core::onnx::{ImportError, import};
use prost::Message;
use serde::Deserialize;

/// The networks every release must import.
const REQUIRED: [&str; 12] = [
    "resnet18",
    "resnet50",
    "wide_resnet50_2",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "densenet121",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
    "mnasnet1_0",
    "regnet_y_400mf",
];

#[derive(Deserialize)]
struct Reference {
    models: BTreeMap<String, Figures>,
}

#[derive(Deserialize)]
struct Figures {
    params: u64,
    macs: u64,
    /// PyTorch's own count, BatchNorm weights and biases included (the export folds them).
    torchvision_params: u64,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo")
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(dir().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_zoo_imports_with_exact_params_and_macs_within_one_percent() {
    let reference = reference();
    for name in REQUIRED {
        assert!(reference.models.contains_key(name), "{name} has no fixture");
    }
    for (name, figures) in &reference.models {
        let graph: Graph = import(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(graph.input_shape(), [3, 224, 224], "{name}");
        assert_eq!(graph.output_shape(), Shape::Flat(1000), "{name}");
        let m = metrics::compute(&graph);
        assert_eq!(m.params, figures.params, "{name}: parameters");
        let error = (m.macs as f64 - figures.macs as f64).abs() / figures.macs as f64;
        assert!(
            error <= 0.01,
            "{name}: {} MACs against {} counted in PyTorch",
            m.macs,
            figures.macs
        );
        assert!(
            m.nn_degree > 0.0 && m.nn_degree.is_finite(),
            "{name}: {m:?}"
        );
        assert!(m.nn_mass >= 0.0 && m.nn_mass.is_finite(), "{name}: {m:?}");
        assert!(m.depth > 0 && m.kernels > 0, "{name}: {m:?}");
    }
}

#[test]
fn the_imports_keep_the_structure_of_their_blocks() {
    let m = |name: &str| metrics::compute(&import(&bytes(name)).unwrap());
    // ResNet-18: 8 basic blocks joined by adds; 20 convolutions and the classifier.
    let resnet = m("resnet18");
    assert_eq!(
        (resnet.layers_by_kind.add, resnet.parametrised_layers),
        (8, 21)
    );
    // MobileNetV3-Small: 9 squeeze-and-excitation gates, depthwise convolutions throughout.
    let mobile = m("mobilenet_v3_small");
    assert_eq!(mobile.layers_by_kind.mul, 9);
    assert_eq!(mobile.layers_by_kind.depthwise, 11);
    // EfficientNet-B0: SiLU everywhere (49 activations) plus 16 gates.
    assert_eq!(m("efficientnet_b0").layers_by_kind.mul, 65);
    // ShuffleNetV2: a channel split after every shuffle feeds a convolution with half of both
    // branches, so its units carry skip links.
    assert!(m("shufflenet_v2_x1_0").nn_mass > 0.0);
}

fn decoded(name: &str) -> ModelProto {
    ModelProto::decode(&bytes(name)[..]).unwrap()
}

#[test]
fn what_cannot_be_imported_names_its_node_and_operator() {
    let mut m = decoded("mobilenet_v3_small");
    let graph = m.graph.as_mut().unwrap();
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.op_type.as_deref() == Some("HardSwish"))
        .unwrap();
    node.op_type = Some("Mish".into());
    let label = node.name.clone().unwrap();
    let err = import(&m.encode_to_vec()).unwrap_err();
    assert!(
        matches!(&err, ImportError::Unsupported { node, op_type, .. } if *node == label && op_type == "Mish"),
        "{err}"
    );

    // A transpose that is not a channel shuffle's.
    let mut m = decoded("shufflenet_v2_x1_0");
    let graph = m.graph.as_mut().unwrap();
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.op_type.as_deref() == Some("Transpose"))
        .unwrap();
    node.attribute[0].ints = vec![0, 1, 2, 4, 3];
    let label = node.name.clone().unwrap();
    let err = import(&m.encode_to_vec()).unwrap_err();
    assert!(
        matches!(&err, ImportError::Unsupported { node, op_type, .. } if *node == label && op_type == "Transpose"),
        "{err}"
    );
}

#[test]
fn a_shape_that_cannot_be_inferred_names_its_node_and_tensor() {
    // The classifier's weight made to disagree with the features it reads.
    let mut m = decoded("resnet18");
    let graph = m.graph.as_mut().unwrap();
    let gemm = graph
        .node
        .iter()
        .find(|n| n.op_type.as_deref() == Some("Gemm"))
        .unwrap()
        .clone();
    let weight = graph
        .initializer
        .iter_mut()
        .find(|t| t.name.as_deref() == Some(gemm.input[1].as_str()))
        .unwrap();
    weight.dims = vec![1000, 500];
    let err = import(&m.encode_to_vec()).unwrap_err().to_string();
    assert!(
        err.contains(gemm.name.as_deref().unwrap()) && err.contains("512"),
        "{err}"
    );

    // A residual add whose operands no longer agree: a block's last convolution made wider.
    let mut m = decoded("resnet18");
    let graph = m.graph.as_mut().unwrap();
    let add = graph
        .node
        .iter()
        .find(|n| n.op_type.as_deref() == Some("Add"))
        .unwrap()
        .clone();
    let conv = graph
        .node
        .iter()
        .find(|n| {
            n.output.iter().any(|o| add.input.contains(o)) && n.op_type.as_deref() == Some("Conv")
        })
        .unwrap()
        .clone();
    for t in graph.initializer.iter_mut() {
        if t.name.as_deref() == Some(conv.input[1].as_str()) {
            t.dims[0] += 1;
        }
        if conv
            .input
            .get(2)
            .is_some_and(|b| t.name.as_deref() == Some(b.as_str()))
        {
            t.dims[0] += 1;
        }
    }
    let err = import(&m.encode_to_vec()).unwrap_err();
    assert!(
        matches!(&err, ImportError::Shape { node, tensor, .. }
            if Some(node.as_str()) == add.name.as_deref() && *tensor == add.output[0]),
        "{err}"
    );
    assert!(
        err.to_string().contains("add inputs must share one shape"),
        "{err}"
    );
}

#[test]
fn residual_blocks_add_the_reference_nn_mass_per_block_kind() {
    let mass = |name: &str| metrics::compute(&import(&bytes(name)).unwrap()).nn_mass;
    // ResNet-18: basic blocks, in + out each: (64->64) x2, 64->128, 128->128, 128->256,
    // 256->256, 256->512, 512->512. No concatenations, so nothing else.
    let basic = [
        (64, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 512),
    ];
    let expected: f64 = basic.iter().map(|&(i, o)| f64::from(i + o)).sum::<f64>() + 1024.0;
    assert!(
        (mass("resnet18") - expected).abs() < 1e-9,
        "{}",
        mass("resnet18")
    );
    // ResNet-50: bottlenecks, (in + 2 mid) in / (2 in + mid), per stage (blocks, first block's
    // input, later blocks' input, mid).
    let bottleneck = |i: f64, mid: f64| (i + 2.0 * mid) * i / (2.0 * i + mid);
    let expected: f64 = [
        (3, 64.0, 256.0, 64.0),
        (4, 256.0, 512.0, 128.0),
        (6, 512.0, 1024.0, 256.0),
        (3, 1024.0, 2048.0, 512.0),
    ]
    .iter()
    .map(|&(blocks, first, rest, mid)| {
        bottleneck(first, mid) + f64::from(blocks - 1) * bottleneck(rest, mid)
    })
    .sum();
    assert!(
        (mass("resnet50") - expected).abs() < 1e-6,
        "{}",
        mass("resnet50")
    );
    // Inverted residuals are bottlenecks too; their gates' convolutions are not on the branch.
    for name in [
        "mobilenet_v2",
        "mobilenet_v3_large",
        "efficientnet_b0",
        "regnet_y_400mf",
    ] {
        assert!(mass(name) > 0.0, "{name}");
    }
}

/// ResNet-18 is a point of `flash-resnet-imagenet` (basic blocks, the stride on the first
/// convolution as torchvision has it): its parameters (BatchNorm unfolded) and MACs are
/// PyTorch's. ResNet-50 and Wide-ResNet-50-2 differ only in where the stride sits (torchvision's
/// v1.5 puts it on the 3x3), which moves MACs but no parameter.
#[test]
fn torchvision_resnets_are_points_of_the_imagenet_resnet_space() {
    use flash_core::space::{Block, CellSpec, Space};
    let reference = reference();
    let space = Space::by_name("flash-resnet-imagenet").unwrap();
    let resnet = |block: Block, multiplier: u64, widths: [u64; 4], depths: [u64; 4]| {
        let cells = widths
            .iter()
            .zip(depths)
            .map(|(&w, d)| CellSpec::residual(w, d, block, multiplier))
            .collect();
        let spec = space.spec(cells);
        assert!(spec.in_space(), "{spec:?}");
        metrics::compute(&spec.to_graph())
    };
    let r18 = resnet(Block::Basic, 1, [64, 128, 256, 512], [2; 4]);
    let torch = &reference.models["resnet18"];
    assert_eq!(
        (r18.params, r18.macs),
        (torch.torchvision_params, torch.macs)
    );
    let bottleneck = [256, 512, 1024, 2048];
    for (name, multiplier) in [("resnet50", 1), ("wide_resnet50_2", 2)] {
        let m = resnet(Block::Bottleneck, multiplier, bottleneck, [3, 4, 6, 3]);
        let torch = &reference.models[name];
        assert_eq!(m.params, torch.torchvision_params, "{name}");
        assert!(m.macs < torch.macs, "{name}: the stride comes first here");
    }
}
