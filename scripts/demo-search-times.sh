#!/usr/bin/env bash
# Times the demo's search inside the service: runs `flash demo --exit` RUNS times (a fresh
# server process each run, its store in DIR reused, so only the first run measures the sample),
# and prints each run's search time as the service reports it (`elapsed_ms`), then the sorted
# times and their median. With --cpus LIST (comma-separated), the runs are pinned (taskset) to
# the CPUs of LIST in turn, and the times are summed up per CPU too, so that a CPU slower than
# the others shows as itself rather than as noise.
#
#   scripts/demo-search-times.sh [--runs N] [--data-dir DIR] [--cpus 0,1]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=20
dir=target/demo-search-times
cpus=""
usage="usage: scripts/demo-search-times.sh [--runs N] [--data-dir DIR] [--cpus LIST]"
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
  case $1 in
    --runs) runs=$2 ;;
    --data-dir) dir=$2 ;;
    --cpus) cpus=$2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift 2
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive integer" >&2; exit 2; }
IFS=, read -r -a cpu_list <<< "$cpus"
if [[ ${#cpu_list[@]} -gt 0 ]]; then
  command -v taskset > /dev/null || { echo "--cpus needs taskset (util-linux)" >&2; exit 2; }
fi

ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
export ORT_DYLIB_PATH
cargo build --release --locked -q -p flash-server -p flash-agent

# The sorted times on standard input, and their median.
summary() {
  local sorted
  sorted=$(sort -g)
  echo "$(tr '\n' ' ' <<< "$sorted")(median $(awk '{ v[NR] = $1 } END {
    print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }' <<< "$sorted") ms)"
}

times=()
cpu_of=()
for ((i = 0; i < runs; i++)); do
  pin=()
  label=""
  cpu=any
  if [[ ${#cpu_list[@]} -gt 0 ]]; then
    cpu=${cpu_list[i % ${#cpu_list[@]}]}
    pin=(taskset -c "$cpu")
    label=" (cpu $cpu)"
  fi
  log=$("${pin[@]}" target/release/flash demo --data-dir "$dir" --listen 127.0.0.1:0 \
    --time-budget-s 0.3 --exit 2>&1) || { echo "$log" >&2; exit 1; }
  ms=$(grep -oE 'configurations in [0-9.]+ ms' <<< "$log" | grep -oE '[0-9.]+ ms' | cut -d' ' -f1)
  [[ -n $ms ]] || { echo "$log" >&2; echo "no search time in the demo's output" >&2; exit 1; }
  echo "run $((i + 1)) of $runs$label: search $ms ms" >&2
  times+=("$ms")
  cpu_of+=("$cpu")
done
echo "search times over $runs runs, sorted (ms): $(printf '%s\n' "${times[@]}" | summary)"
for cpu in "${cpu_list[@]}"; do
  mine=$(for i in "${!times[@]}"; do
    if [[ ${cpu_of[i]} == "$cpu" ]]; then echo "${times[i]}"; fi
  done)
  if [[ -n $mine ]]; then echo "  on cpu $cpu: $(summary <<< "$mine")"; fi
done
