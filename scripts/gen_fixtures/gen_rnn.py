#!/usr/bin/env python3
"""Single-layer GRU / SimpleRNN fixtures -> tests/fixtures/rnn/<name>.json.

Same JSON schema as tests/fixtures/keras/SCHEMA.md plus the extensions in
tests/fixtures/rnn/SCHEMA_EXT.md. Every stored output is computed by real
Keras; weights are drawn uniform(-0.5, 0.5) and loaded with set_weights.

    python gen_rnn.py                  # both APIs (a subprocess each)
    python gen_rnn.py --api keras3     # one API
    python check_rnn.py                # independent float64 check afterwards
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import REPO  # noqa: E402

import numpy as np  # noqa: E402

# WGPU_LSTM_RNN_DIR: write elsewhere (a held-out set, with WGPU_LSTM_FIXTURE_SALT: see
# common.seed_for; the fixture test reads it back with RNN_FIXTURES_DIR)
OUT = os.environ.get("WGPU_LSTM_RNN_DIR") or os.path.join(REPO, "tests", "fixtures", "rnn")

# element-wise activation names accepted by string (tests/fixtures/keras/SCHEMA.md 4.1)
XACT = {
    "keras3": ["celu", "elu", "exponential", "gelu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
               "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "mish", "relu", "relu6", "selu", "sigmoid", "silu",
               "soft_shrink", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "squareplus", "swish", "tanh",
               "tanh_shrink"],
    "tf_keras2": ["elu", "exponential", "gelu", "hard_sigmoid", "leaky_relu", "linear", "mish", "relu", "relu6",
                  "selu", "sigmoid", "silu", "softplus", "softsign", "swish", "tanh"],
}
XREC = {
    "keras3": ["hard_sigmoid", "linear", "relu6", "softsign", "tanh", "hard_silu", "sparse_sigmoid"],
    "tf_keras2": ["hard_sigmoid", "linear", "relu6", "softsign", "tanh", "elu"],
}

# family prefix -> (Keras layer, extra constructor kwargs)
FAMILIES = {
    "gru": ("GRU", {"reset_after": True}),
    "gru_ra0": ("GRU", {"reset_after": False}),
    "srnn": ("SimpleRNN", {}),
}


def mask_pattern(B, T, kind="mixed"):
    m = np.ones((B, T), dtype=np.int64)
    if kind == "mixed":  # trailing, leading, middle gap, alternating
        if B > 0:
            m[0, T - 3:] = 0
        if B > 1:
            m[1, :2] = 0
        if B > 2:
            m[2, 2:4] = 0
        if B > 3:
            m[3, 1::2] = 0
    elif kind == "leading":
        if B > 0:
            m[0, :2] = 0
        if B > 1:
            m[1, 0] = 0
            m[1, -1] = 0
        if B > 3:
            m[3, 2] = 0
    elif kind == "all_masked_row":
        m[1, :] = 0
        if B > 2:
            m[2, :3] = 0
    return m


class Case:
    def __init__(self, name, fam, kind="single", B=3, T=6, D=3, U=5, cfg=None, mask=None, mask_kind="mixed",
                 init_state=False, stateful_T=None, resets=(), scale=1.0, notes=""):
        self.name, self.fam, self.kind = name, fam, kind
        self.B, self.T, self.D, self.U = B, T, D, U
        self.cfg = dict(cfg or {})
        self.mask, self.mask_kind = mask, mask_kind
        self.init_state = init_state
        self.stateful_T = stateful_T  # list of T per call (stateful) or None
        self.resets = set(resets)
        self.scale = scale
        self.notes = notes


def cases_for(api):
    p = common.API_SHORT[api]
    out = []
    for fam in FAMILIES:
        is_gru = fam.startswith("gru")
        pre = f"{p}_{fam}"
        rs1 = {"return_sequences": True, "return_state": True}
        out.append(Case(f"{pre}_default", fam, B=2, T=5, D=3, U=4, notes="default arguments"))
        for a in XACT[api]:
            sc = 0.125 if a == "exponential" else 1.0
            nt = "weights drawn as usual, then multiplied by 0.125 so that the outputs stay finite." if sc != 1.0 else ""
            out.append(Case(f"{pre}_xact_{a}", fam, cfg={"activation": a, **rs1}, scale=sc, notes=nt))
        if is_gru:
            for a in XREC[api]:
                # linear "gates" are unbounded: with the usual weights h grows to ~100 within 6 steps
                sc = 0.25 if a == "linear" else 1.0
                nt = "weights drawn as usual, then multiplied by 0.25 so that h stays small." if sc != 1.0 else ""
                out.append(Case(f"{pre}_xrec_{a}", fam, cfg={"recurrent_activation": a, **rs1}, scale=sc, notes=nt))
        out.append(Case(f"{pre}_no_bias", fam, B=2, D=4, cfg={"use_bias": False, **rs1}))
        for rs in (0, 1):
            for st in (0, 1):
                out.append(Case(f"{pre}_rseq{rs}_rstate{st}", fam,
                                cfg={"return_sequences": bool(rs), "return_state": bool(st)}))
        for rs in (0, 1):
            out.append(Case(f"{pre}_go_backwards_rseq{rs}", fam, T=7, U=4,
                            cfg={"go_backwards": True, "return_sequences": bool(rs), "return_state": True}))
        for src, tag in (("mask_arg", "arg"), ("masking_layer", "layer")):
            for rs in (0, 1):
                out.append(Case(f"{pre}_mask_{tag}_rseq{rs}", fam, B=4, T=8, U=4, mask=src,
                                cfg={"return_sequences": bool(rs), "return_state": True}))
        out.append(Case(f"{pre}_mask_go_backwards_rseq1", fam, B=4, T=8, U=4, mask="mask_arg",
                        cfg={"go_backwards": True, "return_sequences": True, "return_state": True}))
        out.append(Case(f"{pre}_mask_leading_initial_state", fam, B=4, T=6, U=4, mask="mask_arg", mask_kind="leading",
                        init_state=True, cfg=rs1,
                        notes="masked steps BEFORE the first valid one output 0, not h0."))
        out.append(Case(f"{pre}_mask_all_masked_row_initial_state", fam, B=4, T=5, U=4, mask="mask_arg",
                        mask_kind="all_masked_row", init_state=True, cfg={"return_state": True},
                        notes="row 1 is fully masked: output 0, h = h0."))
        out.append(Case(f"{pre}_initial_state", fam, T=5, cfg=rs1, init_state=True))
        out.append(Case(f"{pre}_initial_state_go_backwards", fam, T=5, cfg={"go_backwards": True, **rs1}, init_state=True))
        out.append(Case(f"{pre}_stateful", fam, B=2, T=4, U=4, cfg={"stateful": True, **rs1}, stateful_T=[4, 4, 4],
                        resets=[2], notes="3 calls on the same layer; reset_states() before call 2."))
        out.append(Case(f"{pre}_stateful_varlen", fam, B=2, U=4, cfg={"stateful": True, **rs1}, stateful_T=[4, 1, 3, 2],
                        resets=[3], notes="calls with T = 4, 1, 3, 2; reset_states() before call 3."))
        out.append(Case(f"{pre}_stateful_masked", fam, B=3, T=5, U=4, mask="mask_arg", mask_kind="leading",
                        cfg={"stateful": True, **rs1}, stateful_T=[5, 5, 5], resets=[2],
                        notes="masked stateful calls; the carried state is the masked final state."))
        out.append(Case(f"{pre}_stateful_go_backwards", fam, B=2, T=4, U=4, cfg={"stateful": True, "go_backwards": True, **rs1},
                        stateful_T=[4, 4, 4], resets=[2]))
        out.append(Case(f"{pre}_units1", fam, B=2, T=5, U=1, cfg=rs1))
        out.append(Case(f"{pre}_input_dim1", fam, B=2, T=5, D=1, U=4, cfg=rs1))
        out.append(Case(f"{pre}_timesteps1", fam, T=1, U=4, cfg=rs1))
        out.append(Case(f"{pre}_units_ne_input", fam, B=2, T=4, D=11, U=6, cfg=rs1))
        out.append(Case(f"{pre}_large_b5_t20_d7_u13", fam, B=5, T=20, D=7, U=13, cfg=rs1))
        for rs in (0, 1):
            out.append(Case(f"{pre}_bidir_rseq{rs}", fam, kind="bidirectional", U=4, cfg={"return_sequences": bool(rs)}))
        out.append(Case(f"{pre}_bidir_masked_rseq0", fam, kind="bidirectional", B=4, T=7, U=4, mask="mask_arg",
                        cfg={"return_sequences": False}))
        out.append(Case(f"{pre}_bidir_masked_rseq1", fam, kind="bidirectional", B=4, T=7, U=4, mask="masking_layer",
                        cfg={"return_sequences": True}))
        out.append(Case(f"{pre}_bidir_rseq1_rstate", fam, kind="bidirectional", B=2, T=5, D=4, U=3,
                        cfg={"return_sequences": True, "return_state": True}))
        out.append(Case(f"{pre}_stacked", fam, kind="stacked", U=[6, 4], cfg={}))
        out.append(Case(f"{pre}_stacked_masked", fam, kind="stacked", B=4, T=7, U=[5, 3], mask="masking_layer", cfg={}))
    return out


# ------------------------------------------------------------------ Keras side

def layer_kwargs(case, U, extra_cfg):
    lname, fam_kw = FAMILIES[case.fam]
    kw = dict(fam_kw)
    kw.update(extra_cfg)
    return lname, U, kw


def config_of(layer, lname, D, B, T):
    c = layer.get_config()
    out = {"units": c["units"], "input_dim": D, "batch": B, "timesteps": T, "activation": c["activation"],
           "recurrent_activation": c.get("recurrent_activation") if lname == "GRU" else None,
           "use_bias": c["use_bias"]}
    if lname == "GRU":
        out["reset_after"] = c["reset_after"]
    out.update({"return_sequences": c["return_sequences"], "return_state": c["return_state"],
                "go_backwards": c["go_backwards"], "stateful": c["stateful"], "time_major": c.get("time_major", False),
                "zero_output_for_mask": bool(layer.zero_output_for_mask)})  # tf_keras omits it from get_config when False
    return out


def rand_weights(layer, rng, scale):
    ws = [(rng.uniform(-0.5, 0.5, size=w.shape) * scale).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(ws)
    return ws


def weights_json(layer, lname):
    ws = layer.get_weights()
    use_bias = len(ws) == 3
    return {"kernel": ws[0], "recurrent_kernel": ws[1], "bias": ws[2] if use_bias else None}


def gen_case(K, api, kver, backend, case):
    import tensorflow as tf

    L = K.layers
    K.backend.clear_session()
    rng = common.rng_for(case.name)
    B, D = case.B, case.D
    Ts = case.stateful_T or [case.T]
    lname = FAMILIES[case.fam][0]
    stateful = bool(case.cfg.get("stateful"))

    # ---- build
    if case.kind == "single":
        _, U, kw = layer_kwargs(case, case.U, case.cfg)
        layer = getattr(L, lname)(U, **kw)
        layer.build((B, None if stateful else case.T, D))
        rand_weights(layer, rng, case.scale)
        parts = [layer]
    elif case.kind == "bidirectional":
        _, U, kw = layer_kwargs(case, case.U, case.cfg)
        layer = L.Bidirectional(getattr(L, lname)(U, **kw), merge_mode="concat")
        layer.build((B, case.T, D))
        rand_weights(layer.forward_layer, rng, case.scale)
        rand_weights(layer.backward_layer, rng, case.scale)
        parts = [layer.forward_layer, layer.backward_layer]
    else:  # stacked
        _, _, kw0 = layer_kwargs(case, case.U[0], {"return_sequences": True})
        _, _, kw1 = layer_kwargs(case, case.U[1], case.cfg)
        l0 = getattr(L, lname)(case.U[0], **kw0)
        l1 = getattr(L, lname)(case.U[1], **kw1)
        l0.build((B, case.T, D))
        l1.build((B, case.T, case.U[0]))
        rand_weights(l0, rng, case.scale)
        rand_weights(l1, rng, case.scale)
        parts = [l0, l1]
        layer = None

    # ---- calls
    calls = []
    for ci, T in enumerate(Ts):
        reset = ci in case.resets
        if reset:
            layer.reset_states()
        x = rng.standard_normal((B, T, D)).astype(np.float32)
        mask = None
        if case.mask:
            mask = mask_pattern(B, T, case.mask_kind)
            if case.mask == "masking_layer":
                x[mask == 0] = 0.0
        h0 = None
        if case.init_state:
            h0 = rng.standard_normal((B, case.U)).astype(np.float32) * 0.5
        xt = tf.constant(x)
        if case.mask == "masking_layer":
            xt = L.Masking(0.0)(xt)
        kwargs = {}
        if case.mask == "mask_arg":
            kwargs["mask"] = tf.constant(mask.astype(bool))
        if h0 is not None:
            kwargs["initial_state"] = [tf.constant(h0)]
        outputs = {}
        if case.kind == "stacked":
            y0 = parts[0](xt, **kwargs)
            y = parts[1](y0)
            outputs = {"output": np.asarray(y), "h": None, "c": None, "layer_outputs": [np.asarray(y0), np.asarray(y)]}
        else:
            y = layer(xt, **kwargs)
            rst = case.cfg.get("return_state", False)
            if case.kind == "single":
                if rst:
                    outputs = {"output": np.asarray(y[0]), "h": np.asarray(y[1]), "c": None}
                else:
                    outputs = {"output": np.asarray(y), "h": None, "c": None}
            else:
                if rst:
                    outputs = {"output": np.asarray(y[0]), "h": None, "c": None,
                               "forward_h": np.asarray(y[1]), "backward_h": np.asarray(y[2])}
                else:
                    outputs = {"output": np.asarray(y), "h": None, "c": None}
        for k, v in outputs.items():
            for a in (v if isinstance(v, list) else [v]):
                if a is not None and not np.all(np.isfinite(a)):
                    raise RuntimeError(f"{case.name}: non-finite {k}")
        calls.append({"inputs": x, "mask": mask, "mask_source": case.mask,
                      "initial_state": None if h0 is None else {"h": h0},
                      "reset_states_before": reset, "outputs": outputs})

    # ---- JSON
    T0 = Ts[0]
    if case.kind == "single":
        config = config_of(parts[0], lname, D, B, T0)
        kind = "gru" if lname == "GRU" else "simple_rnn"
        weights, layers = weights_json(parts[0], lname), None
    elif case.kind == "bidirectional":
        config = config_of(parts[0], lname, D, B, T0)
        config["merge_mode"] = "concat"
        kind = "bidirectional"
        weights = None
        layers = [{"config": config_of(p, lname, D, B, T0), "weights": weights_json(p, lname)} for p in parts]
    else:
        kind = "stacked"
        c1 = config_of(parts[1], lname, D, B, T0)
        config = {"batch": B, "timesteps": T0, "input_dim": D, "return_sequences": c1["return_sequences"],
                  "return_state": c1["return_state"], "go_backwards": False, "stateful": False, "time_major": False,
                  "num_layers": 2, "units": list(case.U)}
        weights = None
        layers = [{"config": config_of(parts[0], lname, D, B, T0), "weights": weights_json(parts[0], lname)},
                  {"config": config_of(parts[1], lname, case.U[0], B, T0), "weights": weights_json(parts[1], lname)}]
    notes = case.notes
    if case.mask == "masking_layer":
        notes = (notes + " " if notes else "") + "inputs are exactly 0.0 at masked steps (Masking(0.0) in front)."
    obj = {"name": case.name, "keras_version": kver, "keras_api": api, "backend": backend, "layer": lname, "kind": kind,
           "notes": notes, "config": config, "weights": weights}
    if layers is not None:
        obj["layers"] = layers
    obj["calls"] = calls
    path = os.path.join(OUT, case.name + ".json")
    common.write_json(path, obj)
    verify_roundtrip(path, obj)
    return path


def verify_roundtrip(path, obj):
    """Re-read the file: every float array must parse back to the exact float32."""
    with open(path) as f:
        back = json.load(f)

    def cmp(a, b, where):
        if a is None:
            assert b is None, where
            return
        if isinstance(a, np.ndarray):
            if a.dtype.kind in "iub":
                assert np.array_equal(np.asarray(b), a), where
            else:
                assert common.f32_roundtrip_equal(b, a), where
            return
        if isinstance(a, dict):
            for k in a:
                cmp(a[k], b[k], f"{where}.{k}")
            return
        if isinstance(a, list):
            assert len(a) == len(b), where
            for i, (u, v) in enumerate(zip(a, b)):
                cmp(u, v, f"{where}[{i}]")

    cmp(obj, back, os.path.basename(path))


def gen_api(api):
    K, kver, backend = common.load_api(api)
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for case in cases_for(api):
        gen_case(K, api, kver, backend, case)
        n += 1
    print(f"{api}: {n} files", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=["keras3", "tf_keras2"])
    args = ap.parse_args()
    if args.api:
        gen_api(args.api)
        return
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".json"):
            os.remove(os.path.join(OUT, f))
    for api in ("keras3", "tf_keras2"):
        subprocess.run([sys.executable, os.path.abspath(__file__), "--api", api], check=True)


if __name__ == "__main__":
    main()
