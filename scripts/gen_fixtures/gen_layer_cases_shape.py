#!/usr/bin/env python3
"""Per-layer fixtures for the "shape" layer group (Embedding, TimeDistributed,
RepeatVector, Flatten, Reshape, Permute, BatchNormalization,
LayerNormalization): one layer called eagerly by real Keras on a small input,
under tests/fixtures/layers/<case>__<k3|k2>/.

    python gen_layer_cases_shape.py                # both APIs (one subprocess each)
    python gen_layer_cases_shape.py --api keras3   # one API only
    python gen_layer_cases_shape.py --only emb_basic,td_masking

It also writes tests/fixtures/layers/zoo__<zoo case>/model.json: the zoo models
(tests/fixtures/zoo) that use these layers, as lists of layers with their configs and
weights (.npy), so that tests can build them through the class table while the model-file
readers do not deliver these layers' weights yet (see `dump_zoo`).

Each case directory holds
  case.json       what was run (schema below)
  input.npy       the input as float32 (token ids as their float32 values; the
                  dtype Keras got is `input.dtype`)
  input_mask.npy  float32 0/1 (B, T): the Keras mask attached to the input, if any
  w<i>.npy        the layer's weights in Keras order (`weights[i].name`)
  output.npy      float32, what `layer(x, training=False)` returned
  output_mask.npy float32 0/1: the output's Keras mask (`output_mask_shape`), if any

case.json: {"case", "keras_api", "keras_version", "class_name",
  "config": layer.get_config() (what a model file stores for the layer),
  "input": {"file", "dtype", "shape"}, "input_mask": file | null,
  "weights": [{"name", "file", "shape"}], "param_count": layer.count_params(),
  "output": file | null, "output_mask": file | null, "output_mask_shape": [...] | null,
  "error": null | the first line of the exception Keras raised (no outputs then),
  "notes": str}

Seeds come from crc32(case name): the Keras 3 and tf_keras case of a name get
identical inputs and weights. Weights are random normal * 0.5 (BatchNormalization
moving_variance uniform(0.5, 1.5), or as the case says).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import traceback
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import REPO  # noqa: E402

import numpy as np  # noqa: E402

OUT = os.path.join(REPO, "tests", "fixtures", "layers")

CASES = []


def case(name, notes="", apis=("keras3", "tf_keras2")):
    def deco(fn):
        CASES.append(dict(name=name, notes=notes, apis=apis, fn=fn))
        return fn

    return deco


class Run:
    """What a case function returns: the layer, its input (and mask), and how to
    set the weights (None: random normal * 0.5, moving_variance uniform)."""

    def __init__(self, layer, x, mask=None, weights=None, dtype=None):
        self.layer = layer
        self.x = x
        self.mask = mask
        self.weights = weights
        self.dtype = dtype or str(x.dtype)


def normal(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def tokens(rng, shape, vocab, zeros=True, dtype=np.int32):
    t = rng.integers(1, vocab, size=shape).astype(dtype)
    if zeros:
        flat = t.reshape(-1)
        flat[:: 3] = 0
    return t


def step_mask(B, T):
    m = np.ones((B, T), dtype=bool)
    m[0, : min(2, T - 1)] = False
    if B > 1:
        m[1, T - 1] = False
    return m


# ------------------------------------------------------------------ Embedding

@case("emb_basic")
def _(K, rng):
    return Run(K.layers.Embedding(7, 4), tokens(rng, (3, 5), 7))


@case("emb_mask_zero", "mask_zero: output mask = token != 0; input_dim counts id 0 (no shift)")
def _(K, rng):
    return Run(K.layers.Embedding(7, 4, mask_zero=True), tokens(rng, (3, 5), 7))


@case("emb_int64")
def _(K, rng):
    return Run(K.layers.Embedding(9, 3, mask_zero=True), tokens(rng, (2, 6), 9, dtype=np.int64))


@case("emb_float_tokens",
      "float ids are cast to int32 (truncated toward zero); the mask_zero mask is taken on the raw floats")
def _(K, rng):
    x = np.array([[0.7, 2.9, 0.0, -0.3, 3.0, 6.99], [1.0, -0.0, 5.5, 0.2, 4.0, 0.0]], dtype=np.float32)
    return Run(K.layers.Embedding(7, 3, mask_zero=True), x)


@case("emb_rank3", "tokens (B, T, K) -> (B, T, K, D)")
def _(K, rng):
    return Run(K.layers.Embedding(6, 2), tokens(rng, (2, 3, 4), 6))


@case("emb_rank1", "tokens (B,) -> (B, D)")
def _(K, rng):
    return Run(K.layers.Embedding(6, 3), tokens(rng, (5,), 6))


@case("emb_negative", "Keras 3 (TF backend) wraps ids in [-V, -1] (numpy take); tf_keras refuses them")
def _(K, rng):
    x = np.array([[1, -1, 0, -7], [3, 2, -3, 6]], dtype=np.int32)
    return Run(K.layers.Embedding(7, 2, mask_zero=True), x)


@case("emb_too_negative", "an id below -V is an error in both")
def _(K, rng):
    x = np.array([[1, -8, 0]], dtype=np.int32)
    return Run(K.layers.Embedding(7, 2), x)


@case("emb_out_of_range", "an id >= input_dim is an error in both")
def _(K, rng):
    x = np.array([[1, 2, 0], [6, 7, 1]], dtype=np.int32)
    return Run(K.layers.Embedding(7, 2), x)


@case("emb_vocab1", "one-row vocabulary, all ids 0: mask all False")
def _(K, rng):
    return Run(K.layers.Embedding(1, 3, mask_zero=True), np.zeros((2, 3), dtype=np.int32))


# -------------------------------------------------------- BatchNormalization

def bn_weights(rng, layer, small_var=False):
    ws = []
    for v in layer.weights:
        name = common.var_name(v)
        shape = tuple(int(s) for s in v.shape)
        if "moving_variance" in name:
            val = rng.uniform(1e-6, 1e-5, size=shape) if small_var else rng.uniform(0.5, 1.5, size=shape)
        elif "stddev" in name:
            val = rng.uniform(0.5, 1.5, size=shape)
        else:
            val = rng.standard_normal(size=shape) * 0.5
        ws.append(val.astype(np.float32))
    return ws


@case("bn_default", "inference: x * inv + (beta - mean * inv), inv = rsqrt(var + eps) * gamma")
def _(K, rng):
    return Run(K.layers.BatchNormalization(), normal(rng, 2, 5, 6))


@case("bn_no_center_no_scale")
def _(K, rng):
    return Run(K.layers.BatchNormalization(center=False, scale=False, epsilon=1e-2), normal(rng, 2, 5, 6))


@case("bn_center_only")
def _(K, rng):
    return Run(K.layers.BatchNormalization(scale=False), normal(rng, 3, 4))


@case("bn_scale_only")
def _(K, rng):
    return Run(K.layers.BatchNormalization(center=False), normal(rng, 2, 3, 5))


@case("bn_rank4_small_eps",
      "rank 4, axis -1, epsilon 1e-7, tiny variances: tf_keras takes fused_batch_norm ((x - mean) * inv + beta)")
def _(K, rng):
    layer = K.layers.BatchNormalization(epsilon=1e-7)
    return Run(layer, normal(rng, 2, 3, 4, 5), weights="small_var")


@case("bn_rank4_axis1", "rank 4, axis 1 (tf_keras: fused NCHW)")
def _(K, rng):
    return Run(K.layers.BatchNormalization(axis=1), normal(rng, 2, 3, 4, 5))


@case("bn_rank3_axis1", "axis 1 of (B, T, C): the time axis holds the channels")
def _(K, rng):
    return Run(K.layers.BatchNormalization(axis=1), normal(rng, 2, 5, 3))


@case("bn_rank5", "rank 5 (tf_keras: fused NDHWC)")
def _(K, rng):
    return Run(K.layers.BatchNormalization(epsilon=1e-5), normal(rng, 2, 2, 2, 2, 3))


@case("bn_rank2")
def _(K, rng):
    return Run(K.layers.BatchNormalization(), normal(rng, 4, 6))


@case("bn_masked", "the mask passes through unchanged")
def _(K, rng):
    return Run(K.layers.BatchNormalization(), normal(rng, 2, 5, 3), mask=step_mask(2, 5))


@case("bn_renorm", "renorm adds 3 non-trainable weights (counted) but inference uses moving mean/variance")
def _(K, rng):
    return Run(K.layers.BatchNormalization(renorm=True), normal(rng, 2, 4, 3))


@case("bn_large_values", "inputs around 1000 with a large moving mean")
def _(K, rng):
    x = normal(rng, 2, 3, 4) * 10 + 1000
    layer = K.layers.BatchNormalization()
    return Run(layer, x, weights="large_mean")


# -------------------------------------------------------- LayerNormalization

@case("ln_default", "Keras 3: x * inv + (beta - mean * inv); tf_keras (epsilon >= 1.001e-5): fused, ((x - mean) * rsqrt(var + eps)) * gamma + beta")
def _(K, rng):
    return Run(K.layers.LayerNormalization(), normal(rng, 2, 5, 7))


@case("ln_plain")
def _(K, rng):
    return Run(K.layers.LayerNormalization(center=False, scale=False, epsilon=1e-3), normal(rng, 2, 4, 6))


@case("ln_scale_only")
def _(K, rng):
    return Run(K.layers.LayerNormalization(center=False), normal(rng, 3, 5))


@case("ln_center_only")
def _(K, rng):
    return Run(K.layers.LayerNormalization(scale=False), normal(rng, 2, 3, 5))


@case("ln_eps_small", "epsilon 1e-6 < 1.001e-5: tf_keras takes tf.nn.batch_normalization, as Keras 3")
def _(K, rng):
    return Run(K.layers.LayerNormalization(epsilon=1e-6), normal(rng, 2, 4, 6))


@case("ln_rms", "Keras 3 only: rms_scaling: x * rsqrt(var + eps) * gamma (the variance is centred)",
      apis=("keras3",))
def _(K, rng):
    return Run(K.layers.LayerNormalization(rms_scaling=True), normal(rng, 2, 4, 6) + 0.5)


@case("ln_rms_no_scale", "rms_scaling with scale=False still has gamma", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.LayerNormalization(rms_scaling=True, scale=False, center=False), normal(rng, 2, 3, 5))


@case("ln_axes_2", "axis [-2, -1]: gamma/beta (H, C)")
def _(K, rng):
    return Run(K.layers.LayerNormalization(axis=[-2, -1]), normal(rng, 2, 3, 4, 5))


@case("ln_wide", "1000 features")
def _(K, rng):
    return Run(K.layers.LayerNormalization(), normal(rng, 1, 3, 1000))


@case("ln_masked", "the mask passes through unchanged")
def _(K, rng):
    return Run(K.layers.LayerNormalization(), normal(rng, 2, 5, 4), mask=step_mask(2, 5))


@case("ln_offset", "features around 100 with spread 0.01: the variance needs two passes")
def _(K, rng):
    return Run(K.layers.LayerNormalization(), normal(rng, 2, 3, 16) * 0.01 + 100.0)


# ----------------------------------------------------------- TimeDistributed

@case("td_dense")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Dense(4)), normal(rng, 2, 5, 3))


@case("td_dense_masked", "the input mask passes through")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Dense(4, activation="tanh")), normal(rng, 2, 5, 3),
               mask=step_mask(2, 5))


@case("td_dense_rank4_masked")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Dense(2)), normal(rng, 2, 3, 4, 5), mask=step_mask(2, 3))


def with_zero_steps(rng):
    x = normal(rng, 3, 5, 4)
    x[0, 1] = 0.0
    x[1, 3:] = 0.0
    x[2, 0, 1:] = 0.0  # one feature still nonzero: stays valid
    return x


@case("td_masking", "Keras 3.15.1: output mask = input mask (None here); tf_keras: Masking's mask any(x != 0)")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Masking(0.0)), with_zero_steps(rng))


@case("td_masking_masked", "an input mask and zero steps: Keras 3 keeps the input mask, tf_keras computes Masking's")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Masking(0.0)), with_zero_steps(rng), mask=step_mask(3, 5))


@case("td_embedding", "tokens (B, T, K)")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Embedding(6, 3)), tokens(rng, (2, 3, 4), 6))


@case("td_embedding_mask_zero", "Keras 3: no output mask; tf_keras: a (B, T, K) mask")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Embedding(6, 3, mask_zero=True)), tokens(rng, (2, 3, 4), 6))


@case("td_embedding_masked_input", "tf_keras: Embedding without mask_zero gives no mask, so the input mask is kept")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Embedding(6, 3)), tokens(rng, (2, 3, 4), 6).astype(np.float32),
               mask=step_mask(2, 3))


@case("td_bn_masked")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.BatchNormalization()), normal(rng, 2, 4, 3), mask=step_mask(2, 4))


@case("td_ln_masked")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.LayerNormalization()), normal(rng, 2, 4, 6), mask=step_mask(2, 4))


@case("td_softmax")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Activation("softmax")), normal(rng, 2, 3, 5))


@case("td_dropout_masked")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Dropout(0.5)), normal(rng, 2, 3, 5), mask=step_mask(2, 3))


@case("td_flatten")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Flatten()), normal(rng, 2, 3, 4, 2))


@case("td_flatten_masked", "Keras 3 passes the mask; tf_keras raises (Flatten does not support masking)")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Flatten()), normal(rng, 2, 3, 4, 2), mask=step_mask(2, 3))


@case("td_reshape")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Reshape((8, 3))), normal(rng, 2, 3, 4, 6))


@case("td_permute")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.Permute((2, 1))), normal(rng, 2, 3, 4, 5))


@case("td_repeat_vector")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.RepeatVector(2)), normal(rng, 2, 3, 4))


@case("td_td_dense", "nested TimeDistributed on rank 4")
def _(K, rng):
    return Run(K.layers.TimeDistributed(K.layers.TimeDistributed(K.layers.Dense(3))), normal(rng, 2, 3, 4, 5))


# ------------------------------------- Flatten, Reshape, Permute, RepeatVector

@case("flatten_rank3_masked", "the mask is dropped")
def _(K, rng):
    return Run(K.layers.Flatten(), normal(rng, 2, 4, 3), mask=step_mask(2, 4))


@case("flatten_rank4")
def _(K, rng):
    return Run(K.layers.Flatten(), normal(rng, 2, 3, 4, 5))


@case("flatten_rank4_cf", "channels_first: axes (0, 2, 3, 1) first")
def _(K, rng):
    return Run(K.layers.Flatten(data_format="channels_first"), normal(rng, 2, 3, 4, 5))


@case("flatten_rank3_cf")
def _(K, rng):
    return Run(K.layers.Flatten(data_format="channels_first"), normal(rng, 2, 3, 4))


@case("flatten_rank2")
def _(K, rng):
    return Run(K.layers.Flatten(), normal(rng, 3, 4))


@case("flatten_rank1", "(B,) -> (B, 1)")
def _(K, rng):
    return Run(K.layers.Flatten(), normal(rng, 5))


@case("reshape_minus1_masked", "-1 resolved from the input; the mask is dropped")
def _(K, rng):
    return Run(K.layers.Reshape((-1, 3)), normal(rng, 2, 4, 6), mask=step_mask(2, 4))


@case("reshape_rank1")
def _(K, rng):
    return Run(K.layers.Reshape((24,)), normal(rng, 2, 4, 6))


@case("reshape_rank3")
def _(K, rng):
    return Run(K.layers.Reshape((2, 3, 4)), normal(rng, 2, 4, 6))


@case("reshape_bad", "24 elements cannot be (5, 5)")
def _(K, rng):
    return Run(K.layers.Reshape((5, 5)), normal(rng, 2, 4, 6))


@case("permute_21_masked", "the mask is dropped")
def _(K, rng):
    return Run(K.layers.Permute((2, 1)), normal(rng, 2, 4, 7), mask=step_mask(2, 4))


@case("permute_312")
def _(K, rng):
    return Run(K.layers.Permute((3, 1, 2)), normal(rng, 2, 3, 4, 5))


@case("repeat_vector")
def _(K, rng):
    return Run(K.layers.RepeatVector(4), normal(rng, 3, 5))


# ---------------------------------------------------------------- the runner

def attach_mask(api, x, m):
    import tensorflow as tf

    t = tf.convert_to_tensor(x)
    mt = tf.convert_to_tensor(m)
    if api == "keras3":
        from keras.src.backend.common.masking import set_keras_mask

        set_keras_mask(t, mt)
    else:
        t._keras_mask = mt
    return t


def get_mask(y):
    m = getattr(y, "_keras_mask", None)
    return None if m is None else np.asarray(m)


def clean(obj):
    """get_config() as plain JSON values (tuples -> lists)."""
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def short_name(v):
    n = common.var_name(v)
    n = n.split("/")[-1]
    return n.split(":")[0]


def run_case(K, api, version, c):
    name = c["name"]
    rng = common.rng_for(name)
    r = c["fn"](K, rng)
    d = os.path.join(OUT, f"{name}__{common.API_SHORT[api]}")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    layer = r.layer
    x = r.x
    np.save(os.path.join(d, "input.npy"), x.astype(np.float32))
    meta = dict(
        case=f"{name}__{common.API_SHORT[api]}",
        keras_api=api,
        keras_version=version,
        class_name=type(layer).__name__,
        config=None,
        input=dict(file="input.npy", dtype=r.dtype, shape=list(x.shape)),
        input_mask=None,
        weights=[],
        param_count=None,
        output=None,
        output_mask=None,
        output_mask_shape=None,
        error=None,
        notes=c["notes"],
    )
    if r.mask is not None:
        np.save(os.path.join(d, "input_mask.npy"), r.mask.astype(np.float32))
        meta["input_mask"] = "input_mask.npy"

    def feed():
        return attach_mask(api, x, r.mask) if r.mask is not None else x

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not layer.built:
                # build with the input's shape (an eager call would need valid ids)
                try:
                    layer.build(x.shape)
                except Exception:
                    layer(feed(), training=False)
            if layer.weights:
                if r.weights == "small_var":
                    vals = bn_weights(rng, layer, small_var=True)
                elif r.weights == "large_mean":
                    vals = bn_weights(rng, layer)
                    for i, v in enumerate(layer.weights):
                        if "moving_mean" in common.var_name(v):
                            vals[i] = (vals[i] * 10 + 1000).astype(np.float32)
                else:
                    vals = bn_weights(rng, layer)
                layer.set_weights(vals)
            meta["config"] = clean(layer.get_config())
            meta["param_count"] = int(layer.count_params())
            for i, v in enumerate(layer.weights):
                a = np.asarray(v.numpy(), dtype=np.float32)
                f = f"w{i}.npy"
                np.save(os.path.join(d, f), a)
                meta["weights"].append(dict(name=short_name(v), file=f, shape=list(a.shape)))
            y = layer(feed(), training=False)
    except Exception as e:  # Keras refused: the case records why
        meta["error"] = f"{type(e).__name__}: " + " ".join(str(e).split())[:300]
        if meta["config"] is None:
            try:
                meta["config"] = clean(layer.get_config())
            except Exception:
                pass
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        return "error: " + meta["error"][:100]
    out = np.asarray(y, dtype=np.float32)
    np.save(os.path.join(d, "output.npy"), out)
    meta["output"] = "output.npy"
    m = get_mask(y)
    if m is not None:
        np.save(os.path.join(d, "output_mask.npy"), m.astype(np.float32))
        meta["output_mask"] = "output_mask.npy"
        meta["output_mask_shape"] = list(m.shape)
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return f"ok {out.shape} mask {None if m is None else m.shape}"


# --------------------------------------------- zoo models as layer lists

# Zoo architectures of tests/fixtures/zoo whose layers this crate runs, as linear chains
# (Keras 3 Functional models that compute a mask hold op nodes; their tf_keras files do not).
ZOO = [
    "text_clf_maskzero", "text_clf_nomask", "text_clf_bilstm", "embedding_int64",
    "tagger_timedistributed", "timedistributed_dense_stack", "autoencoder_repeatvector",
    "mask_through_timedistributed", "reshape_lstm", "flatten_dense", "permute_lstm",
    "layernorm", "layernorm_plain", "layernorm_rms",
]


def weight_names(layer):
    """The names the class table reads: the variable's own name; Bidirectional's halves
    prefixed forward/ and backward/ (in Keras order: forward weights first)."""
    names = [short_name(v) for v in layer.weights]
    if type(layer).__name__ == "Bidirectional":
        half = len(names) // 2
        names = [("forward/" if i < half else "backward/") + n for i, n in enumerate(names)]
    return names


def dump_zoo(K, api, only):
    """tests/fixtures/layers/zoo__<case>/model.json: a zoo model as the list of its layers
    (class, name, get_config(), weights as w<k>_<i>.npy), its inputs as float32 copies, and
    where the zoo keeps the Keras outputs. Linear chains only (each layer reads the previous
    one); the model is loaded back from its zoo file by the same Keras."""
    zoo_dir = os.path.join(REPO, "tests", "fixtures", "zoo")
    done = 0
    for case in sorted(os.listdir(zoo_dir)):
        arch, _, tag = case.partition("__")
        if arch not in ZOO or not tag.startswith(common.API_SHORT[api]) or (only and arch not in only):
            continue
        meta = json.load(open(os.path.join(zoo_dir, case, "case.json")))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if api == "keras3":
                    model = K.saving.load_model(os.path.join(zoo_dir, case, meta["model"]), compile=False, safe_mode=False)
                else:
                    model = K.models.load_model(os.path.join(zoo_dir, case, meta["model"]), compile=False)
            except Exception as e:
                print(f"{api} zoo {case}: not loadable ({type(e).__name__}), skipped")
                continue
        layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
        if any(type(l).__module__.startswith("keras.src.ops") for l in layers):
            print(f"{api} zoo {case}: op nodes in the graph, skipped")
            continue
        d = os.path.join(OUT, f"zoo__{case}")
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        specs = []
        for k, layer in enumerate(layers):
            ws = []
            for i, (v, n) in enumerate(zip(layer.weights, weight_names(layer))):
                f = f"w{k}_{i}.npy"
                np.save(os.path.join(d, f), np.asarray(v.numpy(), dtype=np.float32))
                ws.append(dict(name=n, file=f))
            specs.append(dict(class_name=type(layer).__name__, name=layer.name,
                              config=clean(layer.get_config()), weights=ws))
        calls = []
        for ci, call in enumerate(meta["calls"]):
            ins = []
            for fi, f in enumerate(call["inputs"]):
                a = np.load(os.path.join(zoo_dir, case, f))
                g = f"call{ci}_input_{fi}.npy"
                np.save(os.path.join(d, g), a.astype(np.float32))
                ins.append(g)
            calls.append(dict(inputs=ins, outputs=[f"../../zoo/{case}/{o}" for o in call["outputs"]],
                              mask=call["mask"] and f"../../zoo/{case}/{call['mask']}"))
        out = dict(case=case, keras_api=api, keras_version=meta["keras_version"], inputs=meta["inputs"],
                   layers=specs, calls=calls, tolerance=meta["tolerance"], description=meta["description"])
        with open(os.path.join(d, "model.json"), "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
        done += 1
        print(f"{api} zoo {case}: {len(specs)} layers", flush=True)
    return done


def run_api(api, only):
    K, version, _ = common.load_api(api)
    bad = 0
    for c in CASES:
        if api not in c["apis"] or (only and c["name"] not in only):
            continue
        try:
            print(f"{api} {c['name']}: {run_case(K, api, version, c)}", flush=True)
        except Exception:
            bad += 1
            traceback.print_exc()
    dump_zoo(K, api, only)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=["keras3", "tf_keras2"])
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    if a.api:
        sys.exit(1 if run_api(a.api, only) else 0)
    os.makedirs(OUT, exist_ok=True)
    for api in ("keras3", "tf_keras2"):
        cmd = [sys.executable, os.path.abspath(__file__), "--api", api]
        if a.only:
            cmd += ["--only", a.only]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
