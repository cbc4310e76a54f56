#!/usr/bin/env bash
# The main job: builds the service and the agent, fetches ONNX Runtime, and runs `flash demo`
# (service on the embedded SQLite store in ./flash-data, a local agent on this CPU, the FLASH
# loop end to end), then keeps serving the dashboard until Ctrl-C. Extra arguments go to
# `flash demo` (see `flash demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
export ORT_DYLIB_PATH
cargo build --release --locked -p flash-server -p flash-agent
exec target/release/flash demo "$@"
