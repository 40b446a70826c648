"""Building a :class:`~labelprep.index.LabelIndex` from an in-memory stack.

The build is two linear passes over the stack (numba kernels in
:mod:`labelprep._kernels.index`): a counting pass finds every label and its voxel count
(a direct table for small keys, a hash table otherwise), then a scatter pass writes
each voxel's raveled index into its label's segment of one flat array (CSR). The
stack is split into contiguous parts, one thread each; a part whose tables fill up
grows them and resumes. Both passes check that the stack did not change between them.

The checks of the input and the build's errors are in :mod:`labelprep._index_build_checks`,
the threads that run the passes (and ``default_workers``) in
:mod:`labelprep._index_build_threads`; the names stay importable from here.
"""

from __future__ import annotations

import itertools
import operator
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ._index_build_checks import (
    _background_key,
    _changed_error,
    _check_stack,
    _float_value_error,
    _index_dtype,
    _label_dtype,
)
from ._index_build_threads import _run_parts, _sort_segments, default_workers
from ._progress import ProgressCallback, report

if TYPE_CHECKING:
    from .index import LabelIndex

#: Voxels per kernel call during a build (progress granularity, work split).
_CHUNK_VOXELS = 1 << 22
_MIN_CHUNK_VOXELS = 1 << 16
_INITIAL_CAPACITY = 1024
_INITIAL_HASH_ROWS = 64
#: Keys below this (of 32/64-bit stacks) are mapped to ids by a direct table (at most
#: 512 KiB per thread) instead of hashing: labels 1..N of connected components, the
#: common case. The table starts small and doubles as larger labels show up.
_LUT_KEYS = 1 << 17
_INITIAL_LUT_KEYS = 1 << 12
#: Stacks smaller than this are indexed by one thread (threads cost more than they save).
_PARALLEL_MIN_VOXELS = 1 << 21


