"""Exports of a :class:`~labelprep.index.LabelIndex`: its voxels as ``np.where`` tuples,
its objects as a table, some of them as a new index, the labelled stack rebuilt, and one
CSV row per voxel (written atomically). The methods of the same names call these.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from ._progress import ProgressCallback, report
from .io import atomic_open


def to_dict(idx) -> dict[int, tuple[np.ndarray, ...]]:
    """:meth:`LabelIndex.to_dict`: every label's coordinates, views into one block."""
    rows = idx._unravel(idx.voxel_indices, where_layout=True)
    offsets = idx.offsets.tolist()
    return {
        label: tuple(rows[:, offsets[i]:offsets[i + 1]])
        for i, label in enumerate(idx.labels.tolist())
    }


def table(idx):
    """:meth:`LabelIndex.table`: one row per object (a pandas DataFrame)."""
    import pandas as pd

    columns: dict[str, np.ndarray] = {"label": idx.labels, "voxels": idx.counts}
    for k, name in enumerate(idx.axis_names):
        columns[f"{name}_start"] = idx.bboxes[:, k, 0]
        columns[f"{name}_stop"] = idx.bboxes[:, k, 1]
    for k, name in enumerate(idx.axis_names):
        columns[f"centroid_{name}"] = idx.centroids[:, k]
    return pd.DataFrame({k: np.array(v) for k, v in columns.items()})


def subset(idx, labels: Iterable[int]):
    """:meth:`LabelIndex.subset`: a new index of the rows of ``labels``, voxels copied."""
    from .index import LabelIndex

    rows = np.unique(np.array([idx.position(L) for L in labels], dtype=np.int64))
    counts = idx.counts[rows]
    offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    voxels = np.empty(int(offsets[-1]), dtype=idx.voxel_indices.dtype)
    for j, i in enumerate(rows.tolist()):
        voxels[offsets[j]:offsets[j + 1]] = idx.voxel_indices[
            idx.offsets[i]:idx.offsets[i + 1]
        ]
    return LabelIndex(
        labels=idx.labels[rows], counts=counts, offsets=offsets, voxel_indices=voxels,
        bboxes=idx.bboxes[rows], centroids=idx.centroids[rows], shape=idx.shape,
        dtype=idx.dtype, background=idx.background,
    )


def to_labels(idx) -> np.ndarray:
    """:meth:`LabelIndex.to_labels`: the labelled stack painted from the index."""
    from ._kernels.index import paint

    fill = 0 if idx.background is None else idx.background
    native = idx.dtype.newbyteorder("=")
    out = np.full(idx.shape, fill, dtype=native)
    flat = out.reshape(-1)
    if idx.dtype == np.bool_:
        flat = flat.view(np.uint8)
    values = idx.labels.astype(flat.dtype)
    if len(idx):
        paint(flat, idx.voxel_indices, idx.offsets, values)
    return out if native == idx.dtype else out.astype(idx.dtype)


def write_coords_csv(
    idx,
    path: str | os.PathLike,
    labels: Iterable[int] | None = None,
    progress: ProgressCallback | None = None,
) -> None:
    """:meth:`LabelIndex.write_coords_csv`: formatted by a kernel in batches of 2**18
    voxels, written atomically."""
    from ._kernels.index import format_coords_csv

    if labels is None:
        rows = np.arange(len(idx))
    else:
        rows = np.unique(np.array([idx.position(L) for L in labels], dtype=np.int64))
    shape = np.array(idx.shape, dtype=np.int64)
    widths = sum(len(str(max(s - 1, 0))) + 1 for s in idx.shape)
    batch = 1 << 18
    total = int(idx.counts[rows].sum()) if rows.size else 0
    header = ",".join(("label",) + idx.axis_names) + "\n"
    label_list = idx.labels.tolist()

    def write(f) -> None:
        f.write(header.encode())
        done = 0
        starts: list[int] = []
        stops: list[int] = []
        pres: list[bytes] = []
        pending = 0

        def flush() -> None:
            nonlocal pending, done
            if not starts:
                return
            pre_lens = np.array([len(p) for p in pres], dtype=np.int64)
            pre_stop = np.cumsum(pre_lens)
            pre_start = pre_stop - pre_lens
            prefixes = np.frombuffer(b"".join(pres), dtype=np.uint8)
            st = np.array(starts, dtype=np.int64)
            sp = np.array(stops, dtype=np.int64)
            nbytes = int(((sp - st) * (pre_lens + widths)).sum())
            buf = np.empty(nbytes, dtype=np.uint8)
            used = format_coords_csv(idx.voxel_indices, st, sp, pre_start, pre_stop,
                                     prefixes, shape, buf)
            f.write(memoryview(buf[:used]))
            done += pending
            report(progress, done, total)
            starts.clear()
            stops.clear()
            pres.clear()
            pending = 0

        for i in rows.tolist():
            prefix = f"{label_list[i]},".encode()
            s, e = int(idx.offsets[i]), int(idx.offsets[i + 1])
            while s < e:
                take = min(e - s, batch - pending)
                starts.append(s)
                stops.append(s + take)
                pres.append(prefix)
                pending += take
                s += take
                if pending >= batch:
                    flush()
        flush()
        report(progress, total, total)

    with atomic_open(path, "wb") as f:
        write(f)
