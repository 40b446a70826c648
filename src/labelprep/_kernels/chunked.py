"""Numba kernels of the chunked (dask) index build: map chunk indices to global ones,
place per-chunk segments into a CSR array, and merge the sorted runs of each label."""

from __future__ import annotations

import numba
import numpy as np

from ._coords import unravel_into


@numba.njit(cache=True, nogil=True)
def to_global(local, offsets, chunk_shape, origin, gstrides, out, sums):
    """Map raveled chunk indices to raveled stack indices, summing coordinates per label.

    In plain Python, for each label row ``i`` and each ``j`` in
    ``range(offsets[i], offsets[i + 1])``::

        c = np.unravel_index(local[j], chunk_shape)       # coordinate in the chunk
        g = [origin[k] + c[k] for k in range(ndim)]        # coordinate in the stack
        out[j] = sum(g[k] * gstrides[k] for k in range(ndim))
        sums[i] += g                                       # exact int64 coordinate sums

    The map keeps order (ascending local indices give ascending global ones). Runs
    of consecutive local indices along the last axis are unravelled once per run.
    """
    ndim = chunk_shape.shape[0]
    last = chunk_shape[ndim - 1]
    c = np.zeros(ndim, np.int64)
    acc = np.zeros(ndim, np.int64)
    for i in range(offsets.shape[0] - 1):
        s = offsets[i]
        e = offsets[i + 1]
        for k in range(ndim):
            acc[k] = 0
        j = s
        while j < e:
            f = np.int64(local[j])
            unravel_into(f, chunk_shape, c)
            # the run of consecutive indices that starts here, within this row
            limit = min(e - j, last - c[ndim - 1])
            n = 1
            while n < limit and np.int64(local[j + n]) == f + n:
                n += 1
            g = np.int64(0)
            for k in range(ndim):
                g += (origin[k] + c[k]) * gstrides[k]
            for t in range(n):
                out[j + t] = g + t
            for k in range(ndim - 1):
                acc[k] += c[k] * n
            acc[ndim - 1] += c[ndim - 1] * n + (n * (n - 1)) // 2
            j += n
        n_all = e - s
        for k in range(ndim):
            sums[i, k] = acc[k] + origin[k] * n_all


@numba.njit(cache=True, nogil=True)
def place(src, src_offsets, rows, cursor, out):
    """Append each source segment to its destination row of a CSR array.

    In plain Python, for each source row ``r``::

        seg = src[src_offsets[r]:src_offsets[r + 1]]
        out[cursor[rows[r]]:cursor[rows[r]] + len(seg)] = seg
        cursor[rows[r]] += len(seg)
    """
    for r in range(rows.shape[0]):
        s = src_offsets[r]
        n = src_offsets[r + 1] - s
        d = rows[r]
        p = cursor[d]
        for j in range(n):
            out[p + j] = src[s + j]
        cursor[d] = p + n


@numba.njit(cache=True, nogil=True)
def merge_runs(values, offsets, lens, ptr, scratch):
    """Sort each CSR row of ``values`` that is made of several ascending runs.

    Row ``i`` (``values[offsets[i]:offsets[i + 1]]``) is the concatenation of runs of
    lengths ``lens[ptr[i]:ptr[i + 1]]``, each ascending. In plain Python::

        for each row with more than one run:
            if the runs are not already in order (last of one < first of next):
                row[:] = heapq.merge(*runs)          # = np.sort(row), O(n log runs)

    Runs are merged pairwise, bottom-up, through ``scratch`` (length >= longest row).
    Returns the number of rows that needed merging.
    """
    merged = 0
    for i in range(ptr.shape[0] - 1):
        r0 = ptr[i]
        k = ptr[i + 1] - r0
        if k <= 1:
            continue
        base = offsets[i]
        n = offsets[i + 1] - base
        ordered = True
        pos = base
        for r in range(r0, r0 + k - 1):
            pos += lens[r]
            if pos > base and pos < base + n and values[pos - 1] > values[pos]:
                ordered = False
                break
        if ordered:
            continue
        merged += 1
        bounds = np.empty(k + 1, np.int64)
        bounds[0] = 0
        for r in range(k):
            bounds[r + 1] = bounds[r] + lens[r0 + r]
        src = values[base:base + n]
        dst = scratch[:n]
        in_values = True
        width = 1
        while width < k:
            for a0 in range(0, k, 2 * width):
                lo = bounds[a0]
                mid = bounds[min(a0 + width, k)]
                hi = bounds[min(a0 + 2 * width, k)]
                a = lo
                b = mid
                o = lo
                if mid < hi and a < mid and src[mid - 1] <= src[mid]:
                    # already in order: plain copy
                    for t in range(lo, hi):
                        dst[t] = src[t]
                    continue
                while a < mid and b < hi:
                    if src[b] < src[a]:
                        dst[o] = src[b]
                        b += 1
                    else:
                        dst[o] = src[a]
                        a += 1
                    o += 1
                while a < mid:
                    dst[o] = src[a]
                    a += 1
                    o += 1
                while b < hi:
                    dst[o] = src[b]
                    b += 1
                    o += 1
            src, dst = dst, src
            in_values = not in_values
            width *= 2
        if not in_values:
            for t in range(n):
                values[base + t] = src[t]
    return merged
