"""Per-object crops of a labelled stack (and its image), with a CSV manifest."""

from __future__ import annotations

import csv
import io as _stdio
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressCallback, report
from ..io import atomic_open

__all__ = ["MANIFEST", "FORMATS", "MASK_KINDS", "crops"]

#: File name of the manifest written into the output folder.
MANIFEST = "crops.csv"
FORMATS = ("tif", "npz", "png")
MASK_KINDS = ("binary", "labels")
#: PNG holds these dtypes (greyscale; RGB/RGBA images as uint8 only).
_PNG_GREY = (np.dtype(np.uint8), np.dtype(np.uint16))

PathLike = str | os.PathLike


def _per_axis(value: Any, ndim: int, name: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``ndim`` ints, each >= ``minimum``, as a tuple."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        values = (int(value),) * ndim
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(f"{name} must be an int or {ndim} ints, got {value!r}") from None
        if len(values) != ndim or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            for v in values
        ):
            raise ValueError(f"{name} must be an int or {ndim} ints (one per axis), "
                             f"got {value!r}")
        values = tuple(int(v) for v in values)
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be >= {minimum} on every axis, got {value!r}")
    return values


def _check_image(image: Any, shape: tuple[int, ...]) -> np.ndarray:
    image = np.asarray(image)
    nd = len(shape)
    if image.shape[:nd] != shape or image.ndim > nd + 1:
        raise ValueError(
            f"image has shape {image.shape}, expected the labels' shape {shape} "
            f"(optionally with one trailing channel axis)"
        )
    return image


def _png_dtype(kind: str, arr_dtype: np.dtype, channels: int | None, labels_range) -> Any:
    """dtype a PNG crop is written as (or a ValueError saying why PNG cannot hold it)."""
    if kind == "image":
        if arr_dtype == np.bool_:
            return np.dtype(np.uint8)
        if channels is None and arr_dtype in _PNG_GREY:
            return arr_dtype
        if channels in (3, 4) and arr_dtype == np.uint8:
            return arr_dtype
        what = f"{channels}-channel " if channels is not None else ""
        raise ValueError(
            f"format='png' holds uint8/uint16 greyscale or uint8 RGB/RGBA images; this "
            f"image is {what}{arr_dtype}: use format='tif' or 'npz'"
        )
    lo, hi = labels_range
    if lo < 0 or hi > 65535:
        raise ValueError(
            f"format='png' with mask='labels' holds labels 0..65535; these go from {lo} "
            f"to {hi}: use mask='binary', format='tif' or 'npz'"
        )
    return np.dtype(np.uint8 if hi <= 255 else np.uint16)


def _encoder(fmt: str, key: str):
    """``encode(array, rgb) -> bytes``: the file content of one crop."""
    if fmt == "tif":
        import tifffile

        def encode(a: np.ndarray, rgb: bool) -> bytes:
            buf = _stdio.BytesIO()
            tifffile.imwrite(buf, a, photometric="rgb" if rgb else "minisblack")
            return buf.getbuffer()

    elif fmt == "npz":

        def encode(a: np.ndarray, rgb: bool) -> bytes:
            buf = _stdio.BytesIO()
            np.savez(buf, **{key: a})
            return buf.getbuffer()

    else:
        from PIL import Image

        def encode(a: np.ndarray, rgb: bool) -> bytes:
            buf = _stdio.BytesIO()
            Image.fromarray(a).save(buf, format="PNG")
            return buf.getbuffer()

    return encode


def _write(path: Path, data) -> None:
    """One crop file, atomically; made durable by the one sync at the end of the run."""
    with atomic_open(path, "wb", durable=False) as fh:
        fh.write(data)


def _sync() -> None:
    """Flush every crop written to disk at once (one ``sync`` instead of an fsync per
    file, which costs milliseconds each), before the manifest is written durably."""
    if hasattr(os, "sync"):
        os.sync()


def _crop(arr: np.ndarray, lo: list[int], hi: list[int]) -> np.ndarray:
    """``arr[lo:hi]`` on its first ``len(lo)`` axes, zero-filled where outside ``arr``."""
    shape = arr.shape
    inside = all(a >= 0 and b <= s for a, b, s in zip(lo, hi, shape))
    if inside:
        return np.ascontiguousarray(arr[tuple(slice(a, b) for a, b in zip(lo, hi))])
    out = np.zeros(tuple(b - a for a, b in zip(lo, hi)) + shape[len(lo):], arr.dtype)
    src, dst = [], []
    for a, b, s in zip(lo, hi, shape):
        a0, b0 = max(a, 0), min(b, s)
        if b0 <= a0:
            return out
        src.append(slice(a0, b0))
        dst.append(slice(a0 - a, b0 - a))
    out[tuple(dst)] = arr[tuple(src)]
    return out


