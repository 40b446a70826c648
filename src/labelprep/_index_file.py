"""The ``.npz`` file of a :class:`~labelprep.index.LabelIndex`: saving it (atomically)
and reading it back without trusting the file.

Every array is checked before it is read (:func:`read_member`: its header against the
bytes the archive holds and the machine's memory: a small file cannot make us allocate
gigabytes), and every field after (:func:`validate`): shape, dtype, background, labels, counts,
offsets, voxel indices, bounding boxes and centroids must describe one consistent
index, in O(objects + voxels). Anything else is a ``ValueError`` naming the field.
"""

from __future__ import annotations

import math
import operator
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_open, too_big

#: Version of the ``.npz`` layout written by :meth:`LabelIndex.save`.
FORMAT_VERSION = 1
_MARKER = "labelprep_index_version"
_KEYS = ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids", "shape",
         "dtype", "background")


def save_index(idx, path: str | os.PathLike) -> None:
    """:meth:`LabelIndex.save`: the arrays and header as an ``.npz``, written atomically."""
    arrays = {
        _MARKER: np.array(FORMAT_VERSION, dtype=np.int64),
        "labels": idx.labels,
        "counts": idx.counts,
        "offsets": idx.offsets,
        "voxel_indices": idx.voxel_indices,
        "bboxes": idx.bboxes,
        "centroids": idx.centroids,
        "shape": np.array(idx.shape, dtype=np.int64),
        "dtype": np.array(idx.dtype.str),
        "background": np.array("none" if idx.background is None else str(idx.background)),
    }
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def load_index(cls, path: str | os.PathLike):
    """:meth:`LabelIndex.load`: every member checked before it is read, the whole index
    after; any problem is a ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("not an .npz archive (not a LabelIndex file)")
        with zipfile.ZipFile(path) as zf:
            if f"{_MARKER}.npy" not in zf.namelist():
                raise ValueError(f"no {_MARKER!r} entry (not a LabelIndex file)")
            marker = read_member(zf, _MARKER)
            if marker.ndim != 0 or marker.dtype.kind not in "iu":
                raise ValueError(f"{_MARKER!r} must be an integer")
            version = int(marker)
            if version > FORMAT_VERSION:
                raise ValueError(
                    f"format version {version} is newer than this labelprep "
                    f"understands ({FORMAT_VERSION})"
                )
            arrays = {k: read_member(zf, k) for k in _KEYS}
        shape, dtype, background = parse_header(arrays)
        idx = cls(
            labels=arrays["labels"], counts=arrays["counts"], offsets=arrays["offsets"],
            voxel_indices=arrays["voxel_indices"], bboxes=arrays["bboxes"],
            centroids=arrays["centroids"], shape=shape, dtype=dtype, background=background,
        )
        validate(idx)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot load LabelIndex from {path}: {exc}") from exc
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError,
            MemoryError) as exc:
        raise ValueError(f"cannot load LabelIndex from {path}: corrupt file ({exc})") from exc
    return idx


def is_index_file(path: str | os.PathLike) -> bool:
    """True if ``path`` looks like a file written by ``LabelIndex.save`` (never raises)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return f"{_MARKER}.npy" in zf.namelist()
    except Exception:  # noqa: BLE001 - a reader probe must never raise
        return False


def read_member(zf: zipfile.ZipFile, key: str) -> np.ndarray:
    """The array ``key`` of an open ``.npz`` archive, checked before it is allocated."""
    try:
        info = zf.getinfo(f"{key}.npy")
    except KeyError:
        raise ValueError(f"missing entry {key!r}") from None
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{key!r}: unsupported .npy version {version}")
        if dtype.hasobject:
            raise ValueError(f"{key!r} holds Python objects")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            raise ValueError(
                f"{key!r} declares {nbytes} bytes of data but the file holds {info.file_size}")
        reason = too_big(nbytes, f"{key!r}")
        if reason is not None:
            raise ValueError(reason)
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def scalar_text(arr: np.ndarray, key: str) -> str:
    if arr.ndim != 0 or arr.dtype.kind not in "US":
        raise ValueError(f"{key!r} must be a text scalar, got {arr.dtype} of shape {arr.shape}")
    return str(arr)


def parse_header(arrays: dict[str, np.ndarray]) -> tuple[tuple[int, ...], np.dtype, Any]:
    """(shape, dtype, background) of a saved index, each checked."""
    shape_arr = arrays["shape"]
    if shape_arr.ndim != 1 or shape_arr.dtype.kind not in "iu" or shape_arr.size < 1:
        raise ValueError(f"'shape' must be a 1-D integer array, got {shape_arr.dtype} "
                         f"{shape_arr.tolist()}")
    bg_text = scalar_text(arrays["background"], "background")
    try:
        background = None if bg_text == "none" else int(bg_text)
    except ValueError:
        raise ValueError(f"'background' {bg_text!r} is not an integer or 'none'") from None
    return check_header(shape_arr.tolist(), scalar_text(arrays["dtype"], "dtype"), background)


