#!/usr/bin/env python3
"""Model-zoo fixtures: real Keras models saved as files, with inputs and the
outputs Keras computed, under tests/fixtures/zoo/<arch>__<k3|k2>_<keras|h5>/.

    python gen_zoo.py                 # both APIs (one subprocess each), then INDEX.md
    python gen_zoo.py --api keras3    # one API only (used by the line above)
    python gen_zoo.py --only lstm_dense,conv_lstm

Every saved file is re-loaded with the same Keras and must reproduce the stored
outputs (the `refused` family is tried too, but not required to).
See README.md beside this file.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import REPO, round_up_1sig, to_f32, as_list  # noqa: E402

import numpy as np  # noqa: E402

# WGPU_LSTM_ZOO_DIR: write elsewhere (a held-out set; see common.seed_for)
ZOO = os.environ.get("WGPU_LSTM_ZOO_DIR") or os.path.join(REPO, "tests", "fixtures", "zoo")

# ------------------------------------------------------------------ registry

ARCHS = []


def arch(name, desc, family="lstm_models", apis=("keras3", "tf_keras2"), extra=False):
    """Register an architecture. `extra`: also save Keras 3 .h5 and tf_keras .keras."""

    def deco(fn):
        ARCHS.append(dict(name=name, desc=desc, family=family, apis=apis, extra=extra, fn=fn))
        return fn

    return deco


class Built:
    def __init__(self, model, calls, notes="", ref_model=None, tolerance_reason=None):
        self.model = model
        self.calls = calls  # list of dict(inputs=[arrays], mask=None|bool array, reset=bool)
        self.notes = notes
        self.ref_model = ref_model  # float32 twin (low-precision cases)
        self.tolerance_reason = tolerance_reason


def call(*inputs, mask=None, reset=False):
    return dict(inputs=list(inputs), mask=mask, reset=reset)


# ---------------------------------------------------------------- input feeds

def normal(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def pad_rows(B, T, full_row=True):
    """(B,T) bool validity pattern: row0 leading padding, row1 trailing padding,
    row2 a gap in the middle, row3 (if B>=4 and full_row) fully padded, rest valid."""
    m = np.ones((B, T), dtype=bool)
    if B > 0:
        m[0, : min(2, T - 1)] = False
    if B > 1:
        m[1, T - min(2, T - 1):] = False
    if B > 2 and T >= 3:
        m[2, T // 2] = False
    if B > 3 and full_row:
        m[3, :] = False
    return m


def padded(rng, B, T, D, value=0.0, full_row=True):
    x = normal(rng, B, T, D)
    valid = pad_rows(B, T, full_row)
    x[~valid] = value
    # make sure no valid step equals the mask value in every feature
    return x, valid


def tokens(rng, B, T, vocab, dtype="int32", full_row=True):
    x = rng.integers(1, vocab, size=(B, T))
    valid = pad_rows(B, T, full_row)
    x[~valid] = 0
    return x.astype(dtype)


def one_hot(rng, B, T, V):
    t = rng.integers(0, V, size=(B, T))
    return np.eye(V, dtype=np.float32)[t]


# ------------------------------------------------------------ architectures
# Each builder: fn(K, api, rng) -> Built.  L = K.layers.  Weights are randomised
# afterwards by the driver (random normal * 0.5, BN moving_variance U(0.5,1.5)).

@arch("lstm_dense", "Input(6,3) -> LSTM(8) -> Dense(1), Sequential, default names", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(8), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("stacked_lstm_dropout", "LSTM(8, rs) -> Dropout -> LSTM(6) -> Dropout -> Dense(3, softmax), named layers", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([
        K.Input((7, 4), name="series"),
        L.LSTM(8, return_sequences=True, name="lstm_in"),
        L.Dropout(0.2, name="drop_1"),
        L.LSTM(6, name="lstm_out"),
        L.Dropout(0.3, name="drop_2"),
        L.Dense(3, activation="softmax", name="probs"),
    ], name="stacked_classifier")
    return Built(m, [call(normal(rng, 3, 7, 4))])


@arch("text_clf_maskzero", "int32 tokens -> Embedding(20, 6, mask_zero) -> LSTM(8) -> Dense(1, sigmoid)", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7,), dtype="int32"), L.Embedding(20, 6, mask_zero=True), L.LSTM(8), L.Dense(1, activation="sigmoid")])
    return Built(m, [call(tokens(rng, 4, 7, 20))],
                 "row 0 leading padding, row 1 trailing, row 2 a zero token mid-row, row 3 all padding (LSTM outputs 0 -> sigmoid(bias)).")


@arch("text_clf_bilstm", "Functional: tokens -> Embedding(30, 5, mask_zero) -> Bidirectional(LSTM(6)) -> Dense(4, softmax), named")
def _(K, api, rng):
    L = K.layers
    inp = K.Input((8,), dtype="int32", name="tokens")
    e = L.Embedding(30, 5, mask_zero=True, name="embed")(inp)
    h = L.Bidirectional(L.LSTM(6), name="bilstm")(e)
    out = L.Dense(4, activation="softmax", name="out")(h)
    m = K.Model(inp, out, name="bilstm_classifier")
    return Built(m, [call(tokens(rng, 4, 8, 30))])


@arch("text_clf_nomask", "tokens -> Embedding(25, 4) (no mask) -> LSTM(5) -> Dense(3, softmax)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6,), dtype="int32"), L.Embedding(25, 4), L.LSTM(5), L.Dense(3, activation="softmax")])
    return Built(m, [call(tokens(rng, 4, 6, 25))], "token 0 is an ordinary token here (mask_zero=False): every step is processed.")


@arch("embedding_int64", "Functional: int64 tokens -> Embedding(20, 6, mask_zero) -> LSTM(8) -> Dense(1, sigmoid)", extra=True)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((7,), dtype="int64", name="ids")
    x = L.Embedding(20, 6, mask_zero=True)(inp)
    x = L.LSTM(8)(x)
    m = K.Model(inp, L.Dense(1, activation="sigmoid")(x))
    return Built(m, [call(tokens(rng, 4, 7, 20, dtype="int64"))])


@arch("bilstm_stack_bn_gmp", "Bidirectional(LSTM(6, rs)) -> BatchNormalization -> GlobalMaxPooling1D -> Dense(2)", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.Bidirectional(L.LSTM(6, return_sequences=True)), L.BatchNormalization(),
                      L.GlobalMaxPooling1D(), L.Dense(2)])
    return Built(m, [call(normal(rng, 3, 6, 3))], "BatchNormalization in inference mode with random moving_mean/moving_variance/gamma/beta.")


@arch("bilstm_gap_masked", "Masking -> Bidirectional(LSTM(5, rs)) -> GlobalAveragePooling1D (mask-aware) -> Dense(2)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.Masking(0.0), L.Bidirectional(L.LSTM(5, return_sequences=True)),
                      L.GlobalAveragePooling1D(), L.Dense(2)])
    x, _v = padded(rng, 3, 7, 3, full_row=False)
    return Built(m, [call(x)],
                 "GlobalAveragePooling1D with a mask averages over valid steps only (sum(x*m)/sum(m)). No fully padded row: "
                 "Keras gives NaN (0/0) for it.")


@arch("conv_lstm", "Conv1D(6, 3, valid, relu) -> MaxPooling1D(2) -> LSTM(5) -> Dense(1)", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((9, 3)), L.Conv1D(6, 3, padding="valid", activation="relu"), L.MaxPooling1D(2),
                      L.LSTM(5), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 9, 3))], "T: 9 -> conv 7 -> pool 3.")


@arch("conv_same_causal", "Functional: Conv1D(4, 3, same) -> Conv1D(5, 2, causal, dilation 2) -> LSTM(4) -> Dense(2)")
def _(K, api, rng):
    L = K.layers
    inp = K.Input((8, 3))
    x = L.Conv1D(4, 3, padding="same")(inp)
    x = L.Conv1D(5, 2, padding="causal", dilation_rate=2)(x)
    x = L.LSTM(4)(x)
    m = K.Model(inp, L.Dense(2)(x))
    return Built(m, [call(normal(rng, 3, 8, 3))])


@arch("conv_strides_groups", "Conv1D(6, 3, strides 2, groups 2, no bias) on D=4 -> AveragePooling1D(2, same) -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((11, 4)), L.Conv1D(6, 3, strides=2, groups=2, use_bias=False),
                      L.AveragePooling1D(2, padding="same"), L.LSTM(4), L.Dense(1)])
    return Built(m, [call(normal(rng, 2, 11, 4))],
                 "T: 11 -> conv 5 -> avg-pool same 3 (the last window holds one step and is averaged over that one step).")


@arch("conv_bn_bilstm", "Conv1D(8, 3) -> BN -> relu -> Bidirectional(LSTM(4, rs), sum) -> GlobalAveragePooling1D -> Dense(3, softmax)", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((8, 4)), L.Conv1D(8, 3), L.BatchNormalization(), L.Activation("relu"),
                      L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum"),
                      L.GlobalAveragePooling1D(), L.Dense(3, activation="softmax")])
    return Built(m, [call(normal(rng, 3, 8, 4))])


@arch("masking_lstm", "Masking(0.0) -> LSTM(6, rs) -> Dense(2) on padded rows", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.Masking(0.0), L.LSTM(6, return_sequences=True), L.Dense(2)])
    x, _v = padded(rng, 4, 7, 3)
    return Built(m, [call(x)],
                 "rows: leading padding, trailing padding, a gap, fully padded. Masked steps hold the previous LSTM output "
                 "(0 before the first valid step); Dense then runs on every step.")


@arch("masking_value", "Masking(mask_value=-1.0) -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 2)), L.Masking(mask_value=-1.0), L.LSTM(4), L.Dense(1)])
    x, _v = padded(rng, 4, 6, 2, value=-1.0)
    return Built(m, [call(x)], "padding value -1.0 in every feature; a fully padded row gives Dense(bias).")


@arch("tagger_timedistributed", "Embedding(15, 4, mask_zero) -> Bidirectional(LSTM(5, rs)) -> TimeDistributed(Dense(6, softmax))", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7,), dtype="int32"), L.Embedding(15, 4, mask_zero=True),
                      L.Bidirectional(L.LSTM(5, return_sequences=True)), L.TimeDistributed(L.Dense(6, activation="softmax"))])
    return Built(m, [call(tokens(rng, 4, 7, 15))],
                 "Bidirectional with return_sequences outputs zeros at masked steps (zero_output_for_mask), so padded positions "
                 "get softmax(bias).")


@arch("timedistributed_dense_stack", "Functional: LSTM(6, rs) -> TimeDistributed(Dense(4, relu)) -> TimeDistributed(Dense(2))")
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    x = L.LSTM(6, return_sequences=True)(inp)
    x = L.TimeDistributed(L.Dense(4, activation="relu"))(x)
    m = K.Model(inp, L.TimeDistributed(L.Dense(2))(x))
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("autoencoder_repeatvector", "LSTM(6) -> RepeatVector(5) -> LSTM(6, rs) -> TimeDistributed(Dense(3))", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((5, 3)), L.LSTM(6), L.RepeatVector(5), L.LSTM(6, return_sequences=True),
                      L.TimeDistributed(L.Dense(3))])
    return Built(m, [call(normal(rng, 3, 5, 3))])


@arch("seq2seq_inference", "Functional encoder-decoder: encoder LSTM(6, return_state) states -> decoder LSTM(6, rs, return_state) initial_state; [Dense(7, softmax)(seq), h, c]", extra=True)
def _(K, api, rng):
    L = K.layers
    enc_in = K.Input((6, 4), name="encoder_input")
    _o, h, c = L.LSTM(6, return_state=True, name="encoder_lstm")(enc_in)
    dec_in = K.Input((5, 7), name="decoder_input")
    seq, dh, dc = L.LSTM(6, return_sequences=True, return_state=True, name="decoder_lstm")(dec_in, initial_state=[h, c])
    probs = L.Dense(7, activation="softmax", name="decoder_dense")(seq)
    m = K.Model([enc_in, dec_in], [probs, dh, dc], name="seq2seq")
    return Built(m, [call(normal(rng, 3, 6, 4), one_hot(rng, 3, 5, 7))],
                 "inputs: encoder sequence, one-hot decoder tokens (teacher forcing). outputs: probabilities, decoder h, decoder c.")


@arch("encoder_states_only", "Functional: LSTM(5, return_state=True) -> outputs [out, h, c]")
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    o, h, c = L.LSTM(5, return_state=True)(inp)
    m = K.Model(inp, [o, h, c])
    return Built(m, [call(normal(rng, 3, 6, 3))], "out equals h (no mask).")


@arch("seq_ends_return_state", "Sequential ending in LSTM(4, return_state=True): 3 outputs (Functional in tf_keras, which refuses it in Sequential)")
def _(K, api, rng):
    L = K.layers
    x = normal(rng, 3, 5, 3)
    if api == "keras3":
        m = K.Sequential([K.Input((5, 3)), L.Dense(4, activation="tanh"), L.LSTM(4, return_state=True)])
        return Built(m, [call(x)], "Keras 3 accepts a multi-output last layer in Sequential; the model returns (out, h, c).")
    inp = K.Input((5, 3))
    y = L.Dense(4, activation="tanh")(inp)
    o, h, c = L.LSTM(4, return_state=True)(y)
    m = K.Model(inp, [o, h, c])
    return Built(m, [call(x)], "tf_keras Sequential refuses this ('All layers in a Sequential model should have a single output "
                               "tensor'), so it is built as the equivalent Functional model.")


@arch("seq_ends_bidir_merge_none", "Sequential ending in Bidirectional(LSTM(4, rs), merge_mode=None): 2 outputs (Functional in tf_keras)")
def _(K, api, rng):
    L = K.layers
    x = normal(rng, 3, 5, 3)
    if api == "keras3":
        m = K.Sequential([K.Input((5, 3)), L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=None)])
        return Built(m, [call(x)], "Keras 3 Sequential returns the pair (forward sequence, backward sequence flipped to time order).")
    inp = K.Input((5, 3))
    f, b = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=None)(inp)
    m = K.Model(inp, [f, b])
    return Built(m, [call(x)], "tf_keras Sequential refuses multi-output layers, so this is the equivalent Functional model.")


def _bidir(mode, rs):
    def fn(K, api, rng):
        L = K.layers
        m = K.Sequential([K.Input((6, 3)), L.Bidirectional(L.LSTM(4, return_sequences=rs), merge_mode=mode), L.Dense(2)])
        return Built(m, [call(normal(rng, 3, 6, 3))], "Dense on the 3-D sequence" if rs else "")
    return fn


for _mode, _rs in (("concat", True), ("sum", False), ("mul", True), ("ave", False)):
    arch(f"bidir_{_mode}", f"Bidirectional(LSTM(4{', rs' if _rs else ''}), merge_mode={_mode}) -> Dense(2)")(_bidir(_mode, _rs))


@arch("bidir_backward_layer", "Bidirectional(LSTM(4, rs), backward_layer=LSTM(3|4, rs, go_backwards, relu)) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    bu = 4 if api == "keras3" else 3
    m = K.Sequential([K.Input((6, 3)), L.Bidirectional(
        L.LSTM(4, return_sequences=True),
        backward_layer=L.LSTM(bu, return_sequences=True, go_backwards=True, activation="relu")), L.Dense(1)])
    if api == "keras3":
        note = ("backward LSTM(4, relu): Keras 3.15.1 computes the Bidirectional output shape as 2 x forward units, so a "
                "backward layer with 3 units builds Dense for 8 features and then fails at call time on 7; units are equal here.")
    else:
        note = "forward and backward halves have different units (4 + 3 = 7 features) and activations (tanh / relu)."
    return Built(m, [call(normal(rng, 3, 6, 3))], note)


@arch("bidir_return_state", "Functional: Bidirectional(LSTM(4), return_state) -> [out, fh, fc, bh, bc]", extra=True)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    outs = L.Bidirectional(L.LSTM(4, return_state=True))(inp)
    m = K.Model(inp, list(outs))
    return Built(m, [call(normal(rng, 3, 6, 3))], "outputs: concat output, forward h, forward c, backward h, backward c.")


@arch("multi_output", "Functional: shared LSTM(6, rs) -> [GlobalMaxPooling1D -> Dense(2, softmax), TimeDistributed(Dense(1))]", extra=True)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3), name="x")
    s = L.LSTM(6, return_sequences=True, name="shared_lstm")(inp)
    h1 = L.Dense(2, activation="softmax", name="cls")(L.GlobalMaxPooling1D(name="pool")(s))
    h2 = L.TimeDistributed(L.Dense(1), name="per_step")(s)
    m = K.Model(inp, [h1, h2])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("multi_input_concat", "two inputs (T,3), (T,2) -> LSTM(4), LSTM(3) -> Concatenate -> Dense(2)", extra=True)
def _(K, api, rng):
    L = K.layers
    a = K.Input((6, 3), name="a")
    b = K.Input((6, 2), name="b")
    x = L.Concatenate()([L.LSTM(4)(a), L.LSTM(3)(b)])
    m = K.Model([a, b], L.Dense(2)(x))
    return Built(m, [call(normal(rng, 3, 6, 3), normal(rng, 3, 6, 2))])


def _merge(cls_name):
    def fn(K, api, rng):
        L = K.layers
        inp = K.Input((6, 3))
        b1 = L.LSTM(5, return_sequences=True)(inp)
        b2 = L.LSTM(5, return_sequences=True)(inp)
        x = getattr(L, cls_name)()([b1, b2])
        x = L.LSTM(3)(x)
        m = K.Model(inp, L.Dense(1)(x))
        return Built(m, [call(normal(rng, 3, 6, 3))])
    return fn


for _cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    arch(f"merge_{_cls.lower()}", f"two LSTM(5, rs) branches of one input -> {_cls} -> LSTM(3) -> Dense(1)")(_merge(_cls))


@arch("nested_sequential", "Sequential([Input, Sequential([LSTM(6, rs), Dropout]), Sequential([LSTM(4), Dense(2)])])")
def _(K, api, rng):
    L = K.layers
    inner1 = K.Sequential([L.LSTM(6, return_sequences=True), L.Dropout(0.1)], name="encoder_block")
    inner2 = K.Sequential([L.LSTM(4), L.Dense(2)], name="head_block")
    m = K.Sequential([K.Input((6, 3)), inner1, inner2])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("nested_functional", "Functional calling an inner Functional model (Input -> LSTM(5, rs) -> LSTM(3)) as a layer", extra=True)
def _(K, api, rng):
    L = K.layers
    ii = K.Input((6, 4), name="inner_in")
    inner = K.Model(ii, L.LSTM(3)(L.LSTM(5, return_sequences=True)(ii)), name="inner_model")
    inp = K.Input((6, 3), name="outer_in")
    x = L.TimeDistributed(L.Dense(4, activation="relu"))(inp)
    m = K.Model(inp, L.Dense(1)(inner(x)), name="outer_model")
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("act_softmax_layer", "LSTM(6) -> Dense(5) -> Activation('softmax')")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6), L.Dense(5), L.Activation("softmax")])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("act_log_softmax_dense", "LSTM(6) -> Dense(5, activation='log_softmax')")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6), L.Dense(5, activation="log_softmax")])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("act_elementwise_chain", "LSTM(6, rs) -> chained element-wise Activation layers and Dense(6) -> LSTM(3) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    swish = "silu" if api == "keras3" else "swish"
    m = K.Sequential([
        K.Input((6, 3)), L.LSTM(6, return_sequences=True),
        L.Activation("gelu"), L.Dense(6), L.Activation("selu"), L.Activation("softsign"),
        L.Dense(6), L.Activation("softplus"), L.Activation("elu"), L.Dense(6), L.Activation(swish),
        L.Activation("hard_sigmoid"), L.Dense(6), L.Activation("mish"), L.Activation("relu6"),
        L.Dense(6), L.Activation("leaky_relu"), L.Activation("tanh"), L.LSTM(3), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))],
                 "hard_sigmoid is the API's own (Keras 3: relu6(x+3)/6; tf_keras: clip(0.2x+0.5)); gelu exact; leaky_relu slope 0.2.")


@arch("dense_softmax_3d", "LSTM(6, rs) -> Dense(4, softmax) on the 3-D sequence (no TimeDistributed)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), L.Dense(4, activation="softmax")])
    return Built(m, [call(normal(rng, 3, 6, 3))], "Dense acts on the last axis of (B,T,6); softmax over the last axis per step.")


@arch("flatten_dense", "LSTM(6, rs) -> Flatten -> Dense(2)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((5, 3)), L.LSTM(6, return_sequences=True), L.Flatten(), L.Dense(2)])
    return Built(m, [call(normal(rng, 3, 5, 3))], "Flatten is row-major over (T, U).")


@arch("reshape_lstm", "LSTM(6, rs) -> Reshape((15, 2)) -> LSTM(3) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((5, 3)), L.LSTM(6, return_sequences=True), L.Reshape((15, 2)), L.LSTM(3), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 5, 3))], "Reshape is row-major: (T=5, 6) -> (15, 2).")


@arch("permute_lstm", "Permute((2, 1)) -> LSTM(4) -> Dense(1) on input (4, 7)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((4, 7)), L.Permute((2, 1)), L.LSTM(4), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 4, 7))], "the LSTM sees T=7 steps of 4 features.")


@arch("padding_cropping", "ZeroPadding1D((1, 2)) -> LSTM(4, rs) -> Cropping1D((1, 1)) -> GlobalMaxPooling1D -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((5, 3)), L.ZeroPadding1D((1, 2)), L.LSTM(4, return_sequences=True),
                      L.Cropping1D((1, 1)), L.GlobalMaxPooling1D(), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 5, 3))], "T: 5 -> 8 (padded zeros are processed as data, no mask) -> 6.")


@arch("layernorm", "LSTM(6, rs) -> LayerNormalization -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), L.LayerNormalization(), L.LSTM(4), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("layernorm_plain", "LSTM(6, rs) -> LayerNormalization(center=False, scale=False, epsilon=1e-3) -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True),
                      L.LayerNormalization(center=False, scale=False, epsilon=1e-3), L.LSTM(4), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("layernorm_rms", "LSTM(6, rs) -> LayerNormalization(rms_scaling=True) -> LSTM(4) -> Dense(1) (Keras 3 only)", apis=("keras3",))
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), L.LayerNormalization(rms_scaling=True),
                      L.LSTM(4), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("noise_identities", "GaussianNoise -> SpatialDropout1D -> LSTM(5) -> GaussianDropout -> AlphaDropout -> ActivityRegularization -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.GaussianNoise(0.1), L.SpatialDropout1D(0.2), L.LSTM(5), L.GaussianDropout(0.1),
                      L.AlphaDropout(0.1), L.ActivityRegularization(l1=0.01), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))], "all of these are identities at inference.")


@arch("stateful_stream", "stateful LSTM(6, rs), batch 2 -> Dense(1); 4 calls T = 3, 1, 4, 2, reset before the third", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input(batch_shape=(2, None, 3)), L.LSTM(6, return_sequences=True, stateful=True), L.Dense(1)])
    calls = [call(normal(rng, 2, 3, 3)), call(normal(rng, 2, 1, 3)), call(normal(rng, 2, 4, 3), reset=True),
             call(normal(rng, 2, 2, 3))]
    return Built(m, calls, "states carry between calls; reset_states zeroes them.")


@arch("stateful_stacked_bidir", "stateful Bidirectional(LSTM(4, rs)) -> LSTM(3, stateful) -> Dense(1); 3 calls, reset before the second")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input(batch_shape=(2, None, 3)),
                      L.Bidirectional(L.LSTM(4, return_sequences=True, stateful=True)),
                      L.LSTM(3, stateful=True), L.Dense(1)])
    calls = [call(normal(rng, 2, 4, 3)), call(normal(rng, 2, 2, 3), reset=True), call(normal(rng, 2, 3, 3))]
    return Built(m, calls, "both directions of the Bidirectional carry their own state across calls (the backward one "
                           "processes each chunk backwards from the carried state).")


@arch("lstm_options", "LSTM(5, relu, hard_sigmoid, no bias, go_backwards, rs, unroll) -> Dense(1)", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(5, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                                              go_backwards=True, return_sequences=True, unroll=True), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))],
                 "hard_sigmoid is API-specific (see tests/fixtures/keras/SCHEMA.md 4.1); the sequence stays in processing "
                 "(reversed) order.")


@arch("global_max_pool", "LSTM(6, rs) -> GlobalMaxPooling1D -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), L.GlobalMaxPooling1D(), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("global_avg_pool", "LSTM(6, rs) -> GlobalAveragePooling1D -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), L.GlobalAveragePooling1D(), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("global_max_keepdims", "LSTM(6, rs) -> GlobalMaxPooling1D(keepdims=True) -> Dense(1): output (B, 1, 1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), L.GlobalMaxPooling1D(keepdims=True), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("pooling_params", "MaxPooling1D(3, strides 1, same) -> AveragePooling1D(2, strides 3, valid) -> LSTM(4) -> Dense(1), T=7")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.MaxPooling1D(pool_size=3, strides=1, padding="same"),
                      L.AveragePooling1D(pool_size=2, strides=3, padding="valid"), L.LSTM(4), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 7, 3))], "T: 7 -> 7 -> 2 (windows [0,1] and [3,4]).")


@arch("conv1d_channels_first", "Conv1D(4, 2, data_format='channels_first') on (5, 8) -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((5, 8)), L.Conv1D(4, 2, data_format="channels_first"), L.LSTM(4), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 5, 8))],
                 "channels_first: input axis 1 (5) is channels, axis 2 (8) is steps; conv output (B, 4, 7), so the LSTM "
                 "sees T=4 steps of 7 features.")


# ---- masks through other layers

@arch("mask_through_timedistributed", "Masking -> TimeDistributed(Dense(5)) -> Dense(4, relu) (3-D) -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.Masking(0.0), L.TimeDistributed(L.Dense(5)), L.Dense(4, activation="relu"),
                      L.LSTM(4), L.Dense(1)])
    x, _v = padded(rng, 4, 7, 3)
    return Built(m, [call(x)], "TimeDistributed and Dense pass the mask through unchanged, so the LSTM still skips padded steps.")


@arch("mask_dropped_by_conv", "Masking -> Conv1D(4, 3, same) -> LSTM(4) -> Dense(1): Conv1D drops the mask")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.Masking(0.0), L.Conv1D(4, 3, padding="same"), L.LSTM(4), L.Dense(1)])
    x, _v = padded(rng, 4, 7, 3)
    return Built(m, [call(x)], "Conv1D does not support masking; the mask is silently dropped (no error in either API) and "
                               "the LSTM processes every step.")


def _two_masked_inputs(K, L, rng, second_masked):
    a = K.Input((6, 3), name="a")
    b = K.Input((6, 2), name="b")
    ma = L.Masking(0.0)(a)
    mb = L.Masking(0.0)(b) if second_masked else b
    xa, _ = padded(rng, 4, 6, 3, full_row=False)
    xb = normal(rng, 4, 6, 2)
    if second_masked:
        # a different pattern: b padded at the end of row 0 and the start of row 1, row 3 step 1
        xb[0, 4:] = 0.0
        xb[1, :3] = 0.0
        xb[3, 1] = 0.0
    return a, b, ma, mb, xa, xb


@arch("mask_concat_one_masked", "inputs a (Masking) and b (no mask) -> Concatenate (features) -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    a, b, ma, mb, xa, xb = _two_masked_inputs(K, L, rng, False)
    m = K.Model([a, b], L.Dense(1)(L.LSTM(4)(L.Concatenate()([ma, mb]))))
    note = ("Keras 3 Concatenate ORs the masks along features, an unmasked input counting as all-True: the result is all True, "
            "so NO step is masked." if api == "keras3" else
            "tf_keras Concatenate ANDs the masks, an unmasked input counting as all-True: the result is a's mask.")
    return Built(m, [call(xa, xb)], note)


@arch("mask_concat_two_masks", "inputs a, b each with Masking (different patterns) -> Concatenate -> LSTM(4) -> Dense(1)", extra=True)
def _(K, api, rng):
    L = K.layers
    a, b, ma, mb, xa, xb = _two_masked_inputs(K, L, rng, True)
    m = K.Model([a, b], L.Dense(1)(L.LSTM(4)(L.Concatenate()([ma, mb]))))
    note = "Keras 3: step mask = mask_a OR mask_b." if api == "keras3" else "tf_keras: step mask = mask_a AND mask_b."
    return Built(m, [call(xa, xb)], note)


@arch("mask_add_one_masked", "a (Masking) -> Dense(2) (keeps mask); b (no mask) -> Add -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    a, b, ma, mb, xa, xb = _two_masked_inputs(K, L, rng, False)
    x = L.Add()([L.Dense(2)(ma), mb])
    m = K.Model([a, b], L.Dense(1)(L.LSTM(4)(x)))
    note = ("Keras 3 merge layers return no mask when any input has none: the LSTM processes every step." if api == "keras3"
            else "tf_keras merge layers AND the masks that exist: the LSTM uses a's mask.")
    return Built(m, [call(xa, xb)], note)


@arch("mask_add_two_masks", "a, b each with Masking -> Dense(2) each -> Add -> LSTM(4) -> Dense(1)")
def _(K, api, rng):
    L = K.layers
    a, b, ma, mb, xa, xb = _two_masked_inputs(K, L, rng, True)
    x = L.Add()([L.Dense(2)(ma), L.Dense(2)(mb)])
    m = K.Model([a, b], L.Dense(1)(L.LSTM(4)(x)))
    note = "Keras 3: mask_a OR mask_b." if api == "keras3" else "tf_keras: mask_a AND mask_b."
    return Built(m, [call(xa, xb)], note)


@arch("masked_bilstm_gmp", "Masking -> Bidirectional(LSTM(4, rs)) -> GlobalMaxPooling1D -> Dense(1): the max ignores the mask")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.Masking(0.0), L.Bidirectional(L.LSTM(4, return_sequences=True)),
                      L.GlobalMaxPooling1D(), L.Dense(1)])
    x, _v = padded(rng, 4, 7, 3)
    return Built(m, [call(x)],
                 "GlobalMaxPooling1D does not use the mask: the zeros that Bidirectional outputs at masked steps take part "
                 "in the max (a fully padded row pools to 0 -> Dense(bias)).")


@arch("masked_lstm_gmp", "Masking -> LSTM(5, rs) -> GlobalMaxPooling1D -> Dense(1): the max ignores the mask")
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.Masking(0.0), L.LSTM(5, return_sequences=True), L.GlobalMaxPooling1D(), L.Dense(1)])
    x, _v = padded(rng, 4, 7, 3)
    return Built(m, [call(x)],
                 "GlobalMaxPooling1D does not use the mask: the LSTM's held outputs at masked steps (zeros before the first "
                 "valid step, the previous output after it) take part in the max.")


# ---- explicit mask passed to the model call

@arch("explicit_mask_lstm", "Sequential LSTM(6, rs) -> Dense(2), called as model(x, mask=m)", extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.LSTM(6, return_sequences=True), L.Dense(2)])
    x = normal(rng, 4, 7, 3)
    return Built(m, [call(x, mask=pad_rows(4, 7))],
                 "the mask is an argument of the model call (inputs at masked steps are ordinary values to be ignored); "
                 "it reaches the first layer.")


@arch("explicit_mask_bilstm_gap", "Functional Bidirectional(LSTM(4, rs)) -> GlobalAveragePooling1D -> Dense(2), called with mask=m")
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    x = L.GlobalAveragePooling1D()(L.Bidirectional(L.LSTM(4, return_sequences=True))(inp))
    m = K.Model(inp, L.Dense(2)(x))
    return Built(m, [call(normal(rng, 3, 6, 3), mask=pad_rows(3, 6, full_row=False))],
                 "mask passed to the model call; it flows through Bidirectional into the mask-aware average.")


# ---- low precision

def _lowp_model(K, dtype):
    L = K.layers
    kw = {} if dtype is None else {"dtype": dtype}
    extra = {"recurrent_initializer": "glorot_uniform"} if dtype == "bfloat16" else {}
    return K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True, **kw, **extra), L.LSTM(4, **kw, **extra),
                         L.Dense(2, **kw)])


@arch("fp16_layers", "LSTM(6, rs) -> LSTM(4) -> Dense(2), every layer dtype='float16' (weights stored as float16)", extra=True)
def _(K, api, rng):
    m = _lowp_model(K, "float16")
    return Built(m, [call(normal(rng, 3, 6, 3))], "", ref_model=_lowp_model(K, None),
                 tolerance_reason="float16 weights and compute")


@arch("bf16_layers", "LSTM(6, rs) -> LSTM(4) -> Dense(2), every layer dtype='bfloat16' (weights stored as bfloat16)", apis=("keras3",))
def _(K, api, rng):
    m = _lowp_model(K, "bfloat16")
    return Built(m, [call(normal(rng, 3, 6, 3))],
                 "recurrent_initializer='glorot_uniform' because the default orthogonal initializer needs a QR op that TF CPU "
                 "lacks for bfloat16 (weights are overwritten anyway).",
                 ref_model=_lowp_model(K, None), tolerance_reason="bfloat16 weights and compute")


def _mixed(policy):
    def fn(K, api, rng):
        L = K.layers

        def build():
            return K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), L.LSTM(4), L.Dense(3),
                                 L.Activation("softmax", dtype="float32")])

        K.mixed_precision.set_global_policy(policy)
        try:
            m = build()
        finally:
            K.mixed_precision.set_global_policy("float32")
        ref = build()
        return Built(m, [call(normal(rng, 3, 6, 3))],
                     f"global policy {policy} while building: weights float32, compute {policy.split('_')[1]}; the final "
                     "softmax is a float32 Activation layer as the mixed-precision guide recommends.",
                     ref_model=ref, tolerance_reason=f"{policy} compute")
    return fn


arch("mixed_float16", "global policy mixed_float16: LSTM(6, rs) -> LSTM(4) -> Dense(3) -> Activation(softmax, float32)", extra=True)(_mixed("mixed_float16"))
arch("mixed_bfloat16", "global policy mixed_bfloat16: same model as mixed_float16", apis=("keras3",))(_mixed("mixed_bfloat16"))


# ---- GRU / SimpleRNN models (family gru_simplernn)

G = "gru_simplernn"


@arch("gru_dense", "GRU(6) (reset_after=True default) -> Dense(1)", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.GRU(6), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("gru_reset_after_false", "GRU(6, reset_after=False) -> Dense(1)", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.GRU(6, reset_after=False), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))], "bias shape (3U,) instead of (2, 3U).")


@arch("text_clf_gru", "tokens -> Embedding(20, 5, mask_zero) -> GRU(6) -> Dense(3, softmax)", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7,), dtype="int32"), L.Embedding(20, 5, mask_zero=True), L.GRU(6),
                      L.Dense(3, activation="softmax")])
    return Built(m, [call(tokens(rng, 4, 7, 20))])


@arch("bigru_tagger", "Bidirectional(GRU(4, rs)) -> TimeDistributed(Dense(3))", family=G)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.Bidirectional(L.GRU(4, return_sequences=True)), L.TimeDistributed(L.Dense(3))])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("simplernn_dense", "SimpleRNN(6) -> Dense(1)", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.SimpleRNN(6), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("stacked_simplernn_gru", "SimpleRNN(6, rs) -> GRU(4) -> Dense(2)", family=G)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.SimpleRNN(6, return_sequences=True), L.GRU(4), L.Dense(2)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("masking_gru_simplernn", "Masking -> GRU(5, rs) -> SimpleRNN(3) -> Dense(1) on padded rows", family=G)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((7, 3)), L.Masking(0.0), L.GRU(5, return_sequences=True), L.SimpleRNN(3), L.Dense(1)])
    x, _v = padded(rng, 4, 7, 3)
    return Built(m, [call(x)])


@arch("stateful_gru_stream", "stateful GRU(5, rs), batch 2 -> Dense(1); 4 calls T = 2, 3, 1, 4, reset before the fourth", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input(batch_shape=(2, None, 3)), L.GRU(5, return_sequences=True, stateful=True), L.Dense(1)])
    calls = [call(normal(rng, 2, 2, 3)), call(normal(rng, 2, 3, 3)), call(normal(rng, 2, 1, 3)),
             call(normal(rng, 2, 4, 3), reset=True)]
    return Built(m, calls)


@arch("rnn_lstmcell", "RNN(LSTMCell(5)) -> Dense(1)", family=G)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.RNN(L.LSTMCell(5)), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))], "generic RNN wrapper around an LSTMCell: same math as LSTM(5).")


@arch("rnn_grucell", "RNN(GRUCell(5), return_sequences=True) -> Dense(2)", family=G)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.RNN(L.GRUCell(5), return_sequences=True), L.Dense(2)])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("rnn_stacked_cells", "RNN(StackedRNNCells([LSTMCell(4), GRUCell(3)])) -> Dense(1)", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)])), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))], "cell 0 (LSTM) feeds cell 1 (GRU) at every step; output = GRU's h.")


@arch("conv_gru", "Conv1D(6, 3) -> MaxPooling1D(2) -> GRU(5) -> Dense(1)", family=G)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((9, 3)), L.Conv1D(6, 3, activation="relu"), L.MaxPooling1D(2), L.GRU(5), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 9, 3))])


@arch("bigru_backward_layer_sum", "Masking -> Bidirectional(GRU(4, rs, reset_after=False), backward_layer=GRU(4, rs, go_backwards, relu), sum) -> Dense(1) on padded rows", family=G)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((7, 3))
    x = L.Masking(0.0)(inp)
    fwd = L.GRU(4, return_sequences=True, reset_after=False)
    bwd = L.GRU(4, return_sequences=True, go_backwards=True, activation="relu")
    x = L.Bidirectional(fwd, backward_layer=bwd, merge_mode="sum")(x)
    m = K.Model(inp, L.Dense(1)(x))
    x, _v = padded(rng, 5, 7, 3)
    return Built(m, [call(x)], "explicit backward_layer with its own activation; fully masked row 3.")


@arch("bisimplernn_ave_state", "Bidirectional(SimpleRNN(3, return_state), ave) -> [output, forward h, backward h]", family=G)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((5, 2))
    y, fh, bh = L.Bidirectional(L.SimpleRNN(3, return_state=True), merge_mode="ave")(inp)
    m = K.Model(inp, [y, fh, bh])
    return Built(m, [call(normal(rng, 3, 5, 2))])


@arch("rnn_cells_return_state", "RNN(SimpleRNNCell(4), return_state, go_backwards) and RNN(LSTMCell(3), rs, return_state) on one input -> [y1, h1, y2, h2, c2]", family=G)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    y1, h1 = L.RNN(L.SimpleRNNCell(4, activation="relu"), return_state=True, go_backwards=True)(inp)
    y2, h2, c2 = L.RNN(L.LSTMCell(3), return_sequences=True, return_state=True)(inp)
    m = K.Model(inp, [y1, h1, y2, h2, c2])
    return Built(m, [call(normal(rng, 3, 6, 3))])


@arch("gru_initial_state_masked", "Masking -> GRU(4, rs, hard_sigmoid recurrent activation)(x, initial_state=h0) -> Dense(1) on padded rows", family=G)
def _(K, api, rng):
    L = K.layers
    x_in = K.Input((6, 3))
    h_in = K.Input((4,))
    y = L.GRU(4, return_sequences=True, recurrent_activation="hard_sigmoid")(L.Masking(0.0)(x_in), initial_state=[h_in])
    m = K.Model([x_in, h_in], L.Dense(1)(y))
    x, _v = padded(rng, 4, 6, 3)
    return Built(m, [call(x, normal(rng, 4, 4) * 0.5)], "hard_sigmoid is each Keras version's own; fully masked row 3 returns zeros.")


@arch("stacked_cells_stateful", "stateful RNN(StackedRNNCells([GRUCell(3, reset_after=False), SimpleRNNCell(2)]), rs), batch 2 -> Dense(1); 3 calls, reset before the third", family=G)
def _(K, api, rng):
    L = K.layers
    cells = L.StackedRNNCells([L.GRUCell(3, reset_after=False), L.SimpleRNNCell(2)])
    m = K.Sequential([K.Input(batch_shape=(2, None, 3)), L.RNN(cells, return_sequences=True, stateful=True), L.Dense(1)])
    calls = [call(normal(rng, 2, 3, 3)), call(normal(rng, 2, 2, 3)), call(normal(rng, 2, 4, 3), reset=True)]
    return Built(m, calls)


@arch("stacked_cells_masked_backwards", "Masking -> RNN(StackedRNNCells([SimpleRNNCell(4), LSTMCell(3)]), rs) on padded rows; RNN(StackedRNNCells([GRUCell(3), GRUCell(2)]), go_backwards) on the raw input -> [y1, y2]", family=G)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    m1 = L.Masking(0.0)(inp)
    y1 = L.RNN(L.StackedRNNCells([L.SimpleRNNCell(4), L.LSTMCell(3)]), return_sequences=True)(m1)
    y2 = L.RNN(L.StackedRNNCells([L.GRUCell(3), L.GRUCell(2)]), go_backwards=True)(inp)
    m = K.Model(inp, [y1, y2])
    x, _v = padded(rng, 4, 6, 3)
    return Built(m, [call(x)], "go_backwards on the raw input (a masked go_backwards stack: stacked_cells_backwards_masked).")


@arch("stacked_cells_return_state", "Masking -> RNN(StackedRNNCells([LSTMCell(3), GRUCell(2), SimpleRNNCell(4)]), return_state) on padded rows -> [y, h0, c0, h1, h2]", family=G)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    cells = L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2), L.SimpleRNNCell(4)])
    y, *states = L.RNN(cells, return_state=True)(L.Masking(0.0)(inp))
    flat = []
    for s in states:  # Keras 3: one list per cell; tf-keras: a list for the LSTMCell only
        flat.extend(s if isinstance(s, (list, tuple)) else [s])
    m = K.Model(inp, [y] + flat)
    x, _v = padded(rng, 4, 6, 3)
    return Built(m, [call(x)], "states nested per cell, flattened in cell order [h0, c0, h1, h2]; fully masked row 3.")


def flat_states(states):
    """A recurrent layer's returned states flattened in order (Keras 3 nests them per
    StackedRNNCells cell; tf-keras nests an LSTMCell's only)."""
    flat = []
    for s in states:
        flat.extend(flat_states(s) if isinstance(s, (list, tuple)) else [s])
    return flat