def crops(
    labels: Any,
    index: Any = None,
    image: Any = None,
    *,
    out: PathLike,
    pad: int | Sequence[int] = 0,
    size: int | Sequence[int] | None = None,
    objects: Iterable[int] | None = None,
    format: str = "tif",
    mask: str = "binary",
    progress: ProgressCallback | None = None,
) -> Path:
    """Write each object's image crop and mask crop into ``out``, with a manifest.

    The crop of an object is its bounding box grown by ``pad`` on each side (clipped at
    the stack's edge), or, with ``size``, a box of that size centred on the bounding box
    (parts outside the stack are zeros). Files go to ``out/images/<label>.<format>``
    and ``out/masks/<label>.<format>`` (labels zero-padded to one width), each written
    atomically; ``out/crops.csv`` lists them.

    Parameters
    ----------
    labels : ndarray
        Labelled stack, 2D or 3D (any number of axes works; background 0).
    index : LabelIndex, optional
        The index of ``labels`` (built if not given). Mask crops are made from each
        object's voxel list, without scanning the stack per object.
    image : ndarray, optional
        Intensity image of the labels' shape, optionally with one trailing channel
        axis (RGB); without it only masks are written.
    out : path
        Output folder (created). Existing files are replaced only where a crop of the
        same name is written; nothing else in it is touched.
    pad : int or sequence of int
        Margin around the bounding box, per axis or for all (default 0).
    size : int or sequence of int, optional
        Fixed crop size instead (then ``pad`` must be 0).
    objects : iterable of int, optional
        The labels to export (default: all), written in ascending order.
    format : {"tif", "npz", "png"}
        File format; ``png`` for 2D only. NPZ files hold one array, ``image`` or
        ``mask``.
    mask : {"binary", "labels"}
        ``binary``: uint8, 1 on the object, 0 elsewhere (other objects too);
        ``labels``: the label crop as it is (PNG: as uint8/uint16).
    progress : callable, optional
        ``progress(done, total)`` in objects.

    Returns
    -------
    Path
        The manifest, ``out/crops.csv``: one row per object with ``label``,
        ``image_file`` and ``mask_file`` (relative to ``out``; ``image_file`` empty
        without an image), ``voxels``, the object's bounding box (``<axis>_start``,
        ``<axis>_stop``, stop exclusive), the crop's box in stack coordinates
        (``crop_<axis>_start``, ``crop_<axis>_stop``; beyond the stack with ``size``)
        and ``pad_<axis>``. Axes are named z, y, x (y, x in 2D).

    Raises
    ------
    ValueError
        A bad argument (the message names it): shapes that differ, an index of
        another stack, labels not present, png for a 3D stack or a dtype PNG cannot
        hold, ``pad`` together with ``size``.
    NotADirectoryError
        ``out`` exists and is not a folder.

    See Also
    --------
    coco : COCO instance annotations of the same objects.
    labelprep.LabelIndex.bbox : one object's box.

    Examples
    --------
    >>> labels = np.zeros((8, 8), np.uint8); labels[2:4, 3:6] = 1
    >>> manifest = crops(labels, image=labels * 10, out="crops", pad=1)  # doctest: +SKIP
    >>> tifffile.imread("crops/images/1.tif").shape                        # doctest: +SKIP
    (4, 5)
    """
    from ..index import LabelIndex, axis_names

    labels = np.asarray(labels)
    if labels.ndim < 1:
        raise ValueError("labels must have at least one axis")
    shape = labels.shape
    nd = labels.ndim
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if mask not in MASK_KINDS:
        raise ValueError(f"mask must be one of {', '.join(MASK_KINDS)}, got {mask!r}")
    if format == "png" and nd != 2:
        raise ValueError(f"format='png' is for 2D labels; these are {nd}D (shape {shape}): "
                         "use format='tif' or 'npz'")
    pads = _per_axis(pad, nd, "pad", 0)
    sizes = None if size is None else _per_axis(size, nd, "size", 1)
    if sizes is not None and any(pads):
        raise ValueError("give pad or size, not both (size is the whole crop)")
    if image is not None:
        image = _check_image(image, shape)
    channels = image.shape[nd] if image is not None and image.ndim == nd + 1 else None
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out {out} exists and is not a folder")
    if index is None:
        index = LabelIndex.build(labels)
    elif not isinstance(index, LabelIndex):
        raise TypeError(f"index must be a LabelIndex, got {type(index).__name__}")
    elif index.shape != shape:
        raise ValueError(f"index is of a stack of shape {index.shape}, labels have "
                         f"shape {shape}")

    # rows of the index to export
    all_labels = index.labels
    if objects is None:
        rows = np.arange(len(index))
    else:
        wanted = np.unique(np.asarray(list(objects)))
        if wanted.size and wanted.dtype.kind not in "iub":
            raise ValueError(f"objects must be integer labels, got dtype {wanted.dtype}")
        rows = np.searchsorted(all_labels, wanted)
        if len(index):
            found = (rows < len(index)) & (all_labels[np.minimum(rows, len(index) - 1)]
                                           == wanted)
        else:
            found = np.zeros(wanted.size, bool)
        if not np.all(found):
            missing = wanted[~found]
            raise ValueError(f"objects not in labels: {', '.join(map(str, missing[:5]))}"
                             + (" ..." if missing.size > 5 else ""))
    n = int(rows.size)

    # crop boxes of every object at once
    box = index.bboxes[rows]  # (n, nd, 2)
    if sizes is None:
        lo = np.maximum(box[:, :, 0] - np.array(pads), 0)
        hi = np.minimum(box[:, :, 1] + np.array(pads), np.array(shape))
    else:
        lo = (box[:, :, 0] + box[:, :, 1] - np.array(sizes)) // 2
        hi = lo + np.array(sizes)

    # output dtypes (PNG is limited) and writers
    labels_range = (int(all_labels[0]), int(all_labels[-1])) if len(index) else (0, 0)
    mask_dtype = np.dtype(np.uint8) if mask == "binary" else labels.dtype
    image_dtype = None if image is None else image.dtype
    if format == "png":
        if image is not None:
            image_dtype = _png_dtype("image", image.dtype, channels, labels_range)
        if mask == "labels":
            mask_dtype = _png_dtype("labels", labels.dtype, None, labels_range)
    elif mask == "labels" and labels.dtype == np.bool_:
        mask_dtype = np.dtype(np.uint8)
    rgb = channels in (3, 4) and image_dtype in (np.uint8, np.uint16)
    encode_image = _encoder(format, "image")
    encode_mask = _encoder(format, "mask")

    out.mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    if image is not None:
        (out / "images").mkdir(exist_ok=True)
    chosen = all_labels[rows].tolist()
    width = max((len(str(abs(v))) for v in chosen[:1] + chosen[-1:]), default=1)
    names = [f"{v:0{width}d}" if v >= 0 else str(v) for v in chosen]

    from .._kernels.export import fill_mask

    shape_arr = np.array(shape, np.int64)
    vi, offsets = index.voxel_indices, index.offsets
    lo_list, hi_list = lo.tolist(), hi.tolist()
    step = max(1, n // 100)
    table = []
    for j, i in enumerate(rows.tolist()):
        a, b = lo_list[j], hi_list[j]
        crop_shape = tuple(y - x for x, y in zip(a, b))
        image_file = ""
        if image is not None:
            image_file = f"images/{names[j]}.{format}"
            img = _crop(image, a, b)
            _write(out / image_file, encode_image(img.astype(image_dtype, copy=False), rgb))
        if mask == "binary":
            m = np.zeros(crop_shape, np.uint8)
            fill_mask(vi[offsets[i]:offsets[i + 1]], shape_arr, lo[j], m)
        else:
            m = _crop(labels, a, b).astype(mask_dtype, copy=False)
        mask_file = f"masks/{names[j]}.{format}"
        _write(out / mask_file, encode_mask(m, False))
        table.append((image_file, mask_file))
        if (j + 1) % step == 0 or j + 1 == n:
            report(progress, j + 1, n)

    axes = axis_names(nd)
    header = ["label", "image_file", "mask_file", "voxels"]
    header += [f"{ax}_{end}" for ax in axes for end in ("start", "stop")]
    header += [f"crop_{ax}_{end}" for ax in axes for end in ("start", "stop")]
    header += [f"pad_{ax}" for ax in axes]
    text = _stdio.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(header)
    counts = index.counts[rows].tolist()
    boxes = box.reshape(n, 2 * nd).tolist()
    crop_boxes = np.stack([lo, hi], axis=2).reshape(n, 2 * nd).tolist()
    for j in range(n):
        w.writerow([chosen[j], *table[j], counts[j], *boxes[j], *crop_boxes[j], *pads])
    _sync()
    manifest = out / MANIFEST
    with atomic_open(manifest, "wb") as fh:
        fh.write(text.getvalue().encode("utf-8"))
    if n == 0:
        report(progress, 0, 0)
    return manifest
