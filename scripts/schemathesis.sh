#!/usr/bin/env bash
# Runs schemathesis against openapi/openapi.json on a live `flash serve` with a fresh embedded
# store and an admin token: no 5xx, and every response conforms to the document. Bounded by
# examples per operation and a time budget. Usage: scripts/schemathesis.sh [MAX_EXAMPLES] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
max_examples=${1:-10}
max_time=${2:-150}

python=$(scripts/python-env.sh)
venv=$(dirname "$python")
if [[ ! -x $venv/schemathesis ]]; then
  "$venv/pip" install -q "schemathesis==4.32.5" >&2
fi
cargo build -q --locked -p flash-server --bin flash

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

token=$(target/debug/flash token create --scope admin --name schemathesis --data-dir "$work/data")
target/debug/flash serve --listen 127.0.0.1:0 --log-format json --data-dir "$work/data" \
  2>"$work/serve.log" >/dev/null &
server_pid=$!
address=
for _ in $(seq 1 600); do
  address=$(grep -o '"address":"[^"]*"' "$work/serve.log" | head -1 | cut -d'"' -f4 || true)
  [[ -n $address ]] && break
  sleep 0.1
done
[[ -n $address ]] || { cat "$work/serve.log" >&2; echo "flash serve did not start" >&2; exit 1; }

"$venv/schemathesis" run openapi/openapi.json \
  --url "http://$address" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --seed 1 \
  --generation-allow-x00 false \
  --request-timeout 30 \
  --warnings off
