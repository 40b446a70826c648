"""Chunk planning: what the chunked build knows about a dask stack before reading it.

:func:`_plan` checks the dask array and the background value and lists its blocks
(block id, origin in the stack, voxels); :func:`_waves` groups those blocks into the
waves that are indexed in parallel. The default sizes of a build live here too.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..index import LabelIndex

PathLike = str | os.PathLike

#: Default number of stack voxels indexed per wave (the chunks of a wave run in parallel).
WAVE_VOXELS = 1 << 26
#: Default bytes of merged wave parts kept in memory before spilling to disk.
KEEP_IN_MEMORY = 64 << 20
#: Voxel indices assembled per batch in the final merge.
BATCH_ENTRIES = 1 << 23


def _index_dtype(size: int) -> np.dtype:
    # same rule as LabelIndex: uint32 below 2**32 voxels, uint64 above
    return np.dtype(np.uint32) if size < 2**32 else np.dtype(np.uint64)


def _c_strides(shape: tuple[int, ...]) -> np.ndarray:
    strides = np.ones(len(shape), dtype=np.int64)
    for a in range(len(shape) - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    return strides


@dataclass
class _Plan:
    """What every step needs to know about the stack being indexed."""

    shape: tuple[int, ...]
    dtype: np.dtype
    background: int | None
    label_dtype: np.dtype
    vdtype: np.dtype
    gstrides: np.ndarray
    blocks: list[tuple[tuple[int, ...], tuple[int, ...], int]]  # (block id, origin, voxels)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def empty_index(self) -> LabelIndex:
        ndim = self.ndim
        return LabelIndex(
            labels=np.zeros(0, self.label_dtype), counts=np.zeros(0, np.int64),
            offsets=np.zeros(1, np.int64), voxel_indices=np.zeros(0, self.vdtype),
            bboxes=np.zeros((0, ndim, 2), np.int64), centroids=np.zeros((0, ndim)),
            shape=self.shape, dtype=self.dtype, background=self.background,
        )


def _is_dask_array(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "to_delayed")


def _plan(labels: Any, background: Any) -> _Plan:
    if not _is_dask_array(labels):
        raise TypeError(
            f"labels must be a dask array, got {type(labels).__name__}; use "
            "LabelIndex.build for NumPy arrays or dask.array.from_array(x, chunks=...)"
        )
    if labels.ndim == 0:
        raise ValueError("labels must have at least one axis, got a 0-d array")
    if any(math.isnan(s) for c in labels.chunks for s in c):
        raise ValueError(
            "labels has unknown chunk sizes (NaN); call labels.compute_chunk_sizes() first"
        )
    dtype = np.dtype(labels.dtype)
    if dtype.kind not in "biuf":
        raise TypeError(
            f"labels must have an integer or bool dtype (or whole-number floats), got {dtype}"
        )
    # the in-memory builder validates `background` against the dtype and tells us the
    # dtype of idx.labels: ask it on an empty array of the same dtype
    probe = LabelIndex.build(np.zeros(0, dtype=dtype), background=background)
    shape = tuple(int(s) for s in labels.shape)
    size = int(np.prod(shape, dtype=np.int64))
    blocks = []
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64) for c in labels.chunks]
    for bid in np.ndindex(*labels.numblocks):
        origin = tuple(int(starts[a][i]) for a, i in enumerate(bid))
        voxels = int(np.prod([labels.chunks[a][i] for a, i in enumerate(bid)], dtype=np.int64))
        blocks.append((bid, origin, voxels))
    return _Plan(
        shape=shape, dtype=dtype, background=probe.background,
        label_dtype=probe.labels.dtype, vdtype=_index_dtype(size),
        gstrides=_c_strides(shape), blocks=blocks,
    )


def _waves(plan: _Plan, wave_voxels: int, workers: int) -> list[list[int]]:
    """Consecutive (C-order) groups of block numbers of about ``wave_voxels`` voxels,
    and at least ``2 * workers`` blocks each (so every worker stays busy)."""
    waves: list[list[int]] = []
    current: list[int] = []
    voxels = 0
    for i, (_bid, _origin, n) in enumerate(plan.blocks):
        if current and voxels + n > wave_voxels and len(current) >= 2 * workers:
            waves.append(current)
            current, voxels = [], 0
        current.append(i)
        voxels += n
    if current:
        waves.append(current)
    return waves


def _check_sizes(wave_voxels: int, keep_in_memory: int, batch_entries: int) -> None:
    for name, value in (("wave_voxels", wave_voxels), ("batch_entries", batch_entries)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(keep_in_memory, (int, np.integer)) or keep_in_memory < 0:
        raise ValueError(f"keep_in_memory must be a non-negative integer, got {keep_in_memory!r}")
