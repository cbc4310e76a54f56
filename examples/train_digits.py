#!/usr/bin/env python3
"""Train DenseNet-type cell networks on scikit-learn's digits and record their test accuracy.

Each spec (one JSON object a line, as `flash space sample` prints them) is built in PyTorch
exactly as core/src/space.rs defines the cell network, checked against the service (parameter
count from `flash arch inspect`, and outputs equal to the service's ONNX export on the same
weights), trained with one fixed protocol and scored on a fixed held-out split.

    python examples/train_digits.py --specs examples/data/digits-specs.jsonl \
        --out examples/data/digits-accuracy.json [--epochs N] [--limit K]

Needs torch, scikit-learn and numpy; the ONNX check also needs onnx and onnxruntime
(skipped with --no-onnx-check). The flash binary is taken from --flash (default
target/debug/flash).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import torch
    from torch import nn
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
except ImportError as e:
    sys.exit(
        f"train_digits.py: missing Python package ({e.name}); "
        "install with: pip install torch scikit-learn numpy"
    )

# The fixed protocol; every value is also written into the output file.
SPLIT_SEED = 0
TEST_SIZE = 450
BATCH_SIZE = 64
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
DEFAULT_EPOCHS = 15
DEFAULT_SEED = 0


def skips(cell, j):
    """Skip channels received by layer j of a cell: t_1 = 0, t_j = min(tc, (j-1) w)."""
    return 0 if j < 2 else min(cell["tc"], (j - 1) * cell["width"])


class Layer(nn.Module):
    """Conv 3x3 (pad 1, no bias), BatchNorm, ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Cell(nn.Module):
    def __init__(self, cin, cell, stride):
        super().__init__()
        self.width, self.depth = cell["width"], cell["depth"]
        # Which (layer, channel count) pairs feed each layer's concat, most recent layer first.
        self.sources = []
        for j in range(self.depth):
            left, src = skips(cell, j), []
            for s in range(j - 2, -1, -1):
                if left == 0:
                    break
                take = min(left, self.width)
                src.append((s, take))
                left -= take
            self.sources.append(src)
            c = cin if j == 0 else self.width + skips(cell, j)
            # Named layer{j} so parameter names match the service's ONNX initialisers.
            self.add_module(f"layer{j}", Layer(c, self.width, stride if j == 0 else 1))

    def forward(self, x):
        outs = []
        for j in range(self.depth):
            if j > 0:
                parts = [outs[-1]] + [outs[s][:, :take] for s, take in self.sources[j]]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            x = getattr(self, f"layer{j}")(x)
            outs.append(x)
        return x


class Head(nn.Module):
    def __init__(self, cin, classes):
        super().__init__()
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        return self.linear(torch.flatten(x.mean(dim=(2, 3)), 1))


class CellNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.num_cells = len(spec["cells"])
        cin = spec["input_shape"][0]
        for c, cell in enumerate(spec["cells"]):
            self.add_module(f"cell{c}", Cell(cin, cell, 1 if c == 0 else 2))
            cin = cell["width"]
        self.head = Head(cin, spec["num_classes"])

    def forward(self, x):
        for c in range(self.num_cells):
            x = getattr(self, f"cell{c}")(x)
        return self.head(x)


def flash(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True)
    return out.stdout