def nested_init(api, per_cell):
    """An initial_state for RNN(StackedRNNCells) from per-cell state lists: Keras 3 takes one
    list per cell, tf-keras a list for an LSTMCell and a bare tensor for a one-state cell."""
    if api == "keras3":
        return [list(c) for c in per_cell]
    return [list(c) if len(c) > 1 else c[0] for c in per_cell]


@arch("stacked_cells_backwards_masked", "Masking -> RNN(StackedRNNCells([GRUCell(3), LSTMCell(2), SimpleRNNCell(3)]), go_backwards, rs) and RNN(StackedRNNCells([LSTMCell(3), GRUCell(2, reset_after=False)]), go_backwards) on padded rows -> [y1, y2]", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((7, 3))
    m1 = L.Masking(0.0)(inp)
    y1 = L.RNN(L.StackedRNNCells([L.GRUCell(3), L.LSTMCell(2), L.SimpleRNNCell(3)]), go_backwards=True, return_sequences=True)(m1)
    y2 = L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2, reset_after=False)]), go_backwards=True)(m1)
    m = K.Model(inp, [y1, y2])
    x, _v = padded(rng, 5, 7, 3)
    return Built(m, [call(x)], "later cells read the earlier cell's output in processing order with the reversed mask; y1 is in processing order; fully masked row 3.")


