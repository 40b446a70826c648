"""Resizing an image array: Pillow's LANCZOS after an exact box reduction, alpha premultiplied."""

from __future__ import annotations

import numpy as np

from .. import presize  # the settings (REDUCING_GAP) are read from the package at call time
from ._shape import Size, output_shape


def _lanczos(im, size_wh: tuple[int, int], box: tuple[float, float, float, float] | None = None):
    """Resize a PIL image: box-reduce then LANCZOS (premultiplied alpha for LA/RGBA)."""
    from PIL import Image

    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        im = im.convert("I")
    return im.resize(size_wh, Image.Resampling.LANCZOS, box=box, reducing_gap=presize.REDUCING_GAP)


def _resize_plane_float(plane: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(_lanczos(Image.fromarray(np.ascontiguousarray(plane, np.float32)), size_wh))


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Resampled values back in ``dtype``: integers rounded and saturated to its range."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        # clip in float64 to bounds that are floats within the range (float(2**63 - 1)
        # rounds up to 2**63, float32(2**32 - 1) to 2**32: casting those wraps)
        lo, hi = float(info.min), float(info.max)
        if int(hi) > info.max:
            hi = float(np.nextafter(hi, -np.inf))
        if int(lo) < info.min:  # pragma: no cover - powers of two are exact
            lo = float(np.nextafter(lo, np.inf))
        return np.clip(np.rint(values.astype(np.float64)), lo, hi).astype(dtype)
    return values.astype(dtype, copy=False)


def image(
    img: np.ndarray,
    size: Size,
    upscale: bool = False,
    *,
    alpha: bool | None = None,
) -> np.ndarray:
    """Downscale an image with proper anti-aliasing, keeping its aspect ratio.

    The output shape is :func:`output_shape` ``(img.shape, size, upscale)``. Resampling
    is Pillow's LANCZOS (a windowed sinc whose support grows with the reduction factor,
    so high frequencies are removed instead of aliased), preceded for large factors by an
    exact integer box reduction (``reducing_gap=3``), which is much faster and gives the
    same result.

    Parameters
    ----------
    img : (H, W) or (H, W, C) array
        uint8 (greyscale, RGB, RGBA, ...), uint16 (kept uint16), other integers or floats
        (resampled in float32, returned in the input dtype, integers rounded and clipped).
    size : int or (int, int)
        Target shorter side, or target (height, width); see :func:`output_shape`.
    upscale : bool
        Allow enlarging images smaller than the target. Without it, an image already at
        or below the target is returned as a copy, unchanged.
    alpha : bool, optional
        Whether the last channel is an alpha channel. By default it is when C is 2 or 4.
        Colours are resampled premultiplied by alpha, so the colour of fully transparent
        pixels does not bleed into visible ones. Alpha is read as opacity in [0, 1] for
        floats and in [0, dtype max] for integers.

    Returns
    -------
    ndarray
        Same dtype and number of channels as ``img``.

    See Also
    --------
    folder : a whole dataset, in parallel, with masks.
    mask : the same for a label mask.

    Examples
    --------
    >>> rgb = np.zeros((480, 640, 3), np.uint8)
    >>> image(rgb, 160).shape
    (160, 213, 3)
    >>> image(rgb, (100, 100)).shape
    (100, 133, 3)
    """
    from PIL import Image

    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"img must be (H, W) or (H, W, C), got shape {img.shape}")
    if img.dtype == bool or not (
        np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)
    ):
        raise TypeError(
            f"img must have an integer or float dtype, got {img.dtype}"
            + (" (use presize.mask for boolean or label masks)" if img.dtype == bool else "")
        )
    oh, ow = output_shape(img.shape, size, upscale)
    if (oh, ow) == img.shape[:2]:
        return img.copy()
    size_wh = (ow, oh)
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels == 0:
        raise ValueError(f"img has no channels: shape {img.shape}")
    has_alpha = channels in (2, 4) if alpha is None else bool(alpha)
    if has_alpha and channels < 2:
        raise ValueError("alpha=True needs an image with at least 2 channels")

    if img.dtype == np.uint8 and (channels in (1, 3) or (channels in (2, 4) and has_alpha)):
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
        arr = img if img.ndim == 2 else (img[..., 0] if channels == 1 else img)
        out = np.asarray(_lanczos(Image.fromarray(np.ascontiguousarray(arr), mode), size_wh))
        return out.reshape(oh, ow, *img.shape[2:])
    if img.dtype == np.uint16 and channels == 1:
        plane = Image.fromarray(np.ascontiguousarray(img.reshape(img.shape[:2])))
        out = np.asarray(_lanczos(plane, size_wh))
        return _to_dtype(out, np.dtype(np.uint16)).reshape(oh, ow, *img.shape[2:])

    # General path: each channel in float32 ("F" mode), premultiplied by alpha if any.
    planes = img.astype(np.float32, copy=False).reshape(*img.shape[:2], channels)
    if has_alpha:
        top = float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 1.0
        a = planes[..., -1] / top
        a_small = _resize_plane_float(a, size_wh)
        out = np.empty((oh, ow, channels), np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            for c in range(channels - 1):
                premult = _resize_plane_float(planes[..., c] * a, size_wh)
                out[..., c] = np.where(a_small > 1e-6, premult / a_small, 0.0)
        out[..., -1] = np.clip(a_small, 0.0, 1.0) * top
    else:
        out = np.stack([_resize_plane_float(planes[..., c], size_wh) for c in range(channels)], -1)
    return _to_dtype(out, img.dtype).reshape(oh, ow, *img.shape[2:])
