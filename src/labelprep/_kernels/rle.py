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


@numba.njit(inline="always")
def _read_number(buf, p):  # pragma: no cover - compiled
    """The number of a COCO compressed string starting at ``buf[p]``:
    ``(value, next p, ok)``, not ok for a bad character, a truncated or a too long
    number (exactly the cases :func:`coco_string_decode` refuses). The same parse as
    the loop in :func:`coco_string_decode`, kept apart on purpose: calling this from
    there (with an error code or with a bool plus a classification of the failure)
    made that decode about 3x slower."""
    n = buf.shape[0]
    x = np.int64(0)
    k = 0
    while True:
        if p >= n:
            return x, p, False
        ch = np.int64(buf[p])
        if ch < COCO_FIRST_CHAR or ch > COCO_LAST_CHAR or k >= 13:
            return x, p, False
        c = ch - 48
        x |= (c & 0x1F) << (5 * k)
        p += 1
        k += 1
        if not (c & 0x20):
            if k == 13:
                # the 13th group holds bits 60..64: bit 63 and the sign bit 64 must
                # agree, or the number needs 65 bits (as coco_string_decode refuses it)
                top = c & 0x18
                if top == 0x08 or top == 0x10:
                    return x, p, False
            elif c & 0x10:
                x |= np.int64(-1) << (5 * k)
            return x, p, True


@numba.njit(cache=True, nogil=True)
def fill_runs_from_strings(out, counts_buf, values_buf, lo, hi):  # pragma: no cover
    """Decode a compact RLE straight from its two strings (ASCII bytes) into ``out``.

    In plain Python::

        counts = coco_string_decode(counts_buf, False)
        values = coco_string_decode(values_buf, False)
        out[:] = np.repeat(values, counts)

    reading one count and one value at a time, with no arrays in between. Returns True
    only if both strings are valid, hold the same number of numbers, the counts are
    non-negative and sum to ``out.size`` and every value is in ``lo .. hi``; False at
    the first problem (the caller then finds out what is wrong and says so).
    """
    n = out.shape[0]
    pos = 0
    pc = 0
    pv = 0
    while pc < counts_buf.shape[0]:
        c, pc, ok = _read_number(counts_buf, pc)
        if not ok or pv >= values_buf.shape[0]:
            return False
        v, pv, ok = _read_number(values_buf, pv)
        if not ok or c < 0 or c > n - pos or v < lo or v > hi:
            return False
        end = pos + c
        out[pos:end] = v
        pos = end
    return pos == n and pv == values_buf.shape[0]


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
        p = write_coco_number(x, out, p)
    return out[:p].copy()


@numba.njit(inline="always", nogil=True)
def write_coco_number(x, out, p):  # pragma: no cover - compiled
    """Write ``x`` (int64) in COCO's compressed-string form at ``out[p:]`` (at most 13
    characters); return the position after it. The loop of :func:`coco_string_encode`."""
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
    return p


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
            if not more:
                if k == 13:
                    # the 13th group holds bits 60..64: bit 63 and the sign bit 64 must
                    # agree, or the number needs 65 bits (it would wrap)
                    top = c & 0x18
                    if top == 0x08 or top == 0x10:
                        return out[:m].copy(), OVERFLOW, p - 1
                elif c & 0x10:
                    x |= np.int64(-1) << (5 * k)
        if delta and m > 2:
            x += out[m - 2]
        out[m] = x
        m += 1
    return out[:m].copy(), OK, p