@arch("stacked_cells_initial_state", "Masking -> RNN(StackedRNNCells([LSTMCell(3), GRUCell(2)]), rs)(x, initial_state per cell) -> Dense(1), and RNN(StackedRNNCells([SimpleRNNCell(2), LSTMCell(2)]), go_backwards, return_state)(x, initial_state) on padded rows", family=G)
def _(K, api, rng):
    L = K.layers
    x_in = K.Input((6, 3))
    h0, c0, h1 = K.Input((3,)), K.Input((3,)), K.Input((2,))
    g0, g1, q1 = K.Input((2,)), K.Input((2,)), K.Input((2,))
    m1 = L.Masking(0.0)(x_in)
    y1 = L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), return_sequences=True)(
        m1, initial_state=nested_init(api, [[h0, c0], [h1]]))
    y2, *st = L.RNN(L.StackedRNNCells([L.SimpleRNNCell(2), L.LSTMCell(2)]), go_backwards=True, return_state=True)(
        m1, initial_state=nested_init(api, [[g0], [g1, q1]]))
    m = K.Model([x_in, h0, c0, h1, g0, g1, q1], [L.Dense(1)(y1), y2] + flat_states(st))
    x, _v = padded(rng, 4, 6, 3)
    states = [normal(rng, 4, n) * 0.5 for n in (3, 3, 2, 2, 2, 2)]
    return Built(m, [call(x, *states)], "Keras 3 passes no mask to a layer called with an initial_state tensor (tf-keras does).")


