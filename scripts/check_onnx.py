#!/usr/bin/env python3
"""Checks exported ONNX models with the reference tools.

    scripts/check_onnx.py MODEL.onnx... [--classes N]

For each file: onnx.checker.check_model(full_check=True), then one ONNX Runtime (CPU) inference
on a random input of the graph input's shape; the output must be finite and shaped
[1, num_classes] (num_classes from --classes, else from the graph's declared output). Prints one
line per file and exits non-zero if any file fails. Needs `pip install onnx onnxruntime`.
"""

import argparse
import sys

import numpy as np
import onnx
import onnxruntime as ort


def check(path, classes):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    declared = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    expected = [1, classes] if classes else declared
    if len(expected) != 2 or expected[0] != 1:
        raise ValueError(f"output shape {declared} is not [1, num_classes]")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    (y,) = session.run(None, {inp.name: x})
    if list(y.shape) != expected:
        raise ValueError(f"output shape {list(y.shape)}, expected {expected}")
    if not np.all(np.isfinite(y)):
        raise ValueError("output is not finite")
    return f"input {shape} -> output {list(y.shape)}, opset {model.opset_import[0].version}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--classes", type=int, default=None)
    args = parser.parse_args()
    failed = 0
    for path in args.models:
        try:
            print(f"ok   {path}: {check(path, args.classes)}")
        except Exception as e:  # one line per file, whatever went wrong
            failed += 1
            print(f"FAIL {path}: {type(e).__name__}: {e}".replace("\n", " "))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
