#!/usr/bin/env python3
"""Keras (TensorFlow CPU) LSTM inference latency on this machine: the CPU path's competitor.

    python3 scripts/keras_cpu_bench.py [--config NAME ...] [--ours OURS.json] [--json OUT.json]

Needs `tensorflow-cpu` (which brings Keras 3); not a test dependency. Times one Keras
`LSTM(U)` (tanh / sigmoid, Keras's default initializers, f32, return_sequences=False) on
inputs (B, T, D) uniform in [-1, 1), over the grid of `shared/bench/cudnn_bench.py`, the
three ways a Keras user runs inference:

* `eager_ms`: `layer(x)` (Keras 3 eager call, then `.numpy()`);
* `function_ms`: the same call inside one `tf.function` traced once (graph mode);
* `predict_ms`: `model.predict_on_batch(x)` on a one-layer Sequential model.

`stream_step` (T = 1) is a stateful layer (batch 1) called once per step, its state carried:
host wall per call. Each timing is the median over repeated calls after 3 warm-ups (at least
`--reps` calls and at least 1 s). TensorFlow uses every core it sees.

With `--ours OURS.json` (what `wgpu-lstm bench --device cpu --json` wrote on the same
machine) it prints ours / Keras per config for the fastest Keras way; below 1 = we are faster.
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


def median_ms(fn, reps, warm=3, min_s=1.0):
    for _ in range(warm):
        fn()
    out = []
    start = time.perf_counter()
    while len(out) < reps or time.perf_counter() - start < min_s:
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
        if time.perf_counter() - start > 60:
            break
    return statistics.median(out), min(out), len(out)


def bench(name, shape, reps):
    import numpy as np
    import tensorflow as tf
    import keras

    b, t, d, u = shape
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(b, t, d)).astype("float32")
    keras.utils.set_random_seed(0)
    row = {"shape": [b, t, d, u]}
    if t == 1:
        layer = keras.layers.LSTM(u, stateful=True)
        layer(x)  # builds
        f = lambda: layer(x).numpy()
        row["eager_ms"], row["eager_min_ms"], row["eager_calls"] = median_ms(f, reps)
        g = tf.function(lambda v: layer(v))
        f = lambda: g(x).numpy()
        row["function_ms"], row["function_min_ms"], row["function_calls"] = median_ms(f, reps)
        model = keras.Sequential([keras.Input(batch_shape=(b, t, d)), keras.layers.LSTM(u, stateful=True)])
        f = lambda: model.predict_on_batch(x)
        row["predict_ms"], row["predict_min_ms"], row["predict_calls"] = median_ms(f, reps)
    else:
        layer = keras.layers.LSTM(u)
        layer(x)
        f = lambda: layer(x).numpy()
        row["eager_ms"], row["eager_min_ms"], row["eager_calls"] = median_ms(f, reps)
        g = tf.function(lambda v: layer(v))
        f = lambda: g(x).numpy()
        row["function_ms"], row["function_min_ms"], row["function_calls"] = median_ms(f, reps)
        model = keras.Sequential([keras.Input(shape=(t, d)), keras.layers.LSTM(u)])
        f = lambda: model.predict_on_batch(x)
        row["predict_ms"], row["predict_min_ms"], row["predict_calls"] = median_ms(f, reps)
    flop = 2 * b * t * 4 * u * (d + u)
    row["best_ms"] = min(row["eager_ms"], row["function_ms"], row["predict_ms"])
    row["gflops_best"] = flop / (row["best_ms"] * 1e-3) / 1e9
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", choices=list(GRID), help="repeatable; default: all but large")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--ours", help="wgpu-lstm bench --json output to compare with")
    ap.add_argument("--json", help="file to write the results to")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    names = args.config or DEFAULT
    res = {
        "device": f"cpu ({cpu_name()})",
        "cores": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "rows": {},
    }
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {res['device']}, {res['cores']} cores", flush=True)
    print("| config | B,T,D,U | eager ms | tf.function ms | predict_on_batch ms | best GFLOP/s |")
    print("|---|---|---:|---:|---:|---:|")
    for name in names:
        row = bench(name, GRID[name], args.reps)
        res["rows"][name] = row
        print(
            f"| {name} | {','.join(map(str, row['shape']))} | {row['eager_ms']:.3f} | "
            f"{row['function_ms']:.3f} | {row['predict_ms']:.3f} | {row['gflops_best']:.2f} |",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    if args.ours:
        return cpu_ratios.print_ratios(
            args.ours, {n: row["best_ms"] for n, row in res["rows"].items()}, "Keras", "Keras best ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
