"""Files: the JSON text of a multi-class RLE (:func:`dumps`), written atomically by
:func:`save` and read back and checked by :func:`load`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..io import JSONReadError, atomic_open, read_json
from ._base import RLE
from ._parse import _parse


def dumps(r: Mapping, *, indent: int | None = None) -> str:
    """The JSON text of a multi-class RLE, as :func:`save` writes it (checked first)."""
    _parse(r)
    separators = (",", ":") if indent is None else None
    return json.dumps(dict(r), indent=indent, separators=separators, default=_json_default)


def _json_default(obj: Any) -> Any:
    """NumPy scalars and arrays as JSON (bool arrays as 0/1 so integer checks pass)."""
    if isinstance(obj, np.ndarray):
        return (obj.astype(np.uint8) if obj.dtype == np.bool_ else obj).tolist()
    if isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def save(path: str | os.PathLike, r: Mapping) -> Path:
    """Write a multi-class RLE to a JSON file (conventionally ``*.rle.json``), atomically.

    The text goes to a temporary file in the same folder, which then replaces ``path``,
    so a crash never leaves a half-written file. Extra keys of ``r`` are kept. Returns
    the path written.

    >>> save("mask.rle.json", encode(mask))  # doctest: +SKIP
    """
    path = Path(path)
    text = dumps(r)
    with atomic_open(path, "w", encoding="ascii") as fh:
        fh.write(text)
    return path


def load(path: str | os.PathLike) -> RLE:
    """Read and check a multi-class RLE JSON file; ``decode`` the result for the array.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not valid JSON (the line and column named) or not a valid RLE,
        or cannot be read (:class:`~labelprep.io.ImageReadError`: a folder, unreadable,
        too big); the message names the file.
    """
    path = Path(path)
    try:
        r = read_json(path, what="multi-class RLE")
    except JSONReadError as exc:
        raise ValueError(f"{path} is not a valid JSON file: {exc.detail}") from None
    try:
        _parse(r)
    except ValueError as exc:
        raise ValueError(f"{path} is not a valid RLE file: {exc}") from None
    return r

