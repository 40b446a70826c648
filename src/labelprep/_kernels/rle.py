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
def flat_run_starts(chunk, offset, prev, has_prev):  # pragma: no cover - compiled
    """Positions (plus ``offset``) where a run starts in a contiguous 1D chunk.

    In plain Python::

        [offset + i for i in range(len(chunk))
         if chunk[i] != (chunk[i - 1] if i else prev) or (i == 0 and not has_prev)]

    ``chunk`` is a piece ``flat[lo:hi]`` of the array in column-major order (a view,
    never a copy), ``offset = lo`` and ``prev = flat[lo - 1]`` (``has_prev = lo > 0``),
    so concatenating the results of consecutive chunks gives every run start.
    """
    n = chunk.shape[0]
    out = np.empty(n, dtype=np.int64)
    k = 0
    if n == 0:
        return out[:0]
    if not has_prev or chunk[0] != prev:
        out[0] = offset
        k = 1
    p = chunk[0]
    for i in range(1, n):
        x = chunk[i]
        if x != p:
            out[k] = offset + i
            k += 1
            p = x
    return out[:k].copy()


@numba.njit(cache=True, nogil=True)
def count_column_changes(a2, cnt, i0, i1):  # pragma: no cover - compiled
    """Add to ``cnt[r]`` the number of changes down column ``r`` in rows ``i0 .. i1-1``.

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
def record_column_changes(a2, col_f, cursor, starts, values, i0, i1):  # pragma: no cover
    """Store each change down each column as (flat position, value), column by column.

    In plain Python::

        d0 = a2.shape[0]
        for i in range(max(i0, 1), i1):
            for r in range(R):
                if a2[i, r] != a2[i - 1, r]:
                    starts[cursor[r]] = col_f[r] * d0 + i  # column-major position
                    values[cursor[r]] = a2[i, r]
                    cursor[r] += 1

    ``col_f[r]`` is column ``r``'s rank in column-major order and ``cursor`` starts at
    each column's slot in the output, laid out in that order, so the output ends up
    sorted by position (see :func:`fill_column_starts`).
    """
    d0, ncols = a2.shape
    for i in range(max(i0, 1), i1):
        for r in range(ncols):
            x = a2[i, r]
            if x != a2[i - 1, r]:
                c = cursor[r]
                starts[c] = col_f[r] * d0 + i
                values[c] = x
                cursor[r] = c + 1


@numba.njit(cache=True, nogil=True)
def fill_column_starts(a2, col_r, seg, starts, values):  # pragma: no cover - compiled
    """Fill the slot before each column's changes with the run starting the column.

    In plain Python, ``col_r[f]`` being the column at rank ``f`` in column-major order
    and ``seg[f]`` its slot::

        for f, r in enumerate(col_r):
            if f == 0 or a2[0, r] != a2[d0 - 1, col_r[f - 1]]:
                starts[seg[f]] = f * d0; values[seg[f]] = a2[0, r]
            else:
                starts[seg[f]] = -1  # the run of the previous column goes on

    then drops the unused (-1) slots; returns the number of runs kept.
    """
    d0 = a2.shape[0]
    ncols = col_r.shape[0]
    for f in range(ncols):
        r = col_r[f]
        s = seg[f]
        if f == 0 or a2[0, r] != a2[d0 - 1, col_r[f - 1]]:
            starts[s] = f * d0
            values[s] = a2[0, r]
        else:
            starts[s] = -1
    k = 0
    for q in range(starts.shape[0]):
        if starts[q] >= 0:
            starts[k] = starts[q]
            values[k] = values[q]
            k += 1
    return k


@numba.njit(cache=True, nogil=True)
def check_counts(counts, n):  # pragma: no cover - compiled
    """Check run lengths against the element count ``n`` without overflowing.

    Returns ``(status, index, total)``: status 0 if every count is >= 0 and they sum
    to ``n``; 1 if ``counts[index]`` is negative (the first one); 2 if the running sum
    passes ``n`` at ``index``; 3 if they sum to ``total < n``.
    """
    total = np.int64(0)
    for k in range(counts.shape[0]):
        if counts[k] < 0:
            return 1, k, total
    for k in range(counts.shape[0]):
        c = counts[k]
        if c > n - total:
            return 2, k, total
        total += c
    if total != n:
        return 3, counts.shape[0], total
    return 0, counts.shape[0], total


@numba.njit(cache=True, nogil=True)
def min_max(a):  # pragma: no cover - compiled
    """``(a.min(), a.max())`` of a non-empty 1D array in one pass."""
    lo = a[0]
    hi = a[0]
    for k in range(1, a.shape[0]):
        x = a[k]
        if x < lo:
            lo = x
        elif x > hi:
            hi = x
    return lo, hi


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
