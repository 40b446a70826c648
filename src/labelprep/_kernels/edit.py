"""Numba kernels of :class:`labelprep.edit.EditSession` (paint voxel lists, move CSR
segments in place, gather rows, per-row boxes and coordinate sums) and :class:`Store`,
the index arrays a session edits, which drives them.

Every kernel touches only the voxels it is given (the objects being edited), except
:func:`move_runs`, which shifts the voxel lists stored after an edited row by the change
in its length (a ``memmove``: sequential, several GB/s, but O(voxels stored after it)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

from .index import segment_stats


@intrinsic
def _memmove(typingctx, arr, dst, src, n):
    """``arr[dst:dst + n] = arr[src:src + n]`` for overlapping ranges (llvm.memmove)."""
    sig = types.void(arr, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        dptr = builder.gep(ary.data, [args[1]])
        sptr = builder.gep(ary.data, [args[2]])
        itemsize = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        cgutils.raw_memmove(builder, dptr, sptr, args[3], itemsize)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def move_runs(buf, src, dst, length):
    """Move ``buf[src[i]:src[i] + length[i]]`` to ``dst[i]`` for each run ``i``.

    Runs are in increasing ``src`` order and keep that order at their destinations, with
    no two destinations overlapping. Runs moving left are moved first, left to right,
    then runs moving right, right to left: no run then overwrites a run not yet moved.
    """
    for i in range(src.shape[0]):
        if dst[i] < src[i] and length[i] > 0:
            _memmove(buf, dst[i], src[i], length[i])
    for i in range(src.shape[0] - 1, -1, -1):
        if dst[i] > src[i] and length[i] > 0:
            _memmove(buf, dst[i], src[i], length[i])


@numba.njit(cache=True, nogil=True)
def paint_segments(flat, voxels, starts, stops, values):
    """``flat[voxels[starts[i]:stops[i]]] = values[i]`` for each segment ``i``."""
    for i in range(values.shape[0]):
        value = values[i]
        for k in range(starts[i], stops[i]):
            flat[voxels[k]] = value


@numba.njit(cache=True, nogil=True)
def gather_rows(buf, offsets, rows, out_offsets, out):
    """Copy CSR rows ``rows`` of ``buf`` one after the other into ``out`` (at
    ``out_offsets``)."""
    for j in range(rows.shape[0]):
        s = offsets[rows[j]]
        d = out_offsets[j]
        for k in range(out_offsets[j + 1] - d):
            out[d + k] = buf[s + k]


@numba.njit(cache=True, nogil=True)
def scatter_rows(src, src_offsets, buf, offsets, rows):
    """Copy segment ``j`` of ``src`` into CSR row ``rows[j]`` of ``buf`` (same lengths)."""
    for j in range(rows.shape[0]):
        s = src_offsets[j]
        d = offsets[rows[j]]
        for k in range(src_offsets[j + 1] - s):
            buf[d + k] = src[s + k]


@numba.njit(cache=True, nogil=True)
def merge_two(a, b, out):
    """Merge two ascending arrays into ``out``."""
    i = j = k = 0
    na, nb = a.shape[0], b.shape[0]
    while i < na and j < nb:
        if a[i] <= b[j]:
            out[k] = a[i]
            i += 1
        else:
            out[k] = b[j]
            j += 1
        k += 1
    while i < na:
        out[k] = a[i]
        i += 1
        k += 1
    while j < nb:
        out[k] = b[j]
        j += 1
        k += 1


# ------------------------------------------------------------------ the row store
@dataclass
class Rows:
    """A few index rows detached from the session (labels ascending, CSR voxels)."""

    labels: np.ndarray
    counts: np.ndarray
    bboxes: np.ndarray
    centroids: np.ndarray
    voxels: np.ndarray
    offsets: np.ndarray



class Store:
    """The arrays of a :class:`~labelprep.index.LabelIndex` as an edit session keeps
    them: the per-object arrays (replaced whole by each edit) and its own, writeable
    buffer of voxel lists (edited in place), in which rows are taken out and put in."""

    def __init__(self, index):
        self.labels, self.counts, self.offsets = index.labels, index.counts, index.offsets
        self.bboxes, self.centroids = index.bboxes, index.centroids
        self.buf = np.array(index.voxel_indices)  # own, writeable copy
        self.shape = np.array(index.shape, dtype=np.int64)

    def find(self, typed: np.ndarray) -> np.ndarray:
        """Rows of the labels ``typed`` (of the labels' dtype), -1 where absent."""
        n = self.labels.shape[0]
        if n == 0:
            return np.full(typed.shape[0], -1, dtype=np.int64)
        pos = np.searchsorted(self.labels, typed).astype(np.int64)
        clipped = np.minimum(pos, n - 1)
        return np.where(self.labels[clipped] == typed, clipped, -1)

    def empty(self) -> Rows:
        """No rows."""
        return Rows(self.labels[:0], self.counts[:0], self.bboxes[:0], self.centroids[:0],
                    self.buf[:0], np.zeros(1, dtype=np.int64))

    def take(self, rows: np.ndarray) -> Rows:
        """Copies of the index rows ``rows``."""
        counts = self.counts[rows]
        offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        voxels = np.empty(int(offsets[-1]), dtype=self.buf.dtype)
        gather_rows(self.buf, self.offsets, rows, offsets, voxels)
        return Rows(self.labels[rows], counts, self.bboxes[rows], self.centroids[rows], voxels,
                    offsets)

    def make(self, labels, pieces: list[np.ndarray]) -> Rows:
        """Index rows of the objects ``labels`` made of the (ascending) voxel lists
        ``pieces``: boxes and centroids computed as a build computes them."""
        labels = np.array(labels, dtype=self.labels.dtype)
        order = np.argsort(labels)
        pieces = [pieces[i] for i in order]
        counts = np.array([p.shape[0] for p in pieces], dtype=np.int64)
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        voxels = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        bboxes = np.empty((counts.shape[0], self.shape.shape[0], 2), dtype=np.int64)
        sums = np.empty((counts.shape[0], self.shape.shape[0]), dtype=np.int64)
        segment_stats(voxels, offsets, self.shape, bboxes, sums)
        return Rows(labels[order], counts, bboxes, sums / counts[:, None], voxels, offsets)

    def replace(self, rem: np.ndarray, add: Rows) -> None:
        """Take rows ``rem`` out of the index and put the rows ``add`` in, shifting the
        voxel lists between them in place (one memmove per run of untouched rows)."""
        L, C, offs = self.labels, self.counts, self.offsets
        keep = np.ones(L.shape[0], dtype=bool)
        keep[rem] = False
        kept = np.flatnonzero(keep)
        ins = np.searchsorted(L[kept], add.labels)
        counts = np.insert(C[kept], ins, add.counts)
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        if offsets[-1] > self.buf.shape[0]:  # (only after edits of edits; rare)
            grown = np.empty(max(int(offsets[-1]), self.buf.shape[0] * 5 // 4),
                             dtype=self.buf.dtype)
            grown[:offs[-1]] = self.buf[:offs[-1]]
            self.buf = grown
        if kept.shape[0]:
            q = np.arange(kept.shape[0])
            delta = offsets[q + np.searchsorted(ins, q, side="right")] - offs[kept]
            brk = np.ones(kept.shape[0], dtype=bool)
            brk[1:] = (np.diff(kept) != 1) | (np.diff(delta) != 0)
            first = np.flatnonzero(brk)
            last = np.r_[first[1:], kept.shape[0]] - 1
            src = offs[kept[first]]
            length = offs[kept[last] + 1] - src
            shift = delta[first]
            mv = shift != 0
            move_runs(self.buf, src[mv], src[mv] + shift[mv], length[mv])
        scatter_rows(add.voxels, add.offsets, self.buf, offsets, ins + np.arange(ins.shape[0]))
        self.labels = np.insert(L[kept], ins, add.labels)
        self.counts, self.offsets = counts, offsets
        self.bboxes = np.insert(self.bboxes[kept], ins, add.bboxes, axis=0)
        self.centroids = np.insert(self.centroids[kept], ins, add.centroids, axis=0)
