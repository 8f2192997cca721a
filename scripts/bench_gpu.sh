#!/usr/bin/env bash
# Benchmark wgpu-lstm against the cuDNN anchor on an NVIDIA machine that has PyTorch but no
# Rust and no network (see BENCHMARKS.md, "On an NVIDIA GPU"). Run from the repository root
# with prebuilt files in the ignored folder .bench/:
#
#   .bench/wgpu-lstm        a release build of the CLI (cargo build --release --locked)
#   .bench/cudnn_bench.py   a copy of shared/bench/cudnn_bench.py
#   .gl/*.deb               (optional) Vulkan loader packages, unpacked here when the machine
#                           has no libvulkan.so.1
#
# Arguments for `wgpu-lstm bench` beyond the device and the output files go in BENCH_ARGS;
# the default raises the projection-scratch budget so that `large` runs as one call (one
# submit, so it gets a GPU time) instead of in parts. E.g. BENCH_ARGS="--kernel per-step".
# Writes into $OUT (default .bench/out): ours.json, ours.md, ours.svg (our grid on the GPU),
# cudnn.json (PyTorch/cuDNN on the same GPU, right after ours) and compare.md (the ratio
# table, also printed). Every step is checked: a missing file, a missing CUDA device, a
# Vulkan adapter that is not the NVIDIA GPU, or a failed benchmark stops the script with a
# message and a non-zero status.
set -euo pipefail

die() { echo "bench_gpu.sh: ERROR: $*" >&2; exit 1; }
step() { echo; echo "=== $* ==="; }

cd "$(dirname "$0")/.."
BIN="${WGPU_LSTM_BIN:-.bench/wgpu-lstm}"
CUDNN_BENCH="${CUDNN_BENCH:-.bench/cudnn_bench.py}"
export OUT="${OUT:-.bench/out}"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
export PYTHONUNBUFFERED=1
STEP_TIMEOUT="${STEP_TIMEOUT:-300}"
BENCH_ARGS="${BENCH_ARGS---scratch-budget-mib 2048}"

[ -x "$BIN" ] || die "$BIN is missing or not executable: build it with 'cargo build --release --locked' and copy target/release/wgpu-lstm there"
[ -f "$CUDNN_BENCH" ] || die "$CUDNN_BENCH is missing: copy shared/bench/cudnn_bench.py there"
[ -f scripts/compare_cudnn.py ] || die "scripts/compare_cudnn.py is missing (run from the repository root)"
command -v python3 >/dev/null || die "python3 not found"
mkdir -p "$OUT" || die "cannot create OUT=$OUT"
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"; chmod 700 "$XDG_RUNTIME_DIR"; export XDG_RUNTIME_DIR
fi