@arch("bidir_stacked_cells", "Masking -> Bidirectional(RNN(StackedRNNCells([LSTMCell(3), GRUCell(2)]), rs, return_state)) and Bidirectional(RNN(StackedRNNCells([SimpleRNNCell(2), GRUCell(2, reset_after=False)])), ave) on padded rows -> [y, 6 states, y2]", family=G, extra=True)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((6, 3))
    m1 = L.Masking(0.0)(inp)
    y, *st = L.Bidirectional(L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), return_sequences=True, return_state=True))(m1)
    y2 = L.Bidirectional(L.RNN(L.StackedRNNCells([L.SimpleRNNCell(2), L.GRUCell(2, reset_after=False)])), merge_mode="ave")(m1)
    m = K.Model(inp, [y] + flat_states(st) + [y2])
    x, _v = padded(rng, 5, 6, 3)
    return Built(m, [call(x)], "states: forward cells' then backward cells' [h0, c0, h1]; fully masked row 3.")


@arch("bidir_stacked_cells_modes", "Bidirectional(RNN(StackedRNNCells), rs) with merge_mode None, mul, sum with an explicit backward_layer of other cells, and concat with an initial_state -> [f, b, mul, sum, concat]", family=G)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((5, 3))
    s = [K.Input((n,)) for n in (2, 2, 3, 2, 2, 3)]
    f, b = L.Bidirectional(L.RNN(L.StackedRNNCells([L.GRUCell(3), L.SimpleRNNCell(2)]), return_sequences=True), merge_mode=None)(inp)
    y_mul = L.Bidirectional(L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.LSTMCell(2)]), return_sequences=True), merge_mode="mul")(inp)
    back = L.RNN(L.StackedRNNCells([L.SimpleRNNCell(3), L.GRUCell(2)]), return_sequences=True, go_backwards=True)
    y_sum = L.Bidirectional(L.RNN(L.StackedRNNCells([L.GRUCell(2, reset_after=False), L.GRUCell(2)]), return_sequences=True),
                            backward_layer=back, merge_mode="sum")(inp)
    init = nested_init(api, [[s[0], s[1]], [s[2]]]) + nested_init(api, [[s[3], s[4]], [s[5]]])
    y_cat = L.Bidirectional(L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.GRUCell(3)])))(inp, initial_state=init)
    m = K.Model([inp] + s, [f, b, y_mul, y_sum, y_cat])
    states = [normal(rng, 3, n) * 0.5 for n in (2, 2, 3, 2, 2, 3)]
    return Built(m, [call(normal(rng, 3, 5, 3), *states)])


