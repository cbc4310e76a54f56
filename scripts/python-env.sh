#!/usr/bin/env bash
# Creates .venv with the Python packages the checks use (onnx, onnxruntime, requests; nbclient,
# nbformat and ipykernel to execute the tour notebook), once.
# Prints the venv's python.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv
packages=(onnx "onnxruntime==1.31.1" requests nbclient nbformat ipykernel)
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c 'import onnx, onnxruntime, requests, nbclient, nbformat, ipykernel' 2>/dev/null; then
  "$venv/bin/pip" install -q "${packages[@]}" >&2
fi
echo "$venv/bin/python"
