#!/usr/bin/env python3
"""ONNX Runtime (CPU) LSTM latency on this machine: the strongest CPU peer of our CPU path.

    python3 scripts/ort_cpu_bench.py [--config NAME ...] [--threads N] [--reps N]
                                     [--ours OURS.json] [--json OUT.json]

Needs `onnxruntime`, `onnx` and `numpy` (not test dependencies; a throw-away venv will do:
`python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnxruntime onnx numpy`).
The same model and timing as `shared/bench/ort_cpu_bench.py`: one ONNX `LSTM` node per
config (forward, default activations sigmoid / tanh, random weights packed by ORT once at
session creation), fed seq-major input (which favours ORT slightly: our calls take Keras's
batch-major input), `session.run` timed as host wall per call, median after 3 warm-ups over
at least `--reps` calls and 1 s. `stream_step` (T = 1) feeds the state back every call, like
a stateful Keras layer. ORT uses every core unless `--threads` says otherwise.

With `--ours OURS.json` (what `wgpu-lstm bench --device cpu --json` wrote on the same machine,
in the same session) it prints ours / ORT per config; below 1 = we are faster.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_ratios  # noqa: E402

GRID = {
    "stream_step": (1, 1, 64, 256),
    "small_seq": (1, 100, 32, 128),
    "long_seq": (1, 1000, 128, 512),
    "medium": (64, 100, 128, 256),
    "large": (256, 200, 512, 1024),
}
DEFAULT = ["stream_step", "small_seq", "long_seq", "medium"]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def model(b, t, d, u):
    import numpy as np
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    w = (rng.uniform(-1, 1, (1, 4 * u, d)) / np.sqrt(d)).astype(np.float32)
    r = (rng.uniform(-1, 1, (1, 4 * u, u)) / np.sqrt(u)).astype(np.float32)
    bias = np.zeros((1, 8 * u), np.float32)
    node = helper.make_node("LSTM", ["X", "W", "R", "B", "", "h0", "c0"], ["Y", "Yh", "Yc"], hidden_size=u)
    g = helper.make_graph(
        [node],
        "lstm",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [t, b, d]),
            helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, b, u]),
            helper.make_tensor_value_info("c0", TensorProto.FLOAT, [1, b, u]),
        ],
        [
            helper.make_tensor_value_info("Yh", TensorProto.FLOAT, [1, b, u]),
            helper.make_tensor_value_info("Yc", TensorProto.FLOAT, [1, b, u]),
        ],
        [helper.make_tensor(n, TensorProto.FLOAT, a.shape, a.flatten()) for n, a in (("W", w), ("R", r), ("B", bias))],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    return m.SerializeToString()


def median_ms(fn, reps, warm=3, min_s=1.0):
    for _ in range(warm):
        fn()
    out = []
    start = time.perf_counter()
    while len(out) < reps or time.perf_counter() - start < min_s:
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
        if time.perf_counter() - start > 120:
            break
    return statistics.median(out), min(out), len(out)


def bench(ort, name, threads, reps):
    import numpy as np

    b, t, d, u = GRID[name]
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    s = ort.InferenceSession(model(b, t, d, u), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, (t, b, d)).astype(np.float32)
    st = {"h0": np.zeros((1, b, u), np.float32), "c0": np.zeros((1, b, u), np.float32)}

    def call():
        h, c = s.run(["Yh", "Yc"], {"X": x, **st})
        if t == 1:
            st["h0"], st["c0"] = h, c

    m, mn, n = median_ms(call, reps)
    flop = 2 * b * t * 4 * u * (d + u)
    return {"config": name, "shape": [b, t, d, u], "median_ms": m, "min_ms": mn, "calls": n,
            "gflops": flop / (m * 1e-3) / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", choices=list(GRID), help="repeatable; default: all but large")
    ap.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (default: every core)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--ours", help="wgpu-lstm bench --device cpu --json output to compare with")
    ap.add_argument("--json", help="file to write the results to")
    args = ap.parse_args()
    import onnxruntime as ort

    names = args.config or DEFAULT
    res = {"device": f"cpu ({cpu_name()})", "cores": os.cpu_count(), "ort_version": ort.__version__,
           "threads": args.threads, "rows": {}}
    print(f"ONNX Runtime {ort.__version__}, {res['device']}, {res['cores']} cores", flush=True)
    print("| config | B,T,D,U | ORT median ms | min ms | calls | GFLOP/s |")
    print("|---|---|---:|---:|---:|---:|")
    for name in names:
        row = bench(ort, name, args.threads, args.reps)
        res["rows"][name] = row
        print(f"| {name} | {','.join(map(str, row['shape']))} | {row['median_ms']:.3f} | {row['min_ms']:.3f} | "
              f"{row['calls']} | {row['gflops']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    if args.ours:
        return cpu_ratios.print_ratios(
            args.ours, {n: row["median_ms"] for n, row in res["rows"].items()}, "ORT", "ORT median ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