@arch("bidir_stacked_cells_initial_state_masked", "Masking -> Bidirectional(RNN(StackedRNNCells([LSTMCell(2), GRUCell(3)]), rs, return_state), sum)(x, initial_state) -> Dense(1) on padded rows -> [y, 6 states]", family=G)
def _(K, api, rng):
    L = K.layers
    x_in = K.Input((6, 3))
    s = [K.Input((n,)) for n in (2, 2, 3, 2, 2, 3)]
    init = nested_init(api, [[s[0], s[1]], [s[2]]]) + nested_init(api, [[s[3], s[4]], [s[5]]])
    y, *st = L.Bidirectional(L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.GRUCell(3)]), return_sequences=True, return_state=True),
                             merge_mode="sum")(L.Masking(0.0)(x_in), initial_state=init)
    m = K.Model([x_in] + s, [L.Dense(1)(y)] + flat_states(st))
    x, _v = padded(rng, 4, 6, 3)
    states = [normal(rng, 4, n) * 0.5 for n in (2, 2, 3, 2, 2, 3)]
    return Built(m, [call(x, *states)], "Keras 3 passes no mask to a layer called with an initial_state tensor (tf-keras does).")


@arch("bidir_stacked_cells_stateful", "Sequential: stateful Bidirectional(RNN(StackedRNNCells([GRUCell(3), LSTMCell(2)]), rs)), batch 2 -> Dense(1); 3 calls, reset before the third", family=G)
def _(K, api, rng):
    L = K.layers
    cells = L.StackedRNNCells([L.GRUCell(3), L.LSTMCell(2)])
    m = K.Sequential([K.Input(batch_shape=(2, None, 3)),
                      L.Bidirectional(L.RNN(cells, return_sequences=True, stateful=True)), L.Dense(1)])
    calls = [call(normal(rng, 2, 3, 3)), call(normal(rng, 2, 2, 3)), call(normal(rng, 2, 4, 3), reset=True)]
    return Built(m, calls)


