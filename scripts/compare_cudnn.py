#!/usr/bin/env python3
"""Compare wgpu-lstm benchmark results with the cuDNN anchor, in plain Python (no numpy).

    python3 scripts/compare_cudnn.py OURS.json CUDNN.json

OURS.json is what `wgpu-lstm bench --json` writes (an object with "results", or a bare list
of results); CUDNN.json is what shared/bench/cudnn_bench.py writes. Prints the same Markdown
table as `wgpu_lstm::bench::compare_with_cudnn` (the integration tests check that the two
agree byte for byte): ratios ours / cuDNN fp32 and the issue's goals, met or missed.

Exit status: 0 when the table was printed with at least one compared row (missed goals are
reported, not failures); 1 when nothing could be compared; 2 on unreadable input.
"""
import json
import sys

SEQUENCE_GOALS = [("small_seq", 0.8), ("long_seq", 0.5), ("medium", 0.6), ("large", 1.0)]
# with the opt-in f16 recurrent weights ("f16_weights": true): none for large and stream_step
F16_SEQUENCE_GOALS = [("small_seq", 0.33), ("long_seq", 0.5), ("medium", 0.4)]
STREAM_WALL_GOAL = 0.5  # host wall per call <= this x PyTorch eager wall (wall_ms)
STREAM_GPU_GOAL = 1.0  # GPU time per call <= this x cuDNN fp32 CUDA graph (graph_ms)


def rust_float(v):
    """Rust's `{}` for an f64: shortest round-trip, no trailing `.0`."""
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def fmt_ms(v):
    if v is None or v != v or v in (float("inf"), float("-inf")):
        return "-"
    a = abs(v)
    if a >= 100.0:
        return f"{v:.1f}"
    if a >= 1.0:
        return f"{v:.3f}"
    if a >= 0.01:
        return f"{v:.4f}"
    mant, exp = f"{v:.2e}".split("e")
    return f"{mant}e{int(exp)}"


def fmt_opt_ms(v):
    return "-" if v is None else fmt_ms(v)


def ratio_cell(r):
    return "-" if r is None else f"{r:.2f}×"


def md_cell(s):
    return s.replace("|", "\\|")


def number(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def check(ratio, goal):
    return None if ratio is None else ratio <= goal


def compare(ours, cj):
    def get(k):
        if not isinstance(cj, dict) or k not in cj:
            return "?"
        v = cj[k]
        return v if isinstance(v, str) else json.dumps(v)

    out = [
        f"cuDNN reference: {get('device')} (PyTorch {get('torch')}, cuDNN {get('cudnn')}), fp32 "
        "(TF32 off). Ratios are ours / reference; compare only numbers measured in one run on "
        "one machine.\n\n",
        "| config | device | kernel | ours GPU ms | ours host ms | cuDNN graph ms | "
        "cuDNN eager ms | PyTorch wall ms | GPU / graph | host / wall | goal | status |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    ]
    met = missed = unmeasured = 0
    compared = 0
    notes = []
    fp32 = cj.get("fp32") if isinstance(cj, dict) else None
    for r in ours:
        name, device = r["config"]["name"], r["device"]
        if r["backend"] == "cpu":
            notes.append(f"{name} on {device}: CPU result, not compared")
            continue
        row = fp32.get(name) if isinstance(fp32, dict) else None
        if row is None:
            notes.append(f"{name} on {device}: not in the cuDNN JSON, not compared")
            continue
        compared += 1

        def num(k):
            return number(row.get(k)) if isinstance(row, dict) else None

        graph, eager, wall = num("graph_ms"), num("eager_ms"), num("wall_ms")
        gpu_ms, host_ms = r.get("gpu_ms"), r["median_ms"]
        gpu_ratio = None if gpu_ms is None or graph is None else gpu_ms / graph
        wall_ratio = None if wall is None else host_ms / wall
        f16 = bool(r.get("f16_weights", False))
        goals = dict(F16_SEQUENCE_GOALS if f16 else SEQUENCE_GOALS)
        if name == "stream_step" and not f16:
            a, b = check(wall_ratio, STREAM_WALL_GOAL), check(gpu_ratio, STREAM_GPU_GOAL)
            if a is True and b is True:
                v = True
            elif a is False or b is False:
                v = False
            else:
                v = None
            goal = (f"host/wall ≤ {rust_float(STREAM_WALL_GOAL)}× and "
                    f"GPU/graph ≤ {rust_float(STREAM_GPU_GOAL)}×")
            verdict = ("v", v)
        elif name in goals:
            goal = f"GPU/graph ≤ {rust_float(goals[name])}×"
            verdict = ("v", check(gpu_ratio, goals[name]))
        else:
            goal, verdict = "-", None
        if verdict is None:
            status = "-"
        elif verdict[1] is True:
            met += 1
            status = "met"
        elif verdict[1] is False:
            missed += 1
            status = "missed"
        else:
            unmeasured += 1
            status = "not measured"
        out.append(
            f"| {md_cell(name + ' (f16 R)' if f16 else name)} | {md_cell(device)} | "
            f"{md_cell(r.get('kernel', ''))} | {fmt_opt_ms(gpu_ms)} | {fmt_ms(host_ms)} | "
            f"{fmt_opt_ms(graph)} | {fmt_opt_ms(eager)} | {fmt_opt_ms(wall)} | "
            f"{ratio_cell(gpu_ratio)} | {ratio_cell(wall_ratio)} | {goal} | {status} |\n"
        )
    out.append(f"\ngoals: {met} met, {missed} missed, {unmeasured} not measured\n")
    out.extend(f"- {n}\n" for n in notes)
    return "".join(out), compared


def die(msg):
    print(f"compare_cudnn.py: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path, what):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as e:
        die(f"cannot read {what} {path}: {e}")


def main(argv):
    if len(argv) != 3:
        die(f"usage: {argv[0]} OURS.json CUDNN.json")
    ours = load(argv[1], "our results")
    cj = load(argv[2], "cuDNN results")
    results = ours.get("results") if isinstance(ours, dict) else ours
    if not isinstance(results, list):
        die(f"{argv[1]} has no list of results")
    if not isinstance(cj, dict) or not isinstance(cj.get("fp32"), dict):
        die(f"{argv[2]} has no fp32 section (not cudnn_bench.py output?)")
    try:
        table, compared = compare(results, cj)
    except (KeyError, TypeError) as e:
        die(f"malformed result in {argv[1]}: {e!r}")
    sys.stdout.reconfigure(encoding="utf-8")
    sys.stdout.write(table)
    sys.stdout.flush()
    if compared == 0:
        print("compare_cudnn.py: no GPU result matched a cuDNN config; nothing compared",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
