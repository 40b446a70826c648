"""Numba kernels of multi-class RLE on arrays: finding the runs of a mask (encode) and
writing runs back into one (decode). Re-exported by :mod:`labelprep._kernels.rle`.

Positions are flat indices in column-major (Fortran) order, as in COCO; label arrays
arrive as unsigned integers of the same width (see :mod:`labelprep._kernels.rle`).
"""

from __future__ import annotations

import numba
import numpy as np

# Rows of the (H, P, X) arrays below are handled P_BLOCK at a time for each row index,
# so the output slots written (those of P_BLOCK x X columns) stay in cache.
P_BLOCK = 16


@numba.njit(cache=True, nogil=True)
def count_changes(a3, i0, i1, cnt):  # pragma: no cover - compiled
    """Add to ``cnt`` the number of changes down each column in rows ``i0 .. i1-1``.

    In plain Python, for a 3D array ``a3`` of shape (H, P, X) whose columns are the
    lines along its first axis::

        for i in range(max(i0, 1), i1):
            for p in range(P):
                for x in range(X):
                    cnt[p * X + x] += a3[i, p, x] != a3[i - 1, p, x]

    The loops run row by row, so a C-ordered array is read in memory order and the
    inner loop vectorises (best with a narrow ``cnt`` dtype, e.g. uint16 when H <= 2**16).
    """
    h, pp, xx = a3.shape
    for i in range(max(i0, 1), i1):
        for p in range(pp):
            row = a3[i, p]
            above = a3[i - 1, p]
            c = cnt[p * xx:(p + 1) * xx]
            for x in range(xx):
                c[x] += row[x] != above[x]


@numba.njit(cache=True, nogil=True)
def column_slots(a3, mid_r, cnt):  # pragma: no cover - compiled
    """Lay out the output of :func:`record_changes`: one slot per run, in column-major
    order.

    Column (p, x) of ``a3`` (shape (H, P, X)) has rank ``f = mid_f[p] + P * x`` in
    column-major order (``mid_r`` is the inverse of ``mid_f``: the p of each rank). Its
    top starts a run (``top[p * X + x] = 1``) if its first element differs from the last
    one of the previous column, or it is the first column; then come
    ``cnt[p * X + x]`` changes. In plain Python::

        slots = 0
        for f, (p, x) in enumerate(columns in column-major order):
            top[p * X + x] = f == 0 or a3[0, p, x] != a3[H - 1, previous column]
            cursor[p * X + x] = slots
            slots += top[p * X + x] + cnt[p * X + x]

    computed row by row (over x, in memory order) rather than column by column.
    Returns ``(starts, values, cursor, ends, top, total)``: empty arrays of
    ``total + 1`` slots (:func:`record_changes` sends writes that would pass the end to
    the spare last one), the first slot of each column, the slot after its last one
    (where :func:`record_changes` must leave the cursor) and the top flags, all in C
    order of the columns.
    """
    h, pp, xx = a3.shape
    ncols = pp * xx
    top = np.empty(ncols, np.uint8)
    per_x = np.zeros(xx, np.int64)  # slots of all the columns with this x
    for pf in range(pp):
        p = mid_r[pf]
        first = a3[0, p]
        t = top[p * xx:(p + 1) * xx]
        c = cnt[p * xx:(p + 1) * xx]
        if pf > 0:
            bottom = a3[h - 1, mid_r[pf - 1]]  # the previous column has the same x
            for x in range(xx):
                t[x] = first[x] != bottom[x]
        else:
            bottom = a3[h - 1, mid_r[pp - 1]]  # the previous column has x - 1
            t[0] = 1
            for x in range(1, xx):
                t[x] = first[x] != bottom[x - 1]
        for x in range(xx):
            per_x[x] += t[x] + np.int64(c[x])
    total = 0
    for x in range(xx):  # exclusive prefix sum: the first slot of each x
        s = per_x[x]
        per_x[x] = total
        total += s
    cursor = np.empty(ncols, np.int64)
    ends = np.empty(ncols, np.int64)
    for pf in range(pp):
        p = mid_r[pf]
        t = top[p * xx:(p + 1) * xx]
        c = cnt[p * xx:(p + 1) * xx]
        cur = cursor[p * xx:(p + 1) * xx]
        end = ends[p * xx:(p + 1) * xx]
        for x in range(xx):
            cur[x] = per_x[x]
            per_x[x] += t[x] + np.int64(c[x])
            end[x] = per_x[x]
    starts = np.empty(total + 1, np.int64)
    values = np.empty(total + 1, a3.dtype)
    return starts, values, cursor, ends, top, total


