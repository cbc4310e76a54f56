#!/usr/bin/env bash
# The test command (README, .ci/run): formatting, lints, every test on SQLite and Postgres, and
# the ONNX checks with the reference Python packages. Sets up what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }

step "Postgres on 127.0.0.1:5432"
scripts/ensure-postgres.sh
step "ONNX Runtime library"
export ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
echo "$ORT_DYLIB_PATH"
step "Chromium for the dashboard's browser test"
scripts/ensure-chromium.sh
step "Python checks environment"
python=$(scripts/python-env.sh)

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test"
cargo test --workspace --locked
step "load: 200 agents and 20 notebooks for 10 s on Postgres and SQLite, then the books"
cargo bench -q --locked -p flash-server --bench load --profile dev -- --seconds 10
step "schemathesis: the OpenAPI document against a live server (no 5xx, responses conform)"
scripts/schemathesis.sh 5 60
step "exported ONNX passes onnx.checker (full_check) and runs in onnxruntime"
rm -rf target/onnx-samples
cargo run -q --locked -p flash-core --example export_samples -- target/onnx-samples 4
"$python" scripts/check_onnx.py target/onnx-samples/*.onnx
step "the agent on aarch64: cross-built, measuring a model under qemu-user with the aarch64 ONNX Runtime"
scripts/test-aarch64.sh
step "docker-compose.yml is valid (images are not built here: no Docker engine)"
scripts/check-compose.sh

step "all checks passed"
