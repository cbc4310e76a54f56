#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library that flash-agent loads at run time (ort load-dynamic)
# from the PyPI wheel, so the version matches the `api-31` feature the agent is built with.
#
#   scripts/fetch-onnxruntime.sh [--arch x86_64|aarch64] [--gpu]
#
# Installs into .ort/<arch>/ (or .ort/<arch>-gpu/ with --gpu) under the repository root, skips
# the download when the library is already there, and prints the library's path.
set -euo pipefail

ORT_VERSION=1.31.1
arch=$(uname -m)
gpu=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) arch=${2:?--arch needs x86_64 or aarch64}; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --gpu) gpu=1; shift ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

case "$arch" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) echo "unsupported architecture: $arch (x86_64 or aarch64)" >&2; exit 2 ;;
esac

package=onnxruntime
dir_name=$arch
if [[ $gpu == 1 ]]; then
  [[ $arch == x86_64 ]] || { echo "onnxruntime-gpu wheels are x86_64 only" >&2; exit 2; }
  package=onnxruntime-gpu
  dir_name=$arch-gpu
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/.ort/$dir_name"
lib="libonnxruntime.so.$ORT_VERSION"

if [[ -f "$dest/$lib" ]]; then
  echo "$dest/$lib"
  exit 0
fi

python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Wheels for another architecture need an explicit platform; pip refuses those without
# --only-binary, which we want anyway (the library is the point).
platform_args=()
if [[ $arch != "$(uname -m)" ]]; then
  platform_args=(--platform "manylinux_2_28_$arch" --platform "manylinux_2_27_$arch"
    --platform "manylinux2014_$arch" --python-version 3.11 --implementation cp)
fi

"$python" -m pip download --quiet --no-deps --only-binary=:all: "${platform_args[@]}" \
  --dest "$work" "$package==$ORT_VERSION" >&2

wheel=$(ls "$work"/*.whl)
"$python" - "$wheel" "$work/x" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith("onnxruntime/capi/") and ".so" in n]
    z.extractall(out, names)
PY

mkdir -p "$dest"
# The GPU wheel ships its CUDA provider as separate libraries that must sit beside the core one.
for f in "$work"/x/onnxruntime/capi/libonnxruntime*.so*; do
  cp "$f" "$dest/"
done
[[ -f "$dest/$lib" ]] || { echo "the wheel did not contain $lib" >&2; exit 1; }
echo "$dest/$lib"