@arch("bidir_forward_go_backwards", "Embedding(mask_zero) -> Bidirectional(GRU(4, go_backwards, rs), mul), Bidirectional(LSTM(3, go_backwards, rs)), Bidirectional(SimpleRNN(2, go_backwards, rs), None): the forward layer runs backwards, the backward one forwards, and Keras flips the latter's output -> [y1, y2, f, b]", family=G, apis=("tf_keras2",), extra=True)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((7,), dtype="int32")
    e = L.Embedding(15, 4, mask_zero=True)(inp)
    y1 = L.Bidirectional(L.GRU(4, go_backwards=True, return_sequences=True), merge_mode="mul")(e)
    y2 = L.Bidirectional(L.LSTM(3, go_backwards=True, return_sequences=True))(e)
    f, b = L.Bidirectional(L.SimpleRNN(2, go_backwards=True, return_sequences=True), merge_mode=None)(e)
    m = K.Model(inp, [y1, y2, f, b])
    return Built(m, [call(tokens(rng, 5, 7, 15))], "tf-keras only: Keras 3.15.1 refuses a Bidirectional whose layer has go_backwards=True (it gives the backward copy go_backwards=True too).")


@arch("bidir_rnn_grucell_none", "Bidirectional(RNN(GRUCell(3, reset_after=False), rs), merge_mode=None) and Bidirectional(RNN(SimpleRNNCell(2)), mul) on one input -> [fwd, bwd, merged]", family=G)
def _(K, api, rng):
    L = K.layers
    inp = K.Input((5, 3))
    f, b = L.Bidirectional(L.RNN(L.GRUCell(3, reset_after=False), return_sequences=True), merge_mode=None)(inp)
    y = L.Bidirectional(L.RNN(L.SimpleRNNCell(2, activation="relu")), merge_mode="mul")(inp)
    m = K.Model(inp, [f, b, y])
    return Built(m, [call(normal(rng, 3, 5, 3))])


