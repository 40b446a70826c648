"""Numba kernels of :class:`labelprep.edit.EditSession`: paint voxel lists, move CSR
segments in place, gather rows, and per-row boxes and coordinate sums.

Every kernel touches only the voxels it is given (the objects being edited), except
:func:`move_runs`, which shifts the voxel lists stored after an edited row by the change
in its length (a ``memmove``: sequential, several GB/s, but O(voxels stored after it)).
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic


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
            if f == prev + 1 and c[ndim - 1] + 1 < last:
                c[ndim - 1] += 1
            else:
                r = f
                for a in range(ndim - 1, -1, -1):
                    d = shape[a]
                    q = r // d
                    c[a] = r - q * d
                    r = q
            prev = f
            for a in range(ndim):
                if c[a] < bboxes[i, a, 0]:
                    bboxes[i, a, 0] = c[a]
                if c[a] + 1 > bboxes[i, a, 1]:
                    bboxes[i, a, 1] = c[a] + 1
                sums[i, a] += c[a]


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
