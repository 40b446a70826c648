"""Chunk parts: one chunk indexed in stack coordinates, and parts merged into one.

A :class:`_Part` is a CSR piece of the index (some labels, their stats and their
global voxel indices), in memory or spilled to a file. :func:`_index_block` is the
dask task that indexes one chunk into a part (module-level: it is pickled to
``dask.distributed`` workers); :func:`_merge_stats`, :func:`_merge_voxels` and
:func:`_merge_parts` merge parts in label order (the numba kernels are in
``labelprep._kernels.chunked``).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..index import LabelIndex
from ._plan import _Plan


@dataclass
class _Part:
    """A CSR piece of the index: some labels, their stats and their global voxel indices.

    ``voxels`` holds the raveled stack indices of ``labels[i]`` (ascending) at
    ``offsets[i]:offsets[i + 1]``; it is ``None`` when spilled to ``path``.
    """

    labels: np.ndarray
    counts: np.ndarray
    offsets: np.ndarray
    bboxes: np.ndarray
    sums: np.ndarray
    voxels: np.ndarray | None
    path: str | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def nbytes(self) -> int:
        return 0 if self.voxels is None else int(self.voxels.nbytes)

    def read(self, r0: int, r1: int, dtype: np.dtype) -> np.ndarray:
        """Voxel indices of rows ``r0 <= i < r1``."""
        s, e = int(self.offsets[r0]), int(self.offsets[r1])
        if self.voxels is not None:
            return self.voxels[s:e]
        return np.fromfile(self.path, dtype=dtype, count=e - s, offset=s * dtype.itemsize)

    def spill(self, folder: str) -> None:
        path = os.path.join(folder, f"part-{uuid.uuid4().hex}.bin")
        self.voxels.tofile(path)
        self.path = path
        self.voxels = None


def _build_one_thread(arr: np.ndarray, background: int | None) -> LabelIndex:
    """``LabelIndex.build`` on one thread: dask already runs one task per core."""
    global _WORKERS_KEYWORD
    if _WORKERS_KEYWORD is None:
        import inspect

        _WORKERS_KEYWORD = "workers" in inspect.signature(LabelIndex.build).parameters
    if _WORKERS_KEYWORD:
        return LabelIndex.build(arr, background=background, workers=1)
    return LabelIndex.build(arr, background=background)  # pragma: no cover


_WORKERS_KEYWORD: bool | None = None


def _writable_if(arr: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """``arr`` made writable if it has ``dtype`` and owns its memory, else None.

    The chunk's own index is private to the task: mapping its voxel indices to
    stack indices in place (the map is order-preserving and reads each index before
    writing it) saves an allocation per chunk.
    """
    if arr.dtype != dtype or arr.base is not None:
        return None
    try:
        arr.flags.writeable = True
    except ValueError:  # pragma: no cover - not owned after all
        return None
    return arr


def _index_block(block: Any, origin: tuple[int, ...], gstrides: np.ndarray, vdtype: np.dtype,
                 background: int | None) -> _Part:
    """Index one chunk in memory and express it in stack coordinates (a dask task)."""
    from .._kernels import chunked as K

    arr = np.asarray(block)
    ndim = arr.ndim
    idx = _build_one_thread(arr, background)
    n = len(idx)
    out = _writable_if(idx.voxel_indices, vdtype)
    if out is None:
        out = np.empty(idx.voxel_indices.shape[0], dtype=vdtype)
    sums = np.zeros((n, ndim), dtype=np.int64)
    org = np.asarray(origin, dtype=np.int64)
    if n:
        K.to_global(idx.voxel_indices, idx.offsets, np.array(arr.shape, dtype=np.int64), org,
                    gstrides, out, sums)
    bboxes = idx.bboxes + org[None, :, None]
    return _Part(labels=idx.labels, counts=idx.counts, offsets=idx.offsets, bboxes=bboxes,
                 sums=sums, voxels=out)


def _merge_stats(parts: list[_Part], label_dtype: np.dtype, ndim: int):
    """Union of the parts' labels with summed counts/sums and combined boxes.

    Returns ``(labels, counts, bboxes, sums, rows)`` where ``rows[p]`` maps part p's
    rows to rows of the union (ascending, since each part's labels are ascending).
    """
    if parts:
        cat = np.concatenate([p.labels for p in parts])
    else:
        cat = np.zeros(0, dtype=label_dtype)
    labels, inverse = np.unique(cat, return_inverse=True)
    labels = labels.astype(label_dtype, copy=False)
    n = labels.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    sums = np.zeros((n, ndim), dtype=np.int64)
    lo = np.full((n, ndim), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full((n, ndim), -1, dtype=np.int64)
    rows = []
    s = 0
    for p in parts:
        r = inverse[s:s + len(p)].astype(np.int64, copy=False)
        s += len(p)
        rows.append(r)
        # labels are unique within a part, so fancy-indexed updates do not collide
        counts[r] += p.counts
        sums[r] += p.sums
        lo[r] = np.minimum(lo[r], p.bboxes[:, :, 0])
        hi[r] = np.maximum(hi[r], p.bboxes[:, :, 1])
    bboxes = np.stack([lo, hi], axis=-1) if n else np.zeros((0, ndim, 2), dtype=np.int64)
    return labels, counts, bboxes, sums, rows


def _merge_voxels(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  out: np.ndarray, out_offsets: np.ndarray) -> None:
    """Fill the CSR ``out``/``out_offsets`` from pieces ``(voxels, offsets, rows)``.

    Each piece's segment for row ``r`` is appended to output row ``rows[r]`` (pieces
    in order), then rows made of several runs are merged into ascending order.
    """
    from .._kernels import chunked as K

    n = out_offsets.shape[0] - 1
    cursor = out_offsets[:-1].copy()
    all_rows, all_lens = [], []
    for voxels, offsets, rows in pieces:
        if rows.shape[0] == 0:
            continue
        K.place(voxels, offsets, rows, cursor, out)
        all_rows.append(rows)
        all_lens.append(np.diff(offsets))
    if not all_rows:
        return
    rows = np.concatenate(all_rows)
    if rows.shape[0] == n:  # every row came from one piece: nothing to merge
        return
    lens = np.concatenate(all_lens)
    order = np.argsort(rows, kind="stable")
    lens = lens[order]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    runs = np.diff(ptr)
    multi = runs > 1
    if not multi.any():
        return
    longest = int((np.diff(out_offsets)[multi]).max())
    scratch = np.empty(longest, dtype=out.dtype)
    K.merge_runs(out, out_offsets, lens, ptr, scratch)


def _merge_parts(parts: list[_Part], plan: _Plan, buffer: np.ndarray | None = None) -> _Part:
    """Merge the chunk parts of one wave into one part (in memory).

    The voxel indices go to a new array, or to the start of ``buffer`` if given (large
    enough; reusing one buffer for waves that are spilled anyway saves page faults).
    """
    labels, counts, bboxes, sums, rows = _merge_stats(parts, plan.label_dtype, plan.ndim)
    offsets = np.zeros(labels.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    out = np.empty(total, dtype=plan.vdtype) if buffer is None else buffer[:total]
    _merge_voxels([(p.voxels, p.offsets, r) for p, r in zip(parts, rows)], out, offsets)
    return _Part(labels=labels, counts=counts, offsets=offsets, bboxes=bboxes, sums=sums,
                 voxels=out)
