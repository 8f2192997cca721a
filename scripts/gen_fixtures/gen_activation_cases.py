#!/usr/bin/env python3
"""Real-Keras fixtures for activations: every Keras activation name in each place Keras
takes one (an `Activation` layer, `Dense(activation=...)`, `Conv1D(activation=...)`),
activations given as layer objects (saved as dicts), the advanced-activation layers
(ReLU, LeakyReLU, ELU, PReLU, Softmax, tf_keras's ThresholdedReLU) with their options,
Keras 3's RMSNormalization, odd sizes, non-finite inputs and masks; and small whole models
using them, saved as .keras and .h5 by both Keras versions.

    python gen_activation_cases.py                  # both APIs (one subprocess each)
    python gen_activation_cases.py --api keras3     # one API only
    python gen_activation_cases.py --only act_relu_thr,act_model_mlp

Layer cases: tests/fixtures/layers/act_<case>__<k3|k2>/
  case.json       {"case", "keras_api", "keras_version",
                   "layer": {"class_name", "config": layer.get_config(), "param_count",
                             "weights": [{"name", "file", "shape"}]},
                   "input": {"file", "shape"}, "input_mask": file | null,
                   "output": file | null, "output_mask": file | null,
                   "error": null | "<Keras's exception, first 300 characters>", "notes"}
  input.npy       float32 input;  input_mask.npy  float32 0/1 (B, T), the Keras mask attached
  w<i>.npy        the layer's weights in Keras order
  output.npy      float32, `layer(x, training=False)`;  output_mask.npy  its Keras mask
(The layer sits under "layer", not at the top level, so that the other groups' tests,
which pick their cases of tests/fixtures/layers by a top-level class_name, skip these.)

Model cases: tests/fixtures/layers/act_model_<arch>__<k3|k2>_<keras|h5>/
  case.json       {"case", "kind": "model", "keras_api", "keras_version", "format",
                   "model", "description", "calls": [{"inputs": [file], "outputs": [file]}],
                   "keras_reload_check": {"max_abs_diff"}}
  model.<fmt>     saved by `model.save`; call<i>_input_<k>.npy / call<i>_output_<k>.npy

Seeds come from crc32(case name): the Keras 3 and tf_keras case of a name get the same
inputs and weights. Weights are random normal * 0.5 (PReLU alpha uniform(-0.3, 0.8)).

Softmax-like rows holding NaN or +inf are left out of the non-finite cases on purpose:
TensorFlow's result there depends on the kernel (the oneDNN softmax, on by default on
x86, returns NaN at the NaN and 0 elsewhere; the Eigen kernel with
TF_ENABLE_ONEDNN_OPTS=0 returns a row of NaN); -inf entries and all -inf rows are defined.
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
BOTH = ("keras3", "tf_keras2")

CASES = []
MODELS = []


def case(name, notes="", apis=BOTH):
    def deco(fn):
        CASES.append(dict(name=name, notes=notes, apis=apis, fn=fn))
        return fn

    return deco


class Run:
    """A layer on an input (and mask); `weights`: None = random normal * 0.5, or a function
    (rng, layer) -> list of arrays. `refused`: Keras's error when it refused to make the
    layer (the layer is then made with a linear activation and its config's `activation`
    set to the refused name)."""

    def __init__(self, layer, x, mask=None, weights=None, refused=None, activation=None):
        self.layer = layer
        self.x = x
        self.mask = mask
        self.weights = weights
        self.refused = refused
        self.activation = activation


# Values that sit on or next to the activations' branch points.
SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 20.0, -20.0, 0.25, -2.5,
                    0.7, 1e-3, -90.0, 90.0], dtype=np.float32)


def data(rng, *shape, scale=2.0):
    """Normal * scale with the SPECIAL values spread over it."""
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    flat = x.reshape(-1)
    idx = rng.choice(flat.size, size=min(flat.size // 2, SPECIAL.size), replace=False)
    flat[idx] = SPECIAL[: idx.size]
    return x


def nonfinite(rng, rows, cols, row_wise=False):
    """Rows with NaN, +inf, -inf and large values (a row-wise activation gets only -inf,
    and one all -inf row)."""
    x = data(rng, rows, cols)
    if row_wise:
        x[0, 1] = -np.inf
        x[1, :] = -np.inf
        x[2, ::3] = -np.inf
        x[3, 0] = 1e30
        x[3, 2] = -1e30
    else:
        x[0, :4] = [np.nan, np.inf, -np.inf, 1e30]
        x[1, :4] = [-1e30, np.inf, np.nan, -np.inf]
        x[2, -3:] = [np.inf, -np.inf, np.nan]
        x[3, :2] = [-88.0, 88.0]
    return x


def step_mask(B, T):
    m = np.ones((B, T), dtype=bool)
    m[0, : min(2, T - 1)] = False
    if B > 1:
        m[1, T - 1] = False
    return m


def alpha_weights(rng, layer, zero_first=False):
    out = []
    for v in layer.weights:
        a = rng.uniform(-0.3, 0.8, size=tuple(int(s) for s in v.shape)).astype(np.float32)
        if zero_first:
            a.reshape(-1)[0] = 0.0
        out.append(a)
    return out


# ----------------------------------------------- every activation name, by place

K3_NAMES = None  # filled from keras.src.activations.ALL_OBJECTS_DICT in the keras3 process
K2_FUNCTIONS = ["elu", "exponential", "gelu", "hard_sigmoid", "linear", "mish", "relu", "selu",
                "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh",
                # the extra globals tf_keras.activations.deserialize also finds
                "leaky_relu", "log_softmax", "relu6", "silu"]
# tf_keras's deserialize also looks in tf_keras.layers.activation: these strings make the
# layer with its defaults (saved as the layer's dict)
K2_CLASSES = ["ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "PReLU"]
# names of the other version, which this one refuses
K3_REFUSED = ["ReLU", "ThresholdedReLU"]
K2_REFUSED = ["celu", "glu", "sparsemax", "hard_silu", "threshold"]

ROW_WISE = {"softmax", "log_softmax", "sparsemax", "Softmax"}


def names_for(api):
    if api == "keras3":
        return list(K3_NAMES) + K3_REFUSED
    return K2_FUNCTIONS + K2_CLASSES + K2_REFUSED


def place_cases(K, api, name, rng, place):
    if place == "layer":
        make, x = (lambda a: K.layers.Activation(a)), data(rng, 2, 3, 8)
    elif place == "dense":
        make, x = (lambda a: K.layers.Dense(6, activation=a)), data(rng, 2, 3, 5, scale=1.0)
    else:
        make, x = (lambda a: K.layers.Conv1D(6, 3, padding="same", activation=a)), data(rng, 2, 7, 4, scale=1.0)
    try:
        return Run(make(name), x)
    except Exception as e:  # noqa: BLE001  Keras refuses the name when it makes the layer
        return Run(make("linear"), x, refused=f"{type(e).__name__}: " + " ".join(str(e).split())[:300],
                   activation=name)


# -------------------------------------------------------------- special cases

@case("act_glu_dense_odd", "Keras 3: glu needs an even last axis (5 units): refused at call", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Dense(5, activation="glu"), data(rng, 2, 3))


@case("act_glu_conv_cf", "Keras 3: Conv1D channels_first glu splits the LAST axis, the steps (L = 6 -> 3)",
      apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Conv1D(4, 2, padding="causal", data_format="channels_first", activation="glu"),
               data(rng, 2, 3, 6, scale=1.0))


@case("act_glu_conv_cf_odd", "Keras 3: channels_first glu with 5 steps: refused at call", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Conv1D(4, 2, padding="causal", data_format="channels_first", activation="glu"),
               data(rng, 2, 3, 5, scale=1.0))


@case("act_glu_rank4", "Activation('glu') on (B, 2, 3, 4)", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Activation("glu"), data(rng, 2, 2, 3, 4))


@case("act_glu_masked", "the mask passes through glu", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Activation("glu"), data(rng, 2, 5, 6), mask=step_mask(2, 5))


@case("act_dense_glu_masked", "Dense(glu) on a masked sequence: (B, T, 8) -> (B, T, 4), mask kept",
      apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Dense(8, activation="glu"), data(rng, 2, 5, 3), mask=step_mask(2, 5))


@case("act_sparsemax_ties", "sparsemax with tied values and a wide row", apis=("keras3",))
def _(K, rng):
    x = data(rng, 4, 9, scale=1.0)
    x[0] = [1.0, 1.0, 1.0, 0.5, 0.5, -1.0, 2.0, 2.0, 0.0]
    x[1] = 0.25
    x[2, :3] = [5.0, 4.9, 4.8]
    return Run(K.layers.Activation("sparsemax"), x)


@case("act_sparsemax_wide", "sparsemax over 300 classes (Keras's tau = (sum of the support's cumulative "
      "sums - 1) / k)", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Activation("sparsemax"), data(rng, 3, 300, scale=3.0))


@case("act_softmax_wide", "softmax / log_softmax rows wider than a workgroup")
def _(K, rng):
    return Run(K.layers.Activation("softmax"), data(rng, 3, 2, 301, scale=4.0))


@case("act_log_softmax_wide")
def _(K, rng):
    return Run(K.layers.Activation("log_softmax"), data(rng, 2, 257, scale=4.0))


@case("act_softmax_one_class", "a Dense(1) softmax head is 1 everywhere")
def _(K, rng):
    return Run(K.layers.Dense(1, activation="softmax"), data(rng, 4, 3))


@case("act_layer_masked", "an element-wise Activation keeps the mask")
def _(K, rng):
    return Run(K.layers.Activation("elu"), data(rng, 2, 5, 3), mask=step_mask(2, 5))


@case("act_softmax_fn_masked", "Activation('softmax') keeps the mask and ignores it in the values")
def _(K, rng):
    return Run(K.layers.Activation("softmax"), data(rng, 2, 5, 3), mask=step_mask(2, 5))


# activations given as objects: saved as the object's dict

@case("act_obj_dense_leaky", "Dense(activation=LeakyReLU(0.1)): config holds the layer's dict")
def _(K, rng):
    return Run(K.layers.Dense(4, activation=K.layers.LeakyReLU(0.1)), data(rng, 2, 3, 5, scale=1.0))


@case("act_obj_dense_relu", "Dense(activation=ReLU(max_value=1.5, negative_slope=0.2, threshold=0.3))")
def _(K, rng):
    return Run(K.layers.Dense(5, activation=K.layers.ReLU(max_value=1.5, negative_slope=0.2, threshold=0.3)),
               data(rng, 2, 3, 4, scale=1.0))


@case("act_obj_conv_elu", "Conv1D(activation=ELU(0.5))")
def _(K, rng):
    return Run(K.layers.Conv1D(3, 2, activation=K.layers.ELU(0.5)), data(rng, 2, 6, 4, scale=1.0))


@case("act_obj_layer_softmax", "Activation(Softmax())")
def _(K, rng):
    return Run(K.layers.Activation(K.layers.Softmax()), data(rng, 2, 3, 5))


@case("act_obj_dense_softmax_axis", "Dense(activation=Softmax(axis=1)) on (B, T, D): softmax over time "
      "(this crate takes only the last axis here)")
def _(K, rng):
    return Run(K.layers.Dense(3, activation=K.layers.Softmax(axis=1)), data(rng, 2, 4, 5, scale=1.0))


@case("act_obj_dense_thresholded", "tf_keras: Dense(activation=ThresholdedReLU(0.5))", apis=("tf_keras2",))
def _(K, rng):
    return Run(K.layers.Dense(4, activation=K.layers.ThresholdedReLU(0.5)), data(rng, 2, 5, scale=1.0))


@case("act_obj_dense_activation", "Keras 3: Dense(activation=Activation('hard_silu'))", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.Dense(4, activation=K.layers.Activation("hard_silu")), data(rng, 2, 5, scale=1.0))


@case("act_obj_dense_prelu", "Dense(activation=PReLU()): the activation holds weights (this crate refuses it)")
def _(K, rng):
    return Run(K.layers.Dense(4, activation=K.layers.PReLU()), data(rng, 2, 5, scale=1.0))


def myact(v):
    return v * 2.0


@case("act_obj_custom_function", "a custom Python function: its code is not in the file")
def _(K, rng):
    return Run(K.layers.Dense(4, activation=myact), data(rng, 2, 5, scale=1.0))


# ------------------------------------------------------------------- ReLU

@case("act_relu_default")
def _(K, rng):
    return Run(K.layers.ReLU(), data(rng, 2, 3, 7))


@case("act_relu_max", "max_value clips")
def _(K, rng):
    return Run(K.layers.ReLU(max_value=2.5), data(rng, 2, 3, 7))


@case("act_relu_max6", "max_value 6 without threshold: relu6")
def _(K, rng):
    return Run(K.layers.ReLU(max_value=6.0), data(rng, 2, 3, 7, scale=5.0))


@case("act_relu_max0", "max_value 0: all zeros")
def _(K, rng):
    return Run(K.layers.ReLU(max_value=0.0), data(rng, 2, 7))


@case("act_relu_slope", "negative_slope alone: leaky_relu")
def _(K, rng):
    return Run(K.layers.ReLU(negative_slope=0.1), data(rng, 2, 3, 7))


@case("act_relu_thr", "threshold alone: x if x > threshold else 0")
def _(K, rng):
    return Run(K.layers.ReLU(threshold=0.5), data(rng, 2, 3, 7))


@case("act_relu_slope_thr", "negative_slope and threshold: x·[x > t] - slope·relu(t - x)")
def _(K, rng):
    return Run(K.layers.ReLU(negative_slope=0.2, threshold=1.0), data(rng, 2, 3, 7))


@case("act_relu_slope_max")
def _(K, rng):
    return Run(K.layers.ReLU(max_value=0.7, negative_slope=0.1), data(rng, 2, 3, 7))


@case("act_relu_all", "max_value 3, negative_slope 0.3, threshold 0.5")
def _(K, rng):
    return Run(K.layers.ReLU(max_value=3.0, negative_slope=0.3, threshold=0.5), data(rng, 2, 3, 7))


@case("act_relu_thr_max", "threshold 2 above max_value 1.5")
def _(K, rng):
    return Run(K.layers.ReLU(max_value=1.5, threshold=2.0), data(rng, 3, 7))


for _name, _kw in [("default", {}), ("thr", {"threshold": 0.5}), ("slope_thr", {"negative_slope": 0.1, "threshold": 0.5}),
                   ("max", {"max_value": 2.0}), ("slope_max", {"max_value": 0.7, "negative_slope": 0.1}),
                   ("max6", {"max_value": 6.0})]:
    def _mk(kw):
        def fn(K, rng):
            return Run(K.layers.ReLU(**kw), nonfinite(rng, 4, 7))
        return fn

    case(f"act_relu_nonfinite_{_name}", "NaN, ±inf: Keras 3 thresholds with where(x > t, x, 0) (NaN, -inf -> 0), "
         "tf_keras with x·cast(x > t) (NaN -> NaN, -inf -> NaN)")(_mk(_kw))


@case("act_relu_masked", "the mask passes through")
def _(K, rng):
    return Run(K.layers.ReLU(max_value=1.0), data(rng, 2, 5, 3), mask=step_mask(2, 5))


# -------------------------------------------------------------- LeakyReLU

@case("act_leaky_default", "default slope 0.3 in both versions")
def _(K, rng):
    return Run(K.layers.LeakyReLU(), data(rng, 2, 3, 7))


def leaky(K, api, v):
    return K.layers.LeakyReLU(negative_slope=v) if api == "keras3" else K.layers.LeakyReLU(alpha=v)


@case("act_leaky_001")
def _(K, rng, api=None):
    return Run(leaky(K, CUR_API, 0.01), data(rng, 2, 3, 7))


@case("act_leaky_big", "slope 2.5 (> 1)")
def _(K, rng):
    return Run(leaky(K, CUR_API, 2.5), data(rng, 2, 7))


@case("act_leaky_zero", "slope 0: Keras 3 tf.nn.leaky_relu(alpha=0) (-inf -> NaN); tf_keras relu (-inf -> 0)")
def _(K, rng):
    return Run(leaky(K, CUR_API, 0.0), nonfinite(rng, 4, 7))


@case("act_leaky_nonfinite")
def _(K, rng):
    return Run(leaky(K, CUR_API, 0.2), nonfinite(rng, 4, 7))


@case("act_leaky_masked")
def _(K, rng):
    return Run(K.layers.LeakyReLU(), data(rng, 2, 5, 3), mask=step_mask(2, 5))


# -------------------------------------------------------------------- ELU

@case("act_elu_default")
def _(K, rng):
    return Run(K.layers.ELU(), data(rng, 2, 3, 7))


@case("act_elu_half")
def _(K, rng):
    return Run(K.layers.ELU(alpha=0.5), data(rng, 2, 3, 7))


@case("act_elu_big")
def _(K, rng):
    return Run(K.layers.ELU(alpha=2.5), data(rng, 3, 7))


@case("act_elu_zero")
def _(K, rng):
    return Run(K.layers.ELU(alpha=0.0), data(rng, 3, 7))


@case("act_elu_nonfinite")
def _(K, rng):
    return Run(K.layers.ELU(alpha=0.7), nonfinite(rng, 4, 7))


@case("act_elu_masked")
def _(K, rng):
    return Run(K.layers.ELU(alpha=0.7), data(rng, 2, 5, 3), mask=step_mask(2, 5))


# -------------------------------------------------------- ThresholdedReLU

@case("act_thresholded_default", "theta 1: x·cast(x > theta)", apis=("tf_keras2",))
def _(K, rng):
    return Run(K.layers.ThresholdedReLU(), data(rng, 2, 3, 7))


@case("act_thresholded_zero", apis=("tf_keras2",))
def _(K, rng):
    return Run(K.layers.ThresholdedReLU(theta=0.0), data(rng, 3, 7))


@case("act_thresholded_nonfinite", "NaN -> NaN, -inf -> NaN (-inf·0)", apis=("tf_keras2",))
def _(K, rng):
    return Run(K.layers.ThresholdedReLU(theta=0.5), nonfinite(rng, 4, 7))


@case("act_thresholded_masked", apis=("tf_keras2",))
def _(K, rng):
    return Run(K.layers.ThresholdedReLU(theta=0.5), data(rng, 2, 5, 3), mask=step_mask(2, 5))


# ------------------------------------------------------------------ PReLU

@case("act_prelu_full", "alpha (T, D): one per element")
def _(K, rng):
    return Run(K.layers.PReLU(), data(rng, 2, 4, 5), weights=alpha_weights)


@case("act_prelu_shared1", "shared_axes [1]: alpha (1, D), any T")
def _(K, rng):
    return Run(K.layers.PReLU(shared_axes=[1]), data(rng, 2, 6, 5), weights=alpha_weights)


@case("act_prelu_shared2", "shared_axes [2]: alpha (T, 1)")
def _(K, rng):
    return Run(K.layers.PReLU(shared_axes=[2]), data(rng, 2, 6, 5), weights=alpha_weights)


@case("act_prelu_shared12", "shared_axes [1, 2]: one alpha")
def _(K, rng):
    return Run(K.layers.PReLU(shared_axes=[1, 2]), data(rng, 3, 4, 5), weights=alpha_weights)


@case("act_prelu_rank2")
def _(K, rng):
    return Run(K.layers.PReLU(), data(rng, 3, 7), weights=alpha_weights)


@case("act_prelu_rank4", "shared_axes [1, 3]: alpha (1, H, 1)")
def _(K, rng):
    return Run(K.layers.PReLU(shared_axes=[1, 3]), data(rng, 2, 3, 4, 5), weights=alpha_weights)


@case("act_prelu_nonfinite", "alpha 0 at the first element: -inf -> 0·inf = NaN")
def _(K, rng):
    return Run(K.layers.PReLU(), nonfinite(rng, 4, 7), weights=lambda r, l: alpha_weights(r, l, zero_first=True))


@case("act_prelu_masked", "the mask passes through")
def _(K, rng):
    return Run(K.layers.PReLU(shared_axes=[1]), data(rng, 2, 5, 3), mask=step_mask(2, 5), weights=alpha_weights)


# ---------------------------------------------------------------- Softmax

@case("act_softmax_default")
def _(K, rng):
    return Run(K.layers.Softmax(), data(rng, 2, 3, 5))


@case("act_softmax_axis1", "axis 1 of (B, T, D): over time")
def _(K, rng):
    return Run(K.layers.Softmax(axis=1), data(rng, 2, 4, 3))


@case("act_softmax_axis_m2", "axis -2 of a rank-4 input")
def _(K, rng):
    return Run(K.layers.Softmax(axis=-2), data(rng, 2, 3, 4, 5))


@case("act_softmax_list1", "axis [-1]: a one-element list is softmax")
def _(K, rng):
    return Run(K.layers.Softmax(axis=[-1]), data(rng, 2, 3, 5))


@case("act_softmax_axes12", "axis [1, 2]: exp(x - logsumexp over both)")
def _(K, rng):
    return Run(K.layers.Softmax(axis=[1, 2]), data(rng, 2, 3, 5))


@case("act_softmax_axes_m2m1", "axis [-2, -1] of a rank-4 input")
def _(K, rng):
    return Run(K.layers.Softmax(axis=[-2, -1]), data(rng, 2, 3, 4, 5))


@case("act_softmax_axes_noncontig", "axis [1, 3] of a rank-4 input (not adjacent: this crate refuses it)")
def _(K, rng):
    return Run(K.layers.Softmax(axis=[1, 3]), data(rng, 2, 3, 4, 5))


@case("act_softmax_axis0", "axis 0: over the batch (this crate refuses it)")
def _(K, rng):
    return Run(K.layers.Softmax(axis=0), data(rng, 3, 4))


@case("act_softmax_nonfinite", "-inf entries and an all -inf row (NaN)")
def _(K, rng):
    return Run(K.layers.Softmax(), nonfinite(rng, 4, 7, row_wise=True))


@case("act_softmax_axes_nonfinite", "the logsumexp form with -inf entries")
def _(K, rng):
    x = nonfinite(rng, 4, 6, row_wise=True).reshape(2, 2, 6)
    return Run(K.layers.Softmax(axis=[1, 2]), x)


@case("act_softmax_masked", "a (B, T) mask on (B, T, D): Keras broadcasts it against the last two axes and fails")
def _(K, rng):
    return Run(K.layers.Softmax(), data(rng, 2, 5, 3), mask=step_mask(2, 5))


@case("act_softmax_robust", "tf_keras robust_masking (no mask: plain softmax)", apis=("tf_keras2",))
def _(K, rng):
    return Run(K.layers.Softmax(robust_masking=True), data(rng, 2, 3, 5))


@case("act_softmax_wide_layer", "Softmax over 700 classes")
def _(K, rng):
    return Run(K.layers.Softmax(), data(rng, 2, 700, scale=5.0))


# ------------------------------------------------------ RMSNormalization

@case("act_rms_default", "Keras 3 RMSNormalization: x·rsqrt(mean(x²) + eps)·scale", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.RMSNormalization(), data(rng, 2, 3, 6) + 0.5)


@case("act_rms_axis1", "axis 1 of (B, T, D): scale (T,) multiplies the LAST axis (numpy broadcasting): "
      "Keras fails unless T = D", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.RMSNormalization(axis=1), data(rng, 2, 4, 3))


@case("act_rms_axis1_square", "axis 1 of (B, 4, 4): normalised over T, scale (T,) applied along D",
      apis=("keras3",))
def _(K, rng):
    return Run(K.layers.RMSNormalization(axis=1), data(rng, 2, 4, 4))


@case("act_rms_axes", "axis [-2, -1]: scale (H, C)", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.RMSNormalization(axis=[-2, -1], epsilon=1e-3), data(rng, 2, 3, 4, 5))


@case("act_rms_wide", "700 features", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.RMSNormalization(epsilon=1e-5), data(rng, 2, 700))


@case("act_rms_masked", "RMSNormalization does not support masking: Keras 3 drops the mask", apis=("keras3",))
def _(K, rng):
    return Run(K.layers.RMSNormalization(), data(rng, 2, 5, 3), mask=step_mask(2, 5))


@case("act_rms_zero_rows", "an all-zero row: 0·rsqrt(eps) = 0", apis=("keras3",))
def _(K, rng):
    x = data(rng, 3, 5)
    x[1] = 0.0
    return Run(K.layers.RMSNormalization(), x)


# ------------------------------------------------------------------ models

def model(name, desc, apis=BOTH):
    def deco(fn):
        MODELS.append(dict(name=name, desc=desc, apis=apis, fn=fn))
        return fn

    return deco


@model("act_model_mlp", "Dense -> LeakyReLU -> Dense(activation=ReLU(max_value=3, negative_slope=0.1)) -> "
       "PReLU -> Dense -> ELU(0.7) -> Dense(activation=LeakyReLU(0.2)) -> Dense(5) -> Softmax")
def _(K, api, rng):
    inp = K.Input((7,))
    h = K.layers.Dense(12)(inp)
    h = K.layers.LeakyReLU()(h)
    h = K.layers.Dense(10, activation=K.layers.ReLU(max_value=3.0, negative_slope=0.1))(h)
    h = K.layers.PReLU()(h)
    h = K.layers.Dense(8)(h)
    h = K.layers.ELU(alpha=0.7)(h)
    h = K.layers.Dense(6, activation=K.layers.LeakyReLU(0.2))(h)
    h = K.layers.Dense(5)(h)
    out = K.layers.Softmax()(h)
    return K.Model(inp, out), [data(rng, 4, 7, scale=1.0)]


@model("act_model_seq", "Masking -> LSTM(seq) -> PReLU(shared_axes=[1]) -> ReLU(threshold=0.1) -> "
       "Activation('swish') -> LSTM -> Dense(activation='elu') -> Dense(4) -> Softmax: the mask goes through "
       "the activation layers into the second LSTM")
def _(K, api, rng):
    inp = K.Input((None, 3))
    h = K.layers.Masking(0.0)(inp)
    h = K.layers.LSTM(6, return_sequences=True)(h)
    h = K.layers.PReLU(shared_axes=[1])(h)
    h = K.layers.ReLU(threshold=0.1)(h)
    h = K.layers.Activation("swish")(h)
    h = K.layers.LSTM(5)(h)
    h = K.layers.Dense(6, activation="elu")(h)
    h = K.layers.Dense(4)(h)
    out = K.layers.Softmax()(h)
    x = data(rng, 3, 6, 3, scale=1.0)
    x[0, 4:] = 0.0
    x[2, :2] = 0.0
    return K.Model(inp, out), [x]


@model("act_model_time_softmax", "Conv1D(activation=ELU(0.5)) -> Dense(1) -> Softmax(axis=1) (attention weights "
       "over time) -> Flatten, and a log_softmax head", )
def _(K, api, rng):
    inp = K.Input((8, 4))
    h = K.layers.Conv1D(6, 3, padding="same", activation=K.layers.ELU(0.5))(inp)
    s = K.layers.Dense(1)(h)
    a = K.layers.Softmax(axis=1)(s)
    a = K.layers.Flatten()(a)
    b = K.layers.Dense(3, activation="log_softmax")(K.layers.Flatten()(h))
    return K.Model(inp, [a, b]), [data(rng, 2, 8, 4, scale=1.0)]


@model("act_model_k3_heads", "Keras 3: Dense(8, glu) -> Activation('hard_silu') (4 wide: Keras builds the "
       "next layers for 8, so glu ends a branch); Dense(6, sparsemax); Dense(4, celu) -> RMSNormalization -> "
       "Activation('log_softmax')", apis=("keras3",))
def _(K, api, rng):
    inp = K.Input((5,))
    g = K.layers.Dense(8, activation="glu")(inp)
    g = K.layers.Activation("hard_silu")(g)
    a = K.layers.Dense(6, activation="sparsemax")(inp)
    b = K.layers.Dense(4, activation="celu")(inp)
    b = K.layers.RMSNormalization()(b)
    b = K.layers.Activation("log_softmax")(b)
    return K.Model(inp, [g, a, b]), [data(rng, 4, 5, scale=1.0)]


@model("act_model_k2_thresholded", "tf_keras: Dense -> ThresholdedReLU(0.3) -> Dense(activation='ELU') -> "
       "Dense(activation=ThresholdedReLU(0.1)) -> Activation('relu6') -> Dense(3, activation='Softmax')",
       apis=("tf_keras2",))
def _(K, api, rng):
    inp = K.Input((6,))
    h = K.layers.Dense(8)(inp)
    h = K.layers.ThresholdedReLU(0.3)(h)
    h = K.layers.Dense(7, activation="ELU")(h)
    h = K.layers.Dense(6, activation=K.layers.ThresholdedReLU(0.1))(h)
    h = K.layers.Activation("relu6")(h)
    out = K.layers.Dense(3, activation="Softmax")(h)
    return K.Model(inp, out), [data(rng, 4, 6, scale=1.0)]


# ---------------------------------------------------------------- the runner

CUR_API = None


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


def clean(obj):
    """get_config() as plain JSON values (tuples -> lists, numpy scalars -> numbers)."""
    def default(o):
        if hasattr(o, "tolist"):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


def short_name(v):
    return common.var_name(v).split("/")[-1].split(":")[0]


def write_case(d, meta):
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def run_case(K, api, version, name, notes, fn):
    rng = common.rng_for(name)
    r = fn(K, rng)
    d = os.path.join(OUT, f"{name}__{common.API_SHORT[api]}")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    layer, x = r.layer, r.x
    np.save(os.path.join(d, "input.npy"), x.astype(np.float32))
    meta = dict(case=f"{name}__{common.API_SHORT[api]}", keras_api=api, keras_version=version,
                layer=dict(class_name=type(layer).__name__, config=None, param_count=None, weights=[]),
                input=dict(file="input.npy", shape=list(x.shape)), input_mask=None,
                output=None, output_mask=None, error=None, notes=notes)
    if r.mask is not None:
        np.save(os.path.join(d, "input_mask.npy"), r.mask.astype(np.float32))
        meta["input_mask"] = "input_mask.npy"

    def feed():
        return attach_mask(api, x, r.mask) if r.mask is not None else x

    if r.refused is not None:
        meta["layer"]["config"] = clean(layer.get_config())
        meta["layer"]["config"]["activation"] = r.activation
        meta["error"] = r.refused
        write_case(d, meta)
        return "refused at construction: " + r.refused[:100]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not layer.built:
                try:
                    layer.build(x.shape)
                except Exception:  # noqa: BLE001
                    pass
            if layer.weights:
                if r.weights is None:
                    vals = [(rng.standard_normal(tuple(int(s) for s in v.shape)) * 0.5).astype(np.float32)
                            for v in layer.weights]
                else:
                    vals = r.weights(rng, layer)
                layer.set_weights(vals)
            meta["layer"]["config"] = clean(layer.get_config())
            y = layer(feed(), training=False)
            meta["layer"]["param_count"] = int(layer.count_params())
            for i, v in enumerate(layer.weights):
                a = np.asarray(v.numpy(), dtype=np.float32)
                f = f"w{i}.npy"
                np.save(os.path.join(d, f), a)
                meta["layer"]["weights"].append(dict(name=short_name(v), file=f, shape=list(a.shape)))
    except Exception as e:  # Keras refused: the case records why
        meta["error"] = f"{type(e).__name__}: " + " ".join(str(e).split())[:300]
        if meta["layer"]["config"] is None:
            try:
                meta["layer"]["config"] = clean(layer.get_config())
            except Exception:  # noqa: BLE001
                pass
        write_case(d, meta)
        return "error: " + meta["error"][:100]
    out = np.asarray(y, dtype=np.float32)
    np.save(os.path.join(d, "output.npy"), out)
    meta["output"] = "output.npy"
    m = getattr(y, "_keras_mask", None)
    if m is not None:
        np.save(os.path.join(d, "output_mask.npy"), np.asarray(m).astype(np.float32))
        meta["output_mask"] = "output_mask.npy"
    write_case(d, meta)
    return f"ok {out.shape} mask {None if m is None else tuple(m.shape)}"


def save_model(K, api, m, path, fmt):
    if api == "keras3":
        m.save(path)
    else:
        m.save(path, save_format="h5" if fmt == "h5" else "keras")


def load_model(K, api, path):
    if api == "keras3":
        return K.saving.load_model(path, compile=False, safe_mode=False)
    if path.endswith(".keras"):
        return K.models.load_model(path, compile=False, safe_mode=False)
    return K.models.load_model(path, compile=False)


def predict(m, ins):
    ys = m(ins if len(ins) > 1 else ins[0], training=False)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    return [np.asarray(y, dtype=np.float32) for y in ys]


def run_model(K, api, version, mdef):
    name = mdef["name"]
    K.backend.clear_session()
    rng = common.rng_for(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, ins = mdef["fn"](K, api, rng)
        for v in common.unique_weights(m):
            shape = tuple(int(s) for s in v.shape)
            if "alpha" in common.var_name(v):
                v.assign(rng.uniform(-0.3, 0.8, size=shape).astype(np.float32))
            else:
                v.assign((rng.standard_normal(shape) * 0.5).astype(np.float32))
        outs = predict(m, ins)
    done = []
    for fmt in ("keras", "h5"):
        c = f"{name}__{common.API_SHORT[api]}_{fmt}"
        d = os.path.join(OUT, c)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        path = os.path.join(d, f"model.{fmt}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            save_model(K, api, m, path, fmt)
            try:
                outs2 = predict(load_model(K, api, path), ins)
                check = {"max_abs_diff": float(max(np.nanmax(np.abs(a - b)) for a, b in zip(outs, outs2)))}
            except Exception as e:  # noqa: BLE001
                check = {"error": f"{type(e).__name__}: " + " ".join(str(e).split())[:300]}
        call = {"inputs": [], "outputs": []}
        for i, x in enumerate(ins):
            f = f"call0_input_{i}.npy"
            np.save(os.path.join(d, f), x)
            call["inputs"].append(f)
        for i, y in enumerate(outs):
            f = f"call0_output_{i}.npy"
            np.save(os.path.join(d, f), y)
            call["outputs"].append(f)
        write_case(d, dict(case=c, kind="model", keras_api=api, keras_version=version, format=fmt,
                           model=f"model.{fmt}", description=mdef["desc"], calls=[call],
                           keras_reload_check=check))
        done.append(f"{fmt} reload {check}")
    return "; ".join(done)


def run_api(api, only):
    global CUR_API, K3_NAMES
    CUR_API = api
    K, version, _ = common.load_api(api)
    if api == "keras3":
        from keras.src.activations import ALL_OBJECTS_DICT

        K3_NAMES = sorted(ALL_OBJECTS_DICT)
    bad = 0
    todo = []
    for n in names_for(api):
        for place in ("layer", "dense", "conv"):
            cname = f"act_{place}_{n}"
            todo.append((cname, f"{place}: activation {n!r}", (lambda n, place: lambda K, rng: place_cases(K, api, n, rng, place))(n, place)))
        if n != "linear" and n not in K3_REFUSED + K2_REFUSED:
            cname = f"act_nonfinite_{n}"
            todo.append((cname, "NaN / ±inf inputs (row-wise ones: -inf only)",
                         (lambda n: lambda K, rng: Run(K.layers.Activation(n), nonfinite(rng, 4, 8, row_wise=n in ROW_WISE)))(n)))
    for c in CASES:
        if api in c["apis"]:
            todo.append((c["name"], c["notes"], c["fn"]))
    for cname, notes, fn in todo:
        if only and cname not in only:
            continue
        try:
            print(f"{api} {cname}: {run_case(K, api, version, cname, notes, fn)}", flush=True)
        except Exception:  # noqa: BLE001
            bad += 1
            traceback.print_exc()
    for mdef in MODELS:
        if api not in mdef["apis"] or (only and mdef["name"] not in only):
            continue
        try:
            print(f"{api} {mdef['name']}: {run_model(K, api, version, mdef)}", flush=True)
        except Exception:  # noqa: BLE001
            bad += 1
            traceback.print_exc()
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=list(BOTH))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    if a.api:
        sys.exit(1 if run_api(a.api, only) else 0)
    os.makedirs(OUT, exist_ok=True)
    for api in BOTH:
        cmd = [sys.executable, os.path.abspath(__file__), "--api", api]
        if a.only:
            cmd += ["--only", a.only]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