# A Vulkan loader, if the machine lacks one and .gl/ brought the packages.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  if compgen -G ".gl/*.deb" >/dev/null; then
    step "no libvulkan.so.1: unpacking .gl/*.deb"
    for f in .gl/*.deb; do dpkg -x "$f" / || die "dpkg -x $f failed"; done
    ldconfig
  fi
  ldconfig -p | grep -q 'libvulkan\.so\.1' || die "no Vulkan loader (libvulkan.so.1): bring libvulkan1 as .gl/*.deb (see BENCHMARKS.md)"
fi

step "device"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || die "nvidia-smi failed"
else
  echo "(no nvidia-smi)"
fi
uname -a
grep -m1 'model name' /proc/cpuinfo || true
python3 - <<'PY' || die "PyTorch with a CUDA device is needed for the cuDNN anchor"
import torch
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(),
      "device", torch.cuda.get_device_name())
PY

step "wgpu adapters"
adapters="$("$BIN" adapters)" || die "$BIN adapters failed"
echo "$adapters"
if ! grep -qi nvidia <<<"$adapters"; then
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then
    echo "no NVIDIA adapter; retrying with VK_DRIVER_FILES=$icd"
    export VK_DRIVER_FILES="$icd"
    adapters="$("$BIN" adapters)" || die "$BIN adapters failed"
    echo "$adapters"
  fi
fi
if ! grep -qi nvidia <<<"$adapters" && [ -z "${ALLOW_NON_NVIDIA:-}" ]; then
  die "wgpu sees no NVIDIA adapter (only the above): numbers would not be comparable with cuDNN; set ALLOW_NON_NVIDIA=1 to run anyway"
fi
if [ -z "${WGPU_ADAPTER_NAME:-}" ] && grep -qi nvidia <<<"$adapters"; then
  export WGPU_ADAPTER_NAME=nvidia
fi

step "wgpu-lstm bench --device gpu $BENCH_ARGS (all grid configs)"
rm -f "$OUT"/ours*.json "$OUT"/ours*.md "$OUT/ours.svg" "$OUT/cudnn.json" "$OUT/compare.md"
# A config that fails (the bench exits non-zero but still writes the others) does not stop
# the cuDNN run and the comparison; the script fails at the end instead.
ours_status=0
# shellcheck disable=SC2086 # BENCH_ARGS (e.g. "--kernel per-step") is split on purpose.
timeout "$STEP_TIMEOUT" "$BIN" bench --device gpu $BENCH_ARGS \
  --json "$OUT/ours.json" --markdown "$OUT/ours.md" --svg "$OUT/ours.svg" || ours_status=$?
for f in ours.json ours.md ours.svg; do
  [ -s "$OUT/$f" ] || die "wgpu-lstm bench (status $ours_status) wrote no $OUT/$f"
done
[ "$ours_status" -eq 0 ] || echo "bench_gpu.sh: WARNING: wgpu-lstm bench exited with status $ours_status (failures listed in $OUT/ours.md); going on" >&2

# The same grid with the opt-in f16 recurrent weights (the issue's f16 goals), and the two
# per-step kernels forced on the configs that use them (which one Auto should pick is a
# measurement). EXTRA=0 skips these, EXTRA_CONFIGS replaces the forced-kernel configs; each
# is bounded by STEP_TIMEOUT and may fail alone.
if [ "${EXTRA:-1}" != 0 ]; then
  step "wgpu-lstm bench --precision f16 (all grid configs)"
  # shellcheck disable=SC2086
  timeout "$STEP_TIMEOUT" "$BIN" bench --device gpu $BENCH_ARGS --precision f16 \
    --json "$OUT/ours_f16.json" --markdown "$OUT/ours_f16.md" \
    || echo "bench_gpu.sh: WARNING: the f16 run exited with status $?" >&2
  for k in per-step per-step-subgroup; do
    step "wgpu-lstm bench --kernel $k (long_seq, large, stream_step)"
    # shellcheck disable=SC2086
    timeout "$STEP_TIMEOUT" "$BIN" bench --device gpu $BENCH_ARGS --kernel "$k" \
      ${EXTRA_CONFIGS:---config long_seq --config large --config stream_step} \
      --json "$OUT/ours_$k.json" --markdown "$OUT/ours_$k.md" \
      || echo "bench_gpu.sh: WARNING: the $k run exited with status $?" >&2
  done
fi

step "cuDNN anchor (PyTorch, same GPU, right after ours)"
timeout "$STEP_TIMEOUT" python3 "$CUDNN_BENCH" || die "cudnn_bench.py failed (status $?)"
[ -s "$OUT/cudnn.json" ] || die "cudnn_bench.py wrote no $OUT/cudnn.json"

step "ours / cuDNN"
# The goals: the f32 and the f16 grid with the kernels chosen by shape (Auto). The
# forced-kernel runs are diagnostics, compared in a table of their own (compare_forced.md).
python3 - "$OUT" <<'PY' || die "merging the result files failed"
import json, os, sys
out = sys.argv[1]
def merged(names, dest):
    results = []
    for name in names:
        path = os.path.join(out, name)
        if os.path.exists(path):
            with open(path) as fh:
                results += json.load(fh)["results"]
    with open(os.path.join(out, dest), "w") as fh:
        json.dump({"results": results}, fh, indent=1)
    return len(results)
merged(["ours.json", "ours_f16.json"], "ours_all.json")
merged(["ours_per-step.json", "ours_per-step-subgroup.json"], "ours_forced.json")
PY
if ! python3 scripts/compare_cudnn.py "$OUT/ours_all.json" "$OUT/cudnn.json" | tee "$OUT/compare.md"; then
  die "compare_cudnn.py failed"
fi
if [ -s "$OUT/ours_forced.json" ] && grep -q '"config"' "$OUT/ours_forced.json"; then
  echo
  echo "--- forced kernels (diagnostic; the goals above are judged on Auto only) ---"
  python3 scripts/compare_cudnn.py "$OUT/ours_forced.json" "$OUT/cudnn.json" | tee "$OUT/compare_forced.md" \
    || echo "bench_gpu.sh: WARNING: comparing the forced-kernel runs failed" >&2
fi

step "our results"
cat "$OUT/ours.md"
for f in ours_f16.md ours_per-step.md ours_per-step-subgroup.md; do
  [ -s "$OUT/$f" ] && { echo; cat "$OUT/$f"; }
done
echo
[ "$ours_status" -eq 0 ] || die "wgpu-lstm bench exited with status $ours_status: see the failures in $OUT/ours.md"
echo "bench_gpu.sh: done; files in $OUT"
