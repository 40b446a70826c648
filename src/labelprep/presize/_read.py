"""Reading one source file presized: decode once (JPEG: at reduced DCT scale), EXIF
orientation applied; image files into a PIL image or an array, mask files into labels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import presize  # the settings (DRAFT_GAP) are read from the package at call time
from ..errors import ImageReadError
from ..io import (
    TIFF_SUFFIXES,
    decode_into,
    load_pil,
    open_pil,
    pil_orientation,
    pil_to_array,
    read_image,
)
from ._image import _lanczos, image
from ._shape import PathLike, Size, output_shape

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


class _FileError(Exception):
    """A per-file problem reported in FolderReport.failed (never raised to the caller)."""


def _transpose(im, orientation: int):
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


def _swap(hw: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (hw[1], hw[0]) if orientation in (5, 6, 7, 8) else hw


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
                    math.ceil(out_stored[1] * presize.DRAFT_GAP),
                    math.ceil(out_stored[0] * presize.DRAFT_GAP),
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
