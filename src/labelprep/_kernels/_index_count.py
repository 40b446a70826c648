"""Pass 1 of the index build (:mod:`.index`): :func:`count_rows` gives each label an id
and counts its voxels, one table look-up per run of equal values."""

from __future__ import annotations

import numba
import numpy as np

from ._index_keys import (
    DONE,
    GROW,
    HASH,
    NOT_INTEGRAL,
    _cache_ids,
    _insert,
    _is_bg,
    _key_of,
    _not_integral,
)
from ._index_rows import (
    SEGMENT_WORDS,
    _change_bits,
    _mark_changes,
    _positions_scratch,
    _prefetch_ahead,
    _rows_ahead,
    _run_ends,
)


@numba.njit(cache=True, nogil=True)
def count_rows(a, r0, c0, r1, bg, lut, table, shift, keys, counts, state):
    """Pass 1: give each label an id and count its voxels.

    In plain Python, for every voxel ``v = a[r, c]`` from ``(r0, c0)`` up to row ``r1``
    (raster order) that is not the background::

        counts[id_of(v)] += 1             # a new label gets the next id, state[0]

    Voxels are taken in runs of equal values along a row: one look-up per run.

    The number of ids so far lives in ``state[0]`` (of hashed keys in ``state[3]``).
    Returns ``DONE``; or ``GROW`` when a new label does not fit in ``keys``/``counts``
    (capacity ``len(keys)``) or the hash table, or ``HASH`` when a key needs the hash
    table and ``table`` is None, with the voxel to resume from in ``state[1:3]``; or
    ``NOT_INTEGRAL`` for a float value that is not a whole number (its position in
    ``state[1:3]``).
    """
    ncols = a.shape[1]
    bits = _change_bits(ncols)
    nwords = bits.shape[0]
    pos = _positions_scratch(nwords)
    ahead = _rows_ahead(a)
    cache = _cache_ids(table)
    last_key = np.uint64(0)
    last_id = np.int64(-1)
    start = c0
    for r in range(r0, r1):
        row = a[r]
        _prefetch_ahead(a, r, ahead)
        _mark_changes(row, bits)
        w = start >> 6
        # resuming inside the row: no run end at or before start
        first_mask = ~np.uint64(1) << np.uint64(start & 63)
        while w < nwords:
            w1 = min(w + SEGMENT_WORDS, nwords)
            count = _run_ends(bits, w, w1, first_mask, pos)
            first_mask = ~np.uint64(0)
            w = w1
            for t in range(count):
                c = pos[t]
                v = row[start]  # the run start..c holds v
                if not _is_bg(v, bg):
                    if _not_integral(v):
                        state[1] = r
                        state[2] = start
                        return NOT_INTEGRAL
                    key = _key_of(v)
                    if cache and last_id >= 0 and key == last_key:
                        i = last_id
                    else:
                        i = _insert(key, lut, table, shift, keys, state)
                        if i < 0:
                            state[1] = r
                            state[2] = start
                            return GROW if i == -1 else HASH
                        last_key = key
                        last_id = i
                    counts[i] += c - start
                start = c
        start = 0
    return DONE
