"""Numba kernel for presizing label masks: majority label per block."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def block_mode(mask, r0, r1, c0, c1, rc, cc):  # pragma: no cover - compiled
    """Most frequent value of each block of a 2D label mask.

    In plain Python::

        out[i, j] = the value v that occurs most often in mask[r0[i]:r1[i], c0[j]:c1[j]]

    On a tie, the value at the block's centre pixel ``mask[rc[i], cc[j]]`` wins if it is
    one of the most frequent values, else the smallest of them. The output only ever
    holds values that occur in ``mask`` (no interpolation, any integer dtype, exact).
    """
    oh = r0.shape[0]
    ow = c0.shape[0]
    out = np.empty((oh, ow), dtype=mask.dtype)
    maxh = 1
    for i in range(oh):
        maxh = max(maxh, r1[i] - r0[i])
    maxw = 1
    for j in range(ow):
        maxw = max(maxw, c1[j] - c0[j])
    buf = np.empty(maxh * maxw, dtype=mask.dtype)
    for i in range(oh):
        for j in range(ow):
            first = mask[r0[i], c0[j]]
            n = 0
            uniform = True
            for r in range(r0[i], r1[i]):
                for c in range(c0[j], c1[j]):
                    v = mask[r, c]
                    buf[n] = v
                    n += 1
                    if v != first:
                        uniform = False
            if uniform:
                out[i, j] = first
                continue
            centre = mask[rc[i], cc[j]]
            block = buf[:n]
            block.sort()
            best = block[0]
            best_n = 0
            centre_n = 0
            k = 0
            while k < n:
                v = block[k]
                m = k + 1
                while m < n and block[m] == v:
                    m += 1
                count = m - k
                if count > best_n:
                    best = v
                    best_n = count
                if v == centre:
                    centre_n = count
                k = m
            out[i, j] = centre if centre_n == best_n else best
    return out


@numba.njit(cache=True, nogil=True)
def block_mode_dense(mask, r0, r1, c0, c1, rc, cc, n_values):  # pragma: no cover - compiled
    """:func:`block_mode` for labels known to lie in ``range(n_values)`` (small ids).

    Same result, computed with a histogram of ``n_values`` counters instead of a sort:
    for each block, ``counts[v] += 1`` over its pixels, pick the most frequent value
    (ties: the centre pixel's value if it is among them, else the smallest), then reset
    only the counters that were touched. Uniform blocks (most of a mask) are detected
    first and cost one pass.
    """
    oh = r0.shape[0]
    ow = c0.shape[0]
    out = np.empty((oh, ow), dtype=mask.dtype)
    counts = np.zeros(n_values, dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            first = mask[r0[i], c0[j]]
            uniform = True
            for r in range(r0[i], r1[i]):
                for c in range(c0[j], c1[j]):
                    if mask[r, c] != first:
                        uniform = False
                        break
                if not uniform:
                    break
            if uniform:
                out[i, j] = first
                continue
            for r in range(r0[i], r1[i]):
                for c in range(c0[j], c1[j]):
                    counts[mask[r, c]] += 1
            best = first
            best_n = 0
            for r in range(r0[i], r1[i]):
                for c in range(c0[j], c1[j]):
                    v = mask[r, c]
                    n = counts[v]
                    if n > best_n or (n == best_n and v < best):
                        best = v
                        best_n = n
            centre = mask[rc[i], cc[j]]
            out[i, j] = centre if counts[centre] == best_n else best
            for r in range(r0[i], r1[i]):
                for c in range(c0[j], c1[j]):
                    counts[mask[r, c]] = 0
    return out
