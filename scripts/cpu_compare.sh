#!/usr/bin/env bash
# The CPU path against ONNX Runtime and Keras, same machine, same run, interleaved:
#
#   scripts/cpu_compare.sh [-n ROUNDS] [-o OUTDIR] [-k KERAS_PYTHON] [-r ORT_PYTHON] [CONFIG ...]
#
# Each of ROUNDS (default 3) rounds runs `wgpu-lstm bench --device cpu` and then
# scripts/ort_cpu_bench.py over the configs (default: stream_step small_seq long_seq medium),
# back to back; Keras (scripts/keras_cpu_bench.py, slow) runs once, after the first round, when
# KERAS_PYTHON is given. It then prints, per config, the median over the rounds of each side's
# median host wall ms per call, the median of the per-round ratios ours / ORT (each round's
# two runs are seconds apart: on a busy machine this is the robust number), ours / Keras
# against the first round (the one next to the Keras run), and the load average seen
# during the rounds.
# Needs target/release/wgpu-lstm (cargo build --release) and a Python with onnxruntime,
# onnx and numpy (ORT_PYTHON, default python3); KERAS_PYTHON needs tensorflow-cpu.
set -euo pipefail
rounds=3
out=bench-cpu-compare
keras_py=
ort_py=python3
while getopts "n:o:k:r:" opt; do
    case $opt in
        n) rounds=$OPTARG ;;
        o) out=$OPTARG ;;
        k) keras_py=$OPTARG ;;
        r) ort_py=$OPTARG ;;
        *) sed -n 2,13p "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(stream_step small_seq long_seq medium)
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/target/release/wgpu-lstm
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
mkdir -p "$out"
args=()
for c in "${configs[@]}"; do args+=(--config "$c"); done
: > "$out/load.txt"
for i in $(seq 1 "$rounds"); do
    echo "round $i/$rounds" >&2
    "$bin" bench --device cpu "${args[@]}" --json "$out/ours-$i.json" > /dev/null
    uptime >> "$out/load.txt"
    "$ort_py" "$here/scripts/ort_cpu_bench.py" "${args[@]}" --json "$out/ort-$i.json" > /dev/null
    uptime >> "$out/load.txt"
    if [ "$i" = 1 ] && [ -n "$keras_py" ]; then
        echo "keras" >&2
        "$keras_py" "$here/scripts/keras_cpu_bench.py" "${args[@]}" --json "$out/keras.json" > /dev/null
        uptime >> "$out/load.txt"
    fi
done
python3 - "$out" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
ours, ort, info = {}, {}, {}
for f in sorted(glob.glob(f"{out}/ours-*.json")):
    for r in json.load(open(f))["results"]:
        c = r["config"]
        ours.setdefault(c["name"], []).append(r["median_ms"])
        info[c["name"]] = (f"{c['batch']},{c['timesteps']},{c['input_dim']},{c['units']}", r["device"], r["driver"])
for f in sorted(glob.glob(f"{out}/ort-*.json")):
    d = json.load(open(f))
    ortv = d["ort_version"]
    for n, r in d["rows"].items():
        ort.setdefault(n, []).append(r["median_ms"])
keras = {}
try:
    keras = {n: r["best_ms"] for n, r in json.load(open(f"{out}/keras.json"))["rows"].items()}
except OSError:
    pass
dev = next(iter(info.values()))
print(f"{dev[1]}, {dev[2]}; ONNX Runtime {ortv}; medians over {len(glob.glob(out + '/ours-*.json'))} interleaved rounds")
print()
print("| config | B,T,D,U | ours ms | ONNX Runtime ms | ours / ORT (median of rounds' ratios) | Keras (best way) ms | ours / Keras (round 1) | ours, each round | ORT, each round |")
print("|---|---|---:|---:|---:|---:|---:|---|---|")
for n in ours:
    o, x = statistics.median(ours[n]), statistics.median(ort.get(n, [float("nan")]))
    ratios = [a / b for a, b in zip(ours[n], ort.get(n, []))]
    r = f"{statistics.median(ratios):.2f}×" if ratios else "-"
    k = keras.get(n)
    ks = f"{k:.4g}" if k else "-"
    kr = f"{ours[n][0] / k:.2f}×" if k else "-"
    each = lambda v: " / ".join(f"{t:.4g}" for t in v)
    print(f"| {n} | {info[n][0]} | {o:.4g} | {x:.4g} | {r} | {ks} | {kr} | {each(ours[n])} | {each(ort.get(n, []))} |")
print()
print("load average during the rounds (1, 5, 15 min):",
      ", ".join(l.split("load average:")[1].strip() for l in open(f"{out}/load.txt") if "load average" in l))
PY