# ---- refused on purpose

R = "refused"


@arch("lambda_layer", "LSTM(5, rs) -> Lambda(t[:, -1, :] * 2 + 1) -> Dense(1): a Lambda layer (Python bytecode in the file)", family=R)
def _(K, api, rng):
    L = K.layers
    m = K.Sequential([K.Input((6, 3)), L.LSTM(5, return_sequences=True),
                      L.Lambda(lambda t: t[:, -1, :] * 2.0 + 1.0, output_shape=(5,)), L.Dense(1)])
    return Built(m, [call(normal(rng, 3, 6, 3))],
                 "the lambda takes the last step, times 2 plus 1; a loader must refuse the Lambda layer (it holds marshalled "
                 "Python code).")


_custom_cls = {}


def custom_attention_class(K):
    if K.__name__ in _custom_cls:
        return _custom_cls[K.__name__]
    reg = K.saving.register_keras_serializable if hasattr(K, "saving") and hasattr(K.saving, "register_keras_serializable") \
        else K.utils.register_keras_serializable
    import tensorflow as tf

    @reg(package="wgpu_lstm_fixtures")
    class AttentionPool(K.layers.Layer):
        """Additive attention pooling over time: softmax(x . w) weighted sum."""

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(int(input_shape[-1]), 1), initializer="zeros")

        def call(self, x):
            s = tf.nn.softmax(tf.matmul(x, self.w), axis=1)
            return tf.reduce_sum(s * x, axis=1)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], input_shape[-1])

    _custom_cls[K.__name__] = AttentionPool
    return AttentionPool


@arch("custom_layer", "LSTM(6, rs) -> AttentionPool (a registered custom layer class) -> Dense(2)", family=R, extra=True)
def _(K, api, rng):
    L = K.layers
    AP = custom_attention_class(K)
    m = K.Sequential([K.Input((6, 3)), L.LSTM(6, return_sequences=True), AP(name="attention_pool"), L.Dense(2)])
    return Built(m, [call(normal(rng, 3, 6, 3))],
                 "custom class 'wgpu_lstm_fixtures>AttentionPool' (softmax(x.w)-weighted sum over time); a loader that does not "
                 "know it must refuse the model by name.")


# ------------------------------------------------------------------ driver

def shape_list(s):
    if hasattr(s, "as_list"):
        s = s.as_list()
    return [None if d is None else int(d) for d in s]


def dtype_name(t):
    d = t.dtype
    return getattr(d, "name", str(d))


def io_spec(model):
    ins = []
    for t in model.inputs:
        layer = t._keras_history[0]
        ins.append({"name": layer.name, "dtype": dtype_name(t), "shape": shape_list(t.shape)})
    outs = []
    for t in model.outputs:
        layer, _node, idx = t._keras_history[0], t._keras_history[1], t._keras_history[2]
        o = {"name": layer.name, "shape": shape_list(t.shape)}
        if idx:
            o["tensor_index"] = int(idx)
        outs.append(o)
    return ins, outs


def k3_op_nodes(K, model):
    """Class names of Keras 3 op nodes (module keras.src.ops.*) in the serialized config, in order."""
    cfg = K.saving.serialize_keras_object(model)
    found = []

    def walk(c):
        if isinstance(c, dict):
            if str(c.get("module", "")).startswith("keras.src.ops") and "class_name" in c:
                found.append(c["class_name"])
            for v in c.values():
                walk(v)
        elif isinstance(c, list):
            for v in c:
                walk(v)

    for layer in cfg.get("config", {}).get("layers", []):
        walk(layer)
    return found


def run_calls(model, calls):
    common.reset_states(model)
    results = []
    for c in calls:
        if c["reset"]:
            common.reset_states(model)
        xs = c["inputs"]
        arg = xs[0] if len(xs) == 1 else list(xs)
        if c["mask"] is not None:
            y = model(arg, training=False, mask=c["mask"])
        else:
            y = model(arg, training=False)
        results.append([to_f32(t) for t in as_list(y)])
    return results


def max_diff(a_calls, b_calls):
    d = 0.0
    for a, b in zip(a_calls, b_calls):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.shape == y.shape, (x.shape, y.shape)
            d = max(d, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0)
    return d


# Why a Keras-written file cannot be loaded back by the same Keras (kept: it is a real Keras file).
K3_H5_OP_NODES = (
    "Keras 3 records the mask computation of a Functional model as op nodes (NotEqual, Any, LogicalOr, ops "
    "Concatenate, ...; module keras.src.ops.numpy) in the config; the legacy .h5 model_config drops their 'module', "
    "so Keras 3.15.1's own h5 loader fails with Unknown layer: 'NotEqual'. The .keras file of the same model loads "
    "fine.")


def save_model(K, api, model, path, fmt):
    if api == "keras3":
        model.save(path)
    else:
        model.save(path, save_format="h5" if fmt == "h5" else "keras")


def load_model(K, api, path):
    if api == "keras3":
        return K.saving.load_model(path, compile=False, safe_mode=False)
    if path.endswith(".keras"):
        return K.models.load_model(path, compile=False, safe_mode=False)
    return K.models.load_model(path, compile=False)


