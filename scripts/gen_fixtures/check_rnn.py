#!/usr/bin/env python3
"""Independent float64 check of tests/fixtures/rnn/*.json (GRU / SimpleRNN).

No Keras import: a plain numpy re-implementation of Keras's GRU and SimpleRNN
(masks, go_backwards, stateful, initial_state, Bidirectional, stacked) that
recomputes every stored output from the stored weights and inputs.

    python check_rnn.py [--markdown] [files...]

Prints the max abs difference per file; exits 1 if any exceeds 1e-5.
"""

import argparse
import glob
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RNN_DIR = os.path.join(HERE, "..", "..", "tests", "fixtures", "rnn")

_erf = np.vectorize(math.erf, otypes=[np.float64])
SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543773


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softplus(x):
    return np.logaddexp(0.0, x)


def activation(name, api):
    hs3 = lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)  # noqa: E731
    hs2 = lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0)  # noqa: E731
    table = {
        "tanh": np.tanh,
        "sigmoid": sigmoid,
        "hard_sigmoid": hs3 if api == "keras3" else hs2,
        "relu": lambda x: np.maximum(x, 0.0),
        "relu6": lambda x: np.clip(x, 0.0, 6.0),
        "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
        "linear": lambda x: x,
        "softsign": lambda x: x / (1.0 + np.abs(x)),
        "softplus": softplus,
        "exponential": np.exp,
        "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
        "selu": lambda x: SELU_L * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0.0))),
        "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
        "silu": lambda x: x * sigmoid(x),
        "swish": lambda x: x * sigmoid(x),
        "mish": lambda x: x * np.tanh(softplus(x)),
        "celu": lambda x: np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0)),
        "hard_silu": lambda x: x * hs3(x),
        "hard_swish": lambda x: x * hs3(x),
        "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
        "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
        "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
        "tanh_shrink": lambda x: x - np.tanh(x),
        "squareplus": lambda x: (x + np.sqrt(x * x + 4.0)) / 2.0,
        "sparse_plus": lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4.0)),
        "sparse_sigmoid": lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, (x + 1) / 2.0)),
        "log_sigmoid": lambda x: -softplus(-x),
    }
    return table[name]


def arr(v):
    return None if v is None else np.asarray(v, dtype=np.float64)


class Cell:
    """One GRU or SimpleRNN layer in float64, Keras layout."""

    def __init__(self, layer, cfg, weights, api):
        self.layer = layer
        self.cfg = cfg
        self.U = cfg["units"]
        self.K = arr(weights["kernel"])
        self.R = arr(weights["recurrent_kernel"])
        self.b = arr(weights["bias"])
        self.act = activation(cfg["activation"], api)
        if layer == "GRU":
            self.ract = activation(cfg["recurrent_activation"], api)
            self.reset_after = cfg["reset_after"]

    def step(self, x, h):
        U = self.U
        if self.layer == "SimpleRNN":
            z = x @ self.K + h @ self.R
            if self.b is not None:
                z = z + self.b
            return self.act(z)
        # GRU: kernel (D,3U) blocks z, r, h (candidate)
        xk = x @ self.K
        if self.reset_after:
            # bias (2, 3U): row 0 input bias, row 1 recurrent bias
            if self.b is not None:
                xk = xk + self.b[0]
            hr = h @ self.R
            if self.b is not None:
                hr = hr + self.b[1]
            z = self.ract(xk[:, :U] + hr[:, :U])
            r = self.ract(xk[:, U:2 * U] + hr[:, U:2 * U])
            hh = self.act(xk[:, 2 * U:] + r * hr[:, 2 * U:])
        else:
            if self.b is not None:
                xk = xk + self.b
            z = self.ract(xk[:, :U] + h @ self.R[:, :U])
            r = self.ract(xk[:, U:2 * U] + h @ self.R[:, U:2 * U])
            hh = self.act(xk[:, 2 * U:] + (r * h) @ self.R[:, 2 * U:])
        return z * h + (1.0 - z) * hh

    def run(self, x, mask, h0, go_backwards=None, zero_output_for_mask=None):
        """x (B,T,D); mask (B,T) 0/1 or None; h0 (B,U). Returns (seq (B,T,U) in
        processing order, final h)."""
        gb = self.cfg["go_backwards"] if go_backwards is None else go_backwards
        zo = self.cfg["zero_output_for_mask"] if zero_output_for_mask is None else zero_output_for_mask
        B, T, _ = x.shape
        if gb:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        h = h0.copy()
        prev_out = np.zeros((B, self.U))
        seq = np.zeros((B, T, self.U))
        for t in range(T):
            hn = self.step(x[:, t], h)
            if mask is None:
                h = hn
                out = hn
            else:
                m = mask[:, t:t + 1].astype(bool)
                h = np.where(m, hn, h)
                out = np.where(m, hn, 0.0 if zo else prev_out)
            seq[:, t] = out
            prev_out = out
        return seq, h