@numba.njit(cache=True, nogil=True)
def record_changes(  # pragma: no cover - compiled
    a3, mid_f, top, cursor, starts, values, p0, p1, i0, i1, flags, words
):
    """Write each run start into its slot, for rows ``i0 .. i1-1`` and ``p`` in
    ``p0 .. p1-1``.

    In plain Python (``a3`` of shape (H, P, X), ``top`` and ``cursor`` from
    :func:`column_slots`)::

        for i in range(i0, i1):
            for p in range(p0, p1):
                for x in range(X):
                    if top[p * X + x] if i == 0 else a3[i, p, x] != a3[i - 1, p, x]:
                        c = cursor[p * X + x]
                        starts[c] = (mid_f[p] + P * x) * H + i  # column-major position
                        values[c] = a3[i, p, x]
                        cursor[p * X + x] = c + 1

    Each row segment ``a3[i, p]`` is compared with the one above into byte flags (a
    vectorised loop); the 8-byte words of flags that are not zero are listed, then the
    changes in them, without a branch per element (changes are rare and unpredictable,
    so branching on each one costs more than the scan; :func:`flat_record_changes` lists
    them the same way, but clamps each write: one helper for both, clamping, made the 3D
    encode 10-15% slower, measured). ``p`` goes in blocks of
    ``P_BLOCK`` for each ``i``, so the slots written stay in cache. ``flags`` is a
    scratch array of ``8 * ceil(X / 8)`` zeros (uint8) and ``words`` its uint64 view
    (made by the caller: a ``view`` in here triples the compile time).

    Slots past the end of ``starts`` go to its spare last slot: should ``a3`` change
    after :func:`count_changes` (a layer painted on while it is encoded), nothing is
    written out of bounds, and the caller finds the cursors off their column ends.
    """
    h, pp, xx = a3.shape
    spare = starts.shape[0] - 1
    nwords = words.shape[0]
    nonzero = np.empty(nwords, np.int64)
    where = np.empty(8 * nwords, np.int64)
    step = pp * h
    for b0 in range(p0, p1, P_BLOCK):
        for i in range(i0, i1):
            for p in range(b0, min(p1, b0 + P_BLOCK)):
                row = a3[i, p]
                if i == 0:
                    for x in range(xx):  # (a slice assignment takes seconds to compile)
                        flags[x] = top[p * xx + x]
                else:
                    above = a3[i - 1, p]
                    for x in range(xx):
                        flags[x] = row[x] != above[x]
                nk = 0
                for k in range(nwords):
                    nonzero[nk] = k
                    nk += words[k] != 0
                m = 0
                for t in range(nk):
                    base = 8 * nonzero[t]
                    for q in range(8):
                        where[m] = base + q
                        m += flags[base + q]
                cbase = p * xx
                fbase = mid_f[p] * h + i
                for t in range(m):
                    x = where[t]
                    c = cursor[cbase + x]
                    s = min(c, spare)
                    starts[s] = fbase + x * step
                    values[s] = row[x]
                    cursor[cbase + x] = c + 1


@numba.njit(cache=True, nogil=True)
def flat_count_changes(flat, lo, hi):  # pragma: no cover - compiled
    """``sum(flat[i] != flat[i - 1] for i in range(max(lo, 1), hi))`` (vectorised)."""
    lo = max(lo, 1)
    if hi <= lo:
        return 0
    cur = flat[lo:hi]  # two views, so the loop has no index arithmetic and vectorises
    prev = flat[lo - 1:hi - 1]
    k = 0
    for j in range(hi - lo):
        k += cur[j] != prev[j]
    return k


@numba.njit(cache=True, nogil=True)
def flat_record_changes(flat, lo, hi, out, pos, flags, words):  # pragma: no cover
    """Write the positions ``i`` in ``max(lo, 1) .. hi-1`` where ``flat[i] != flat[i - 1]``
    to ``out[pos:]``, in order; return the new ``pos``.

    In plain Python::

        for i in range(max(lo, 1), hi):
            if flat[i] != flat[i - 1]:
                out[pos] = i; pos += 1
        return pos

    Works in blocks of ``flags.size`` (a multiple of 8) elements: byte flags
    (vectorised), the non-zero 8-byte words of flags (``words``: the uint64 view of
    ``flags``), then the changes in them without a branch per element. Positions past
    the end of ``out`` go to its last slot (a spare one), so a ``flat`` changed since
    it was counted is never written out of bounds: the caller compares the returned
    ``pos`` with its count.
    """
    block = flags.shape[0]
    last = out.shape[0] - 1
    nonzero = np.empty(block // 8, np.int64)
    for b0 in range(max(lo, 1), hi, block):
        b1 = min(hi, b0 + block)
        nb = b1 - b0
        cur = flat[b0:b1]
        prev = flat[b0 - 1:b1 - 1]
        for j in range(nb):
            flags[j] = cur[j] != prev[j]
        for j in range(nb, block):
            flags[j] = 0
        nk = 0
        for k in range((nb + 7) // 8):
            nonzero[nk] = k
            nk += words[k] != 0
        for t in range(nk):
            base = 8 * nonzero[t]
            for q in range(8):
                out[min(pos, last)] = b0 + base + q
                pos += flags[base + q]
    return pos


@numba.njit(cache=True, nogil=True)
def starts_to_counts(starts, n):  # pragma: no cover - compiled
    """Run lengths from run starts, in place: ``starts[k] = starts[k + 1] - starts[k]``
    (the last one ``n - starts[-1]``), i.e. ``np.diff(starts, append=n)``."""
    m = starts.shape[0]
    for k in range(m - 1):
        starts[k] = starts[k + 1] - starts[k]
    if m:
        starts[m - 1] = n - starts[m - 1]


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
