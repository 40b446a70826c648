"""Writing one presized file: encoded in its source's format (masks losslessly), through an
atomic write guarded by the destination tree."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import presize  # the settings (DURABLE, JPEG_QUALITY) are read at call time
from ..io import TIFF_SUFFIXES, OutputTree, atomic_open
from ._mask import mask
from ._read import _PIL_FORMATS, _check_2d, _FileError, _load_image_file, _read_mask
from ._shape import Size


@contextlib.contextmanager
def _atomic(dst: Path, tree: OutputTree) -> Iterator[Any]:
    """Yield a binary file for ``dst``, checked by the destination ``tree`` (its folders
    created as needed); it replaces ``dst`` only once completely written."""
    tree.prepare(dst)
    with atomic_open(dst, "wb", durable=presize.DURABLE) as f:
        yield f


def _save_pil(im, f, fmt: str, lossless: bool = False) -> None:
    kwargs: dict[str, Any] = {}
    icc = im.info.get("icc_profile")
    if fmt == "JPEG":
        if im.mode not in ("L", "RGB", "CMYK"):
            im = im.convert("RGB")
        # 4:4:4 chroma: at training sizes colour edges matter (libvips does the same at Q >= 90)
        kwargs.update(quality=presize.JPEG_QUALITY, subsampling=0)
        if icc:
            kwargs["icc_profile"] = icc
    elif fmt == "WEBP":
        if lossless:
            kwargs["lossless"] = True
        else:
            kwargs["quality"] = presize.JPEG_QUALITY
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
