"""Numba kernels for object review (:mod:`labelprep.qa`) and splits (:mod:`labelprep.edit`):
connected components of one object, computed on its voxel list alone.

An object's voxels are its ascending raveled C-order indices ``v`` (one CSR row of a
:class:`~labelprep.index.LabelIndex`). Each voxel is joined (union-find, roots are the
earliest voxel) with its *backward* neighbours, the neighbours that come before it in
raster order. For a fixed neighbour offset the flat index of that neighbour grows with
the voxel's, so one pointer per offset walks ``v`` forward to find it: O(voxels x
neighbours) in all, no look-up in the stack, no crop, no scratch of the bbox's size.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np

from ._coords import advance


def backward_offsets(shape: tuple[int, ...], connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour offsets that come earlier in raster order: their ``(K,)`` flat (C-order)
    deltas for ``shape`` (steps of 1 to ``connectivity`` nonzero entries whose first
    nonzero entry is -1) and, per step, the edge bits that rule it out (bit ``2a``: the
    voxel is on the first plane of axis ``a`` and the step goes down it; ``2a + 1``: on
    the last plane and the step goes up)."""
    ndim = len(shape)
    cs = np.ones(ndim, dtype=np.int64)
    for a in range(ndim - 2, -1, -1):
        cs[a] = cs[a + 1] * shape[a + 1]
    steps = []
    for o in itertools.product((-1, 0, 1), repeat=ndim):
        nz = [x for x in o if x]
        if 1 <= len(nz) <= connectivity and nz[0] == -1:
            steps.append(o)
    nb = np.array(steps, dtype=np.int64).reshape(-1, ndim)
    bits = 1 << (2 * np.arange(ndim, dtype=np.int64))
    forbidden = ((nb == -1) * bits + (nb == 1) * (bits << 1)).sum(axis=1).astype(np.int64)
    return nb @ cs, forbidden


@numba.njit(cache=True, nogil=True, inline="always")
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@numba.njit(cache=True, nogil=True)
def _union_segment(v, shape, nbflat, forbidden, parent, ptr, c):
    """Union-find over the voxels ``v`` (ascending flat indices) of one object:
    ``parent[k]`` ends as a forest whose roots are each component's first voxel."""
    ndim = shape.shape[0]
    m = v.shape[0]
    kk = nbflat.shape[0]
    last = shape[ndim - 1]
    xstep = 1 << (2 * (ndim - 1))  # the edge bits of the step x - 1 alone
    for j in range(kk):
        ptr[j] = 0
    prev = np.int64(-2)
    for k in range(m):
        f = np.int64(v[k])
        run = advance(f, prev, shape, last, c)  # v[k - 1] is the x - 1 neighbour
        prev = f
        edges = 0
        for a in range(ndim):
            if c[a] == 0:
                edges |= 1 << (2 * a)
            if c[a] == shape[a] - 1:
                edges |= 2 << (2 * a)
        parent[k] = _find(parent, k - 1) if run else k
        for j in range(kk):
            if edges & forbidden[j] or forbidden[j] == xstep:  # (x - 1: done above)
                continue
            t = f + nbflat[j]
            p = ptr[j]
            while np.int64(v[p]) < t:  # stops at k at the latest (v[k] = f > t)
                p += 1
            ptr[j] = p
            if np.int64(v[p]) == t:
                ra = _find(parent, k)
                rb = _find(parent, p)
                if ra < rb:
                    parent[rb] = ra
                elif rb < ra:
                    parent[ra] = rb


@numba.njit(cache=True, nogil=True)
def component_ids(v, shape, nbflat, forbidden, comp):
    """Connected components of one object: ``comp[k]`` = component of voxel ``v[k]``,
    numbered 0, 1, ... in raster order of each component's first voxel; returns their
    number."""
    m = v.shape[0]
    parent = np.empty(m, dtype=np.int64)
    ptr = np.empty(nbflat.shape[0], dtype=np.int64)
    c = np.zeros(shape.shape[0], dtype=np.int64)
    _union_segment(v, shape, nbflat, forbidden, parent, ptr, c)
    n = 0
    for k in range(m):
        r = _find(parent, k)
        if r == k:
            comp[k] = n
            n += 1
        else:
            comp[k] = comp[r]
    return n


@numba.njit(cache=True, nogil=True)
def count_components(voxel_indices, offsets, i0, i1, shape, nbflat, forbidden, out):
    """``out[i]`` = number of connected components of CSR row ``i``, for ``i0 <= i < i1``."""
    longest = 0
    for i in range(i0, i1):
        longest = max(longest, offsets[i + 1] - offsets[i])
    parent = np.empty(longest, dtype=np.int64)
    ptr = np.empty(nbflat.shape[0], dtype=np.int64)
    c = np.zeros(shape.shape[0], dtype=np.int64)
    for i in range(i0, i1):
        s, e = offsets[i], offsets[i + 1]
        m = e - s
        _union_segment(voxel_indices[s:e], shape, nbflat, forbidden, parent, ptr, c)
        n = 0
        for k in range(m):
            if parent[k] == k:
                n += 1
        out[i] = n
