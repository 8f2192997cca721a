"""The `--ours OURS.json` table of the CPU anchor scripts (keras_cpu_bench.py,
ort_cpu_bench.py): our CPU medians from `wgpu-lstm bench --json` next to theirs."""

import json
import sys


def print_ratios(ours_path, theirs_ms, name, column):
    """Prints `| config | ours | <column> | ours / <name> |` for every config that both
    sides timed; `theirs_ms` maps a config name to its ms per call. Returns the exit
    status: 1 when OURS.json holds no CPU result for these configs."""
    with open(ours_path) as fh:
        ours = json.load(fh)
    results = ours["results"] if isinstance(ours, dict) else ours
    print()
    print(f"| config | ours (CPU) median ms | {column} | ours / {name} |")
    print("|---|---:|---:|---:|")
    compared = 0
    for r in results:
        cfg = r.get("config")
        name = cfg.get("name") if isinstance(cfg, dict) else cfg
        if name not in theirs_ms or not str(r.get("device", "")).startswith("cpu"):
            continue
        t = theirs_ms[name]
        print(f"| {name} | {r['median_ms']:.3f} | {t:.3f} | {r['median_ms'] / t:.2f}× |")
        compared += 1
    if compared == 0:
        print("nothing to compare: OURS.json has no CPU result for these configs", file=sys.stderr)
        return 1
    return 0