def check_file(path):
    with open(path) as f:
        d = json.load(f)
    api, kind, lname = d["keras_api"], d["kind"], d["layer"]
    assert lname in ("GRU", "SimpleRNN"), lname
    worst = 0.0

    def cmp(expected, got):
        nonlocal worst
        e = np.asarray(expected, dtype=np.float64)
        assert e.shape == got.shape, (path, e.shape, got.shape)
        worst = max(worst, float(np.max(np.abs(e - got))) if e.size else 0.0)

    if kind in ("gru", "simple_rnn"):
        cfg = d["config"]
        cell = Cell(lname, cfg, d["weights"], api)
        state = None
        for call in d["calls"]:
            x = arr(call["inputs"])
            B = x.shape[0]
            mask = None if call["mask"] is None else np.asarray(call["mask"])
            if call["reset_states_before"] or state is None or not cfg["stateful"]:
                state = np.zeros((B, cell.U))
            if call["initial_state"] is not None:
                state = arr(call["initial_state"]["h"])
            seq, h = cell.run(x, mask, state)
            out = seq if cfg["return_sequences"] else seq[:, -1]
            o = call["outputs"]
            cmp(o["output"], out)
            if cfg["return_state"]:
                cmp(o["h"], h)
                assert o["c"] is None
            else:
                assert o["h"] is None and o["c"] is None
            state = h
    elif kind == "bidirectional":
        lf, lb = d["layers"]
        fw = Cell(lname, lf["config"], lf["weights"], api)
        bw = Cell(lname, lb["config"], lb["weights"], api)
        assert not lf["config"]["go_backwards"] and lb["config"]["go_backwards"]
        for call in d["calls"]:
            x = arr(call["inputs"])
            B = x.shape[0]
            mask = None if call["mask"] is None else np.asarray(call["mask"])
            fs, fh = fw.run(x, mask, np.zeros((B, fw.U)))
            bs, bh = bw.run(x, mask, np.zeros((B, bw.U)))
            if d["config"]["return_sequences"]:
                out = np.concatenate([fs, bs[:, ::-1]], axis=-1)
            else:
                out = np.concatenate([fs[:, -1], bs[:, -1]], axis=-1)
            o = call["outputs"]
            cmp(o["output"], out)
            if d["config"]["return_state"]:
                cmp(o["forward_h"], fh)
                cmp(o["backward_h"], bh)
    elif kind == "stacked":
        l0, l1 = d["layers"]
        c0 = Cell(lname, l0["config"], l0["weights"], api)
        c1 = Cell(lname, l1["config"], l1["weights"], api)
        for call in d["calls"]:
            x = arr(call["inputs"])
            B = x.shape[0]
            mask = None if call["mask"] is None else np.asarray(call["mask"])
            s0, _ = c0.run(x, mask, np.zeros((B, c0.U)))
            s1, h1 = c1.run(s0, mask, np.zeros((B, c1.U)))
            out = s1 if l1["config"]["return_sequences"] else s1[:, -1]
            o = call["outputs"]
            cmp(o["layer_outputs"][0], s0)
            cmp(o["layer_outputs"][1], out)
            cmp(o["output"], out)
    else:
        raise ValueError(kind)
    return worst, d


def variant(d):
    if d["layer"] != "GRU":
        return d["layer"]
    cfg = d["layers"][0]["config"] if d.get("layers") else d["config"]
    return "GRU reset_after=" + str(cfg["reset_after"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(RNN_DIR, "*.json")))
    bad, rows = [], []
    for p in files:
        w, d = check_file(p)
        rows.append((os.path.basename(p), w, d))
        if w > args.tol or not np.isfinite(w):
            bad.append(p)
    ws = np.array([r[1] for r in rows])
    if args.markdown:
        print("| file | api | layer | kind | max abs diff vs float64 |")
        print("|---|---|---|---|---|")
        for name, w, d in rows:
            print(f"| {name} | {d['keras_api']} | {variant(d)} | {d['kind']} | {w:.2g} |")
    else:
        for name, w, _ in rows:
            print(f"{w:.3g}\t{name}")
    print(f"{len(rows)} files; max abs diff median {np.median(ws):.2g}, 90th pct {np.percentile(ws, 90):.2g}, "
          f"worst {ws.max():.2g} ({rows[int(ws.argmax())][0]}); over {args.tol}: {len(bad)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
