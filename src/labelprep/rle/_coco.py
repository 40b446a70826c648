"""COCO interop: binary 2D masks to and from COCO's own run-length encoding, the same
as ``pycocotools.mask.encode``/``decode``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import _as_mask, _kernels
from ._decode import decode
from ._encode import _runs
from ._parse import _check_counts, _check_size, _decode_string, _int_array, _parse


def _binary_2d(mask: Any, label: int | None) -> np.ndarray:
    a = _as_mask(mask)
    if a.ndim != 2:
        raise ValueError(f"COCO RLE is for 2D masks; got shape {a.shape}")
    if label is not None:
        return a == label
    if a.dtype != np.bool_:
        if a.size and (a.min() < 0 or a.max() > 1):
            raise ValueError(
                "to_coco needs a binary mask (values 0 and 1); for one class of a label "
                "image pass label=..., e.g. to_coco(mask, label=3)"
            )
        a = a.astype(np.bool_)
    return a


def to_coco(mask_or_rle: Any, *, label: int | None = None) -> dict:
    """COCO's compressed RLE of a binary 2D mask, identical to pycocotools.

    Parameters
    ----------
    mask_or_rle : array_like or dict
        A 2D bool (or 0/1 integer) mask, or a multi-class RLE of one.
    label : int, optional
        Encode ``mask == label`` instead (for one class of a label image).

    Returns
    -------
    dict
        ``{"size": [h, w], "counts": str}``, the same string as
        ``pycocotools.mask.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]``
        (decoded to str): counts start with the number of 0s (0 if the first pixel is
        set) and counts after the second are stored as differences to the count two
        before.

    Examples
    --------
    >>> to_coco(np.array([[1, 0], [1, 1]], bool))
    {'size': [2, 2], 'counts': '021O'}
    """
    if isinstance(mask_or_rle, Mapping):
        shape, _, values, counts = _parse(mask_or_rle)
        if len(shape) != 2:
            raise ValueError(f"COCO RLE is for 2D masks; got size {list(shape)}")
        if label is not None:
            binary = values == label
        else:
            if values.size and (values.min() < 0 or values.max() > 1):
                raise ValueError(
                    "to_coco needs a binary RLE (values 0 and 1); pass label=... to "
                    "encode one class"
                )
            binary = values.astype(np.bool_)
        keep = counts > 0  # merge zero-length runs and neighbours of the same class
        binary, counts = binary[keep], counts[keep]
        if binary.size:
            new = np.r_[True, binary[1:] != binary[:-1]]
            bounds = np.flatnonzero(new)
            counts = np.add.reduceat(counts, bounds)
            binary = binary[bounds]
    else:
        a = _binary_2d(mask_or_rle, label)
        shape = a.shape
        starts, binary = _runs(a.view(np.uint8))
        counts = np.diff(starts, append=a.size)
        binary = binary.astype(np.bool_)
    if binary.size == 0 or binary[0]:
        counts = np.r_[np.int64(0), counts]
    s = _kernels().coco_string_encode(counts.astype(np.int64), True)
    return {"size": [int(shape[0]), int(shape[1])], "counts": s.tobytes().decode("ascii")}


def from_coco(c: Mapping) -> np.ndarray:
    """Binary mask of a COCO RLE, compressed (str or bytes) or uncompressed (list).

    Agrees with ``pycocotools.mask.decode`` (as bool, Fortran-ordered like it), but
    refuses counts that do not sum to ``h * w`` instead of returning uninitialised memory.

    Examples
    --------
    >>> from_coco({"size": [2, 2], "counts": "021O"}).astype(int).tolist()
    [[1, 0], [1, 1]]
    """
    if not isinstance(c, Mapping):
        raise ValueError(f"a COCO RLE must be a dict with 'size' and 'counts', got "
                         f"{type(c).__name__}")
    missing = [key for key in ("size", "counts") if key not in c]
    if missing:
        raise ValueError(f"COCO RLE is missing key(s) {', '.join(map(repr, missing))}")
    shape = _check_size(c["size"])
    if len(shape) != 2:
        raise ValueError(f"COCO RLE 'size' must be [height, width], got {list(shape)}")
    raw = c["counts"]
    if isinstance(raw, (str, bytes, bytearray)):
        counts = _decode_string(raw, "counts", delta=True)
    else:
        counts = _int_array(raw, "counts")
    counts = _check_counts(counts, math.prod(shape), "counts", shape)
    values = (np.arange(counts.size) % 2).astype(np.bool_)
    return decode({"size": list(shape), "dtype": "bool", "values": values, "counts": counts})

