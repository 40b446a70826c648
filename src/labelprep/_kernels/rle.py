"""Numba kernels for multi-class run-length encoding (see :mod:`labelprep.rle`).

All positions are flat indices in column-major (Fortran) order: the first axis varies
fastest, as in COCO. Label arrays reach these kernels as unsigned integers of the same
width (signed and bool masks are viewed, not converted): equality is all that matters
for finding runs, and the caller views the values back to the original dtype.
"""

from __future__ import annotations

import numba
import numpy as np

# COCO's compressed strings use the 64 characters chr(48) .. chr(111).
COCO_FIRST_CHAR = 48
COCO_LAST_CHAR = 111
# error codes of coco_string_decode
OK, BAD_CHAR, TRUNCATED, OVERFLOW = 0, 1, 2, 3


@numba.njit(cache=True, nogil=True)
def flat_run_starts(flat, lo, hi):  # pragma: no cover - compiled
    """Positions in ``lo .. hi-1`` where a run starts in a 1D array.

    In plain Python::

        [i for i in range(lo, hi) if i == 0 or flat[i] != flat[i - 1]]

    ``flat`` is the array in column-major order (a contiguous view, never a copy), so
    splitting ``0 .. n`` into chunks and concatenating the results gives all run starts.
    """
    out = np.empty(hi - lo, dtype=np.int64)
    k = 0
    if hi <= lo:
        return out[:0]
    if lo == 0 or flat[lo] != flat[lo - 1]:
        out[0] = lo
        k = 1
    prev = flat[lo]
    for i in range(lo + 1, hi):
        x = flat[i]
        if x != prev:
            out[k] = i
            k += 1
            prev = x
    return out[:k].copy()


@numba.njit(cache=True, nogil=True)
def count_column_changes(a2, cnt, i0, i1):  # pragma: no cover - compiled
    """Add to ``cnt[r]`` the number of changes down column ``r`` between rows ``i0 .. i1-1``.

    In plain Python, for a 2D array ``a2`` of shape (H, R)::

        for i in range(max(i0, 1), i1):
            for r in range(R):
                cnt[r] += a2[i, r] != a2[i - 1, r]

    The loops run row by row, so a C-ordered array is read in memory order (and the
    inner loop vectorises), although the runs are wanted down the columns.
    """
    ncols = a2.shape[1]
    for i in range(max(i0, 1), i1):
        for r in range(ncols):
            cnt[r] += a2[i, r] != a2[i - 1, r]


@numba.njit(cache=True, nogil=True)
def record_column_changes(a2, cursor, rows, i0, i1):  # pragma: no cover - compiled
    """Store the row of each change down each column, column by column.

    In plain Python::

        for i in range(max(i0, 1), i1):
            for r in range(R):
                if a2[i, r] != a2[i - 1, r]:
                    rows[cursor[r]] = i
                    cursor[r] += 1

    With ``cursor`` starting at the running sum of :func:`count_column_changes`,
    ``rows[off[r]:off[r + 1]]`` ends up holding the sorted change rows of column ``r``.
    """
    ncols = a2.shape[1]
    for i in range(max(i0, 1), i1):
        for r in range(ncols):
            if a2[i, r] != a2[i - 1, r]:
                rows[cursor[r]] = i
                cursor[r] += 1


