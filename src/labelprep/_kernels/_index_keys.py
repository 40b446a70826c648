"""Label keys and their dense ids, for the index build's two passes (:mod:`.index`).

A label value becomes a table *key* (its unsigned bits, or its int64 value for floats)
and the key a dense *id* (order of first appearance) through a direct look-up table when
it is small or an open-addressing hash table with linear probing otherwise (see
:func:`_insert`). The helpers are ``numba.extending.overload`` s specialised at compile
time on their argument types; :func:`rehash` rebuilds a hash table between the passes.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier (2**64 / phi)

#: count_rows / scatter_rows return codes
DONE, GROW, NOT_INTEGRAL, HASH, CHANGED = 0, 1, 2, 3, 4


# The helpers below are specialised at compile time on their argument *types* (via
# ``numba.extending.overload``): float or integer labels, a background value or None.
# A run-time flag tested in the hot
# loop instead made the build several times slower. Each plain-Python body says what
# the compiled version computes.
def _key_of(v):
    """The table key of a label value: its unsigned bits, or its int64 value for floats."""
    if isinstance(v, (float, np.floating)):
        return np.uint64(np.int64(v))
    return np.uint64(v)


@overload(_key_of, jit_options={"nogil": True})
def _key_of_impl(v):
    if isinstance(v, types.Float):
        return lambda v: np.uint64(np.int64(v))
    return lambda v: np.uint64(v)


def _not_integral(v):
    """True if ``v`` is a float that is not a whole number within the int64 range."""
    if isinstance(v, (float, np.floating)):
        return v != np.floor(v) or not (-9.2e18 < v < 9.2e18)
    return False


@overload(_not_integral, jit_options={"nogil": True})
def _not_integral_impl(v):
    if isinstance(v, types.Float):
        return lambda v: v != np.floor(v) or not (-9.2e18 < v < 9.2e18)
    return lambda v: False


def _is_bg(v, bg):
    """``v == bg``, always False when there is no background (``bg is None``)."""
    return bg is not None and v == bg


@overload(_is_bg, jit_options={"nogil": True})
def _is_bg_impl(v, bg):
    if isinstance(bg, (types.NoneType, types.Omitted)):
        return lambda v, bg: False
    return lambda v, bg: v == bg


def _insert(key, lut, table, shift, keys, state):
    """The id of ``key``, giving it the next id ``state[0]`` if it is new.

    Keys below ``len(lut)`` use the direct look-up table: ``lut[key]`` is the id or -1
    (every key of an 8/16-bit stack; small labels, the common case, of wider ones).
    Larger keys use ``table``, an open-addressing hash table of ``(key, id + 1)`` rows
    with linear probing from slot ``(key * golden) >> shift`` (``id + 1 == 0``: empty)
    holding ``state[3]`` keys. Returns -1 (and changes nothing) when a new id would
    exceed ``len(keys)`` or fill the hash table beyond half; -2 for a large key when
    ``table`` is None (the caller then retries with a hash table).
    """
    if key < len(lut):
        if lut[key] < 0:
            if state[0] == len(keys):
                return -1
            lut[key] = state[0]
            keys[state[0]] = key
            state[0] += 1
        return int(lut[key])
    if table is None:
        return -2
    for k, id1 in table:  # (in probing order in the real thing)
        if id1 != 0 and k == key:
            return int(id1) - 1
    if state[0] == len(keys) or 2 * (state[3] + 1) > len(table):
        return -1
    slot = next(j for j in range(len(table)) if table[j, 1] == 0)
    table[slot] = (key, state[0] + 1)
    keys[state[0]] = key
    state[0] += 1
    state[3] += 1
    return int(state[0] - 1)


@numba.njit(inline="always", nogil=True)
def _lut_insert(key, lut, keys, state):
    """The id of a ``key < len(lut)`` from the direct table, giving it the next id if it
    is new; -1 (nothing changed) when ``keys`` is full."""
    i = np.int64(lut[key])
    if i >= 0:
        return i
    n = state[0]
    if n == keys.shape[0]:
        return np.int64(-1)
    lut[key] = n
    keys[n] = key
    state[0] = n + 1
    return n


@overload(_insert, jit_options={"nogil": True})
def _insert_impl(key, lut, table, shift, keys, state):
    # Two versions: with ``table=None`` the hot loop holds only the direct look-up (the
    # hash probing loop alone, even never run, made the whole scan ~30% slower).
    def lut_insert(key, lut, table, shift, keys, state):
        if key >= np.uint64(lut.shape[0]):
            return np.int64(-2)
        return _lut_insert(key, lut, keys, state)

    if isinstance(table, (types.NoneType, types.Omitted)):
        return lut_insert

    def hybrid_insert(key, lut, table, shift, keys, state):
        if key < np.uint64(lut.shape[0]):
            return _lut_insert(key, lut, keys, state)
        mask = table.shape[0] - 1
        h = np.int64((key * _GOLDEN) >> shift)
        while True:
            t = table[h, 1]
            if t == 0:
                n = state[0]
                if n == keys.shape[0] or 2 * (state[3] + 1) > table.shape[0]:
                    return np.int64(-1)
                table[h, 0] = key
                table[h, 1] = n + 1
                keys[n] = key
                state[0] = n + 1
                state[3] += 1
                return n
            if table[h, 0] == key:
                return np.int64(t) - 1
            h = (h + 1) & mask
    return hybrid_insert


def _lookup(key, lut, table, shift):
    """The id of ``key`` in the tables (see :func:`_insert`), or -1 if it is not there
    (the stack changed since pass 1); ``table`` is None when every key seen was below
    ``len(lut)``."""
    if key < len(lut):
        return int(lut[key])
    if table is None:
        return -1
    return next((int(id1) - 1 for k, id1 in table if id1 != 0 and k == key), -1)


@overload(_lookup, jit_options={"nogil": True})
def _lookup_impl(key, lut, table, shift):
    def lut_lookup(key, lut, table, shift):
        if key >= np.uint64(lut.shape[0]):
            return np.int64(-1)
        return np.int64(lut[key])

    if isinstance(table, (types.NoneType, types.Omitted)):
        return lut_lookup

    def hybrid_lookup(key, lut, table, shift):
        if key < np.uint64(lut.shape[0]):
            return np.int64(lut[key])
        mask = table.shape[0] - 1
        h = np.int64((key * _GOLDEN) >> shift)
        while True:
            t = table[h, 1]
            if t == 0:
                return np.int64(-1)
            if table[h, 0] == key:
                return np.int64(t) - 1
            h = (h + 1) & mask
    return hybrid_lookup


def _cache_ids(table):
    """Whether the scans reuse the previous run's id when its key repeats: worth it when
    ids come from the hash table; with only the direct table a look-up is one read, and
    the extra comparison would mispredict whenever labels alternate."""
    return table is not None


@overload(_cache_ids, jit_options={"nogil": True})
def _cache_ids_impl(table):
    if isinstance(table, (types.NoneType, types.Omitted)):
        return lambda table: False
    return lambda table: True


@numba.njit(cache=True, nogil=True)
def rehash(keys, n, lut_size, table, shift):
    """Insert each ``keys[i] >= lut_size`` (id ``i < n``) into an empty (all-zero) hash table."""
    mask = table.shape[0] - 1
    for i in range(n):
        key = keys[i]
        if key < np.uint64(lut_size):
            continue
        h = np.int64((key * _GOLDEN) >> shift)
        while table[h, 1] != 0:
            h = (h + 1) & mask
        table[h, 0] = key
        table[h, 1] = i + 1
