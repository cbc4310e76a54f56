#!/usr/bin/env bash
# Cross-compiles flash-agent for aarch64-unknown-linux-gnu (a Raspberry Pi 3B with a 64-bit OS)
# and measures one small model with it under qemu-user, against the ONNX Runtime library of
# the aarch64 wheel. Exits non-zero unless the agent prints a valid measurement.
#
#   scripts/test-aarch64.sh
#
# Needs: rustup, Debian's gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (installed
# with apt-get when missing and running as root), pip for the wheel.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=aarch64-unknown-linux-gnu

rustup target list --installed | grep -qx "$target" || rustup target add "$target"

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
[[ -d /usr/aarch64-linux-gnu/lib ]] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# The linker, and the C compiler for ring (rustls) and other build scripts.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
cargo build --profile cross-check --locked -p flash-agent --target "$target"
agent="target/$target/cross-check/flash-agent"
[[ $(od -An -tx1 -j18 -N2 "$agent" | tr -d " ") == b700 ]] || { echo "$agent is not an aarch64 ELF" >&2; exit 1; }

library=$(scripts/fetch-onnxruntime.sh --arch aarch64)

# qemu-user looks up absolute paths under QEMU_LD_PREFIX first. The prefix holds the cross
# libc and a Cortex-A53 /proc/cpuinfo: ONNX Runtime's CPU detection parses /proc/cpuinfo, which
# qemu-user 7.2 passes through from the x86 host, and crashes on x86 content.
qroot=$(mktemp -d)
out="$qroot/result.json"
trap 'rm -rf "$qroot"' EXIT
ln -s /usr/aarch64-linux-gnu/lib "$qroot/lib"
mkdir "$qroot/proc"
cpus=$(ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l)
for ((i = 0; i < cpus; i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
  printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd03\n'
  printf 'CPU revision\t: 4\n\n'
done >"$qroot/proc/cpuinfo"

# The Pi profile with fewer runs: every run of the reference network is emulated, and the
# check is that a paired measurement comes out whole, not how tight it is.
sed -e 's/^min_runs = .*/min_runs = 5/' -e 's/^max_warmup_runs = .*/max_warmup_runs = 4/' \
  -e 's/^warmup_window = .*/warmup_window = 2/' profiles/raspberry-pi-3b.toml >"$qroot/pi.toml"
grep -q '^min_runs = 5$' "$qroot/pi.toml" || { echo "the Pi profile has no min_runs line" >&2; exit 1; }

# The Pi profile's INA219 is not there, so the energy is the power model's estimate.
QEMU_LD_PREFIX="$qroot" ORT_DYLIB_PATH="$library" FLASH_LOG=warn \
  qemu-aarch64 -cpu cortex-a53 "$agent" --profile "$qroot/pi.toml" --threads 1 --time-budget-s 5 \
  --measure agent/tests/fixtures/tiny.onnx >"$out"

python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l, e, env = r["latency"], r["energy"], r["environment"]
assert l["n"] >= 1 and 0 < l["p50_ms"] and l["p50_ci_low_ms"] <= l["p50_ms"] <= l["p50_ci_high_ms"], l
assert e["method"] == "estimated", e
assert env["ort_version"] == "1.31.1" and env["provider"] == "CPUExecutionProvider", env
ratio = r["ratio"]  # paired with the default space's reference network, as every profile does
assert ratio["n"] == l["n"] and 0 < ratio["ci_low"] <= ratio["p50"] <= ratio["ci_high"], ratio
print("aarch64 under qemu: tiny.onnx p50 %.3f ms, 95%% CI [%.3f, %.3f], n %d, warm-up %d, "
      "ratio to the reference %.4f, energy %.3f mJ (%s)" % (
          l["p50_ms"], l["p50_ci_low_ms"], l["p50_ci_high_ms"], l["n"], l["warmup_runs"],
          ratio["p50"], e["mj_per_inference"], e["method"]))
PY
