"""Cutting patches out of cached images: plain copies inside, zero or mirror padding outside."""

from __future__ import annotations

import numpy as np

from ._entry import _Entry


def _reflect_index(idx: np.ndarray, size: int) -> np.ndarray:
    """Map indices onto ``[0, size)`` like ``np.pad(mode="reflect")`` (edge not repeated)."""
    if size == 1:
        return np.zeros_like(idx)
    period = 2 * (size - 1)
    j = np.mod(idx, period)
    return np.where(j >= size, period - j, j)


def _copy_inside(src: np.ndarray, corners: np.ndarray, rows: np.ndarray, out: np.ndarray,
                 patch_size: tuple[int, ...]) -> None:
    """``out[rows[j]] = src[corners[j] : corners[j] + patch_size]`` for patches inside ``src``."""
    if (
        len(patch_size) == 2
        and src.ndim == 3
        and src.shape[2] == 3
        and src.dtype == np.uint8
        and out.dtype == np.uint8
        and src.strides[1] != 3
    ):  # RGB view of a decoded RGBX buffer: a compiled copy (NumPy's is ~20x slower)
        from .._kernels.patches import crop_rgb

        crop_rgb(src, corners, rows, out)
        return
    if len(patch_size) == 2:
        ph, pw = patch_size
        for k, (y, x) in zip(rows.tolist(), corners.tolist()):
            out[k] = src[y : y + ph, x : x + pw]
        return
    for k, corner in zip(rows.tolist(), corners.tolist()):
        out[k] = src[tuple(slice(c, c + q) for c, q in zip(corner, patch_size))]


def _crop_many(
    cache: list[_Entry], slots, corners, images, masks, start: int,
    patch_size: tuple[int, ...], pad_mode: str,
) -> None:
    """Cut patch ``j`` from cache slot ``slots[j]`` at ``corners[j]`` into row ``start + j``.

    Patches fully inside their image (all of them with ``border="valid"``) are copied
    per slot in one go; the others go through :func:`_crop` (padding).
    """
    p = np.asarray(patch_size, dtype=np.int64)
    spatial = np.array([e.spatial for e in cache], dtype=np.int64)[slots]
    inside = np.all((corners >= 0) & (corners + p <= spatial), axis=1)
    for s in np.unique(slots).tolist():
        entry = cache[s]
        sel = np.flatnonzero(slots == s)
        ins = sel[inside[sel]]
        if ins.size:
            _copy_inside(entry.image, corners[ins], ins + start, images, patch_size)
            if masks is not None:
                _copy_inside(entry.mask, corners[ins], ins + start, masks, patch_size)
        for j in sel[~inside[sel]].tolist():
            _crop(entry, corners[j], images, masks, start + j, patch_size, pad_mode)


def _crop(
    entry: _Entry, corner, images, masks, k: int, patch_size: tuple[int, ...], pad_mode: str
) -> None:
    """Cut one patch that crosses its image's border (``border="pad"``) into row ``k``,
    padded with zeros or by reflection (patches inside go through :func:`_copy_inside`)."""
    p = patch_size
    if pad_mode == "reflect":
        idx = np.ix_(
            *[
                _reflect_index(np.arange(c, c + q), s)
                for c, q, s in zip(corner, p, entry.spatial)
            ]
        )
        images[k] = entry.image[idx]
        if masks is not None:
            masks[k] = entry.mask[idx]
        return
    src, dst = [], []
    for c, q, s in zip(corner, p, entry.spatial):
        a, b = max(int(c), 0), min(int(c) + q, s)
        src.append(slice(a, max(a, b)))
        dst.append(slice(a - int(c), a - int(c) + max(b - a, 0)))
    images[k] = 0
    images[k][tuple(dst)] = entry.image[tuple(src)]
    if masks is not None:
        masks[k] = 0
        masks[k][tuple(dst)] = entry.mask[tuple(src)]
