"""Flat (raveled C-order) index -> coordinates, shared by the kernels that walk voxel lists.

- ``unravel_into(f, shape, c)``: ``c[:] = np.unravel_index(f, shape)`` (divide by the axis
  lengths, last axis first).
- ``advance(f, prev, shape, nx, c)``: the same, given that ``c`` holds the coordinates of
  ``prev``; when ``f`` is ``prev``'s successor along the last axis (most voxels of an
  object: its indices are ascending and come in runs along x) it only increments
  ``c[-1]``. Returns whether it did. Start a walk with ``prev = -2``; ``nx`` is
  ``shape[-1]``, read once before the loop.

Both are ``inline="always"``: numba pastes them into the calling kernel, so they cost
nothing over the loop written out (where the kernel's ``c`` is a buffer, the machine
code is the same). numba's on-disk cache does not notice a change to this file in the
kernels that inline it: after editing it, delete their ``__pycache__/*.nbi``/``*.nbc``.
"""

from __future__ import annotations

import numba


@numba.njit(inline="always", nogil=True, cache=True)
def unravel_into(f, shape, c):
    """``c[:] = np.unravel_index(f, shape)`` for the flat index ``f`` (an int64)."""
    r = f
    for ax in range(shape.shape[0] - 1, -1, -1):
        d = shape[ax]
        q = r // d
        c[ax] = r - q * d
        r = q


@numba.njit(inline="always", nogil=True, cache=True)
def advance(f, prev, shape, nx, c):
    """Move ``c`` from the coordinates of flat index ``prev`` to those of ``f``; True if
    ``f`` is the next voxel along the last axis (only ``c[-1]`` changed). ``nx`` is
    ``shape[-1]`` (read once by the caller, outside its loop)."""
    x = shape.shape[0] - 1
    if f == prev + 1 and c[x] + 1 < nx:
        c[x] += 1
        return True
    unravel_into(f, shape, c)
    return False