def gen_api(api, only=None, summary_path=None):
    K, kver, backend = common.load_api(api)
    short = common.API_SHORT[api]
    summary = {"api": api, "keras_version": kver, "backend": backend, "cases": [], "refusals": []}
    for a in ARCHS:
        if only and a["name"] not in only:
            continue
        if api not in a["apis"]:
            summary["refusals"].append({"arch": a["name"], "api": api, "what": "not built (not available in this API)"})
            continue
        name = a["name"]
        K.backend.clear_session()  # default layer names restart at lstm, dense, ... for every arch
        rng = common.rng_for(name)
        try:
            b = a["fn"](K, api, rng)
            model = b.model
            common.randomize_weights(model, rng)
            outs = run_calls(model, b.calls)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            summary["refusals"].append({"arch": name, "api": api, "what": f"build/call failed: {type(e).__name__}: {e}"[:300]})
            print(f"REFUSED {name} {api}: {type(e).__name__}", flush=True)
            continue
        for co in outs:
            for o in co:
                if not np.all(np.isfinite(o)):
                    raise RuntimeError(f"{name}/{api}: non-finite output")
        ref_outs, tol, tol_note = None, None, ""
        if b.ref_model is not None:
            b.ref_model.set_weights([np.asarray(w).astype(np.float32) for w in model.get_weights()])
            ref_outs = run_calls(b.ref_model, b.calls)
            d = max_diff(outs, ref_outs)
            tol = round_up_1sig(2 * d)
            tol_note = (f". Measured max |Keras output - output of the float32 twin model with the same weights upcast| = "
                        f"{d:.3g} over all outputs; tolerance = 2x that, rounded up to one significant digit.")
        ins_spec, outs_spec = io_spec(model)
        notes = b.notes
        ops_nodes = k3_op_nodes(K, model) if api == "keras3" else []
        if ops_nodes:
            notes = (notes + " " if notes else "") + (
                "The saved Keras 3 config also holds op nodes that compute the mask (" + ", ".join(ops_nodes) +
                "; module keras.src.ops.numpy, listed among the layers; the RNN's inbound node receives the mask as "
                "kwargs 'mask' from them). In the legacy .h5 model_config their 'module' is missing, so the op "
                "'Concatenate' is indistinguishable by class_name from the Concatenate layer there.")
        # Keras 3: .keras always, legacy .h5 for the "extra" archs; tf_keras: .h5 always, .keras for "extra".
        fmts = (["keras", "h5"] if a["extra"] else ["keras"]) if api == "keras3" else (["h5", "keras"] if a["extra"] else ["h5"])
        for fmt in fmts:
            case = f"{name}__{short}_{fmt}"
            cdir = os.path.join(ZOO, case)
            if os.path.isdir(cdir):
                shutil.rmtree(cdir)
            os.makedirs(cdir)
            mfile = f"model.{fmt}"
            mpath = os.path.join(cdir, mfile)
            try:
                save_model(K, api, model, mpath, fmt)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                shutil.rmtree(cdir)
                summary["refusals"].append({"arch": name, "api": api, "what": f"save as .{fmt} failed: {type(e).__name__}: {e}"[:300]})
                continue
            calls_json = []
            for ci, (c, co) in enumerate(zip(b.calls, outs)):
                entry = {"reset_states_before": bool(c["reset"]), "inputs": [], "mask": None, "outputs": []}
                for ii, x in enumerate(c["inputs"]):
                    fn = f"call{ci}_input_{ii}.npy"
                    np.save(os.path.join(cdir, fn), x)
                    entry["inputs"].append(fn)
                if c["mask"] is not None:
                    fn = f"call{ci}_mask.npy"
                    np.save(os.path.join(cdir, fn), np.asarray(c["mask"], dtype=bool))
                    entry["mask"] = fn
                for oi, o in enumerate(co):
                    fn = f"call{ci}_output_{oi}.npy"
                    np.save(os.path.join(cdir, fn), o)
                    entry["outputs"].append(fn)
                if ref_outs is not None:
                    entry["f32_reference_outputs"] = []
                    for oi, o in enumerate(ref_outs[ci]):
                        fn = f"call{ci}_output_{oi}.f32ref.npy"
                        np.save(os.path.join(cdir, fn), o)
                        entry["f32_reference_outputs"].append(fn)
                calls_json.append(entry)
            cj = {
                "case": case,
                "arch": name,
                "family": a["family"],
                "keras_api": api,
                "keras_version": kver,
                "backend": backend,
                "format": fmt,
                "model": mfile,
                "description": a["desc"],
                "inputs": ins_spec,
                "outputs": outs_spec,
                "calls": calls_json,
                "tolerance": tol,
            }
            if tol is not None:
                cj["tolerance_reason"] = b.tolerance_reason + tol_note
            cj["notes"] = notes
            # verify: reload with the same Keras, rerun every call
            verify = None
            expect_fail = api == "keras3" and fmt == "h5" and bool(ops_nodes)
            try:
                m2 = load_model(K, api, mpath)
                outs2 = run_calls(m2, b.calls)
                verify = max_diff(outs, outs2)
            except Exception as e:  # noqa: BLE001
                if a["family"] != "refused" and not expect_fail:
                    traceback.print_exc()
                verify = f"reload failed: {type(e).__name__}: {str(e)[:200]}"
            ok = isinstance(verify, float) and verify == 0.0
            if isinstance(verify, float):
                cj["keras_reload_check"] = {"max_abs_diff": verify}
            else:
                cj["keras_reload_check"] = {"error": verify, "why": K3_H5_OP_NODES if expect_fail else ""}
            if a["family"] != "refused" and not (isinstance(verify, float) and verify <= 1e-6) and not expect_fail:
                print(f"VERIFY FAILED {case}: {verify}", flush=True)
            common.write_json(os.path.join(cdir, "case.json"), cj)
            size = os.path.getsize(mpath)
            summary["cases"].append({"case": case, "expected_reload_failure": expect_fail, "arch": name, "family": a["family"], "api": api, "format": fmt,
                                     "n_inputs": len(ins_spec), "n_outputs": len(outs_spec), "n_calls": len(calls_json),
                                     "mask_arg": any(c["mask"] is not None for c in b.calls),
                                     "tolerance": tol, "verify_max_abs_diff": verify, "exact": ok, "model_bytes": size})
            print(f"{case}: {len(calls_json)} calls, model {size} B, reload diff {verify}", flush=True)
    if summary_path:
        with open(summary_path, "w") as f:
            json.dump(summary, f, indent=1, default=str)
    return summary


def write_index(summaries):
    lines = ["# Zoo case index (generated by scripts/gen_fixtures/gen_zoo.py)", "",
             "`verify`: max abs difference between the stored outputs and the outputs of the model re-loaded from the "
             "saved file by the same Keras (0 = bit-identical).", "",
             "| case | family | api | format | inputs | outputs | calls | tolerance | verify | model bytes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        for c in s["cases"]:
            v = c["verify_max_abs_diff"]
            if isinstance(v, float):
                v = f"{v:.1g}" if v else "0"
            else:
                v = "Keras cannot reload (op nodes, see case.json)" if c["expected_reload_failure"] else \
                    ("Keras cannot reload (refused family)" if c["family"] == "refused" else "RELOAD FAILED")
            lines.append(f"| {c['case']} | {c['family']} | {c['api']} | {c['format']} | {c['n_inputs']} | {c['n_outputs']} | "
                         f"{c['n_calls']}{' (mask arg)' if c['mask_arg'] else ''} | {c['tolerance'] or ''} | {v} | {c['model_bytes']} |")
    lines += ["", "## Not generated", ""]
    for s in summaries:
        for r in s["refusals"]:
            lines.append(f"- `{r['arch']}` ({r['api']}): {r['what']}")
    with open(os.path.join(ZOO, "INDEX.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=["keras3", "tf_keras2"])
    ap.add_argument("--only", help="comma-separated arch names")
    ap.add_argument("--summary")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if args.api:
        gen_api(args.api, only, args.summary)
        return
    os.makedirs(ZOO, exist_ok=True)
    if not only:
        for d in os.listdir(ZOO):
            if "__" in d and os.path.isdir(os.path.join(ZOO, d)):
                shutil.rmtree(os.path.join(ZOO, d))
    summaries = []
    for api in ("keras3", "tf_keras2"):
        sp = f"/tmp/zoo_summary_{api}.json"
        cmd = [sys.executable, os.path.abspath(__file__), "--api", api, "--summary", sp]
        if args.only:
            cmd += ["--only", args.only]
        subprocess.run(cmd, check=True)
        with open(sp) as f:
            summaries.append(json.load(f))
    if not only:
        write_index(summaries)
    bad = [c["case"] for s in summaries for c in s["cases"]
           if c["family"] != "refused" and not c["expected_reload_failure"]
           and not (isinstance(c["verify_max_abs_diff"], float) and c["verify_max_abs_diff"] <= 1e-6)]
    n = sum(len(s["cases"]) for s in summaries)
    print(f"{n} cases; reload verification failures: {bad or 'none'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