def check_header(shape: Any, dtype: Any, background: Any) -> tuple[tuple[int, ...], np.dtype, Any]:
    """Shape, dtype and background of an index (``.npz`` or zarr), checked."""
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise ValueError(f"'shape' must hold integers, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"'shape' {list(shape)} has a negative axis")
    if math.prod(shape) >= 2**63:
        raise ValueError(f"'shape' {list(shape)} is too large")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"'dtype' {dtype!r} is not a NumPy dtype") from None
    if dtype.kind not in "biuf":
        raise ValueError(f"'dtype' {dtype} is not an integer, bool or float stack dtype")
    if background is not None:
        if isinstance(background, bool) or not isinstance(background, int):
            raise ValueError(f"'background' {background!r} is not an integer or None")
        lo, hi = _value_range(dtype)
        if not lo <= background <= hi:
            raise ValueError(f"'background' {background} cannot occur in a {dtype} stack")
    return shape, dtype, background


def _value_range(dtype: np.dtype) -> tuple[int, int]:
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind == "f":
        return -(2**63), 2**63 - 1  # float stacks are indexed as int64 labels
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def validate(idx, voxels: Any = None, window: int | None = None) -> None:
    """Check an index against its own voxels (the constructor checked the shapes).

    Raises ``ValueError`` naming the field: labels outside the stack dtype's range or
    equal to the background, counts that are not positive, voxel indices out of range
    or not ascending in a label, bounding boxes or centroids that do not match the
    voxels. ``voxels`` is where the voxel indices are read from (default
    ``idx.voxel_indices``; an on-disk ``zarr.Array`` for a zarr index), ``window``
    elements at a time (default: all at once), so that an index bigger than memory is
    checked in bounded memory; O(objects + voxels) either way.
    """
    from ._kernels.index import check_segments, segment_stats

    n = len(idx)
    if not n:
        return
    lo, hi = _value_range(idx.dtype)
    if int(idx.labels[0]) < lo or int(idx.labels[-1]) > hi:
        raise ValueError(f"'labels' hold values outside the range of a {idx.dtype} stack "
                         f"({lo}..{hi})")
    if idx.background is not None and idx.background in idx:
        raise ValueError(f"'labels' hold the background value {idx.background}")
    if np.any(idx.counts <= 0):
        raise ValueError("'counts' must be positive (an object has at least one voxel)")
    voxels = idx.voxel_indices if voxels is None else voxels
    total = int(idx.offsets[-1])
    window = max(1, total if window is None else int(window))
    shape = np.array(idx.shape, np.int64)
    boxes = np.empty((n, idx.ndim, 2), np.int64)
    boxes[:, :, 0], boxes[:, :, 1] = np.iinfo(np.int64).max, -1
    sums = np.zeros((n, idx.ndim), np.int64)
    previous = None  # the last voxel of the window before, and its row
    for a in range(0, total, window):
        b = min(a + window, total)
        values = np.asarray(voxels[a:b])
        # the rows this window touches, their segments clipped to it
        r0 = int(np.searchsorted(idx.offsets, a, side="right")) - 1
        r1 = int(np.searchsorted(idx.offsets, b, side="left"))
        local = np.clip(idx.offsets[r0:r1 + 1], a, b) - a
        if not check_segments(values, local, idx._stack_size) or (
                previous is not None and previous[1] == r0 and values[0] <= previous[0]):
            raise ValueError("'voxel_indices' out of range or not ascending within a label")
        part_boxes = np.empty((r1 - r0, idx.ndim, 2), np.int64)
        part_sums = np.empty((r1 - r0, idx.ndim), np.int64)
        segment_stats(values, local, shape, part_boxes, part_sums)
        rows = slice(r0, r1)
        boxes[rows, :, 0] = np.minimum(boxes[rows, :, 0], part_boxes[:, :, 0])
        boxes[rows, :, 1] = np.maximum(boxes[rows, :, 1], part_boxes[:, :, 1])
        sums[rows] += part_sums
        previous = (values[-1], r1 - 1)
    if not np.array_equal(boxes, idx.bboxes):
        bad = int(np.flatnonzero(np.any(boxes != idx.bboxes, axis=(1, 2)))[0])
        raise ValueError(f"'bboxes' do not match the voxels (label {idx.labels[bad]})")
    means = sums / idx.counts[:, None]
    if not np.allclose(means, idx.centroids, rtol=1e-9, atol=1e-9):
        bad = int(np.flatnonzero(~np.all(np.isclose(means, idx.centroids, rtol=1e-9,
                                                    atol=1e-9), axis=1))[0])
        raise ValueError(f"'centroids' do not match the voxels (label {idx.labels[bad]})")