@numba.njit(cache=True, nogil=True)
def assemble_column_runs(a2, col_shape, off, rows):  # pragma: no cover - compiled
    """Run starts (column-major flat positions) and values from per-column changes.

    ``a2`` is a C-ordered array of shape ``(d0, *col_shape)`` seen as (d0, R): its
    column-major order visits the columns ``r`` in Fortran order of ``col_shape`` (first
    axis fastest) and each column top to bottom. In plain Python::

        starts, values = [], []
        for f, r in enumerate(columns in Fortran order of col_shape):
            if f == 0 or a2[0, r] != a2[d0 - 1, previous r]:
                starts.append(f * d0); values.append(a2[0, r])
            for i in rows[off[r]:off[r + 1]]:
                starts.append(f * d0 + i); values.append(a2[i, r])
    """
    d0, ncols = a2.shape
    nd = col_shape.shape[0]
    cstride = np.empty(nd, dtype=np.int64)
    s = 1
    for ax in range(nd - 1, -1, -1):
        cstride[ax] = s
        s *= col_shape[ax]
    idx = np.zeros(nd, dtype=np.int64)
    total = off[ncols] + ncols
    starts = np.empty(total, dtype=np.int64)
    values = np.empty(total, dtype=a2.dtype)
    k = 0
    r = 0
    prev_r = -1
    for f in range(ncols):
        base = f * d0
        if prev_r < 0 or a2[0, r] != a2[d0 - 1, prev_r]:
            starts[k] = base
            values[k] = a2[0, r]
            k += 1
        for q in range(off[r], off[r + 1]):
            i = rows[q]
            starts[k] = base + i
            values[k] = a2[i, r]
            k += 1
        prev_r = r
        # next column in Fortran order: odometer over col_shape, first axis fastest
        for ax in range(nd):
            idx[ax] += 1
            r += cstride[ax]
            if idx[ax] < col_shape[ax]:
                break
            r -= idx[ax] * cstride[ax]
            idx[ax] = 0
    return starts[:k].copy(), values[:k].copy()


@numba.njit(cache=True, nogil=True)
def fill_runs(out, values, counts, k0, k1, pos):  # pragma: no cover - compiled
    """Write runs ``k0 .. k1-1`` into the flat output starting at ``pos``; return the end.

    In plain Python::

        for k in range(k0, k1):
            out[pos:pos + counts[k]] = values[k]
            pos += counts[k]
        return pos

    The caller has checked that the counts are non-negative and sum to ``out.size``.
    """
    for k in range(k0, k1):
        end = pos + counts[k]
        out[pos:end] = values[k]  # a slice fill compiles to a tight (memset-like) loop
        pos = end
    return pos


@numba.njit(cache=True, nogil=True)
def coco_string_encode(counts, delta):  # pragma: no cover - compiled
    """COCO's compressed-string form of a sequence of integers, as ASCII bytes.

    In plain Python (COCO's ``rleToString``)::

        for i, x in enumerate(counts):
            if delta and i > 2:
                x -= counts[i - 2]
            while True:
                c = x & 0x1F
                x >>= 5  # arithmetic shift: negative numbers work
                more = x != -1 if c & 0x10 else x != 0
                out.append(chr(48 + (c | 0x20 if more else c)))
                if not more:
                    break

    Each number is written 5 bits at a time, low bits first; bit 0x20 of a character
    says "more follows" and bit 0x10 of the last character carries the sign. With
    ``delta`` (COCO's rule for binary masks) counts after the second are stored as the
    difference to the count two places before.
    """
    m = counts.shape[0]
    out = np.empty(13 * m, dtype=np.uint8)
    p = 0
    for i in range(m):
        x = np.int64(counts[i])
        if delta and i > 2:
            x -= np.int64(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            if c & 0x10:
                more = x != -1
            else:
                more = x != 0
            if more:
                c |= 0x20
            out[p] = c + 48
            p += 1
    return out[:p].copy()


@numba.njit(cache=True, nogil=True)
def coco_string_decode(buf, delta):  # pragma: no cover - compiled
    """Integers from COCO's compressed-string form (inverse of :func:`coco_string_encode`).

    Returns ``(numbers, error, position)``: ``error`` is 0 when the whole string was
    valid, 1 for a character outside chr(48)..chr(111) at ``position``, 2 when the
    string ends inside a number, 3 when a number does not fit in 64 bits.
    """
    n = buf.shape[0]
    out = np.empty(n, dtype=np.int64)
    m = 0
    p = 0
    while p < n:
        x = np.int64(0)
        k = 0
        more = True
        while more:
            if p >= n:
                return out[:m].copy(), TRUNCATED, p
            ch = np.int64(buf[p])
            if ch < COCO_FIRST_CHAR or ch > COCO_LAST_CHAR:
                return out[:m].copy(), BAD_CHAR, p
            if k >= 13:
                return out[:m].copy(), OVERFLOW, p
            c = ch - 48
            x |= (c & 0x1F) << (5 * k)
            more = (c & 0x20) != 0
            p += 1
            k += 1
            if not more and (c & 0x10) and k < 13:
                x |= np.int64(-1) << (5 * k)
        if delta and m > 2:
            x += out[m - 2]
        out[m] = x
        m += 1
    return out[:m].copy(), OK, p
