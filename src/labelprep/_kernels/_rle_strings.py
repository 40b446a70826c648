"""Numba kernels of COCO's compressed strings: encoding integers into them, decoding
them, and decoding a compact RLE straight from its strings into the output array.
Re-exported by :mod:`labelprep._kernels.rle`.
"""

from __future__ import annotations

import numba
import numpy as np

# COCO's compressed strings use the 64 characters chr(48) .. chr(111).
COCO_FIRST_CHAR = 48
COCO_LAST_CHAR = 111
# error codes of coco_string_decode
OK, BAD_CHAR, TRUNCATED, OVERFLOW = 0, 1, 2, 3


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
