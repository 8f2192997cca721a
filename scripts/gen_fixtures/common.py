"""Shared helpers for the fixture generators (gen_zoo.py, gen_rnn.py).

Imports no Keras at module level: call `load_api(api)` once per process to
get the Keras module ("keras3" -> `keras`, "tf_keras2" -> `tf_keras`).
"""

import json
import math
import os
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("PYTHONHASHSEED", "0")

import numpy as np  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

API_SHORT = {"keras3": "k3", "tf_keras2": "k2"}


def load_api(api):
    """Return (K, keras_version, backend_string) for "keras3" or "tf_keras2"."""
    import tensorflow as tf

    if api == "keras3":
        import keras as K
    elif api == "tf_keras2":
        import tf_keras as K
    else:
        raise ValueError(api)
    tf.random.set_seed(1234)
    K.utils.set_random_seed(1234)
    return K, K.__version__, f"tensorflow {tf.__version__} (CPU)"


def seed_for(name):
    """Stable 32-bit seed from a string (independent of PYTHONHASHSEED). A non-empty
    WGPU_LSTM_FIXTURE_SALT gives other weights and inputs for the same cases (a held-out
    set, e.g. `WGPU_LSTM_FIXTURE_SALT=h1 WGPU_LSTM_ZOO_DIR=/tmp/zoo_h1 python gen_zoo.py`)."""
    return zlib.crc32((name + os.environ.get("WGPU_LSTM_FIXTURE_SALT", "")).encode("utf-8"))


def rng_for(name):
    return np.random.default_rng(seed_for(name))


# ---------------------------------------------------------------- numbers

def f32_str(v):
    """Shortest decimal that round-trips the float32 value (JSON-valid)."""
    f = np.float32(v)
    if not np.isfinite(f):
        raise ValueError(f"non-finite value {f}")
    s = str(f)  # numpy: shortest unique repr (Dragon4), may use e-notation
    if s in ("0.0", "-0.0"):
        return s
    assert np.float32(float(s)) == f, (s, f)
    return s


class _Raw(str):
    pass


def _encode(obj, indent, level):
    pad = " " * (indent * level)
    pad1 = " " * (indent * (level + 1))
    if isinstance(obj, np.ndarray):
        obj = obj.tolist() if obj.dtype.kind in "biu" else _np_to_nested(obj)
    if isinstance(obj, _Raw):
        return str(obj)
    if obj is None or isinstance(obj, (bool, np.bool_)):
        return json.dumps(None if obj is None else bool(obj))
    if isinstance(obj, (int, np.integer)):
        return str(int(obj))
    if isinstance(obj, (float, np.floating)):
        return f32_str(obj)
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad1}{json.dumps(str(k))}: {_encode(v, indent, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if all(not isinstance(v, (list, tuple, dict, np.ndarray)) for v in obj):
            return "[" + ", ".join(_encode(v, indent, level + 1) for v in obj) + "]"
        items = [pad1 + _encode(v, indent, level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    raise TypeError(type(obj))


def _np_to_nested(a):
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 0:
        return _Raw(f32_str(a))
    return [_np_to_nested(s) for s in a] if a.ndim > 1 else [_Raw(f32_str(v)) for v in a]


def dumps(obj):
    """JSON text: indent 2, innermost numeric lists on one line, float32 shortest decimals."""
    return _encode(obj, 2, 0) + "\n"


def write_json(path, obj):
    text = dumps(obj)
    json.loads(text)  # valid JSON
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return text


def f32_roundtrip_equal(nested, arr):
    """True when the JSON numbers parse back (f64 -> f32) to exactly `arr`."""
    back = np.asarray(nested, dtype=np.float64).astype(np.float32)
    a = np.asarray(arr, dtype=np.float32)
    return back.shape == a.shape and np.array_equal(back, a)


def round_up_1sig(x):
    """Round up to one significant digit (0.000123 -> 0.0002)."""
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x))
    m = math.ceil(x / 10 ** e - 1e-9)
    if m == 10:
        m, e = 1, e + 1
    return float(f"{m}e{e}")


# ------------------------------------------------------------ Keras helpers

def to_f32(t):
    a = np.asarray(t)
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    return a


def as_list(y):
    if isinstance(y, dict):
        raise TypeError("dict outputs not used")
    if isinstance(y, (list, tuple)):
        return list(y)
    return [y]


def var_name(v):
    return getattr(v, "path", None) or v.name


def unique_weights(model):
    seen, out = set(), []
    for v in model.weights:
        if id(v) in seen:
            continue
        seen.add(id(v))
        out.append(v)
    return out


def randomize_weights(model, rng, scale=0.5):
    """Random normal * scale for every float weight; BatchNormalization
    moving_variance uniform(0.5, 1.5). Integer variables (seed states) are
    left alone. Returns the list of (name, shape) assigned, in order."""
    done = []
    for v in unique_weights(model):
        dname = str(getattr(v.dtype, "name", v.dtype))
        if "int" in dname or "bool" in dname:
            continue
        shape = tuple(int(s) for s in v.shape)
        name = var_name(v)
        if "moving_variance" in name:
            val = rng.uniform(0.5, 1.5, size=shape)
        else:
            val = rng.standard_normal(size=shape) * scale
        val = val.astype(np.float32)
        if dname == "float16":
            val = val.astype(np.float16)
        elif dname == "bfloat16":
            import ml_dtypes

            val = val.astype(ml_dtypes.bfloat16)
        v.assign(val)
        done.append((name, shape))
    return done


def rnn_layers(model):
    """Every layer (recursively) that has reset_states and is stateful-capable."""
    out = []

    def walk(layer):
        subs = getattr(layer, "layers", None)
        if subs:
            for s in subs:
                walk(s)
            return
        if hasattr(layer, "reset_states") and hasattr(layer, "stateful"):
            out.append(layer)

    walk(model)
    return out


def reset_states(model):
    if hasattr(model, "reset_states"):
        model.reset_states()  # tf_keras
        return
    for layer in rnn_layers(model):
        if getattr(layer, "stateful", False):
            layer.reset_states()
