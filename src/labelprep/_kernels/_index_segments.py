"""Kernels on an index's CSR segments (:mod:`.index`): sorting and checking them,
unravelling, painting and CSV-formatting voxel indices, and per-segment statistics."""

from __future__ import annotations

import numba
import numpy as np

from ._coords import advance, unravel_into


@numba.njit(cache=True, nogil=True)
def sort_segments(values, offsets, i0, i1):
    """``values[offsets[i]:offsets[i+1]].sort()`` for each ``i0 <= i < i1`` (in place)."""
    for i in range(i0, i1):
        s = offsets[i]
        e = offsets[i + 1]
        ordered = True
        for j in range(s + 1, e):
            if values[j] < values[j - 1]:
                ordered = False
                break
        if not ordered:
            values[s:e].sort()


@numba.njit(cache=True, nogil=True)
def check_segments(values, offsets, size):
    """True if each ``values[offsets[i]:offsets[i+1]]`` is strictly ascending and < size."""
    for i in range(offsets.shape[0] - 1):
        s = offsets[i]
        e = offsets[i + 1]
        for j in range(s, e):
            if np.int64(values[j]) >= size:
                return False
            if j > s and values[j] <= values[j - 1]:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def unravel(flat, shape, out):
    """``out[i, :] = np.unravel_index(flat[i], shape)`` for each ``i``.

    ``out`` may be any (n, ndim) view (pass ``out2.T`` for ``np.where``-style rows).
    Runs of consecutive indices along the last axis (common: indices are ascending
    within an object) are unravelled by incrementing the previous row.
    """
    ndim = shape.shape[0]
    last = shape[ndim - 1]
    prev = np.int64(-2)
    for i in range(flat.shape[0]):
        f = np.int64(flat[i])
        if f == prev + 1 and out[i - 1, ndim - 1] + 1 < last:
            for ax in range(ndim - 1):
                out[i, ax] = out[i - 1, ax]
            out[i, ndim - 1] = out[i - 1, ndim - 1] + 1
        else:
            unravel_into(f, shape, out[i])
        prev = f


@numba.njit(cache=True, nogil=True)
def paint(out_flat, voxel_indices, offsets, values):
    """``out_flat[voxel_indices[offsets[i]:offsets[i+1]]] = values[i]`` for each ``i``."""
    for i in range(values.shape[0]):
        val = values[i]
        for j in range(offsets[i], offsets[i + 1]):
            out_flat[voxel_indices[j]] = val


@numba.njit(cache=True, nogil=True)
def format_coords_csv(voxel_indices, starts, stops, pre_start, pre_stop, prefixes,
                      shape, buf):
    """Write CSV rows ``<prefix><c0>,<c1>,...\\n`` into ``buf``; return the byte count.

    For each segment ``s`` and each ``j`` in ``range(starts[s], stops[s])``, the row is
    ``prefixes[pre_start[s]:pre_stop[s]]`` (e.g. ``b"17,"``) followed by the decimal
    coordinates of ``np.unravel_index(voxel_indices[j], shape)``.
    """
    ndim = shape.shape[0]
    coord = np.zeros(ndim, np.int64)
    digits = np.empty(24, np.uint8)
    pos = 0
    for s in range(starts.shape[0]):
        p0 = pre_start[s]
        p1 = pre_stop[s]
        for j in range(starts[s], stops[s]):
            for q in range(p0, p1):
                buf[pos] = prefixes[q]
                pos += 1
            unravel_into(np.int64(voxel_indices[j]), shape, coord)
            for ax in range(ndim):
                x = coord[ax]
                nd = 0
                while True:
                    digits[nd] = 48 + x % 10
                    x //= 10
                    nd += 1
                    if x == 0:
                        break
                for t in range(nd - 1, -1, -1):
                    buf[pos] = digits[t]
                    pos += 1
                buf[pos] = 44 if ax < ndim - 1 else 10
                pos += 1
    return pos


@numba.njit(cache=True, nogil=True)
def segment_stats(voxels, offsets, shape, bboxes, sums):
    """Per segment ``i`` of ``voxels``: ``bboxes[i]`` = ``[min, max + 1)`` per axis and
    ``sums[i]`` = the sum of the coordinates (int64), exactly as the index build
    computes them."""
    ndim = shape.shape[0]
    last = shape[ndim - 1]
    c = np.zeros(ndim, dtype=np.int64)
    for i in range(offsets.shape[0] - 1):
        for a in range(ndim):
            bboxes[i, a, 0] = np.iinfo(np.int64).max
            bboxes[i, a, 1] = -1
            sums[i, a] = 0
        prev = np.int64(-2)
        for k in range(offsets[i], offsets[i + 1]):
            f = np.int64(voxels[k])
            advance(f, prev, shape, last, c)
            prev = f
            for a in range(ndim):
                bboxes[i, a, 0] = min(bboxes[i, a, 0], c[a])
                bboxes[i, a, 1] = max(bboxes[i, a, 1], c[a] + 1)
                sums[i, a] += c[a]
