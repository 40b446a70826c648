"""Resizing a label mask without interpolation: the centre pixel ("nearest") or a majority
vote over each output cell's block ("mode", in the numba kernels of ``_kernels.presize``)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._shape import Size, output_shape

MASK_METHODS = ("nearest", "mode")


def _centre_index(n_in: int, n_out: int) -> np.ndarray:
    """Input index of the pixel under the centre of each output cell (exact integers).

    Output cell i covers [i, i+1) * n_in / n_out; its centre (i + 0.5) * n_in / n_out lies
    in input pixel floor((2i + 1) * n_in / (2 n_out)).
    """
    i = np.arange(n_out, dtype=np.int64)
    return np.minimum(((2 * i + 1) * n_in) // (2 * n_out), n_in - 1)


def _block_bounds(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-open input ranges [start, stop) whose pixel centres fall in each output cell.

    Cell i covers [i, i+1) * n_in / n_out; pixel r (centre r + 0.5) belongs to it when
    i * n_in / n_out <= r + 0.5 < (i + 1) * n_in / n_out. The blocks partition the input,
    with sizes floor or ceil of the ratio when it is not an integer. When enlarging
    (n_out > n_in) each cell is just its centre pixel.
    """
    if n_out >= n_in:
        c = _centre_index(n_in, n_out)
        return c, c + 1
    edges = np.arange(n_out + 1, dtype=np.int64)
    # ceil((2 e n_in - n_out) / (2 n_out)) with integers
    starts = -((n_out - 2 * edges * n_in) // (2 * n_out))
    starts = np.clip(starts, 0, n_in)
    starts[-1] = n_in
    return starts[:-1], starts[1:]


def mask(
    mask: np.ndarray,
    size: Size,
    method: Literal["nearest", "mode"] = "nearest",
    upscale: bool = False,
) -> np.ndarray:
    """Downscale a label mask to the same shape as :func:`image` would, without interpolation.

    Every output value is a value of the input (labels are never blended), in the same
    dtype, exactly (uint32 / int64 ids included).

    Parameters
    ----------
    mask : (H, W) or (H, W, C) array
        Integer or boolean labels. (H, W, C), e.g. a colour-coded mask, is treated as one
        label per pixel (the C-tuple).
    size : int or (int, int)
        As for :func:`image`; the output shape is :func:`output_shape` ``(mask.shape, size)``.
    method : {"nearest", "mode"}
        ``"nearest"`` takes the input pixel under the centre of each output cell (not its
        top-left corner, so the mask stays centred on the image). ``"mode"`` takes the
        most frequent label of the block of input pixels whose centres fall inside the
        output cell; for a non-integer ratio the blocks are ``floor`` or ``ceil(ratio)``
        pixels wide and still partition the input. Ties go to the centre pixel's label if
        it is among the most frequent, else to the smallest. ``"mode"`` keeps thin
        majority structures better; ``"nearest"`` is faster.
    upscale : bool
        Allow enlarging masks smaller than the target (then both methods repeat pixels).

    Examples
    --------
    >>> m = np.zeros((480, 640), np.uint32); m[100:300, 200:400] = 70000
    >>> small = mask(m, 160)
    >>> small.shape, small.dtype, sorted(np.unique(small).tolist())
    ((160, 213), dtype('uint32'), [0, 70000])
    """
    mask = np.asarray(mask)
    if method not in MASK_METHODS:
        raise ValueError(f"method must be one of {MASK_METHODS}, got {method!r}")
    if mask.ndim not in (2, 3):
        raise ValueError(f"mask must be (H, W) or (H, W, C), got shape {mask.shape}")
    if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.integer)):
        raise TypeError(f"mask must hold integer or boolean labels, got dtype {mask.dtype}")
    oh, ow = output_shape(mask.shape, size, upscale)
    h, w = mask.shape[:2]
    if (oh, ow) == (h, w):
        return mask.copy()
    rows, cols = _centre_index(h, oh), _centre_index(w, ow)
    if method == "nearest":
        return mask[rows[:, None], cols[None, :]]
    if mask.ndim == 3:
        # one label per C-tuple: mode over tuple ids, then back to tuples
        tuples, ids = np.unique(mask.reshape(-1, mask.shape[2]), axis=0, return_inverse=True)
        small_ids = _mode(ids.reshape(h, w).astype(np.int64), oh, ow, rows, cols)
        return tuples[small_ids]
    if mask.dtype == bool:
        return _mode(mask.view(np.uint8), oh, ow, rows, cols).view(bool)
    return _mode(mask, oh, ow, rows, cols)


def lost_labels(mask: np.ndarray, small: np.ndarray) -> np.ndarray:
    """Labels present in ``mask`` but absent from its presized version ``small``.

    Small objects can vanish when a mask is shrunk; this tells which ones (sorted ids;
    for (H, W, C) masks, the missing C-tuples). Background is counted like any label.

    Examples
    --------
    >>> m = np.zeros((100, 100), np.uint8); m[10, 10] = 5; m[40:60, 40:60] = 7
    >>> lost_labels(m, mask(m, 10)).tolist()
    [5]
    """
    mask, small = np.asarray(mask), np.asarray(small)
    if mask.ndim == 3:
        before = np.unique(mask.reshape(-1, mask.shape[2]), axis=0)
        after = np.unique(small.reshape(-1, small.shape[2]), axis=0)
        keep = ~(before[:, None, :] == after[None, :, :]).all(-1).any(1)
        return before[keep]
    return np.setdiff1d(np.unique(mask), np.unique(small))


def _mode(mask: np.ndarray, oh: int, ow: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    from .._kernels.presize import block_mode, block_mode_dense

    h, w = mask.shape
    r0, r1 = _block_bounds(h, oh)
    c0, c1 = _block_bounds(w, ow)
    if mask.dtype.byteorder not in ("=", "|"):
        mask = mask.astype(mask.dtype.newbyteorder("="))
    mask = np.ascontiguousarray(mask)
    if mask.dtype.itemsize <= 2 and not np.issubdtype(mask.dtype, np.signedinteger):
        n_values = 1 << (8 * mask.dtype.itemsize)  # uint8 / uint16: a histogram fits
    elif mask.size and mask.min() >= 0 and mask.max() < 1 << 16:
        n_values = int(mask.max()) + 1  # small non-negative ids in a wide dtype
    else:
        return block_mode(mask, r0, r1, c0, c1, rows, cols)  # huge or negative ids: sort
    return block_mode_dense(mask, r0, r1, c0, c1, rows, cols, n_values)
