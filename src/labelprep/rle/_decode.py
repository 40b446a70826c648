"""Decoding (:func:`decode`: a fast path for the common case, else every check first)
and the conversions between the list and compact string forms."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._progress import ProgressCallback, report
from ._base import _CHUNK_ELEMENTS, DTYPES, RLE, _chunks, _kernels
from ._encode import _as_list, _compact_strings
from ._parse import (
    _check_fits,
    _check_size,
    _decode_string,
    _int_array,
    _parse,
    _uint64_array,
    _values_as,
)


def decode(
    r: Mapping, *, order: str = "F", progress: ProgressCallback | None = None
) -> np.ndarray:
    """The array of a multi-class RLE (exact inverse of :func:`encode`).

    Parameters
    ----------
    r : dict
        ``{"size", "values", "counts"}`` and optionally ``"dtype"`` (lists, or the
        compact strings of ``encode(..., compact=True)``). Without ``dtype``, as in the
        seed format, the smallest integer dtype holding the values is used.
    order : {"F", "C"}
        Memory layout of the result. ``"F"`` (default, like pycocotools) needs no
        copy; ``"C"`` returns a C-contiguous array (one extra copy).
    progress : callable, optional
        ``progress(done, total)`` for large masks.

    Raises
    ------
    ValueError
        If ``r`` is malformed: missing keys, bad size or dtype, counts that are
        negative, not integers or do not sum to the size, values that do not fit the
        dtype, ``values``/``counts`` of different lengths, bad compact strings.

    See Also
    --------
    encode : the inverse.

    Examples
    --------
    >>> decode({"size": [2, 2], "values": [0, 3], "counts": [2, 2]}).tolist()
    [[0, 3], [0, 3]]
    """
    if order not in ("F", "C"):
        raise ValueError(f"order must be 'F' or 'C', got {order!r}")
    out = None
    if progress is None:
        out = _decode_fast(r)
    if out is None:
        out = _decode_checked(r, progress)
    return np.ascontiguousarray(out) if order == "C" else out


def _decode_fast(r: Any) -> np.ndarray | None:
    """The common case in one go: lists of ints or compact strings with a ``dtype``.

    Converts the lists the fastest way Python offers (``array.array`` for counts,
    ``bytearray`` for byte values) and checks that the counts sum to the size before
    the output is allocated and filled, or decodes compact strings straight into the
    output (:func:`fill_runs_from_strings`, which stops at the first count that passes
    the end). Returns None when the input is not of that kind or anything is wrong with
    it (or ``size`` is too large to allocate): :func:`_decode_checked` then decodes it
    or says what is wrong, so this never accepts what the full checks refuse.
    """
    if not isinstance(r, Mapping):
        return None
    try:
        size, raw_values, raw_counts, name = r["size"], r["values"], r["counts"], r["dtype"]
    except KeyError:
        return None
    if not isinstance(name, str) or name not in DTYPES:
        return None
    shape = _check_size(size)
    n = math.prod(shape)
    dtype = np.dtype(name)
    k = _kernels()

    def new_output():
        out = np.empty(n, dtype=dtype)
        return out, (out.view(np.uint8) if dtype == np.bool_ else out)

    if type(raw_counts) is str and type(raw_values) is str:
        if not (raw_counts.isascii() and raw_values.isascii()):
            return None
        if dtype == np.bool_:
            lo, hi = 0, 1
        elif dtype == np.uint64:  # compact values carry uint64 as int64 bit patterns
            lo, hi = -(2**63), 2**63 - 1
        else:
            lo, hi = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
        counts_buf = np.frombuffer(raw_counts.encode("ascii"), np.uint8)
        values_buf = np.frombuffer(raw_values.encode("ascii"), np.uint8)
        try:  # (untouched pages cost nothing if the counts fall short of a lying size)
            out, flat = new_output()
        except MemoryError:
            return None
        if not k.fill_runs_from_strings(flat, counts_buf, values_buf, lo, hi):
            return None
    elif type(raw_counts) is list and type(raw_values) is list:
        if not raw_counts or len(raw_counts) != len(raw_values):
            return None
        try:
            counts = _uint64_array(raw_counts)
            if dtype.itemsize == 1 and dtype != np.int8:  # uint8, bool: 0..255 checked
                values = np.frombuffer(bytearray(raw_values), np.uint8)
                if dtype == np.bool_ and values.max() > 1:
                    return None
            else:
                values = _values_as(_int_array(raw_values, "values"), dtype)
        except (OverflowError, TypeError, ValueError):
            return None
        counts = counts.view(np.int64)  # counts >= 2**63 turn negative: refused below
        if k.check_counts(counts, n)[0] != 0:
            return None
        out, flat = new_output()
        k.fill_runs(flat, values, counts, 0, counts.size, 0)
    else:
        return None
    return out.reshape(shape, order="F")


def _decode_checked(r: Any, progress: ProgressCallback | None) -> np.ndarray:
    """Decode after checking everything (:func:`_parse`), with progress reports."""
    shape, dtype, values, counts = _parse(r)
    n = math.prod(shape)
    _check_fits(shape, dtype)
    out = np.empty(n, dtype=dtype)
    if n:
        k = _kernels()
        flat = out.view(np.uint8) if dtype == np.bool_ else out
        vals = values.view(np.uint8) if dtype == np.bool_ else values
        m = counts.size
        pos = 0
        for k0, k1 in _chunks(m, progress is not None and n >= _CHUNK_ELEMENTS):
            pos = k.fill_runs(flat, vals, counts, k0, k1, pos)
            report(progress, k1, m)
    return out.reshape(shape, order="F")


def num_runs(r: Mapping) -> int:
    """Number of runs of an RLE (either form), without decoding it."""
    counts = r["counts"]
    if isinstance(counts, (str, bytes)):
        return int(_decode_string(counts, "counts", delta=False).size)
    return len(counts)


def compact(r: Mapping) -> RLE:
    """The same RLE with ``counts`` and ``values`` as compressed strings (checked first).

    >>> compact({"size": [4], "values": [0, 7], "counts": [1, 3]})["counts"]
    '13'
    """
    shape, dtype, values, counts = _parse(r)
    out = {key: val for key, val in r.items() if key not in ("values", "counts")}
    out["size"], out["dtype"] = list(shape), dtype.name
    values = values.view(np.uint8) if dtype == np.bool_ else values
    out["values"], out["counts"] = _compact_strings(values, counts)
    return out


def expand(r: Mapping) -> RLE:
    """The same RLE with ``counts`` and ``values`` as plain lists of ints (checked first)."""
    shape, dtype, values, counts = _parse(r)
    out = {key: val for key, val in r.items() if key not in ("values", "counts")}
    out["size"], out["dtype"] = list(shape), dtype.name
    out["values"], out["counts"] = _as_list(values), counts.tolist()
    return out

