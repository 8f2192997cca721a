#!/usr/bin/env python3
"""Per-layer real-Keras cases for the time-axis layers (Conv1D, MaxPooling1D,
AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D, ZeroPadding1D,
Cropping1D) under tests/fixtures/layers/<case>__<k3|k2>/.

    python gen_layer_cases.py                # both APIs (one subprocess each)
    python gen_layer_cases.py --api keras3   # one API only (used by the line above)

Each case is one layer called by real Keras on a small random input:

    case.json      {"case", "api", "keras_version", "class_name", "config" (the layer's
                    get_config()), "weights": [{"name": "kernel", "file": "kernel.npy"}, ...],
                    "input": "input.npy", "mask": null | "mask.npy",
                    "output": "output.npy", "output_masked": bool, "source", "notes"}
    *.npy          float32 arrays; a mask as float32 0/1 (batch, steps)

Two sources:
  * "layer": a layer built here with the config in the case, random weights
    (normal × 0.5), called eagerly. Masked cases call `Masking()` first (the stored
    input is the Masking output, the mask its mask) or pass `mask=` explicitly
    (GlobalAveragePooling1D only: the others do not take one); `output_masked` is
    whether Keras attached a mask to the layer's output.
  * "zoo:<case>": a layer of a model of tests/fixtures/zoo, loaded from its file; the
    layer's input and output for that case's first call come from a sub-model
    (model inputs -> [layer input, layer output]); the mask is the case's call mask or
    the model's Masking mask (the layers between pass it on unchanged).

Seeds come from crc32(case name), so a re-run writes the same arrays. Nothing here
imports the crate.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import REPO, API_SHORT, to_f32  # noqa: E402

import numpy as np  # noqa: E402

OUT = os.path.join(REPO, "tests", "fixtures", "layers")
ZOO = os.path.join(REPO, "tests", "fixtures", "zoo")

CLASSES = (
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "ZeroPadding1D",
    "Cropping1D",
)

# (name, class, kwargs, input shape, how the input is masked, APIs)
#   masked: None, "masking" (Masking() before the layer), "explicit" (layer(x, mask=m)),
#   "explicit_nonfinite" (explicit mask, inf / nan at masked steps), "nonfinite" (no mask;
#   nan, inf and -inf in the input, some windows of nan or -inf only)
CASES = [
    # Conv1D
    ("conv_valid_relu", "Conv1D", dict(filters=5, kernel_size=3, activation="relu"), (3, 9, 4), None),
    ("conv_same_even_kernel", "Conv1D", dict(filters=4, kernel_size=4, padding="same"), (2, 8, 3), None),
    ("conv_same_strides2", "Conv1D", dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 9, 4), None),
    ("conv_same_k5_strides3", "Conv1D", dict(filters=3, kernel_size=5, strides=3, padding="same"), (2, 10, 2), None),
    ("conv_same_kernel_longer_than_t", "Conv1D", dict(filters=2, kernel_size=6, padding="same"), (2, 3, 2), None),
    ("conv_causal_dilation3_tanh", "Conv1D",
     dict(filters=5, kernel_size=2, padding="causal", dilation_rate=3, activation="tanh"), (2, 11, 3), None),
    ("conv_causal_strides2", "Conv1D", dict(filters=4, kernel_size=3, strides=2, padding="causal"), (2, 9, 2), None),
    ("conv_valid_dilation2", "Conv1D", dict(filters=4, kernel_size=3, dilation_rate=2), (2, 11, 5), None),
    ("conv_groups3_strides2_nobias", "Conv1D",
     dict(filters=6, kernel_size=3, strides=2, groups=3, use_bias=False), (2, 10, 9), None),
    ("conv_channels_first_same_strides2", "Conv1D",
     dict(filters=4, kernel_size=2, strides=2, padding="same", data_format="channels_first"), (2, 5, 9), None),
    ("conv_channels_first_causal_groups", "Conv1D",
     dict(filters=4, kernel_size=3, padding="causal", groups=2, data_format="channels_first"), (2, 6, 7), None),
    ("conv_channels_first_softmax", "Conv1D",
     dict(filters=3, kernel_size=3, data_format="channels_first", activation="softmax"), (2, 4, 7), None),
    ("conv_softmax", "Conv1D", dict(filters=5, kernel_size=3, padding="same", activation="softmax"), (2, 7, 3), None),
    ("conv_log_softmax", "Conv1D", dict(filters=4, kernel_size=2, activation="log_softmax"), (2, 6, 3), None),
    ("conv_hard_sigmoid", "Conv1D", dict(filters=3, kernel_size=2, activation="hard_sigmoid"), (2, 6, 3), None),
    ("conv_masked_input", "Conv1D", dict(filters=4, kernel_size=3, padding="same"), (4, 6, 3), "masking"),
    # MaxPooling1D / AveragePooling1D
    ("maxpool_default_odd_t", "MaxPooling1D", dict(), (2, 9, 3), None),
    ("maxpool_same_p3_s1", "MaxPooling1D", dict(pool_size=3, strides=1, padding="same"), (2, 7, 4), None),
    ("maxpool_same_p2_s3", "MaxPooling1D", dict(pool_size=2, strides=3, padding="same"), (2, 10, 3), None),
    ("maxpool_same_pool_longer_than_t", "MaxPooling1D", dict(pool_size=9, padding="same"), (2, 5, 3), None),
    ("maxpool_channels_first", "MaxPooling1D", dict(pool_size=2, data_format="channels_first"), (2, 3, 7), None),
    ("maxpool_masked_input", "MaxPooling1D", dict(pool_size=2), (4, 6, 3), "masking"),
    ("maxpool_nonfinite", "MaxPooling1D", dict(pool_size=2), (2, 6, 3), "nonfinite"),
    ("maxpool_same_nonfinite", "MaxPooling1D", dict(pool_size=3, strides=1, padding="same"), (2, 6, 3),
     "nonfinite"),
    ("avgpool_nonfinite", "AveragePooling1D", dict(pool_size=2), (2, 6, 3), "nonfinite"),
    ("avgpool_same_p2", "AveragePooling1D", dict(pool_size=2, padding="same"), (2, 7, 3), None),
    ("avgpool_same_p4_s1", "AveragePooling1D", dict(pool_size=4, strides=1, padding="same"), (2, 6, 2), None),
    ("avgpool_same_p2_s3", "AveragePooling1D", dict(pool_size=2, strides=3, padding="same"), (2, 8, 3), None),
    ("avgpool_valid_p2_s3", "AveragePooling1D", dict(pool_size=2, strides=3), (2, 7, 3), None),
    ("avgpool_channels_first_same", "AveragePooling1D",
     dict(pool_size=3, strides=2, padding="same", data_format="channels_first"), (2, 4, 9), None),
    ("avgpool_masked_input", "AveragePooling1D", dict(pool_size=3, padding="same"), (4, 6, 3), "masking"),
    # GlobalMaxPooling1D / GlobalAveragePooling1D
    ("gmp", "GlobalMaxPooling1D", dict(), (3, 7, 4), None),
    ("gmp_keepdims", "GlobalMaxPooling1D", dict(keepdims=True), (3, 5, 4), None),
    ("gmp_channels_first_keepdims", "GlobalMaxPooling1D", dict(data_format="channels_first", keepdims=True),
     (2, 4, 6), None),
    ("gmp_masked_ignores_mask", "GlobalMaxPooling1D", dict(), (4, 6, 3), "masking_negative"),
    ("gmp_nonfinite", "GlobalMaxPooling1D", dict(), (2, 6, 3), "nonfinite"),
    ("gap", "GlobalAveragePooling1D", dict(), (3, 7, 4), None),
    ("gap_channels_first", "GlobalAveragePooling1D", dict(data_format="channels_first"), (2, 4, 6), None),
    ("gap_masked", "GlobalAveragePooling1D", dict(), (4, 6, 3), "masking"),
    ("gap_masked_keepdims", "GlobalAveragePooling1D", dict(keepdims=True), (4, 6, 3), "masking"),
    ("gap_explicit_mask_nonfinite", "GlobalAveragePooling1D", dict(), (3, 6, 3), "explicit_nonfinite"),
    # ZeroPadding1D / Cropping1D
    ("zeropad_int", "ZeroPadding1D", dict(padding=2), (2, 5, 3), None),
    ("zeropad_tuple", "ZeroPadding1D", dict(padding=(1, 3)), (2, 4, 3), None),
    ("zeropad_default", "ZeroPadding1D", dict(), (2, 4, 2), None),
    ("zeropad_channels_first", "ZeroPadding1D", dict(padding=(2, 1), data_format="channels_first"), (2, 3, 5),
     None, ("keras3",)),
    ("zeropad_masked_input", "ZeroPadding1D", dict(padding=(1, 2)), (4, 6, 3), "masking"),
    ("crop_default", "Cropping1D", dict(), (2, 6, 3), None),
    ("crop_left_only", "Cropping1D", dict(cropping=(2, 0)), (2, 5, 3), None),
    ("crop_right_only", "Cropping1D", dict(cropping=(0, 3)), (2, 5, 3), None),
    ("crop_masked_input", "Cropping1D", dict(cropping=(1, 2)), (4, 6, 3), "masking"),
]

# zoo cases whose layers of CLASSES become per-layer cases
ZOO_ARCHS = [
    "conv_lstm", "conv_same_causal", "conv_strides_groups", "conv_bn_bilstm", "conv1d_channels_first",
    "mask_dropped_by_conv", "pooling_params", "global_avg_pool", "global_max_pool", "global_max_keepdims",
    "bilstm_gap_masked", "explicit_mask_bilstm_gap", "masked_bilstm_gmp", "masked_lstm_gmp", "padding_cropping",
]


# which layer class of a zoo arch receives the model's mask (Masking or the call's mask),
# every layer before it passing the mask on
MASK_REACHES = {
    "mask_dropped_by_conv": "Conv1D",
    "bilstm_gap_masked": "GlobalAveragePooling1D",
    "explicit_mask_bilstm_gap": "GlobalAveragePooling1D",
    "masked_bilstm_gmp": "GlobalMaxPooling1D",
    "masked_lstm_gmp": "GlobalMaxPooling1D",
}


def jsonable(v):
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def pad_mask(b, t):
    """The zoo's padding patterns: leading, trailing, one in the middle, fully masked."""
    m = np.ones((b, t), bool)
    pats = [lambda r: r.__setitem__(slice(0, 2), False),
            lambda r: r.__setitem__(slice(t - 2, t), False),
            lambda r: r.__setitem__(t // 2, False),
            lambda r: r.__setitem__(slice(0, t), False)]
    for i in range(b):
        pats[i % 4](m[i])
    return m


def save_case(api, version, name, layer, x, mask, y, out_masked, source, notes):
    d = os.path.join(OUT, f"{name}__{API_SHORT[api]}")
    os.makedirs(d, exist_ok=True)
    weights = []
    for wname in ("kernel", "bias"):
        v = getattr(layer, wname, None)
        if v is None:
            continue
        np.save(os.path.join(d, f"{wname}.npy"), to_f32(v.numpy()))
        weights.append(dict(name=wname, file=f"{wname}.npy"))
    np.save(os.path.join(d, "input.npy"), to_f32(x))
    if mask is not None:
        np.save(os.path.join(d, "mask.npy"), np.asarray(mask, np.float32))
    np.save(os.path.join(d, "output.npy"), to_f32(y))
    case = dict(
        case=os.path.basename(d), api=api, keras_version=version, class_name=layer.__class__.__name__,
        config=jsonable(layer.get_config()), weights=weights, input="input.npy",
        mask="mask.npy" if mask is not None else None, output="output.npy", output_masked=bool(out_masked),
        source=source, notes=notes,
    )
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
        f.write("\n")


def has_mask(t):
    m = getattr(t, "_keras_mask", None)
    return m is not None


def gen_layer_cases(K, api, version):
    import tensorflow as tf

    L = K.layers
    n = 0
    for spec in CASES:
        name, cls, kwargs, shape, masked = spec[:5]
        apis = spec[5] if len(spec) > 5 else ("keras3", "tf_keras2")
        if api not in apis:
            continue
        rng = common.rng_for(name)
        x = (rng.standard_normal(size=shape)).astype(np.float32)
        layer = getattr(L, cls)(**kwargs)
        mask = None
        notes = ""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if masked in ("masking", "masking_negative"):
                if masked == "masking_negative":
                    # all values below 0, so a max over the zeros at masked steps would show
                    x = -np.abs(x) - 0.5
                    notes = "inputs < 0: the zeros Masking leaves at masked steps win the max"
                m = pad_mask(shape[0], shape[1])
                x[~m] = 0.0
                xm = L.Masking(0.0)(tf.constant(x))
                mask = np.asarray(xm._keras_mask)
                assert (mask == m).all()
                x = np.asarray(xm)
                out = layer(xm)
            elif masked in ("explicit", "explicit_nonfinite"):
                m = pad_mask(shape[0], shape[1])
                m[-1, :] = m[0, :]  # no fully masked row: one with non-finite values instead
                if masked == "explicit_nonfinite":
                    x[0, 0, 0] = np.inf
                    x[0, 1, 1] = np.nan
                    x[1, shape[1] - 1, 2] = -np.inf
                    notes = ("inf / nan at masked steps: Keras 3 selects (they vanish), "
                             "tf_keras multiplies by the mask (NaN)")
                mask = m
                out = layer(tf.constant(x), mask=tf.constant(m))
            else:
                if masked == "nonfinite":
                    x[0, 0:2, 0] = np.nan
                    x[0, 3, 0] = np.nan
                    x[1, 2:4, 1] = -np.inf
                    x[0, 4, 2] = np.inf
                    x[1, 5, 2] = np.nan
                    notes = ("nan, inf, -inf in the input: max pooling skips NaN and starts from "
                             "the lowest finite float; reduce_max propagates NaN")
                out = layer(tf.constant(x))
        if layer.weights:
            for v in layer.weights:
                v.assign((rng.standard_normal(size=tuple(v.shape)) * 0.5).astype(np.float32))
            # call again with the random weights (same input, same mask)
            if mask is not None and masked.startswith("masking"):
                out = layer(xm)
            elif mask is not None:
                out = layer(tf.constant(x), mask=tf.constant(mask))
            else:
                out = layer(tf.constant(x))
        warn = [str(w.message).split(".")[0] for w in caught if "mask" in str(w.message)]
        if warn:
            notes = (notes + "; " if notes else "") + "Keras warned: " + warn[0]
        save_case(api, version, name, layer, x, mask, np.asarray(out), has_mask(out), "layer", notes)
        n += 1
    return n


def zoo_mask(K, model, case, x, call):
    if call.get("mask"):
        return np.load(os.path.join(ZOO, case, call["mask"])).astype(bool)
    for layer in model.layers:
        if layer.__class__.__name__ == "Masking":
            mv = layer.get_config().get("mask_value", 0.0)
            return np.any(x != mv, axis=-1)
    return None


def gen_zoo_cases(K, api, version):
    suffix = "__k3_keras" if api == "keras3" else "__k2_h5"
    n = 0
    for arch in ZOO_ARCHS:
        case = arch + suffix
        cdir = os.path.join(ZOO, case)
        with open(os.path.join(cdir, "case.json")) as f:
            meta = json.load(f)
        path = os.path.join(cdir, meta["model"])
        if api == "keras3":
            model = K.saving.load_model(path, compile=False, safe_mode=False)
        else:
            model = K.models.load_model(path, compile=False)
        call = meta["calls"][0]
        xs = [np.load(os.path.join(cdir, p)) for p in call["inputs"]]
        mask = zoo_mask(K, model, case, xs[0], call)
        for layer in model.layers:
            if layer.__class__.__name__ not in CLASSES:
                continue
            sub = K.Model(model.inputs, [layer.input, layer.output])
            args = xs if len(xs) > 1 else xs[0]
            if call.get("mask"):
                lin, lout = sub(args, mask=mask)
            else:
                lin, lout = sub(args)
            if isinstance(lin, (list, tuple)):
                # Keras 3 lists a mask passed on in the graph among the layer's inputs
                lin, *rest = lin
                for r in rest:
                    assert mask is not None and (np.asarray(r).astype(bool) == mask).all(), case
            lin, lout = np.asarray(lin), np.asarray(lout)
            # the mask reaches this layer where every layer before it passes it on
            reaches = MASK_REACHES.get(arch) == layer.__class__.__name__
            li = layer.input
            sym = (isinstance(li, (list, tuple)) and len(li) > 1) or \
                getattr(li, "_keras_mask", None) is not None
            # (a mask given to the call is not in the graph)
            if not call.get("mask") and sym != reaches:
                raise AssertionError(f"{case} {layer.name}: mask in the graph {sym}, expected {reaches}")
            layer_mask = mask if reaches else None
            notes = f"layer `{layer.name}` of zoo case {case}, call 0"
            if mask is not None and layer_mask is None:
                notes += "; the model's mask does not reach this layer (or the layer does not read it)"
            save_case(api, version, f"zoo_{arch}_{layer.name}", layer, lin, layer_mask, lout, False,
                      f"zoo:{case}", notes)
            n += 1
    return n


def gen_api(api):
    K, version, _ = common.load_api(api)
    n = gen_layer_cases(K, api, version)
    m = gen_zoo_cases(K, api, version)
    print(f"{api}: {n} layer cases, {m} zoo cases")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=["keras3", "tf_keras2"])
    args = ap.parse_args()
    if args.api:
        gen_api(args.api)
        return
    if os.path.isdir(OUT):
        for d in os.listdir(OUT):
            if "__" in d and os.path.isdir(os.path.join(OUT, d)):
                shutil.rmtree(os.path.join(OUT, d))
    for api in ("keras3", "tf_keras2"):
        subprocess.run([sys.executable, os.path.abspath(__file__), "--api", api], check=True)


if __name__ == "__main__":
    main()
