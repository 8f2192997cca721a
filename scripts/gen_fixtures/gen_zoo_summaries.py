#!/usr/bin/env python3
"""What Keras itself says about every zoo model: its layers in order, each layer's
output shape(s) and `count_params()`, and the model's `count_params()`, read from
the saved file by the Keras that wrote it. The oracle of `wgpu-lstm describe MODEL`
(tests/it/cli.rs).

    python gen_zoo_summaries.py          # both APIs (one subprocess each)
    python gen_zoo_summaries.py --api keras3 --out /tmp/k3.json

Writes tests/fixtures/describe/zoo_summaries.json:

    {"<case>": {"keras_version": ..., "class": "Sequential" | "Functional",
                "count_params": N,
                "layers": [{"name", "class", "count_params",
                            "output_shapes": [[2, null, 6], ...] | null}]}
     "<case that Keras cannot reload>": {"error": "..."}}

`output_shapes` is null where Keras has no single answer (a layer called more than
once). Keras's `model.layers` leaves out the op nodes a Keras 3 Functional config
records (mask computations) and, for a Sequential, the InputLayer.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import gen_zoo  # noqa: E402  (registers the zoo's custom layer class when asked)

OUT = os.path.join(common.REPO, "tests", "fixtures", "describe", "zoo_summaries.json")


def shapes_of(layer, api):
    try:
        out = layer.output
    except Exception:  # noqa: BLE001  (several inbound nodes)
        return None
    def flat(o):  # a layer's nested outputs (states per StackedRNNCells cell) in order
        return [t for x in o for t in flat(x)] if isinstance(o, (list, tuple)) else [o]
    return [[None if d is None else int(d) for d in tuple(t.shape)] for t in flat(out)]


def gen_api(api, out_path):
    K, kver, _ = common.load_api(api)
    gen_zoo.custom_attention_class(K)
    result = {}
    for case in sorted(os.listdir(gen_zoo.ZOO)):
        cdir = os.path.join(gen_zoo.ZOO, case)
        cj = os.path.join(cdir, "case.json")
        if not os.path.isfile(cj):
            continue
        with open(cj) as f:
            meta = json.load(f)
        if meta["keras_api"] != api:
            continue
        K.backend.clear_session()
        try:
            m = gen_zoo.load_model(K, api, os.path.join(cdir, meta["model"]))
        except Exception as e:  # noqa: BLE001
            result[case] = {"error": f"Keras cannot reload it: {type(e).__name__}: {str(e)[:200]}"}
            print(f"{case}: not reloadable", flush=True)
            continue
        layers = []
        for layer in m.layers:
            layers.append({
                "name": layer.name,
                "class": type(layer).__name__,
                "count_params": int(layer.count_params()),
                "output_shapes": shapes_of(layer, api),
            })
        result[case] = {
            "keras_version": kver,
            "class": "Sequential" if type(m).__name__ == "Sequential" else "Functional",
            "count_params": int(m.count_params()),
            "layers": layers,
        }
        print(f"{case}: {len(layers)} layers, {m.count_params()} params", flush=True)
    with open(out_path, "w") as f:
        json.dump(result, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", choices=["keras3", "tf_keras2"])
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.api:
        gen_api(args.api, args.out)
        return
    merged = {}
    for api in ("keras3", "tf_keras2"):
        tmp = f"/tmp/zoo_summaries_{api}.json"
        subprocess.run([sys.executable, os.path.abspath(__file__), "--api", api, "--out", tmp], check=True)
        with open(tmp) as f:
            merged.update(json.load(f))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(dict(sorted(merged.items())), f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"{len(merged)} cases -> {OUT}")


if __name__ == "__main__":
    main()
