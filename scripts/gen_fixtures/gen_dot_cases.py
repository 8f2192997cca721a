#!/usr/bin/env python3
"""Real-Keras fixtures for the `Dot` layer (axes, normalize) in Keras 3 and tf_keras: rank-2
and rank-3 (and one rank-4) inputs, every contracted-axis placement, negative axes, an int
`axes`, normalize on and off (zero and tiny vectors included: each version's epsilon), and
shapes Keras refuses. (Dot's compute_mask is None in both versions: the tests check that the
plan drops the mask; a layer call does not take `mask=`.)

    python gen_dot_cases.py                 # both APIs (one subprocess each)
    python gen_dot_cases.py --api keras3

Cases: tests/fixtures/layers/dot_<case>__<k3|k2>/
  case.json   {"case", "keras_api", "keras_version", "dot": {"class_name": "Dot", "config"},
               "inputs": [{"file", "shape"}, ...], "input_masks": [file | null, ...],
               "output": file | null, "output_mask": null, "error": null | "<Keras's error>"}
  x0.npy, x1.npy (float32 inputs), m0.npy (float32 0/1 (B, T) mask of input 0),
  output.npy (float32, `layer([x0, x1], mask=...)`)
(The layer sits under "dot", so the other groups' tests, which pick their cases by a
top-level class_name or a "layer" entry, skip these.)
"""

import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import REPO  # noqa: E402

import numpy as np  # noqa: E402

OUT = os.path.join(REPO, "tests", "fixtures", "layers")
BOTH = ("keras3", "tf_keras2")

# name, axes, normalize, shape0, shape1, zero rows?, mask on input 0?
CASES = [
    ("vec_axes1", 1, False, (3, 5), (3, 5), False, False),
    ("vec_norm", 1, True, (3, 5), (3, 5), True, False),
    ("seq_22", [2, 2], False, (2, 4, 3), (2, 5, 3), False, False),
    ("seq_11", [1, 1], False, (2, 4, 3), (2, 4, 6), False, False),
    ("seq_12", [1, 2], False, (2, 4, 3), (2, 5, 4), False, False),
    ("seq_21", [2, 1], False, (2, 4, 3), (2, 3, 6), False, False),
    ("seq_neg", -1, False, (2, 4, 3), (2, 5, 3), False, False),
    ("seq_norm", [2, 2], True, (2, 4, 3), (2, 5, 3), True, False),
    ("seq_norm_11", [1, 1], True, (2, 4, 3), (2, 4, 6), True, False),
    ("vec_seq", [1, 2], False, (2, 3), (2, 5, 3), False, False),
    ("seq_vec", [2, 1], False, (2, 4, 3), (2, 3), False, False),
    ("rank4", [3, 2], False, (2, 3, 2, 4), (2, 5, 4, 2), False, False),
    ("rank4_mid", [2, 1], True, (2, 3, 4, 2), (2, 4, 5), False, False),
    ("mismatch", [2, 2], False, (2, 4, 3), (2, 5, 4), False, False),
    ("batch_axis", [0, 0], False, (2, 4, 3), (2, 4, 3), False, False),
]


def run_api(api):
    K, version, _ = common.load_api(api)
    short = common.API_SHORT[api]
    failed = False
    for name, axes, normalize, s0, s1, zero, masked in CASES:
        case = f"dot_{name}__{short}"
        d = os.path.join(OUT, case)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        rng = common.rng_for(f"dot_{name}")
        x0 = (rng.standard_normal(s0) * 1.5).astype(np.float32)
        x1 = (rng.standard_normal(s1) * 1.5).astype(np.float32)
        if zero:
            # a zero vector along the contracted axis: each version's epsilon decides
            a0 = axes if isinstance(axes, int) else axes[0]
            idx = [0] * x0.ndim
            idx[a0] = slice(None)
            x0[tuple(idx)] = 0.0
            # and a tiny one
            idx[0] = 1
            x0[tuple(idx)] = 1e-5
        mask = None
        if masked:
            mask = np.ones(s0[:2], dtype=bool)
            mask[0, -2:] = False
        rec = {
            "case": case,
            "keras_api": api,
            "keras_version": version,
            "dot": None,
            "inputs": [],
            "input_masks": [None, None],
            "output": None,
            "output_mask": None,
            "error": None,
        }
        for i, x in enumerate((x0, x1)):
            np.save(os.path.join(d, f"x{i}.npy"), x)
            rec["inputs"].append({"file": f"x{i}.npy", "shape": list(x.shape)})
        if mask is not None:
            np.save(os.path.join(d, "m0.npy"), mask.astype(np.float32))
            rec["input_masks"][0] = "m0.npy"
        try:
            layer = K.layers.Dot(axes=axes, normalize=normalize)
            rec["dot"] = {"class_name": "Dot", "config": layer.get_config()}
            if mask is not None:
                y = layer([x0, x1], mask=[mask, None])
                m = layer.compute_mask([x0, x1], [mask, None])
                assert m is None, m
            else:
                y = layer([x0, x1])
            y = np.asarray(y, dtype=np.float32)
            np.save(os.path.join(d, "output.npy"), y)
            rec["output"] = "output.npy"
        except Exception as e:  # noqa: BLE001
            rec["error"] = f"{type(e).__name__}: {e}"[:300]
            if rec["dot"] is None:
                rec["dot"] = {
                    "class_name": "Dot",
                    "config": {"name": "dot", "axes": axes, "normalize": normalize},
                }
        common.write_json(os.path.join(d, "case.json"), rec)
        print(case, "error" if rec["error"] else "ok")
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=list(BOTH))
    a = ap.parse_args()
    if a.api:
        sys.exit(1 if run_api(a.api) else 0)
    os.makedirs(OUT, exist_ok=True)
    for api in BOTH:
        subprocess.run([sys.executable, os.path.abspath(__file__), "--api", api], check=True)


if __name__ == "__main__":
    main()
