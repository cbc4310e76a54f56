"""Exports torchvision's classification CNNs to ONNX graphs without their weights, the fixtures
of the importer's zoo test (core/tests/all/zoo.rs), and writes their reference figures.

    python scripts/export_zoo.py core/tests/fixtures/zoo

Needs torch, torchvision and onnx (any recent versions; the committed fixtures say which made
them). Each model is built with random weights (no download), put in eval mode and exported by
torch.onnx's TorchScript exporter at opset 17 for a 1x3x224x224 input. The weights are then moved
to external data and the data file is deleted: the .onnx file keeps every initializer's name,
type and dims, which is all the importer reads, and stays small enough to commit.

`reference.json` holds, per model and computed here from the exported graph alone:
- `params`: elements of the trainable initializers (float tensors that are a Conv, Gemm or
  MatMul weight or bias, a BatchNormalization scale or shift, or the constant operand of an Add
  that biases a MatMul), counted per layer that reads them (see `trainable_params`);
- `macs`: an independent multiply-accumulate count, taken from the PyTorch modules during one
  forward pass (hooks, not the ONNX graph): per Conv2d, output elements x input channels per
  group x kernel area; per Linear, output elements x input features;
- `torchvision_gflops`: torchvision's own published figure for the architecture, for context.
"""

import json
import os
import sys

import onnx
import torch
import torchvision
from onnx import external_data_helper

MODELS = [
    "resnet18",
    "resnet50",
    "wide_resnet50_2",
    "resnext50_32x4d",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "densenet121",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
    "mnasnet1_0",
    "regnet_y_400mf",
    "regnet_x_400mf",
    "alexnet",
    "vgg11_bn",
    "googlenet",
]


def dims_of(value_info):
    return [d.dim_value for d in value_info.type.tensor_type.shape.dim]


def prod(values):
    out = 1
    for v in values:
        out *= v
    return out


def trainable_params(model):
    """Elements of the initializers each layer reads as its weight, bias, scale or shift. The
    exporter stores equal tensors once (BatchNorm's initial ones and zeros) and aliases them with
    Identity nodes, so aliases are followed and each layer's use is counted."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}

    def resolve(name):
        while name in alias:
            name = alias[name]
        return inits.get(name)

    uses = []
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul", "BatchNormalization"):
            uses.extend(node.input[1:3])
    matmul_outputs = {n.output[0] for n in graph.node if n.op_type == "MatMul"}
    for node in graph.node:
        if node.op_type == "Add" and any(i in matmul_outputs for i in node.input):
            uses.extend(i for i in node.input if resolve(i) is not None)
    tensors = [resolve(name) for name in uses if name]
    return sum(
        prod(t.dims) for t in tensors if t is not None and t.data_type == onnx.TensorProto.FLOAT
    )


def forward_macs(net, x):
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            macs += output.numel() * (module.in_channels // module.groups) * kh * kw
        else:
            macs += output.numel() * module.in_features

    hooks = [
        m.register_forward_hook(count)
        for m in net.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return macs


def strip_weights(model, location):
    """Moves every float initializer of 16 or more elements to external data that is not kept:
    the tensors keep their names, types and dims; scalars and integer tensors (shapes, bounds)
    stay in the graph, where the importer reads their values."""
    offset = 0
    for t in model.graph.initializer:
        if t.data_type != onnx.TensorProto.FLOAT or prod(t.dims) < 16:
            continue
        length = 4 * prod(t.dims)
        external_data_helper.set_external_data(t, location, offset, length)
        t.ClearField("raw_data")
        t.ClearField("float_data")
        offset += length


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    figures = {
        "made_with": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "onnx": onnx.__version__,
            "opset": 17,
            "input": [1, 3, 224, 224],
        },
        "models": {},
    }
    for name in MODELS:
        torch.manual_seed(0)
        net = torchvision.models.get_model(name, weights=None)
        net.eval()
        path = os.path.join(out_dir, f"{name}.onnx")
        x = torch.randn(1, 3, 224, 224)
        macs = forward_macs(net, x)
        with torch.no_grad():
            torch.onnx.export(
                net,
                x,
                path,
                opset_version=17,
                input_names=["input"],
                output_names=["logits"],
                dynamo=False,
            )
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        params = trainable_params(model)
        strip_weights(model, f"{name}.weights")
        onnx.save_model(model, path)
        weights = torchvision.models.get_model_weights(name)
        published = list(weights)[0].meta.get("_ops")
        figures["models"][name] = {
            "params": params,
            "macs": macs,
            "torchvision_params": sum(p.numel() for p in net.parameters()),
            "torchvision_gflops": published,
        }
        print(f"{name}: params {params:,}, MACs {macs:,} (torchvision: {published} GFLOPS), "
              f"{os.path.getsize(path):,} bytes", flush=True)
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