class _Plan:
    """How to walk a stack in memory order as 2D ``(rows, cols)`` blocks without a copy.

    Length-1 axes are dropped; the remaining axes are ordered by decreasing stride
    (identity for C-contiguous stacks), the innermost one becomes the columns, and as
    many of the others as can be merged without a copy become the rows. Any axes left
    over in front are looped over in Python (``blocks``).
    """

    def __init__(self, arr: np.ndarray):
        shape = arr.shape
        ndim = arr.ndim
        axes = [a for a in range(ndim) if shape[a] > 1] or [ndim - 1]
        sub = arr[tuple(slice(None) if a in axes else 0 for a in range(ndim))]
        if sub.ndim == 0:  # pragma: no cover - a single voxel keeps its last axis
            sub = sub.reshape(1)
        local = list(range(len(axes)))
        if not arr.flags.c_contiguous:
            local.sort(key=lambda j: -abs(sub.strides[j]))
        self.permuted = local != sorted(local)
        view = sub.transpose(local)
        self.scan_axes = [axes[j] for j in local]
        if view.ndim == 1:
            view = view.reshape(1, -1)
            self.scan_axes = [-1] + self.scan_axes  # dummy row axis of length 1
        k = view.ndim - 2
        while k > 0 and view.strides[k - 1] == view.strides[k] * view.shape[k]:
            k -= 1
        self.k = k
        self.view = view
        self.cols = view.shape[-1]
        self.row_dims = np.array(view.shape[k:-1], dtype=np.int64)
        self.rows = int(np.prod(self.row_dims))
        row_axes = self.scan_axes[k:-1]
        self.col_axis = self.scan_axes[-1]
        cstrides = np.ones(ndim, dtype=np.int64)
        for a in range(ndim - 2, -1, -1):
            cstrides[a] = cstrides[a + 1] * shape[a + 1]
        self.cstrides = cstrides
        # a dummy row axis (1D stacks) maps onto a scratch coordinate slot at index ndim
        self.ndim = ndim
        self.nslots = ndim + (1 if -1 in row_axes else 0)
        self.row_axes = np.array([a if a >= 0 else ndim for a in row_axes], dtype=np.int64)
        self.row_cs = np.array([cstrides[a] if a >= 0 else 0 for a in row_axes], dtype=np.int64)
        self.col_cs = int(cstrides[self.col_axis])

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Block ``b`` (C order over the leading axes): a 2D ``(rows, cols)`` view, the
        coordinates of its fixed axes and the flat index of its first voxel."""
        lead = self.view.shape[: self.k]
        idx = np.unravel_index(b, lead) if lead else ()
        sub = self.view[tuple(int(i) for i in idx)]
        # a view, never a copy (``reshape(copy=False)`` needs NumPy >= 2.1)
        a2d = sub.reshape(self.rows, self.cols)
        if a2d.size and not np.may_share_memory(a2d, sub):  # pragma: no cover
            raise AssertionError("block reshape copied the stack")
        coord0 = np.zeros(self.nslots, dtype=np.int64)
        flat0 = 0
        for j, i in enumerate(idx):
            ax = self.scan_axes[j]
            coord0[ax] = int(i)
            flat0 += int(i) * int(self.cstrides[ax])
        return a2d, coord0, flat0

    @property
    def nblocks(self) -> int:
        return int(np.prod(self.view.shape[: self.k], dtype=np.int64))

    def work_items(self, workers: int) -> list[list[tuple[int, int, int]]]:
        """Split the scan into ``(block, row_start, row_stop)`` items, a few MB each,
        then into at most ``workers`` contiguous (raster-order) parts of equal size."""
        size = self.nblocks * self.rows * self.cols
        chunk = min(_CHUNK_VOXELS, max(_MIN_CHUNK_VOXELS, size // (16 * workers)))
        step = max(1, chunk // max(self.cols, 1))
        items = [(b, r0, min(self.rows, r0 + step))
                 for b in range(self.nblocks) for r0 in range(0, self.rows, step)]
        nparts = max(1, min(workers, len(items)))
        voxels = np.cumsum([(r1 - r0) * self.cols for _, r0, r1 in items])
        cuts = np.searchsorted(voxels, voxels[-1] * np.arange(1, nparts) / nparts, side="left")
        bounds = [0, *sorted(set((cuts + 1).tolist())), len(items)]
        return [items[i:j] for i, j in itertools.pairwise(bounds) if j > i]


class _Part:
    """One worker's contiguous share of a build, with its own id tables, counts (pass 1)
    and write cursors and statistics (pass 2)."""

    def __init__(self, items, lut_size: int):
        self.items = items
        self.cap = _INITIAL_CAPACITY
        self.keys = np.empty(self.cap, dtype=np.uint64)
        self.counts = np.zeros(self.cap, dtype=np.int64)
        self.lut = np.full(lut_size, -1, np.int32)  # id of each small key, or -1
        self.table, self.shift = None, np.uint64(0)  # the other keys: made when needed
        self.state = np.zeros(4, dtype=np.int64)  # ids, resume row, resume col, hashed keys
        self.done = 0  # voxels scanned in the current pass (read by the progress loop)
        self.inv: np.ndarray | None = None  # each id's row in the merged labels
        self.stats: np.ndarray | None = None  # [cursor, end, min_0, max_0, sum_0, ...] per id
        self.ist: np.ndarray | None = None  # intensity sums per id, given an image

    @property
    def n(self) -> int:
        return int(self.state[0])

    def grow(self) -> None:
        """Make room for one more id: longer ``keys``/``counts``, or a bigger hash table."""
        from ._kernels.index import rehash

        n = self.n
        if n == self.cap:
            self.cap *= 2
            self.keys = _grow(self.keys, self.cap, n)
            self.counts = _grow(self.counts, self.cap, n, np.zeros(self.cap, np.int64))
        hashed = int(self.state[3])
        if self.table is not None and 2 * (hashed + 1) > self.table.shape[0]:
            self.table, self.shift = _new_table(4 * (hashed + 1))
            rehash(self.keys, n, self.lut.shape[0], self.table, self.shift)


def _build_numpy(labels: Any, background: Any, progress: ProgressCallback | None,
                 workers: int | None = None, image: Any = None) -> LabelIndex:
    from ._kernels import index as K
    from .index import LabelIndex
    from .measure import FusedIntensity

    arr = _check_stack(labels)
    orig_dtype = np.asarray(labels).dtype
    bg_key, bg = _background_key(orig_dtype, background)
    shape = arr.shape
    ndim = arr.ndim
    size = int(arr.size)
    label_dtype = _label_dtype(orig_dtype)
    vdtype = _index_dtype(size)
    if workers is None:
        workers = default_workers() if size >= _PARALLEL_MIN_VOXELS else 1
    elif operator.index(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    fused = None if image is None else FusedIntensity(image, shape)

    def empty() -> LabelIndex:
        return FusedIntensity.attach(fused, [], 0, LabelIndex(
            labels=np.zeros(0, dtype=label_dtype), counts=np.zeros(0, np.int64),
            offsets=np.zeros(1, np.int64), voxel_indices=np.zeros(0, vdtype),
            bboxes=np.zeros((0, ndim, 2), np.int64), centroids=np.zeros((0, ndim), np.float64),
            shape=shape, dtype=orig_dtype, background=bg,
        ))

    if size == 0:
        report(progress, 1, 1)
        return empty()

    is_float = arr.dtype.kind == "f"
    if arr.dtype.kind in "bi":
        arr = arr.view(np.dtype(f"u{arr.dtype.itemsize}"))
    if not is_float and arr.dtype.itemsize <= 2:
        lut_size = 1 << (8 * arr.dtype.itemsize)  # every key
    else:
        lut_size = _INITIAL_LUT_KEYS  # grown up to _LUT_KEYS as larger labels show up
    plan = _Plan(arr)
    sorting = plan.permuted
    total = size * (3 if sorting else 2)
    parts = [_Part(items, lut_size) for items in plan.work_items(workers)]

    # pass 1: ids and counts (each part on its own rows) ----------------------------
    def count(part: _Part, stop: threading.Event, tick) -> None:
        for b, row0, r1 in part.items:
            if stop.is_set():
                return
            a2d, _, _ = plan.block(b)
            r0, c0 = row0, 0  # where count_rows (re)starts
            while True:
                status = K.count_rows(a2d, r0, c0, r1, bg_key, part.lut, part.table,
                                      part.shift, part.keys, part.counts, part.state)
                if status == K.DONE:
                    break
                r0, c0 = int(part.state[1]), int(part.state[2])
                if status == K.HASH:  # a key >= len(part.lut)
                    key = int(a2d[r0, c0])
                    if 0 <= key < _LUT_KEYS and part.table is None:
                        part.lut = _grow_lut(part.lut, key)
                    else:  # hash the large keys from now on
                        part.table, part.shift = _new_table(_INITIAL_HASH_ROWS)
                    continue
                if status == K.NOT_INTEGRAL:
                    raise TypeError(_float_value_error(orig_dtype, float(a2d[r0, c0])))
                part.grow()
            part.done += (r1 - row0) * plan.cols
            if tick is not None:
                tick()

    _run_parts(count, parts, progress, 0, total)
    if sum(part.n for part in parts) == 0:
        report(progress, total, total)
        return empty()

    # merge the parts: labels ascending, counts, CSR offsets, per-part write cursors -
    keys = np.concatenate([part.keys[:part.n] for part in parts])
    if is_float:
        values = keys.view(np.int64)
    elif orig_dtype.kind == "b":
        values = keys.astype(np.uint8)
    else:
        values = keys.astype(arr.dtype).view(label_dtype)
    labels_out, inverse = np.unique(values, return_inverse=True)
    del keys, values
    n = labels_out.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    start = 0
    for part in parts:
        part.inv = inverse[start:start + part.n]  # distinct within a part
        start += part.n
        counts[part.inv] += part.counts[:part.n]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    acc = offsets[:-1].copy()
    for part in parts:  # earlier parts come first within each label (raster order)
        part.stats = np.empty((part.n, 2 + 3 * plan.nslots), dtype=np.int64)
        K.part_slots(part.stats, part.inv, part.counts, acc)
        part.ist = None if fused is None else fused.part_sums(part.n)
        part.keys = part.counts = None  # no longer needed
    del acc

    # pass 2: scatter raveled indices, gather boxes and sums --------------------------
    # (with a row of spare slots: should the stack change meanwhile, the kernel's writes
    # stay inside this buffer, and the check after the pass raises)
    buffer = np.empty(int(offsets[-1]) + plan.cols, dtype=vdtype)
    out = buffer[:int(offsets[-1])]

    def scatter(part: _Part, stop: threading.Event, tick) -> None:
        for b, r0, r1 in part.items:
            if stop.is_set():
                return
            a2d, coord0, flat0 = plan.block(b)
            status = K.scatter_rows(a2d, r0, r1, plan.row_dims, plan.row_axes, plan.col_axis,
                                    coord0, plan.row_cs, plan.col_cs, flat0, bg_key, part.lut,
                                    part.table, part.shift, part.stats, buffer,
                                    None if fused is None else fused.values, part.ist)
            if status == K.CHANGED:
                raise _changed_error()
            part.done += (r1 - r0) * plan.cols
            if tick is not None:
                tick()

    _run_parts(scatter, parts, progress, size, total)
    if any((part.stats[:, 0] != part.stats[:, 1]).any() for part in parts):
        raise _changed_error()  # more or fewer voxels than counted
    bboxes = np.empty((n, ndim, 2), dtype=np.int64)
    sums = np.empty((n, ndim), dtype=np.int64)
    for p, part in enumerate(parts):
        K.merge_stats(bboxes, sums, part.inv, part.stats, p == 0)
    merged = [(part.inv, part.ist) for part in parts]
    del parts

    if sorting:  # memory order differs from C order: restore raster order per label
        _sort_segments(out, offsets, workers, progress, 2 * size, size, total)
    report(progress, total, total)

    centroids = sums / counts[:, None]
    del sums
    return FusedIntensity.attach(fused, merged, n, LabelIndex(
        labels=labels_out, counts=counts, offsets=offsets, voxel_indices=out,
        bboxes=bboxes, centroids=centroids, shape=shape, dtype=orig_dtype, background=bg,
    ))


def _new_table(capacity: int) -> tuple[np.ndarray, np.uint64]:
    """An empty hash table of at least ``capacity`` (power of two) ``(key, id + 1)`` rows."""
    bits = max(int(capacity - 1).bit_length(), 1)
    return np.zeros((1 << bits, 2), dtype=np.uint64), np.uint64(64 - bits)


def _grow_lut(lut: np.ndarray, key: int) -> np.ndarray:
    """``lut`` extended with -1 entries to the next power of two above ``key``."""
    new = np.full(min(_LUT_KEYS, 1 << key.bit_length()), -1, dtype=lut.dtype)
    new[:lut.shape[0]] = lut
    return new


def _grow(arr: np.ndarray, cap: int, n: int, new: np.ndarray | None = None) -> np.ndarray:
    """``arr`` with capacity ``cap`` (rows ``n:`` from ``new`` or uninitialised)."""
    if new is None:
        new = np.empty((cap,) + arr.shape[1:], dtype=arr.dtype)
    new[:n] = arr[:n]
    return new
