"""Presizing: shrink an image dataset once, before training, with its masks kept consistent.

Loading and resizing large photos at every epoch is often the bottleneck of a training
pipeline. Presizing does it once: every image is saved at a smaller size (aspect kept,
each side still at least the training size, so random crops stay possible), and every
segmentation mask is shrunk to exactly the same shape without ever inventing new labels.

- :func:`output_shape` is the one rule for the output shape, shared by images and masks.
- :func:`image` resizes an array with proper anti-aliasing (Pillow's LANCZOS filter, after
  an exact integer box reduction when the factor is large: "reduce then resample").
- :func:`mask` resizes a label mask by sampling (``"nearest"``, the pixel at the centre of
  each output cell) or by majority vote (``"mode"``); values are never interpolated.
- :func:`folder` does a whole dataset tree in parallel (threads for Pillow formats, a
  process pool for TIFF/.npy, or a ``dask.distributed`` cluster), with JPEG DCT-domain
  downscaling on load, resume, atomic writes and a report.

Examples
--------
>>> import numpy as np
>>> from labelprep import presize
>>> presize.output_shape((1632, 2448), 160)
(160, 240)
>>> small = presize.image(np.zeros((1632, 2448, 3), np.uint8), 160)
>>> small.shape
(160, 240, 3)
>>> presize.mask(np.zeros((1632, 2448), np.int64), 160).shape
(160, 240)
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._progress import ProgressCallback, report
from .errors import ImageReadError, OutputPathError
from .io import (
    TIFF_SUFFIXES,
    Journal,
    OutputTree,
    atomic_open,
    decode_into,
    image_size,
    images_by_stem,
    list_images,
    load_pil,
    open_pil,
    pil_orientation,
    pil_to_array,
    read_image,
    remove_stale_temporaries,
    source_trees,
)

__all__ = [
    "EXECUTORS",
    "MASK_METHODS",
    "FileResult",
    "FolderReport",
    "check_folders",
    "folder",
    "image",
    "load",
    "lost_labels",
    "mask",
    "output_shape",
]

PathLike = str | os.PathLike
Size = int | tuple[int, int] | Sequence[int]

MASK_METHODS = ("nearest", "mode")
#: How :func:`folder` runs its workers.
EXECUTORS = ("auto", "threads", "processes")

#: Pillow's ``reducing_gap``: first an exact box reduction by an integer factor while the
#: remaining factor stays >= this gap, then LANCZOS. At 3.0 the result is
#: indistinguishable from a full LANCZOS resize (Pillow documentation), at a fraction of
#: the cost for large factors.
REDUCING_GAP = 3.0
#: JPEG files are decoded in the DCT domain at 1/2, 1/4 or 1/8 scale ("draft"), choosing
#: the smallest scale that keeps every side >= ``DRAFT_GAP`` x the output side; LANCZOS
#: then does the rest. 2.0 is what Pillow's own ``thumbnail`` uses.
DRAFT_GAP = 2.0
#: The resume journal in ``dst``: what completed writes recorded (see :func:`folder`).
JOURNAL_NAME = ".labelprep-presize.jsonl"
#: fsync every output before it replaces anything. Off by default: measured on the
#: presize benchmark (40 x 4 MP JPEGs to 160 px, 2 threads) a per-file fsync cost 10.8%,
#: over the 3% allowed; instead one ``os.sync()`` ends every run, before the journal is
#: rewritten. Outputs are still complete and size-checked before they replace anything.
DURABLE = False
#: JPEG quality of written JPEG images.
JPEG_QUALITY = 90

_PIL_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".webp": "WEBP",
}
# EXIF orientation -> PIL transpose method, as in PIL.ImageOps.exif_transpose.
_ORIENTATION_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}


# --------------------------------------------------------------------------- shapes
def _check_size(size: Size) -> int | tuple[int, int]:
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"size must be an int or a pair of ints (h, w), got {size!r}")
    if isinstance(size, (int, np.integer)):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        return int(size)
    try:
        pair = tuple(size)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"size must be an int or a pair of ints (h, w), got {size!r}") from None
    if len(pair) != 2 or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) for s in pair
    ):
        raise TypeError(f"size must be an int or a pair of ints (h, w), got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(pair[0]), int(pair[1])


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def output_shape(shape: Sequence[int], size: Size, upscale: bool = False) -> tuple[int, int]:
    """The (height, width) that :func:`image` and :func:`mask` give for an input ``shape``.

    The aspect ratio is kept and every side ends up at least the target:

    - ``size`` an int S: the shorter side becomes exactly S, the other
      ``round(side * S / shorter)`` (halves rounded up);
    - ``size`` a pair (h, w): ``ratio = max(h / H, w / W)`` as in the FastAI tutorial, so
      each output side is >= its target and one of them is equal to it.

    Without ``upscale``, an input that is already at or below the target
    (``ratio >= 1``) keeps its shape.

    Parameters
    ----------
    shape : sequence of int
        Input shape; only the first two entries (height, width) are used.
    size : int or (int, int)
        Target shorter side, or target (height, width).
    upscale : bool
        Allow enlarging inputs smaller than the target.

    Examples
    --------
    >>> output_shape((1632, 2448), 160)
    (160, 240)
    >>> output_shape((1000, 500), (160, 160))
    (320, 160)
    >>> output_shape((100, 120), 160)
    (100, 120)
    """
    checked = _check_size(size)
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions (height, width), got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"cannot presize an empty image of shape {tuple(shape)!r}")
    if isinstance(checked, int):
        ratio = checked / min(h, w)
        if ratio >= 1 and not upscale:
            return h, w
        if h <= w:
            return checked, max(checked, _round_half_up(w * checked / h))
        return max(checked, _round_half_up(h * checked / w)), checked
    th, tw = checked
    ratio = max(th / h, tw / w)
    if ratio >= 1 and not upscale:
        return h, w
    return max(th, _round_half_up(h * ratio)), max(tw, _round_half_up(w * ratio))


# --------------------------------------------------------------------------- images
def _lanczos(im, size_wh: tuple[int, int], box: tuple[float, float, float, float] | None = None):
    """Resize a PIL image: box-reduce then LANCZOS (premultiplied alpha for LA/RGBA)."""
    from PIL import Image

    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        im = im.convert("I")
    return im.resize(size_wh, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)


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


# --------------------------------------------------------------------------- masks
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
    from ._kernels.presize import block_mode, block_mode_dense

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


# --------------------------------------------------------------------------- files
class _FileError(Exception):
    """A per-file problem reported in FolderReport.failed (never raised to the caller)."""


def _transpose(im, orientation: int):
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


def _swap(hw: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (hw[1], hw[0]) if orientation in (5, 6, 7, 8) else hw


@contextlib.contextmanager
def _atomic(dst: Path, tree: OutputTree) -> Iterator[Any]:
    """Yield a binary file for ``dst``, checked by the destination ``tree`` (its folders
    created as needed); it replaces ``dst`` only once completely written."""
    tree.prepare(dst)
    with atomic_open(dst, "wb", durable=DURABLE) as f:
        yield f


def _save_pil(im, f, fmt: str, lossless: bool = False) -> None:
    kwargs: dict[str, Any] = {}
    icc = im.info.get("icc_profile")
    if fmt == "JPEG":
        if im.mode not in ("L", "RGB", "CMYK"):
            im = im.convert("RGB")
        # 4:4:4 chroma: at training sizes colour edges matter (libvips does the same at Q >= 90)
        kwargs.update(quality=JPEG_QUALITY, subsampling=0)
        if icc:
            kwargs["icc_profile"] = icc
    elif fmt == "WEBP":
        if lossless:
            kwargs["lossless"] = True
        else:
            kwargs["quality"] = JPEG_QUALITY
    elif fmt == "PNG":
        kwargs.update(compress_level=6)
        if icc:
            kwargs["icc_profile"] = icc
    im.save(f, format=fmt, **kwargs)


def _save_array(arr: np.ndarray, f, suffix: str, lossless: bool = False) -> None:
    if suffix in TIFF_SUFFIXES:
        import tifffile

        rgb = arr.ndim == 3 and arr.shape[2] in (3, 4)
        tifffile.imwrite(f, arr, photometric="rgb" if rgb else "minisblack")
    elif suffix == ".npy":
        np.save(f, arr, allow_pickle=False)
    else:
        from PIL import Image

        if arr.dtype == bool and arr.ndim == 2:
            # a 1-bit mask stays 1-bit (mode "1"), read back as 0/1
            _save_pil(Image.fromarray(arr.astype(np.uint8) * 255).convert("1"), f,
                      _PIL_FORMATS[suffix], lossless)
            return
        if arr.dtype != np.uint8 and not (arr.dtype == np.uint16 and arr.ndim == 2):
            if arr.dtype == bool:
                arr = arr.astype(np.uint8)
            elif np.issubdtype(arr.dtype, np.integer) and arr.ndim == 2 and (
                arr.size == 0 or (arr.min() >= 0 and arr.max() <= 65535)
            ):
                arr = arr.astype(np.uint16)
            else:
                raise _FileError(
                    f"{arr.dtype} data with shape {arr.shape} cannot be stored as {suffix}; "
                    "use TIFF or .npy sources for it"
                )
        _save_pil(Image.fromarray(arr), f, _PIL_FORMATS[suffix], lossless)


def _check_2d(shape: tuple[int, ...], what: str) -> None:
    if len(shape) == 2 or (len(shape) == 3 and 1 <= shape[2] <= 4):
        return
    raise _FileError(f"{what} has shape {shape}; expected (H, W) or (H, W, C) with C <= 4")


@dataclass
class _Loaded:
    """A presized image file, not yet encoded."""

    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    pil: Any = None  # a PIL image (Pillow formats) ...
    array: np.ndarray | None = None  # ... or an array (TIFF, .npy)
    unchanged: bool = False  # nothing to do: the file can be copied as it is


def _load_image_file(src: Path, size: Size, upscale: bool) -> _Loaded:
    """Decode ``src`` once (JPEG: at reduced DCT scale) and presize it."""
    suffix = src.suffix.lower()
    if suffix in TIFF_SUFFIXES or suffix == ".npy":
        try:
            arr = read_image(src)
        except ValueError as exc:
            raise _FileError(str(getattr(exc, "reason", exc))) from exc
        _check_2d(arr.shape, "image")
        small = image(arr, size, upscale)
        in_hw = (int(arr.shape[0]), int(arr.shape[1]))
        out_hw = (int(small.shape[0]), int(small.shape[1]))
        return _Loaded(in_hw, out_hw, array=small, unchanged=small.shape == arr.shape)

    from PIL import Image

    if suffix not in _PIL_FORMATS:
        raise _FileError(f"unsupported image format {suffix!r}")
    with open_pil(src) as im:
        try:
            orientation = pil_orientation(im, src)  # PNG: decoded (strictly) here already
            in_hw = _swap((im.height, im.width), orientation)
            out_hw = output_shape(in_hw, size, upscale)
            if out_hw == in_hw and orientation == 1:
                load_pil(im, src)  # copied as it is, but only if it decodes
                return _Loaded(in_hw, out_hw, unchanged=True)
            out_stored = _swap(out_hw, orientation)  # (h, w) in the file's stored frame
            box = None
            if im.format in ("JPEG", "MPO") and out_hw != in_hw:
                request = (
                    math.ceil(out_stored[1] * DRAFT_GAP),
                    math.ceil(out_stored[0] * DRAFT_GAP),
                )
                drafted = im.draft(im.mode if im.mode in ("L", "RGB") else None, request)
                if drafted is not None:
                    box = drafted[1]  # the full image in drafted pixel coordinates
            load_pil(im, src)
            icc = im.info.get("icc_profile")
            source_mode = im.mode
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode == "CMYK":
                im = im.convert("RGB")
            elif im.mode == "1":
                im = im.convert("L")
            elif im.mode == "PA":
                im = im.convert("RGBA")
            small = _lanczos(im, (out_stored[1], out_stored[0]), box) if out_hw != in_hw else im
            # resizing then transposing the small image equals transposing then resizing:
            # output pixel centres sit symmetrically in the input
            small = _transpose(small, orientation)
            if small.mode == "I" and source_mode != "I":
                # a 16-bit source resampled in 32-bit: back to 16-bit, clipped
                small = Image.fromarray(np.clip(np.asarray(small), 0, 65535).astype(np.uint16))
            if icc:
                small.info["icc_profile"] = icc
        except (_FileError, ImageReadError):
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow's errors for broken pixel data
            raise _FileError(f"not a readable image ({exc})") from exc
    return _Loaded(in_hw, out_hw, pil=small)


def load(path: PathLike, size: Size, upscale: bool = False) -> np.ndarray:
    """Read an image file already presized: the pixels :func:`folder` would write.

    JPEGs are decoded at reduced scale in the DCT domain (much faster than a full
    decode, then :func:`image`'s filter does the rest); EXIF orientation is applied.
    Handy in a training loop when presizing a dataset on disk is not wanted.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; unreadable or corrupt file (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        loaded = _load_image_file(path, size, upscale)
    except _FileError as exc:
        raise ValueError(f"cannot presize {path}: {exc}") from exc
    except ImageReadError as exc:
        raise ValueError(f"cannot presize {path}: {exc.reason}") from exc
    if loaded.array is not None:
        return loaded.array
    if loaded.unchanged:
        return read_image(path)
    arr = np.asarray(loaded.pil)
    return arr.astype(np.uint16) if loaded.pil.mode.startswith("I;16") else arr


def _presize_image_file(src: Path, dst: Path, size: Size, upscale: bool, tree: OutputTree) -> tuple:
    """Write the presized ``src`` to ``dst`` atomically; return (input shape, output shape)."""
    loaded = _load_image_file(src, size, upscale)
    suffix = src.suffix.lower()
    if loaded.unchanged:
        with _atomic(dst, tree) as f, open(src, "rb") as s:
            shutil.copyfileobj(s, f)
    elif loaded.array is not None:
        with _atomic(dst, tree) as f:
            _save_array(loaded.array, f, suffix)
    else:
        with _atomic(dst, tree) as f:
            _save_pil(loaded.pil, f, _PIL_FORMATS[suffix])
    return loaded.in_hw, loaded.out_hw


def _read_mask(src: Path):
    """(labels array, palette or None) of a mask file, EXIF orientation applied."""
    suffix = src.suffix.lower()
    if suffix in TIFF_SUFFIXES or suffix == ".npy":
        try:
            return read_image(src), None
        except ValueError as exc:
            raise _FileError(str(getattr(exc, "reason", exc))) from exc
    with open_pil(src) as im:
        # PNG/JPEG masks decode straight into an array (no Pillow copy, no tobytes)
        pixels = decode_into(im)
        load_pil(im, src)  # decodes whatever decode_into left (strictly), checks PNG CRCs
        orientation = pil_orientation(im, src)
        palette = (im.getpalette(), im.info.get("transparency")) if im.mode == "P" else None
        if pixels is not None and orientation == 1 and im.mode in ("L", "P", "I;16"):
            return pixels, palette
        im = _transpose(im, orientation)  # keeps the mode (and a palette)
        return pil_to_array(im), palette  # P: label ids, with their palette


def _presize_mask_file(
    src: Path, dst: Path, image_hw: tuple[int, int], size: Size, upscale: bool, method: str,
    tree: OutputTree,
) -> tuple:
    from PIL import Image

    labels, palette = _read_mask(src)
    _check_2d(labels.shape, "mask")
    if labels.ndim == 3 and labels.shape[2] == 1:
        labels = labels[..., 0]
    if tuple(labels.shape[:2]) != tuple(image_hw):
        raise _FileError(
            f"mask {src.name} has shape {labels.shape[:2]} but its image has shape "
            f"{tuple(image_hw)} (after EXIF orientation)"
        )
    if not (labels.dtype == bool or np.issubdtype(labels.dtype, np.integer)):
        raise _FileError(f"mask {src.name} has non-integer dtype {labels.dtype}")
    small = mask(labels, size, method, upscale)  # type: ignore[arg-type]
    suffix = dst.suffix.lower()
    with _atomic(dst, tree) as f:
        if palette is not None:
            out = Image.fromarray(small, "P")
            out.putpalette(palette[0])
            kwargs = {"transparency": palette[1]} if palette[1] is not None else {}
            out.save(f, format=_PIL_FORMATS[suffix], **kwargs)
        else:
            _save_array(small, f, suffix, lossless=True)
    return labels.shape[:2], small.shape[:2]


# --------------------------------------------------------------------------- folder runs
@dataclass
class FileResult:
    """What happened to one source image (and its mask) in :func:`folder`."""

    source: Path
    """Path of the source image relative to ``src``."""
    status: Literal["written", "skipped", "failed"]
    output: Path | None = None
    mask: Path | None = None
    """Absolute path of the paired mask, if any."""
    mask_output: Path | None = None
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    reason: str | None = None
    seconds: float = 0.0


@dataclass
class FolderReport:
    """The outcome of :func:`folder`: counts, failures with reasons, time, per-file results."""

    written: int = 0
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    results: list[FileResult] = field(default_factory=list)
    missing_masks: list[Path] = field(default_factory=list)
    """Images (relative paths) with no mask in the ``masks`` tree; presized alone."""
    removed: list[Path] = field(default_factory=list)
    """Temporary files of killed runs removed from the destination folders."""

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line, e.g. ``'40 images: 38 written, 0 skipped, 2 failed in 3.1 s (12.9/s)'``."""
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"{self.total} images: {self.written} written, {self.skipped} skipped, "
            f"{len(self.failed)} failed in {self.seconds:.1f} s ({rate:.1f} written/s)"
        )
        if self.missing_masks:
            text += f"; {len(self.missing_masks)} without a mask"
        if self.removed:
            text += f"; removed {len(self.removed)} temporary files of an interrupted run"
        return text


@dataclass(frozen=True)
class _Job:
    rel: Path
    src: Path
    dst: Path
    mask_src: Path | None
    mask_dst: Path | None
    size: Any
    upscale: bool
    method: str
    error: str | None = None
    tree: OutputTree | None = None
    mask_tree: OutputTree | None = None

    @property
    def sources(self) -> list[Path]:
        return [self.src] + ([self.mask_src] if self.mask_src is not None else [])

    @property
    def outputs(self) -> list[Path]:
        return [self.dst] + ([self.mask_dst] if self.mask_dst is not None else [])


def _run_job(job: _Job) -> FileResult:
    """Presize one image (and its mask): the unit of work of a process or dask worker."""
    t0 = time.perf_counter()
    result = FileResult(job.rel, "failed", job.dst, job.mask_src, job.mask_dst)
    try:
        if job.error:
            raise _FileError(job.error)
        if job.mask_src is not None:
            # check the pair before writing anything
            image_hw = image_size(job.src)
            mask_hw = image_size(job.mask_src)
            if mask_hw != image_hw:
                raise _FileError(
                    f"mask {job.mask_src.name} has shape {mask_hw} but the image "
                    f"has shape {image_hw} (after EXIF orientation)"
                )
        in_hw, out_hw = _presize_image_file(job.src, job.dst, job.size, job.upscale, job.tree)
        if job.mask_src is not None:
            _presize_mask_file(
                job.mask_src, job.mask_dst, in_hw, job.size, job.upscale, job.method,  # type: ignore[arg-type]
                job.mask_tree,
            )
        result.status, result.input_shape, result.output_shape = "written", in_hw, out_hw
    except _FileError as exc:
        result.reason = str(exc)
    except (ImageReadError, OutputPathError) as exc:
        result.reason = getattr(exc, "reason", None) or str(exc)
    except OSError as exc:  # an output that could not be written (full disk, ...)
        result.reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
        result.reason = f"{type(exc).__name__}: {exc}"
    finally:
        result.seconds = time.perf_counter() - t0
    return result


def _run_chunk(jobs: list[_Job]) -> list[FileResult]:
    return [_run_job(job) for job in jobs]


def _resolve_dir(path: PathLike, name: str, must_exist: bool) -> Path:
    if path is None or str(path) == "":
        raise ValueError(f"{name} must be a folder path, got {path!r}")
    p = Path(path).expanduser().resolve()
    if must_exist and not p.is_dir():
        raise ValueError(f"{name} is not an existing folder: {p}")
    if not must_exist and p.exists() and not p.is_dir():
        raise ValueError(f"{name} exists and is not a folder: {p}")
    return p


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _plan(
    src: Path, dst: Path, masks: Path | None, masks_out: Path | None, size, upscale, method,
    trees: tuple[OutputTree, OutputTree | None],
) -> tuple[list[_Job], list[Path]]:
    exclude = [dst] + ([masks, masks_out] if masks is not None else [])
    images = [p for p in list_images(src) if not any(_inside(p, e) for e in exclude)]
    candidates = {}
    if masks is not None:
        skip = [dst, masks_out] + ([] if _inside(masks, src) else [src])
        candidates = images_by_stem(masks, skip)
    jobs, missing = [], []
    used: dict[Path, list[int]] = {}
    ambiguous: dict[int, str] = {}
    for p in images:
        rel = p.relative_to(src)
        mask_src = mask_dst = None
        if masks is not None:
            found = candidates.get((rel.parent.as_posix(), p.stem), [])
            if len(found) > 1:
                names = ", ".join(sorted(f.name for f in found))
                ambiguous[len(jobs)] = f"ambiguous: several masks for this image ({names})"
            elif found:
                mask_src = found[0]
                mrel = mask_src.relative_to(masks)
                if mrel.suffix.lower() in (".jpg", ".jpeg"):
                    mrel = mrel.with_suffix(".png")  # masks are always written losslessly
                mask_dst = masks_out / mrel  # type: ignore[operator]
                used.setdefault(mask_src, []).append(len(jobs))
            else:
                missing.append(rel)
        error = None
        try:  # a symlink planted in a destination must not lead a write into the sources
            trees[0].check(dst / rel)
            if mask_dst is not None:
                trees[1].check(mask_dst)  # type: ignore[union-attr]
        except OutputPathError as exc:
            error = str(exc)
        jobs.append(_Job(rel, p, dst / rel, mask_src, mask_dst, size, upscale, method,
                         error=error, tree=trees[0], mask_tree=trees[1]))
    for mask_src, idx in used.items():
        if len(idx) > 1:
            names = ", ".join(str(jobs[i].rel) for i in idx)
            for i in idx:
                ambiguous[i] = f"ambiguous: images {names} would share the mask {mask_src.name}"
    for i, reason in ambiguous.items():
        jobs[i] = dataclasses.replace(jobs[i], error=jobs[i].error or reason)
    return jobs, missing


def _chunks(jobs: list[_Job], workers: int) -> list[list[_Job]]:
    per = max(1, min(16, len(jobs) // (workers * 8)))
    return [jobs[i : i + per] for i in range(0, len(jobs), per)]


def _warm_mode_kernel() -> None:
    """Load (or compile) the mode kernel here, so forked workers inherit it ready."""
    with contextlib.suppress(Exception):
        mask(np.zeros((4, 4), np.uint8), 2, method="mode")


def _pool_context(preload_kernels: bool = False):
    """Start method for the worker processes.

    ``fork`` is the cheapest but unsafe in a process that runs other threads (napari, a
    ``thread_worker``, a dask client): there we use ``forkserver`` (its server imports
    this module once, then forks clean workers) or ``spawn`` where it does not exist.
    """
    import multiprocessing as mp
    import threading

    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1 and sys.platform == "linux":
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        preload = [__name__] + (["labelprep._kernels.presize"] if preload_kernels else [])
        ctx.set_forkserver_preload(preload)
        return ctx
    return mp.get_context("spawn")


def _releases_gil(job: _Job) -> bool:
    """Whether the work of ``job`` runs in Pillow's C code (which releases the GIL)."""
    return job.src.suffix.lower() in _PIL_FORMATS and (
        job.mask_src is None or job.mask_src.suffix.lower() in _PIL_FORMATS
    )


def _execute(
    jobs: list[_Job],
    workers: int,
    scheduler: Any,
    on_done: Callable[[list[FileResult]], None],
    executor: str = "auto",
) -> None:
    if scheduler is not None:
        _execute_dask(jobs, scheduler, on_done)
        return
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_done([_run_job(job)])
        return
    if executor == "auto":
        executor = "threads" if all(_releases_gil(j) for j in jobs) else "processes"
    if executor == "threads":
        _execute_threads(jobs, min(workers, len(jobs)), on_done)
    else:
        _execute_processes(jobs, workers, on_done)


def _execute_threads(
    jobs: list[_Job], n: int, on_done: Callable[[list[FileResult]], None]
) -> None:
    """Run the jobs in ``n`` threads, one file at a time, at most ``2 n`` queued."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    pending = iter(jobs)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="labelprep-presize") as pool:
        running = {pool.submit(_run_job, job) for job in itertools.islice(pending, 2 * n)}
        try:
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    on_done([fut.result()])
                    job = next(pending, None)
                    if job is not None:
                        running.add(pool.submit(_run_job, job))
        except BaseException:
            for fut in running:
                fut.cancel()
            raise


def _execute_processes(
    jobs: list[_Job], workers: int, on_done: Callable[[list[FileResult]], None]
) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    n = min(workers, len(jobs))
    use_mode = any(j.method == "mode" and j.mask_src is not None for j in jobs)
    if use_mode:
        _warm_mode_kernel()  # once here instead of importing numba in every worker
    with ProcessPoolExecutor(max_workers=n, mp_context=_pool_context(use_mode)) as pool:
        futures = [pool.submit(_run_chunk, chunk) for chunk in _chunks(jobs, n)]
        try:
            for fut in as_completed(futures):
                on_done(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _execute_dask(jobs: list[_Job], scheduler: Any, on_done) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "scheduler= needs dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    if isinstance(scheduler, (str, os.PathLike)):
        client = Client(str(scheduler))
        own = True
    elif isinstance(scheduler, Client):
        client, own = scheduler, False
    else:
        raise TypeError(
            f"scheduler must be a dask.distributed address string or Client, got {scheduler!r}"
        )
    try:
        n = max(1, sum(client.nthreads().values()))
        futures = client.map(_run_chunk, _chunks(jobs, n), pure=False)
        for fut in as_completed(futures):
            on_done(fut.result())
    finally:
        if own:
            client.close()


def check_folders(
    src: PathLike,
    dst: PathLike,
    masks: PathLike | None = None,
    masks_out: PathLike | None = None,
) -> tuple[Path, Path, Path | None, Path | None]:
    """Validate the folders of a :func:`folder` run; return them resolved.

    ``src`` (and ``masks``) must exist; ``masks_out`` is required with ``masks`` and
    differs from ``dst``; an output folder (``dst``, ``masks_out``) must not be an input
    folder (``src``, ``masks``), nor lie inside one, nor contain one (an output could
    then overwrite a source). Nothing is created. Used by :func:`folder` and the
    napari widget, so both refuse the same things with the same message.

    Symlinked folders under ``src`` and ``masks`` are inputs too: an output folder must
    not lie in, or contain, any folder they lead to.

    Raises
    ------
    ValueError
        Naming the bad argument and why.
    """
    return _check_folders(src, dst, masks, masks_out)[0]


def _check_folders(src, dst, masks, masks_out):
    """:func:`check_folders`, plus the guarded destination trees (dst's, masks_out's)."""
    src_p = _resolve_dir(src, "src", must_exist=True)
    dst_p = _resolve_dir(dst, "dst", must_exist=False)
    masks_p = masks_out_p = None
    if masks is not None and str(masks) != "":
        masks_p = _resolve_dir(masks, "masks", must_exist=True)
        if masks_out is None or str(masks_out) == "":
            raise ValueError("masks_out is required when masks is given")
        masks_out_p = _resolve_dir(masks_out, "masks_out", must_exist=False)
        if masks_out_p == dst_p:
            raise ValueError("masks_out must differ from dst")
    elif masks_out is not None and str(masks_out) != "":
        raise ValueError("masks_out was given without masks")
    # outputs and inputs must not nest either way: an output could land on a source
    for out_name, out in (("dst", dst_p), ("masks_out", masks_out_p)):
        for in_name, inp in (("src", src_p), ("masks", masks_p)):
            if out is None or inp is None:
                continue
            if _inside(out, inp):
                raise ValueError(f"{out_name} {out} must not be {in_name} or inside it ({inp})")
            if _inside(inp, out):
                raise ValueError(f"{out_name} {out} must not contain {in_name} ({inp})")
    inputs = source_trees(src_p) + (source_trees(masks_p) if masks_p is not None else [])
    tree = OutputTree(dst_p, inputs)  # OutputPathError (a ValueError) if a link nests them
    mask_tree = OutputTree(masks_out_p, inputs) if masks_out_p is not None else None
    return (src_p, dst_p, masks_p, masks_out_p), (tree, mask_tree)


def folder(
    src: PathLike,
    dst: PathLike,
    size: Size,
    masks: PathLike | None = None,
    masks_out: PathLike | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    method: Literal["nearest", "mode"] = "nearest",
    upscale: bool = False,
    progress: ProgressCallback | None = None,
    scheduler: Any = None,
    executor: Literal["auto", "threads", "processes"] = "auto",
) -> FolderReport:
    """Presize every image under ``src`` into ``dst`` (and masks into ``masks_out``).

    The source tree is mirrored: ``src/a/b.jpg`` becomes ``dst/a/b.jpg``, in the same
    format (JPEG at quality 90; PNG, TIFF, .npy, WebP... as they were, 16-bit stays
    16-bit). JPEGs are decoded at reduced scale in the DCT domain (Pillow ``draft``), one
    decode per file, then resampled with :func:`image`'s filter. EXIF orientation is
    applied before resizing (outputs are upright, with no orientation tag), for images
    and masks alike, so a pair stays aligned. Files already small enough are copied
    unchanged (unless ``upscale``).

    Masks come from a parallel tree: the mask of ``src/a/b.jpg`` is the file
    ``masks/a/b.<ext>`` with the same relative folder and the same stem, any image
    extension (the rule of :func:`labelprep.patches.match_masks`). Several candidates
    for one image (``b.png`` and ``b.tif``), or two images sharing one mask (``b.jpg``
    and ``b.png``), fail those images as ambiguous. A mask must have its image's shape;
    it is shrunk with :func:`mask` (``method``) to the image's output shape and written
    to ``masks_out/a/b.<ext>``, losslessly (palette PNGs keep their palette and ids;
    JPEG masks are written as PNG).

    Parameters
    ----------
    src, dst : path
        Source and destination folders; ``dst`` must not be ``src`` or inside it.
    size : int or (int, int)
        See :func:`output_shape`.
    masks, masks_out : path, optional
        Mask source folder and its destination (required with ``masks``; not inside
        ``masks``, not equal to ``dst``).
    workers : int, optional
        Files presized at the same time (default ``os.cpu_count()``); ``1`` runs
        everything in the calling thread.
    overwrite : bool
        Redo outputs that are up to date. By default an image is skipped (resume) only
        when an earlier run with the same settings recorded it as completely written
        (in ``dst/.labelprep-presize.jsonl``) and neither its sources nor its outputs
        changed since (size and modification time): a half-written, replaced or
        touched output is redone, never trusted.
    method : {"nearest", "mode"}
        Mask method, see :func:`mask`.
    upscale : bool
        Enlarge images smaller than the target too.
    progress : callable, optional
        ``progress(done, total)`` after each finished file.
    scheduler : str or distributed.Client, optional
        Run the same per-file work on a ``dask.distributed`` cluster (its address, or a
        client) instead of the local workers.
    executor : {"auto", "threads", "processes"}
        How the ``workers`` run. ``"threads"``: a thread pool in this process, with no
        start-up cost; Pillow releases the GIL while it decodes, resizes and encodes, so
        threads use every core for Pillow formats (JPEG, PNG, ...). ``"processes"``: a
        process pool (started by ``fork`` where safe, else ``forkserver``, which costs
        up to a second), for the NumPy-heavy work on TIFF and ``.npy`` files.
        ``"auto"`` (default): threads when every image and mask is a Pillow format,
        else processes. The files written are the same either way.

    Returns
    -------
    FolderReport
        ``written``, ``skipped``, ``failed`` (``(relative path, reason)`` for corrupt or
        unreadable files, mismatched masks...; the others are still written),
        ``seconds`` and per-file ``results``.

    Raises
    ------
    ValueError
        Bad folders (missing ``src``, ``dst`` equal to or inside ``src``...), size or method.

    Notes
    -----
    Sources are only ever read. Every output goes through :func:`labelprep.io.atomic_open`
    (a hidden temporary file, every byte checked, fsync, then renamed into place) and
    :class:`labelprep.io.OutputTree` (no write through a symlink out of ``dst`` or into
    a source: such files fail alone, with the reason). Temporary files that a killed run
    left in ``dst`` and ``masks_out`` are removed first (``FolderReport.removed``).
    Corrupt or truncated sources fail alone; the others are written.

    See Also
    --------
    image : one image.
    mask : one segmentation mask, never interpolated.
    """
    t0 = time.perf_counter()
    size = _check_size(size)
    if method not in MASK_METHODS:
        raise ValueError(f"method must be one of {MASK_METHODS}, got {method!r}")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    (src_p, dst_p, masks_p, masks_out_p), trees = _check_folders(src, dst, masks, masks_out)
    jobs, missing = _plan(src_p, dst_p, masks_p, masks_out_p, size, upscale, method, trees)
    out = FolderReport(missing_masks=missing)
    out.removed = remove_stale_temporaries([p for p in (dst_p, masks_out_p) if p is not None])
    journal = Journal(dst_p / JOURNAL_NAME, {"size": size, "upscale": upscale, "method": method,
                                         "masks": masks_out_p})
    by_rel: dict[Path, FileResult] = {}
    by_key = {j.rel.as_posix(): j for j in jobs}
    todo = []
    for job in jobs:
        info = None if overwrite or job.error else journal.done(
            job.rel.as_posix(), job.sources, job.outputs)
        if info is None:
            todo.append(job)
        else:
            by_rel[job.rel] = FileResult(
                job.rel, "skipped", job.dst, job.mask_src, job.mask_dst,
                input_shape=tuple(info.get("in", ())), output_shape=tuple(info.get("out", ())))
    report(progress, len(by_rel), len(jobs))

    def on_done(results: list[FileResult]) -> None:
        for r in results:
            by_rel[r.source] = r
            if r.status == "written":  # its outputs are complete: resume may trust them
                job = by_key[r.source.as_posix()]
                with contextlib.suppress(OSError):
                    journal.record(r.source.as_posix(), job.sources, job.outputs,
                                   {"in": r.input_shape, "out": r.output_shape})
        report(progress, len(by_rel), len(jobs))

    try:
        _execute(todo, int(workers), scheduler, on_done, executor)
    finally:
        if not DURABLE and todo:
            os.sync()  # one flush for the whole run instead of one fsync per file
        journal.compact()
    out.results = [by_rel[j.rel] for j in jobs]
    for r in out.results:
        if r.status == "written":
            out.written += 1
        elif r.status == "skipped":
            out.skipped += 1
        else:
            out.failed.append((r.source, r.reason or "unknown error"))
    out.seconds = time.perf_counter() - t0
    return out