def check_against_onnx(binary, spec_path, model, x):
    """Loads the service's exported weights into the PyTorch model and compares outputs.

    BatchNorm statistics and affine terms are randomised first so that they, too, are checked.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.onnx")
        flash(binary, "arch", "export", spec_path, "-o", path)
        proto = onnx.load(path)
    rng = np.random.default_rng(0)
    rename = {"bn.scale": "bn.weight", "bn.shift": "bn.bias"}
    state = {}
    for init in proto.graph.initializer:
        a = numpy_helper.to_array(init).copy()
        if ".bn." in init.name:
            a = rng.uniform(0.5, 1.5, a.shape).astype(np.float32)
            if init.name.endswith(("shift", "running_mean")):
                a -= 1.0
            init.CopyFrom(numpy_helper.from_array(a, init.name))
        name = init.name
        for k, v in rename.items():
            name = name.replace(k, v)
        state[name] = torch.from_numpy(a)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(state) == set(own), f"parameter names differ: {set(state) ^ set(own)}"
    for k, v in state.items():
        assert tuple(v.shape) == tuple(own[k].shape), f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}"
    model.load_state_dict(state, strict=False)
    model.eval()
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        for i in range(x.shape[0]):  # the export has batch size 1
            ref = sess.run(None, {"input": x[i : i + 1].numpy()})[0]
            got = model(x[i : i + 1]).numpy()
            err = np.abs(ref - got).max()
            assert err < 1e-3 * max(1.0, np.abs(ref).max()), f"output differs from ONNX by {err}"


def load_data():
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # pixel values are 0..16
    xtr, xte, ytr, yte = train_test_split(
        x, digits.target, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=digits.target
    )
    return [torch.from_numpy(a) for a in (xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))]


def train(model, data, epochs, seed):
    xtr, ytr, xte, yte = data
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    steps = epochs * ((len(xtr) + BATCH_SIZE - 1) // BATCH_SIZE)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            opt.zero_grad()
            loss_fn(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        correct = sum((model(xte[i : i + 256]).argmax(1) == yte[i : i + 256]).sum().item()
                      for i in range(0, len(xte), 256))
    return correct / len(xte)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--specs", required=True, help="file of spec JSON objects, one a line")
    ap.add_argument("--out", required=True, help="where to write the results JSON")
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of every architecture")
    ap.add_argument("--limit", type=int, help="train only the first K specs")
    ap.add_argument("--flash", default="target/debug/flash", help="path of the flash binary")
    ap.add_argument("--no-onnx-check", action="store_true")
    args = ap.parse_args()
    if not os.access(args.flash, os.X_OK):
        sys.exit(f"train_digits.py: no flash binary at {args.flash} (cargo build -p flash-server)")

    # One thread: results and timings then do not depend on the machine's core count.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    with open(args.specs) as f:
        specs = [json.loads(line) for line in f if line.strip()]
    specs = specs[: args.limit] if args.limit else specs
    data = load_data()

    records, start = [], time.time()
    for n, spec in enumerate(specs):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(spec, f)
        try:
            info = json.loads(flash(args.flash, "arch", "inspect", f.name))
            model = CellNet(spec)
            params = sum(p.numel() for p in model.parameters())
            assert params == info["params"], f"params {params} != service's {info['params']}"
            if not args.no_onnx_check:
                check_against_onnx(args.flash, f.name, CellNet(spec), data[2][:8])
        finally:
            os.unlink(f.name)
        torch.manual_seed(args.seed)  # the initial weights
        model = CellNet(spec)
        t0 = time.time()
        acc = train(model, data, args.epochs, args.seed)
        secs = time.time() - t0
        records.append({
            "spec": spec, "architecture_id": info["id"], "params": params, "accuracy": acc,
            "epochs": args.epochs, "seed": args.seed, "train_seconds": round(secs, 2),
        })
        print(f"[{n + 1}/{len(specs)}] {info['id']} params={params} acc={acc:.4f} "
              f"train={secs:.1f}s elapsed={time.time() - start:.0f}s", flush=True)

    xtr, _, xte, _ = data
    result = {
        "dataset": "digits",
        "protocol": {
            "data": "sklearn.datasets.load_digits, 1797 images 1x8x8, pixels divided by 16",
            "split": {"method": "sklearn train_test_split, stratified", "random_state": SPLIT_SEED,
                      "train": len(xtr), "test": len(xte)},
            "epochs": args.epochs,
            "optimiser": {"name": "SGD", "lr": LR, "momentum": MOMENTUM,
                          "weight_decay": WEIGHT_DECAY,
                          "schedule": "OneCycleLR (torch defaults), max_lr = lr, stepped per batch"},
            "batch_size": BATCH_SIZE,
            "loss": "cross-entropy",
            "seeds": "torch.manual_seed(seed) before building each network; batch order from "
                     "a torch.Generator seeded with the same seed",
            "accuracy": "test accuracy after the last epoch, BatchNorm in eval mode",
            "device": "CPU, torch.set_num_threads(1), deterministic algorithms",
            "torch_version": torch.__version__,
            "total_train_seconds": round(sum(r["train_seconds"] for r in records), 1),
        },
        "records": records,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {len(records)} records to {args.out}")


if __name__ == "__main__":
    main()
