#!/usr/bin/env python3
"""Per-layer fixtures for the merge layers and the Keras 3 mask ops, computed by
real Keras: tests/fixtures/layers/<case>/ (case.json + small float32 .npy files).

    python gen_layer_cases_merge.py               # both APIs (one subprocess each)
    python gen_layer_cases_merge.py --api keras3  # one API only

Merge layers (`Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum`,
`Concatenate`), both Keras 3 and tf_keras: each layer is called eagerly on
tensors that carry Keras masks (Keras 3: `backend.set_keras_mask`; tf_keras:
the `_keras_mask` attribute), exactly as a Functional model hands them over;
the output and the output's mask (`get_keras_mask(out)` / `out._keras_mask`)
are stored. Values at masked steps are random, not zero, so that Keras 3's
mask-dependent Multiply / Maximum / Minimum are seen. A few cases are cross-
checked against a Functional model built with Masking layers (the output must
be identical), and `layer.compute_mask(inputs, masks)` is compared with the
mask the call attached, where Keras computes the mask that way.

Keras 3 ops (module `keras.src.ops.numpy` / `keras.src.ops.core`), Keras 3
only: the Operation is built from its constructor arguments and called on
the inputs; `op.get_config()` is stored as the config, the call's positional
arguments as `args` (a tensor or a scalar each; `Concatenate` takes one list).

Case names start with `merge_` or `op_`; this script rewrites only those
directories. Layout of case.json:

    {"case", "keras_api": "keras3"|"tf_keras2", "keras_version",
     "kind": "layer"|"op", "class_name", "module", "config": {...},
     "args": [{"tensor": i} | {"scalar": v} | {"list": [i, ...]}]   (ops only),
     "inputs": [{"file", "dtype": "float32"|"bool"|"int32"|"int64",
                 "mask": file | null}],        (bool / int inputs stored as float32)
     "outputs": [{"file", "mask": file | null}] | null,
     "error": null | "Keras's error message (the call failed)",
     "description"}

Masks are (B, T) float32 0/1 files; bool outputs are stored as float32 0/1.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import REPO  # noqa: E402

import numpy as np  # noqa: E402

OUT = os.path.join(REPO, "tests", "fixtures", "layers")
B, T, D = 3, 5, 4


def masks_for(rng, shapes):
    """(B, T_i) masks, one per input shape, with every combination of valid /
    masked across inputs at some step, a fully masked row in the first, and a
    fully valid row."""
    ms = []
    for s in shapes:
        m = rng.random((B, s[1] if len(s) > 1 else 1)) < 0.6
        m[2, :] = True  # one fully valid row
        ms.append(m)
    ms[0][1, :] = False  # a fully masked row in the first input
    if len(shapes) > 1 and all(m.shape[1] >= 4 for m in ms[:2]):
        ms[1][1, 0] = True
        ms[0][0, 0], ms[1][0, 0] = False, False
        ms[0][0, 1], ms[1][0, 1] = True, False
        ms[0][0, 2], ms[1][0, 2] = False, True
        ms[0][0, 3], ms[1][0, 3] = True, True
    return ms


def merge_cases():
    """(name, class, kwargs, shapes, masked flags, description)."""
    cases = []
    elem = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
    for cls in elem:
        c = cls.lower()
        s3 = (B, T, D)
        cases += [
            (f"{c}_nomask", cls, {}, [s3, s3], [False, False], "two inputs, no masks"),
            (f"{c}_mask_first", cls, {}, [s3, s3], [True, False], "first input masked"),
            (f"{c}_mask_second", cls, {}, [s3, s3], [False, True], "second input masked"),
            (f"{c}_mask_both", cls, {}, [s3, s3], [True, True], "both inputs masked"),
            (f"{c}_broadcast_masked", cls, {}, [(B, T, 1), s3], [True, True],
             "(B, T, 1) with (B, T, D), both masked"),
            (f"{c}_rank_broadcast", cls, {}, [(B, D), s3], [False, False],
             "(B, D) with (B, T, D): Keras inserts axes after the batch"),
            (f"{c}_2d", cls, {}, [(B, D), (B, D)], [False, False], "two (B, D) inputs"),
        ]
        if cls != "Subtract":
            cases += [
                (f"{c}_three_masked", cls, {}, [s3, s3, s3], [True, True, True],
                 "three inputs, all masked"),
                (f"{c}_three_last_unmasked", cls, {}, [s3, s3, s3], [True, True, False],
                 "three inputs, the last unmasked"),
                (f"{c}_three_mid_unmasked", cls, {}, [s3, s3, s3], [True, False, True],
                 "three inputs, the middle one unmasked"),
                (f"{c}_single_masked", cls, {}, [s3], [True], "one masked input"),
            ]
        else:
            cases.append((f"{c}_three", cls, {}, [s3, s3, s3], [False, False, False],
                          "Subtract of three inputs (Keras refuses)"))
    cat = "Concatenate"
    for ax in (-1, 2):
        cases += [
            (f"concat_ax{ax}_nomask".replace("-", "m"), cat, {"axis": ax},
             [(B, T, 3), (B, T, 2)], [False, False], f"axis={ax}, no masks"),
            (f"concat_ax{ax}_mask_first".replace("-", "m"), cat, {"axis": ax},
             [(B, T, 3), (B, T, 2)], [True, False], f"axis={ax}, first masked"),
            (f"concat_ax{ax}_mask_second".replace("-", "m"), cat, {"axis": ax},
             [(B, T, 3), (B, T, 2)], [False, True], f"axis={ax}, second masked"),
            (f"concat_ax{ax}_mask_both".replace("-", "m"), cat, {"axis": ax},
             [(B, T, 3), (B, T, 2)], [True, True], f"axis={ax}, both masked"),
        ]
    cases += [
        ("concat_axm1_three_mixed", cat, {"axis": -1}, [(B, T, 3), (B, T, 1), (B, T, 2)],
         [True, False, True], "three inputs, the middle unmasked"),
        ("concat_axm1_single_masked", cat, {"axis": -1}, [(B, T, 3)], [True],
         "one masked input"),
        ("concat_ax1_nomask", cat, {"axis": 1}, [(B, T, D), (B, 2, D)], [False, False],
         "time axis, no masks"),
        ("concat_ax1_mask_both", cat, {"axis": 1}, [(B, T, D), (B, 2, D)], [True, True],
         "time axis, both masked: the masks are concatenated"),
        ("concat_axm2_mask_both", cat, {"axis": -2}, [(B, T, D), (B, 2, D)], [True, True],
         "axis=-2 (time), both masked"),
        ("concat_ax1_mask_first_d1", cat, {"axis": 1}, [(B, T, 1), (B, 2, 1)], [True, False],
         "time axis, first masked, features 1"),
        ("concat_ax1_mask_first", cat, {"axis": 1}, [(B, T, D), (B, 2, D)], [True, False],
         "time axis, first masked (tf_keras fails: its ones mask has D features)"),
        ("concat_2d", cat, {"axis": -1}, [(B, 3), (B, 2)], [False, False], "(B, 3) and (B, 2)"),
        ("concat_rank4_ax2", cat, {"axis": 2}, [(B, 2, 3, 2), (B, 2, 1, 2)], [False, False],
         "rank 4, axis 2"),
    ]
    return cases


def gen_merges(K, api, version):
    import tensorflow as tf
    out = []
    for name, cls, kw, shapes, masked, desc in merge_cases():
        case = f"merge_{name}__{common.API_SHORT[api]}"
        rng = common.rng_for(case.split("__")[0])
        xs = [rng.normal(size=s).astype("float32") for s in shapes]
        ms = masks_for(rng, shapes)
        ms = [m if f else None for m, f in zip(ms, masked)]
        layer = getattr(K.layers, cls)(**kw)
        ts = []
        for x, m in zip(xs, ms):
            t = tf.constant(x)
            if m is not None:
                if api == "keras3":
                    from keras.src import backend
                    backend.set_keras_mask(t, tf.constant(m))
                else:
                    t._keras_mask = tf.constant(m)
            ts.append(t)
        rec = dict(case=case, keras_api=api, keras_version=version, kind="layer",
                   class_name=cls, module="keras.layers", config=layer.get_config(),
                   description=desc, inputs=[], outputs=None, error=None)
        try:
            y = layer(ts)
            if api == "keras3":
                from keras.src import backend
                ym = backend.get_keras_mask(y)
            else:
                ym = getattr(y, "_keras_mask", None)
            y = np.asarray(y)
            ym = None if ym is None else np.asarray(ym)
        except Exception as e:  # Keras refuses: the case records its message
            rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            y = None
        d = os.path.join(OUT, case)
        os.makedirs(d, exist_ok=True)
        for i, (x, m) in enumerate(zip(xs, ms)):
            np.save(os.path.join(d, f"input_{i}.npy"), x)
            mf = None
            if m is not None:
                mf = f"input_{i}_mask.npy"
                np.save(os.path.join(d, mf), m.astype("float32"))
            rec["inputs"].append(dict(file=f"input_{i}.npy", dtype="float32", mask=mf))
        if y is not None:
            np.save(os.path.join(d, "output_0.npy"), y.astype("float32"))
            mf = None
            if ym is not None:
                mf = "output_0_mask.npy"
                np.save(os.path.join(d, mf), ym.astype("float32"))
            rec["outputs"] = [dict(file="output_0.npy", mask=mf)]
            check_merge(K, api, cls, kw, xs, ms, y, ym, layer, ts)
        common.write_json(os.path.join(d, "case.json"), rec)
        out.append(case)
    return out


def check_merge(K, api, cls, kw, xs, ms, y, ym, layer, ts):
    """Cross-checks: compute_mask agrees with the attached mask where Keras attaches it
    that way; a Functional model with Masking layers gives the same as the eager call on
    zeroed inputs."""
    import tensorflow as tf
    masks = [None if m is None else tf.constant(m) for m in ms]
    cm = layer.compute_mask(ts, masks)
    mask_set_by_call = api == "keras3" and cls in ("Multiply", "Maximum", "Minimum")
    if not mask_set_by_call:
        a = None if cm is None else np.asarray(cm)
        assert (a is None) == (ym is None), (cls, kw, a, ym)
        assert a is None or (a == ym).all(), (cls, kw)
    if any(m is None for m in ms) or len({x.ndim for x in xs}) != 1 or xs[0].ndim != 3:
        return
    # Functional: Input -> Masking -> merge, on inputs zeroed at masked steps
    zs = [x * m[:, :, None] for x, m in zip(xs, ms)]
    ins = [K.Input(shape=x.shape[1:]) for x in xs]
    mk = [K.layers.Masking(0.0)(i) for i in ins]
    model = K.Model(ins, getattr(K.layers, cls)(**kw)(mk))
    fy = np.asarray(model([tf.constant(z) for z in zs]))
    zt = []
    for z, m in zip(zs, ms):
        t = tf.constant(z)
        mm = tf.constant(np.any(z != 0, axis=-1))
        if api == "keras3":
            from keras.src import backend
            backend.set_keras_mask(t, mm)
        else:
            t._keras_mask = mm
        zt.append(t)
    ey = np.asarray(getattr(K.layers, cls)(**kw)(zt))
    assert np.array_equal(fy, ey), (cls, kw, np.abs(fy - ey).max())


def op_cases(rng):
    """(name, op class, module, ctor kwargs, inputs [(array, dtype)], args, description)."""
    f = lambda *s: rng.normal(size=s).astype("float32")  # noqa: E731
    bools = lambda *s: rng.random(s) < 0.5  # noqa: E731

    def with_zeros(x, frac=0.4):
        x = x.copy()
        z = rng.random(x.shape[:2]) < frac
        x[z] = 0.0
        x[rng.random(x.shape) < 0.1] = 0.0
        return x

    toks = rng.integers(1, 20, size=(B, 7))
    toks[rng.random((B, 7)) < 0.3] = 0
    half = f(B, T, D)
    half[rng.random(half.shape) < 0.3] = 0.5
    a1, a4 = f(B, T, 1), f(B, T, D)
    a4[:, :, 1:3] = a1  # some equal after broadcasting
    N, C = "keras.src.ops.numpy", "keras.src.ops.core"
    t0, t1 = {"tensor": 0}, {"tensor": 1}
    cases = [
        ("not_equal_scalar", "NotEqual", N, {}, [(with_zeros(f(B, T, D)), "float32")],
         [t0, {"scalar": 0.0}], "x != 0.0 (Masking's mask, step 1)"),
        ("not_equal_int64_scalar", "NotEqual", N, {}, [(toks, "int64")], [t0, {"scalar": 0}],
         "int64 tokens != 0 (Embedding mask_zero)"),
        ("not_equal_int32_scalar", "NotEqual", N, {}, [(toks, "int32")], [t0, {"scalar": 0}],
         "int32 tokens != 0"),
        ("not_equal_scalar_first", "NotEqual", N, {}, [(with_zeros(f(B, T, D)), "float32")],
         [{"scalar": 0.0}, t0], "0.0 != x"),
        ("equal_scalar", "Equal", N, {}, [(half, "float32")], [t0, {"scalar": 0.5}], "x == 0.5"),
        ("equal_broadcast", "Equal", N, {}, [(a1, "float32"), (a4, "float32")], [t0, t1],
         "(B, T, 1) == (B, T, D)"),
        ("not_equal_broadcast", "NotEqual", N, {}, [(a4, "float32"), (a1, "float32")],
         [t0, t1], "(B, T, D) != (B, T, 1)"),
        ("any_last", "Any", N, {"axis": -1, "keepdims": False},
         [(bools(B, T, D), "bool")], [t0], "any over the last axis"),
        ("any_float_last", "Any", N, {"axis": -1, "keepdims": False},
         [(with_zeros(f(B, T, D)), "float32")], [t0], "any of floats (nonzero) over the last axis"),
        ("any_axis1_keepdims", "Any", N, {"axis": 1, "keepdims": True},
         [(bools(B, T, D), "bool")], [t0], "any over axis 1, keepdims"),
        ("any_axes_12", "Any", N, {"axis": [1, 2], "keepdims": False},
         [(bools(B, T, D) & bools(B, T, D) & bools(B, T, D), "bool")], [t0],
         "any over axes 1 and 2"),
        ("all_last", "All", N, {"axis": -1, "keepdims": False},
         [(bools(B, T, D) | bools(B, T, D), "bool")], [t0], "all over the last axis"),
        ("all_keepdims", "All", N, {"axis": -1, "keepdims": True},
         [(bools(B, T, D) | bools(B, T, D), "bool")], [t0], "all, keepdims"),
        ("logical_or_broadcast", "LogicalOr", N, {},
         [(bools(B, T, 1), "bool"), (bools(B, T, D), "bool")], [t0, t1],
         "(B, T, 1) | (B, T, D) (Concatenate's mask, step 3)"),
        ("logical_or_2d", "LogicalOr", N, {}, [(bools(B, T), "bool"), (bools(B, T), "bool")],
         [t0, t1], "(B, T) | (B, T) (Add's mask)"),
        ("logical_and", "LogicalAnd", N, {}, [(bools(B, T, D), "bool"), (bools(B, 1, D), "bool")],
         [t0, t1], "(B, T, D) & (B, 1, D)"),
        ("logical_not", "LogicalNot", N, {}, [(bools(B, T), "bool")], [t0], "not"),
        ("logical_or_float", "LogicalOr", N, {},
         [(with_zeros(f(B, T, D)), "float32"), (with_zeros(f(B, T, D)), "float32")], [t0, t1],
         "floats as truth values"),
        ("expand_dims_last", "ExpandDims", N, {"axis": -1}, [(bools(B, T), "bool")], [t0],
         "(B, T) -> (B, T, 1)"),
        ("expand_dims_axis1", "ExpandDims", N, {"axis": 1}, [(f(B, T), "float32")], [t0],
         "(B, T) -> (B, 1, T)"),
        ("expand_dims_tuple", "ExpandDims", N, {"axis": (1, -1)}, [(f(B, T), "float32")], [t0],
         "(B, T) -> (B, 1, T, 1)"),
        ("squeeze_last", "Squeeze", N, {"axis": -1}, [(bools(B, T, 1), "bool")], [t0],
         "(B, T, 1) -> (B, T)"),
        ("squeeze_none", "Squeeze", N, {}, [(f(B, 1, T, 1), "float32")], [t0],
         "(B, 1, T, 1) -> (B, T)"),
        ("zeros_like_bool", "ZerosLike", N, {"dtype": "bool"}, [(f(B, T, 3), "float32")], [t0],
         "zeros_like(x, dtype=bool)"),
        ("ones_like_bool", "OnesLike", N, {"dtype": "bool"}, [(f(B, T, 2), "float32")], [t0],
         "ones_like(x, dtype=bool)"),
        ("ones_like", "OnesLike", N, {}, [(f(B, T, 2), "float32")], [t0], "ones_like(x)"),
        ("concatenate_last", "Concatenate", N, {"axis": -1},
         [(bools(B, T, 3), "bool"), (bools(B, T, 2), "bool")], [{"list": [0, 1]}],
         "concatenate([(B, T, 3), (B, T, 2)], axis=-1) (Concatenate's mask, step 4)"),
        ("concatenate_axis1", "Concatenate", N, {"axis": 1},
         [(f(B, T, D), "float32"), (f(B, 2, D), "float32"), (f(B, 1, D), "float32")],
         [{"list": [0, 1, 2]}], "three tensors on axis 1"),
        ("cast_int32", "Cast", C, {"dtype": "int32"}, [(f(B, T, D) * 4, "float32")], [t0],
         "float -> int32 (truncates toward zero)"),
        ("cast_bool", "Cast", C, {"dtype": "bool"}, [(with_zeros(f(B, T, D)), "float32")], [t0],
         "float -> bool"),
        ("cast_float32", "Cast", C, {"dtype": "float32"}, [(bools(B, T), "bool")], [t0],
         "bool -> float32"),
        ("cast_tokens_float32", "Cast", C, {"dtype": "float32"}, [(toks, "int32")], [t0],
         "int32 -> float32"),
    ]
    return cases


def gen_ops(K, version):
    import tensorflow as tf
    from keras.src.ops import core, numpy as knp
    out = []
    rng = common.rng_for("op_cases")
    for name, cls, module, kw, inputs, args, desc in op_cases(rng):
        case = f"op_{name}__k3"
        mod = knp if module.endswith("numpy") else core
        op = getattr(mod, cls)(**kw)
        ts = [tf.constant(x.astype(dt) if dt != "bool" else x.astype(bool)) for x, dt in inputs]

        def arg(a):
            if "tensor" in a:
                return ts[a["tensor"]]
            if "list" in a:
                return [ts[i] for i in a["list"]]
            return a["scalar"]

        y = np.asarray(op(*[arg(a) for a in args]))
        cfg = op.get_config()
        rec = dict(case=case, keras_api="keras3", keras_version=version, kind="op",
                   class_name=cls, module=module, config=cfg, args=args, description=desc,
                   inputs=[], outputs=[dict(file="output_0.npy", mask=None)], error=None)
        d = os.path.join(OUT, case)
        os.makedirs(d, exist_ok=True)
        for i, (x, dt) in enumerate(inputs):
            np.save(os.path.join(d, f"input_{i}.npy"), x.astype("float32"))
            rec["inputs"].append(dict(file=f"input_{i}.npy", dtype=dt, mask=None))
        np.save(os.path.join(d, "output_0.npy"), y.astype("float32"))
        rec["output_dtype"] = str(y.dtype)
        common.write_json(os.path.join(d, "case.json"), rec)
        out.append(case)
    return out


def gen_api(api):
    K, version, _ = common.load_api(api)
    cases = gen_merges(K, api, version)
    if api == "keras3":
        cases += gen_ops(K, version)
    print(f"{api}: {len(cases)} cases")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=["keras3", "tf_keras2"])
    args = ap.parse_args()
    if args.api:
        gen_api(args.api)
        return
    os.makedirs(OUT, exist_ok=True)
    for d in os.listdir(OUT):
        if (d.startswith("merge_") or d.startswith("op_")) and os.path.isdir(os.path.join(OUT, d)):
            shutil.rmtree(os.path.join(OUT, d))
    for api in ("keras3", "tf_keras2"):
        subprocess.run([sys.executable, os.path.abspath(__file__), "--api", api], check=True)


if __name__ == "__main__":
    main()
