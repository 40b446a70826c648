"""Numba kernels of the object measurements (:mod:`labelprep.measure`).

The voxels of object ``i`` are ``voxel_indices[offsets[i]:offsets[i + 1]]`` (raveled C-order
indices, ascending: the CSR layout of :class:`labelprep.LabelIndex`). The intensity kernel
visits each of them once, gathering ``values[f, c]`` from the image seen as a C-order
``(voxels, channels)`` array, and leaves raw per-object sums that NumPy turns into the
statistics (O(objects)); objects run in parallel (``prange``), each on one thread.

- The variance uses the *shifted* sums ``sum(v - K)`` and ``sum((v - K) ** 2)`` with ``K``
  the object's first value, so one pass stays accurate when the mean is large against the
  spread (the plain ``sum(v ** 2) - n * mean ** 2`` cancels catastrophically there).
- Minimum and maximum compare in the image's own dtype and are NaN-sticky like ``np.min``.
- The intensity-weighted coordinate sums need the coordinates of each voxel. Voxels of an
  object ascend in raster order, so consecutive ones mostly share a row (all axes but the
  last): the row is found by one division when a voxel leaves the current row, its other
  coordinates only when the row's weight is flushed, and within a row only the column
  ``f - row_start`` changes.
- The gather is latency-bound (an object's rows lie a row or a slice of the image apart,
  so most rows are a cache miss the hardware prefetcher cannot foresee), but the addresses
  are known in advance: each voxel asks for the image line of the voxel
  ``PREFETCH_AHEAD`` places further on (in this object or the next). On the 250 x 700 x
  700 blob stack this made the pass ~2x faster on one thread.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._index_rows import _prefetch

#: How many voxels ahead (in ``voxel_indices``) the image is prefetched. 64 and 128 were
#: equally good on the blob stack, 16 and 32 slower (one thread, float32 image).
PREFETCH_AHEAD = 64


@numba.njit(cache=True, nogil=True)
def _flush_row(row, weight, ws, i, c, shape):
    """Add ``weight`` (the row's intensity sum) times each of the row's coordinates but
    the last to ``ws[i, :-1, c]``."""
    r = row
    for k in range(shape.shape[0] - 2, -1, -1):
        q = r // shape[k]
        ws[i, k, c] += weight * np.float64(r - q * shape[k])
        r = q


@numba.njit(cache=True, nogil=True, parallel=True)
def intensity_stats(values, voxel_indices, offsets, shape, weighted, shift, s1, s2, mins,
                    maxs, nans, ws):
    """Raw per-object, per-channel sums of ``values`` over the objects' voxels.

    Parameters
    ----------
    values : (size, C) array, C-contiguous
        The image, raveled like the labelled stack, one column per channel.
    voxel_indices, offsets : CSR layout of the index (``n`` objects).
    shape : (ndim,) int64
        Shape of the labelled stack (for the coordinates of ``ws``).
    weighted : bool
        Fill ``ws`` (else it is left untouched and may be a dummy array).

    Outputs (filled for every object ``i`` and channel ``c``)
    ---------------------------------------------------------
    shift : (n, C) float64 -- ``K``, the value of the object's first voxel
    s1, s2 : (n, C) float64 -- ``sum(v - K)``, ``sum((v - K) ** 2)``
    mins, maxs : (n, C) of the image dtype -- minimum and maximum
    nans : (n, C) bool -- a NaN was seen (then min and max are NaN, as with ``np.min``)
    ws : (n, ndim, C) float64, zeroed by the caller -- ``sum(v * coord_k)``
    """
    n = offsets.shape[0] - 1
    nchan = values.shape[1]
    ncols = shape[shape.shape[0] - 1]
    last = shape.shape[0] - 1
    end = voxel_indices.shape[0] - 1
    for i in prange(n):
        s = offsets[i]
        e = offsets[i + 1]
        for c in range(nchan):
            first = values[voxel_indices[s], c]
            k0 = np.float64(first)
            mn = first
            mx = first
            a1 = 0.0
            a2 = 0.0
            nan = False
            if weighted:
                row = -1
                row_start = 0
                row_end = 0
                rw = 0.0  # intensity sum of the current row
                wx = 0.0  # sum(v * column) over the object
                for j in range(s, e):
                    _prefetch(values, np.int64(voxel_indices[min(j + PREFETCH_AHEAD, end)]), c)
                    f = np.int64(voxel_indices[j])
                    v = values[f, c]
                    d = np.float64(v) - k0
                    a1 += d
                    a2 += d * d
                    if v < mn:
                        mn = v
                    if v > mx:
                        mx = v
                    if v != v:
                        nan = True
                    if f >= row_end:
                        if row >= 0:
                            _flush_row(row, rw, ws, i, c, shape)
                        row = f // ncols
                        row_start = row * ncols
                        row_end = row_start + ncols
                        rw = 0.0
                    fv = np.float64(v)
                    rw += fv
                    wx += fv * np.float64(f - row_start)
                _flush_row(row, rw, ws, i, c, shape)
                ws[i, last, c] += wx
            else:
                for j in range(s, e):
                    _prefetch(values, np.int64(voxel_indices[min(j + PREFETCH_AHEAD, end)]), c)
                    v = values[voxel_indices[j], c]
                    d = np.float64(v) - k0
                    a1 += d
                    a2 += d * d
                    if v < mn:
                        mn = v
                    if v > mx:
                        mx = v
                    if v != v:
                        nan = True
            shift[i, c] = k0
            s1[i, c] = a1
            s2[i, c] = a2
            mins[i, c] = mn
            maxs[i, c] = mx
            nans[i, c] = nan


@numba.njit(cache=True, nogil=True, parallel=True)
def medians(values, voxel_indices, offsets, out):
    """``out[i, c]`` = median of channel ``c`` of ``values`` over the voxels of object ``i``
    (as ``np.median``: the mean of the two middle values for an even count; NaN if any)."""
    n = offsets.shape[0] - 1
    nchan = values.shape[1]
    end = voxel_indices.shape[0] - 1
    for i in prange(n):
        s = offsets[i]
        e = offsets[i + 1]
        buf = np.empty(e - s, dtype=np.float64)
        for c in range(nchan):
            nan = False
            for j in range(s, e):
                _prefetch(values, np.int64(voxel_indices[min(j + PREFETCH_AHEAD, end)]), c)
                v = np.float64(values[voxel_indices[j], c])
                nan |= v != v
                buf[j - s] = v
            out[i, c] = np.nan if nan else np.median(buf)


# ------------------------------------------------------- fused with the index build
#: Columns of the per-object, per-channel sums the index build gathers when it is given
#: an image (``LabelIndex.build(..., image=)``): ``ist[i, c, :]`` is ``[n, K, s1, s2,
#: min, max, nan, w_0 .. w_{ndim-1}]`` -- voxels seen, the shift ``K`` (first value seen),
#: ``sum(v - K)``, ``sum((v - K) ** 2)``, minimum, maximum, a NaN was seen (0/1) and
#: ``sum(v * coord_k)``; all float64 (min and max convert monotonically, so they equal
#: the image dtype's min and max converted). ``scatter_rows`` (the build's pass 2, in
#: ``_kernels/_index_scatter.py``) adds each run of an object's voxels to them, its code written
#: inline there: a call per run, inlined by Numba or not, cost more than the work itself
#: (measured: the arrays passed were reference-counted at every call).
FUSED_N, FUSED_K, FUSED_S1, FUSED_S2, FUSED_MIN, FUSED_MAX, FUSED_NAN, FUSED_W = range(8)
#: Runs up to this long are summed by ``scatter_rows`` as a fixed block of values, those
#: past the run masked out (no loop exit to mispredict at each run's own length; most
#: runs of a segmentation are a few voxels long).
RUN_BLOCK = 8


@numba.njit(cache=True, nogil=True)
def merge_intensity(out, rows, src):
    """Fold one build part's sums ``src`` (id ``i`` is merged row ``rows[i]``) into
    ``out`` (zeroed by the caller), parts in raster order: the first part to see an object
    sets its shift ``K`` (so ``K`` is the object's first voxel, as in
    :func:`intensity_stats`); a later part's shifted sums are moved onto it,
    ``sum(v - K) = s1 + n d`` and ``sum((v - K) ** 2) = s2 + 2 d s1 + n d ** 2`` with
    ``d = K_part - K``."""
    for i in range(src.shape[0]):
        r = rows[i]
        for ch in range(src.shape[1]):
            n = src[i, ch, FUSED_N]
            if n == 0.0:
                continue
            if out[r, ch, FUSED_N] == 0.0:
                out[r, ch, :] = src[i, ch, :]
                continue
            d = src[i, ch, FUSED_K] - out[r, ch, FUSED_K]
            s1 = src[i, ch, FUSED_S1]
            out[r, ch, FUSED_N] += n
            out[r, ch, FUSED_S1] += s1 + n * d
            out[r, ch, FUSED_S2] += src[i, ch, FUSED_S2] + 2.0 * d * s1 + n * d * d
            v = src[i, ch, FUSED_MIN]
            if v < out[r, ch, FUSED_MIN]:
                out[r, ch, FUSED_MIN] = v
            v = src[i, ch, FUSED_MAX]
            if v > out[r, ch, FUSED_MAX]:
                out[r, ch, FUSED_MAX] = v
            out[r, ch, FUSED_NAN] = max(out[r, ch, FUSED_NAN], src[i, ch, FUSED_NAN])
            for k in range(FUSED_W, src.shape[2]):
                out[r, ch, k] += src[i, ch, k]
