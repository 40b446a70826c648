"""Numba kernels for dataset export (see :mod:`labelprep.export`).

- :func:`coco_strings`: every object of a 2D label image (given by its voxel index) as
  COCO's compressed RLE string, in one call: each object's pixels are bucketed by
  column (a counting sort over its bounding box's columns, keeping rows ascending),
  which gives its pixels in column-major order; runs are consecutive positions.
- :func:`fill_mask`: an object's binary mask over a crop box, from its voxel list.
- :func:`paint_runs`: write the set runs of a COCO RLE into a column-major label image.
"""

from __future__ import annotations

import numba
import numpy as np

from .rle import write_coco_number


@numba.njit(cache=True, nogil=True)
def coco_strings(voxel_indices, offsets, bboxes, height, width):  # pragma: no cover
    """COCO compressed RLE strings of all objects of a ``height`` x ``width`` image.

    ``voxel_indices[offsets[i]:offsets[i + 1]]`` are the raveled C-order pixels of
    object i (ascending), ``bboxes[i]`` its ``[[r0, r1], [c0, c1]]``. Returns
    ``(chars, starts)``: the ASCII bytes of all strings one after another, object i's
    being ``chars[starts[i]:starts[i + 1]]``, each identical to
    ``pycocotools.mask.encode(np.asfortranarray(labels == label_i))["counts"]``.

    COCO's counts alternate zeros and ones in column-major order, starting with the
    zeros (0 when the first pixel is set) and ending with the last run (trailing zeros
    included); counts after the second are stored as the difference to the count two
    places before, 5 bits per character (see ``_kernels.rle.coco_string_encode``).
    """
    n_obj = offsets.shape[0] - 1
    h = np.int64(height)
    w = np.int64(width)
    size = h * w
    biggest = 0
    for i in range(n_obj):
        biggest = max(biggest, offsets[i + 1] - offsets[i])
    pos = np.empty(biggest, np.int64)
    rows = np.empty(biggest, np.int64)
    cols = np.empty(biggest, np.int64)
    counts = np.empty(2 * biggest + 2, np.int64)
    col_start = np.zeros(w + 1, np.int64)
    chars = np.empty(max(64, 16 * n_obj + 2 * offsets[n_obj]), np.uint8)
    starts = np.empty(n_obj + 1, np.int64)
    p = 0
    for i in range(n_obj):
        o0 = offsets[i]
        n = offsets[i + 1] - o0
        c0 = bboxes[i, 1, 0]
        nc = bboxes[i, 1, 1] - c0
        # counting sort of the pixels by column (stable: rows stay ascending); the
        # pixels come in raster order, so rows are found by stepping, not dividing
        for k in range(nc + 1):
            col_start[k] = 0
        r = bboxes[i, 0, 0]
        row_end = (r + 1) * w
        for j in range(n):
            f = np.int64(voxel_indices[o0 + j])
            while f >= row_end:
                r += 1
                row_end += w
            c = f - (row_end - w)
            rows[j] = r
            cols[j] = c - c0
            col_start[c - c0 + 1] += 1
        for k in range(nc):
            col_start[k + 1] += col_start[k]
        for j in range(n):
            k = cols[j]
            pos[col_start[k]] = (k + c0) * h + rows[j]
            col_start[k] += 1
        # runs of consecutive column-major positions -> alternating counts
        m = 0
        end = np.int64(0)  # end of the last run written
        j = 0
        while j < n:
            s = pos[j]
            e = s + 1
            j += 1
            while j < n and pos[j] == e:
                e += 1
                j += 1
            counts[m] = s - end
            counts[m + 1] = e - s
            m += 2
            end = e
        if end < size:
            counts[m] = size - end
            m += 1
        # string form, growing the buffer if needed (at most 13 characters a count)
        if p + 13 * m > chars.shape[0]:
            bigger = np.empty(max(2 * chars.shape[0], p + 13 * m), np.uint8)
            bigger[:p] = chars[:p]
            chars = bigger
        starts[i] = p
        for k in range(m):
            x = counts[k]
            if k > 2:
                x -= counts[k - 2]
            p = write_coco_number(x, chars, p)
    starts[n_obj] = p
    return chars[:p], starts


@numba.njit(cache=True, nogil=True)
def fill_mask(flat, shape, start, out):  # pragma: no cover - compiled
    """Set ``out`` (C-ordered crop, any ndim, raveled) to 1 where the voxels lie.

    ``flat`` are raveled C-order indices into an array of ``shape``; the crop covers
    ``start[d] .. start[d] + out_shape[d]`` on each axis, where ``out_shape`` is
    ``out``'s shape (``out`` is passed as an nD array). Voxels outside the crop box are
    skipped. Returns the number of voxels written.
    """
    ndim = shape.shape[0]
    oshape = np.empty(ndim, np.int64)
    for d in range(ndim):
        oshape[d] = out.shape[d]
    o = out.reshape(-1)
    written = 0
    for j in range(flat.shape[0]):
        f = np.int64(flat[j])
        idx = np.int64(0)
        stride = np.int64(1)
        inside = True
        for d in range(ndim - 1, -1, -1):
            q = f // shape[d]
            c = f - q * shape[d] - start[d]
            f = q
            if c < 0 or c >= oshape[d]:
                inside = False
                break
            idx += c * stride
            stride *= oshape[d]
        if inside:
            o[idx] = 1
            written += 1
    return written


@numba.njit(cache=True, nogil=True)
def paint_runs(out, counts, value):  # pragma: no cover - compiled
    """Write ``value`` into the set runs (odd positions) of COCO ``counts`` in ``out``.

    ``out`` is the flat column-major view of the label image; ``counts`` must sum to
    ``out.size`` (checked by the caller).
    """
    pos = 0
    for k in range(counts.shape[0]):
        c = counts[k]
        if k & 1:
            for q in range(pos, pos + c):
                out[q] = value
        pos += c
