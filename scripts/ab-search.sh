#!/usr/bin/env bash
# Times the working tree's search against a committed revision's in one process, alternated
# search by search (see scripts/ab-search/src/main.rs): the way to tell a change of a few
# percent on this machine, whose speed moves more than that between whole runs.
#
#   scripts/ab-search.sh REV [--runs N] [--only NAME] [--confidence P]
#
# Writes the benchmark's problems with the working tree's bench_search (`--write-problem`:
# the flash-densenet problems without a confidence; `--confidence 0.95` times them with
# one), then builds both revisions of flash-core into one binary under target/ab-search/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: scripts/ab-search.sh REV [--runs N] [--only NAME] [--confidence P]"
[[ $# -ge 1 && $1 != -* ]] || { echo "$usage" >&2; exit 2; }
rev=$(git -C "$root" rev-parse --verify --quiet "$1^{commit}") \
  || { echo "no commit named $1 in $root" >&2; exit 2; }
shift
dir="$root/target/ab-search"
mkdir -p "$dir/src"
sed -e "s|@REPO@|$root|g" -e "s|@REV@|$rev|g" "$root/scripts/ab-search/Cargo.toml.in" > "$dir/Cargo.toml"
cp "$root/scripts/ab-search/src/main.rs" "$dir/src/main.rs"
problems="$dir/problems.json"
echo "writing the benchmark's problems (bench_search --runs 1)" >&2
cargo run --release --quiet --manifest-path "$root/Cargo.toml" -p flash-core --example bench_search -- \
  --runs 1 --write-problem "$problems" > /dev/null 2> "$dir/bench.log" \
  || { cat "$dir/bench.log" >&2; exit 1; }
echo "building the working tree against $rev" >&2
cargo build --release --quiet --manifest-path "$dir/Cargo.toml"
"$dir/target/release/ab-search" "$problems" "$@"
