"""Kernels that check an index read from a file against its own voxel lists."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def segment_boxes(values, offsets, shape, bboxes, sums):  # pragma: no cover - compiled
    """Bounding boxes ``[start, stop)`` and coordinate sums of each CSR segment of
    raveled C-order indices (``bboxes`` (n, ndim, 2) int64, ``sums`` (n, ndim) float64)."""
    ndim = shape.shape[0]
    coord = np.empty(ndim, np.int64)
    for i in range(offsets.shape[0] - 1):
        for k in range(ndim):
            bboxes[i, k, 0] = np.iinfo(np.int64).max
            bboxes[i, k, 1] = -1
            sums[i, k] = 0.0
        for j in range(offsets[i], offsets[i + 1]):
            flat = np.int64(values[j])
            for k in range(ndim - 1, -1, -1):
                coord[k] = flat % shape[k]
                flat //= shape[k]
            for k in range(ndim):
                c = coord[k]
                if c < bboxes[i, k, 0]:
                    bboxes[i, k, 0] = c
                if c + 1 > bboxes[i, k, 1]:
                    bboxes[i, k, 1] = c + 1
                sums[i, k] += c
