"""numba kernels for :mod:`labelprep.patches`."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def counting_sort(ids, nbins, order):
    """Group the positions of ``ids`` by value, in one O(N + nbins) pass pair.

    In plain Python terms::

        order[:] = np.argsort(ids, kind="stable")
        counts = np.bincount(ids, minlength=nbins)
        starts = np.concatenate([[0], np.cumsum(counts)])

    so ``order[starts[v]:starts[v + 1]]`` are the (ascending) positions where
    ``ids == v``. ``ids`` must hold integers in ``[0, nbins)``; ``order`` is a
    preallocated integer array of the same length (uint32 halves the memory of int64).
    Returns ``starts`` (int64, length ``nbins + 1``). Releases the GIL, so the
    sampler's loader threads run it in parallel with the caller.
    """
    starts = np.zeros(nbins + 1, np.int64)
    for i in range(ids.size):
        starts[ids[i] + 1] += 1
    for v in range(nbins):
        starts[v + 1] += starts[v]
    pos = starts[:-1].copy()
    for i in range(ids.size):
        v = ids[i]
        order[pos[v]] = i
        pos[v] += 1
    return starts
