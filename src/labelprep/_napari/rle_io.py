"""napari reader and writer for multi-class RLE files (``*.rle.json``).

The reader opens a file as a Labels layer named after the file; the writer saves a
Labels layer (any integer dtype, 2D or nD) with :func:`labelprep.rle.save`, atomically.
Both are declared in ``napari.yaml``; from Python::

    viewer.open("mask.rle.json", plugin="napari-labelprep")
    viewer.layers["mask"].save("copy.rle.json", plugin="napari-labelprep")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelprep import rle

LayerData = tuple[Any, dict, str]


def _is_ours(path: Any) -> bool:
    """A ``*.rle.json`` file whose first non-blank byte opens a JSON object."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    try:
        p = Path(path)
        if not p.name.lower().endswith(rle.SUFFIX) or not p.is_file():
            return False
        with open(p, "rb") as fh:
            head = fh.read(256).lstrip(b" \t\r\n\xef\xbb\xbf")
    except (OSError, ValueError, TypeError):
        return False
    return head.startswith(b"{")


def get_rle_reader(path: str | Sequence[str]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for ``*.rle.json`` files, or ``None`` for anything else (never raises)."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else path
    try:
        if not paths or not all(_is_ours(p) for p in paths):
            return None
    except TypeError:
        return None
    return read_rle


def layer_name(path: str | os.PathLike) -> str:
    """``"mask"`` for ``.../mask.rle.json``."""
    name = Path(path).name
    return name[: -len(rle.SUFFIX)] if name.lower().endswith(rle.SUFFIX) else Path(path).stem


def layer_meta(path: str | os.PathLike, r: dict, ndim: int) -> dict[str, Any]:
    """Labels layer keyword arguments for the RLE ``r`` read from ``path``."""
    meta: dict[str, Any] = {"name": layer_name(path), "metadata": {"rle_path": str(path)}}
    extra = r.get("napari")
    if isinstance(extra, dict):
        for key in ("scale", "translate"):
            value = extra.get(key)
            if (isinstance(value, list) and len(value) == ndim
                    and all(isinstance(v, (int, float)) for v in value)):
                meta[key] = value
    return meta


def as_labels(data: np.ndarray) -> np.ndarray:
    """Decoded data as Labels data (bool masks become uint8 0/1, without a copy)."""
    return data.view(np.uint8) if data.dtype == np.bool_ else data


def read_rle(path: str | Sequence[str]) -> list[LayerData]:
    """Decode each file into a Labels layer (bool masks become uint8 labels)."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers = []
    for p in paths:
        r = rle.load(p)  # ValueError naming the file if it is corrupt
        data = as_labels(rle.decode(r))
        layers.append((data, layer_meta(p, r, data.ndim), "labels"))
    return layers


def write_labels_rle(path: str, data: Any, meta: dict) -> list[str]:
    """Save a Labels layer as a multi-class RLE file; return ``[path]``.

    The encoding is exact for any integer dtype; the layer's scale and translate (when
    not the default) are kept under a ``"napari"`` key that the reader restores.
    """
    path = os.fspath(path)
    if not path.lower().endswith(rle.SUFFIX):
        path += rle.SUFFIX
    if meta.get("multiscale") or (isinstance(data, list) and not isinstance(data, np.ndarray)):
        data = data[0]  # the full-resolution level
    array = np.asarray(data)
    r = rle.encode(array)
    extra = {}
    for key, default in (("scale", 1.0), ("translate", 0.0)):
        value = meta.get(key)
        if value is not None:
            value = [float(v) for v in np.asarray(value).ravel()]
            if len(value) == array.ndim and any(v != default for v in value):
                extra[key] = value
    if extra:
        r["napari"] = extra
    rle.save(path, r)
    return [path]
