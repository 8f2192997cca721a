#!/usr/bin/env python3
"""Writes tests/fixtures/keras/chunked/: the three Keras oracle files of
tests/fixtures/keras/models/ rewritten with h5py so that every weight dataset is *chunked*
(what h5py does when compression is asked for), with the same groups, attributes and values.

Keras itself writes contiguous datasets; these files check that the crate still reads the
chunked layouts h5py produces, with the right values, behind the chunk-index guard of
src/keras/hdf5_guard.rs. They are also the base the hostile-file generator of
tests/it/hostile_hdf5.rs patches (chunk-index DAGs, damaged chunk dimensions). The tests
put the chunked weights file into a copy of keras3_seq_lstm.keras to make a chunked archive.

    python3 -m venv /tmp/h5venv && /tmp/h5venv/bin/pip install h5py numpy
    /tmp/h5venv/bin/python scripts/make_chunked_fixtures.py

Written with h5py 3.16.0 / HDF5 2.0.0. Files:

* keras3_seq_lstm.chunked.weights.h5 and tfkeras2_seq_lstm.chunked.h5: the default file
  format (superblock 0, layout message 3, chunks indexed by a version-1 B-tree). The datasets mix: no filter, gzip, shuffle+gzip,
  lzf, fletcher32, edge chunks that overhang the dataset, and one dataset of 128 chunks,
  so that its B-tree has two levels.
* keras3_seq_lstm.latest.weights.h5: libver=("v110", "v114") (layout message 4; HDF5 2.0
  writes version 5 for "latest", which hdf5-pure 0.47 does not read): fixed-array and
  single-chunk indexes, plain and filtered.
* keras3_seq_lstm.extensible.weights.h5: the same format with a resizable weight, so one
  dataset has an extensible-array index (the crate refuses that index type).
"""

import os
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "tests", "fixtures", "keras", "models")
DST = os.path.join(ROOT, "tests", "fixtures", "keras", "chunked")

# dataset path suffix -> h5py create_dataset keyword arguments (default format)
V1_CHOICES = [
    # keras3 layout
    ("lstm/cell/vars/0", dict(chunks=(2, 16), compression="gzip", shuffle=True)),
    ("lstm/cell/vars/1", dict(chunks=(1, 2))),  # 128 chunks: a two-level B-tree
    ("lstm/cell/vars/2", dict(chunks=(10,), compression="lzf")),
    ("lstm_1/cell/vars/0", dict(chunks=(3, 5), fletcher32=True)),
    ("lstm_1/cell/vars/1", dict(chunks=(4, 16), compression="gzip")),
    ("lstm_1/cell/vars/2", dict(chunks=(7,))),
    # tf-keras 2 layout
    ("lstm/lstm_cell/kernel:0", dict(chunks=(2, 16), compression="gzip", shuffle=True)),
    ("lstm/lstm_cell/recurrent_kernel:0", dict(chunks=(1, 2))),
    ("lstm/lstm_cell/bias:0", dict(chunks=(10,), compression="lzf")),
    ("lstm_1/lstm_cell/kernel:0", dict(chunks=(3, 5), fletcher32=True)),
    ("lstm_1/lstm_cell/recurrent_kernel:0", dict(chunks=(4, 16), compression="gzip")),
    ("lstm_1/lstm_cell/bias:0", dict(chunks=(7,))),
]

LATEST_CHOICES = [
    ("lstm/cell/vars/0", dict(chunks=(2, 16), compression="gzip", shuffle=True)),  # fixed array
    ("lstm/cell/vars/1", dict(chunks=(8, 32))),  # single chunk
    ("lstm/cell/vars/2", dict(chunks=(32,), compression="gzip")),  # single chunk, filtered
    ("lstm_1/cell/vars/0", dict(chunks=(3, 5))),  # fixed array, edge chunks
    ("lstm_1/cell/vars/1", dict()),  # contiguous
    ("lstm_1/cell/vars/2", dict(chunks=(7,), fletcher32=True)),  # fixed array
]


def copy_attrs(src, dst):
    for name in src.attrs:
        aid = src.attrs.get_id(name)
        dst.attrs.create(name, src.attrs[name], shape=aid.shape, dtype=aid.dtype)


def options_for(path, choices):
    for suffix, kw in choices:
        if path.endswith(suffix):
            return kw
    raise SystemExit(f"no chunking chosen for {path}")


def copy_tree(src, dst, choices, resizable=()):
    copy_attrs(src, dst)
    for name, obj in src.items():
        if isinstance(obj, h5py.Group):
            copy_tree(obj, dst.create_group(name), choices, resizable)
        else:
            data = obj[()]
            kw = dict(options_for(obj.name, choices))
            if any(obj.name.endswith(s) for s in resizable):
                kw["maxshape"] = (None,) + data.shape[1:]
            ds = dst.create_dataset(name, data=data, **kw)
            copy_attrs(obj, ds)


def rewrite(src_name, dst_name, choices, libver="earliest", resizable=()):
    src_path = os.path.join(SRC, src_name)
    dst_path = os.path.join(DST, dst_name)
    with h5py.File(src_path, "r") as src, h5py.File(dst_path, "w", libver=libver) as dst:
        copy_tree(src, dst, choices, resizable)
    return dst_path


def main():
    os.makedirs(DST, exist_ok=True)
    rewrite("keras3_seq_lstm.weights.h5", "keras3_seq_lstm.chunked.weights.h5", V1_CHOICES)
    rewrite("tfkeras2_seq_lstm.h5", "tfkeras2_seq_lstm.chunked.h5", V1_CHOICES)
    rewrite(
        "keras3_seq_lstm.weights.h5",
        "keras3_seq_lstm.latest.weights.h5",
        LATEST_CHOICES,
        libver=("v110", "v114"),
    )
    rewrite(
        "keras3_seq_lstm.weights.h5",
        "keras3_seq_lstm.extensible.weights.h5",
        LATEST_CHOICES,
        libver=("v110", "v114"),
        resizable=("lstm/cell/vars/0",),
    )
    for name in sorted(os.listdir(DST)):
        print(name, os.path.getsize(os.path.join(DST, name)), file=sys.stderr)


if __name__ == "__main__":
    main()
