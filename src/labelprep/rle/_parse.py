"""Parsing and validating a multi-class RLE dict (either form) into arrays:
:func:`_parse` and the checks it is made of (also used by the COCO readers)."""

from __future__ import annotations

import array
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..io import too_big
from ._base import DTYPES, _kernels


def _check_size(size: Any) -> tuple[int, ...]:
    if isinstance(size, (str, bytes)) or not isinstance(size, (Sequence, np.ndarray)):
        raise ValueError(f"'size' must be a list of non-negative integers, got {size!r}")
    out = []
    for s in size:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"'size' must hold integers, got {s!r} in {list(size)!r}")
        if s < 0:
            raise ValueError(f"'size' must not be negative, got {list(size)!r}")
        out.append(int(s))
    if math.prod(out) >= 2**62:
        raise ValueError(f"'size' {out} is too large")
    return tuple(out)


def _check_fits(shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Refuse, before allocating, a size that this machine's memory cannot hold."""
    reason = too_big(math.prod(shape) * dtype.itemsize, f"'size' {list(shape)} ({dtype})")
    if reason is not None:
        raise ValueError(reason)


def _check_dtype(r: Mapping, values: np.ndarray | None) -> np.dtype:
    name = r.get("dtype")
    if name is None:
        # files from the seed format carry no dtype: smallest integer type that fits
        if values is None or values.size == 0:
            return np.dtype(np.uint8)
        lo, hi = int(values.min()), int(values.max())
        for dt in (np.uint8, np.uint16, np.uint32, np.uint64) if lo >= 0 else (
            np.int8, np.int16, np.int32, np.int64
        ):
            if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
                return np.dtype(dt)
        raise ValueError(f"'values' range {lo}..{hi} fits no integer dtype")
    if not isinstance(name, str) or name not in DTYPES:
        raise ValueError(f"'dtype' must be one of {', '.join(DTYPES)}; got {name!r}")
    return np.dtype(name)


def _int_array(seq: Any, key: str, allow_bool: bool = False) -> np.ndarray:
    """A list/tuple/array of integers as an integer NumPy array, or ValueError.

    Lists from JSON go through ``array.array`` (several times faster than
    ``np.asarray`` on Python ints); integers beyond int64/uint64 come back as an object
    array (the range checks reject them). Python bools count as the ints 0 and 1 (bool
    is a subclass of int); bool arrays only where ``allow_bool``.
    """
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1:
            raise ValueError(f"'{key}' must be a flat list of integers, got shape {seq.shape}")
        if seq.dtype.kind in "iu":
            return seq
        if seq.dtype.kind == "b" and allow_bool:
            return seq.view(np.uint8)
        if seq.size == 0:
            return np.zeros(0, np.int64)
        if seq.dtype != object:
            raise ValueError(f"'{key}' must hold integers, got an array of dtype {seq.dtype}")
        items = seq.tolist()
    elif isinstance(seq, (list, tuple)):
        if len(seq) == 0:
            return np.zeros(0, np.int64)
        try:
            return _uint64_array(seq)
        except OverflowError:  # a negative number (or one >= 2**64)
            try:
                return np.frombuffer(array.array("q", seq), np.int64)
            except (OverflowError, TypeError):
                pass
        except TypeError:  # not all ints
            pass
        items = seq
    else:
        raise ValueError(
            f"'{key}' must be a list of integers or a string, got {type(seq).__name__}"
        )
    for v in items:
        if not isinstance(v, (int, np.integer)):
            raise ValueError(f"'{key}' must hold integers only, got {v!r}")
    return np.array([int(v) for v in items], dtype=object)


def _uint64_array(seq: Sequence[int]) -> np.ndarray:
    """Non-negative Python ints as uint64 (``array.fromlist``: the fastest route from a
    list, about 3 ns a number); OverflowError or TypeError if they are not all such."""
    a = array.array("Q")
    a.fromlist(seq if isinstance(seq, list) else list(seq))
    return np.frombuffer(a, np.uint64)


def _values_as(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` cast to ``dtype`` after checking each one fits (bool: 0 or 1)."""
    if dtype == np.bool_:
        if values.size and (values.dtype == object or values.min() < 0 or values.max() > 1):
            raise ValueError("'values' of a bool mask must be 0 or 1")
        return values.astype(np.bool_)
    info = np.iinfo(dtype)
    if values.size:
        lo, hi = (values.min(), values.max()) if values.dtype == object else (
            _kernels().min_max(values))
        if int(lo) < info.min or int(hi) > info.max:
            raise ValueError(
                f"'values' range {int(lo)}..{int(hi)} does not fit dtype {dtype.name}"
            )
    if values.dtype == object:
        return np.array(values.tolist(), dtype=dtype)
    return values.astype(dtype, copy=False)


def _decode_string(s: Any, key: str, delta: bool) -> np.ndarray:
    if isinstance(s, str):
        try:
            buf = s.encode("ascii")
        except UnicodeEncodeError:
            pos = next(i for i, ch in enumerate(s) if ord(ch) > 127)
            raise ValueError(
                f"'{key}' string has character {s[pos]!r} at position {pos}, outside the "
                "COCO alphabet (chr(48) to chr(111))"
            ) from None
    else:
        buf = bytes(s)
    k = _kernels()
    nums, err, pos = k.coco_string_decode(np.frombuffer(buf, np.uint8), delta)
    if err == k.BAD_CHAR:
        raise ValueError(
            f"'{key}' string has character {chr(buf[pos])!r} at position {pos}, outside the "
            "COCO alphabet (chr(48) to chr(111))"
        )
    if err == k.TRUNCATED:
        raise ValueError(f"'{key}' string is truncated: it ends inside a number")
    if err == k.OVERFLOW:
        raise ValueError(f"'{key}' string holds a number that does not fit in 64 bits")
    return nums


def _check_counts(counts: np.ndarray, n: int, key: str = "counts", shape=None) -> np.ndarray:
    where = f"the {n} elements of size {list(shape if shape is not None else (n,))}"
    if counts.dtype == object or (counts.dtype == np.uint64 and counts.size and
                                   _kernels().min_max(counts)[1] > np.iinfo(np.int64).max):
        raise ValueError(f"'{key}' holds a count larger than {where}")
    counts = counts.astype(np.int64, copy=False)
    status, index, total = _kernels().check_counts(counts, n)
    if status == 1:
        raise ValueError(
            f"'{key}' must not be negative, got {int(counts[index])} at index {index}"
        )
    if status in (2, 3):
        exact = sum(counts.tolist()) if status == 2 else int(total)
        more = "more" if status == 2 else "fewer"
        raise ValueError(f"'{key}' sum to {exact}, {more} than {where}")
    return counts


def _parse(r: Any) -> tuple[tuple[int, ...], np.dtype, np.ndarray, np.ndarray]:
    """Validate a multi-class RLE dict; return (shape, dtype, values, counts) arrays."""
    if not isinstance(r, Mapping):
        raise ValueError(f"an RLE must be a dict with 'size', 'values' and 'counts', got "
                         f"{type(r).__name__}")
    missing = [key for key in ("size", "values", "counts") if key not in r]
    if missing:
        hint = " (a COCO RLE? use rle.from_coco)" if missing == ["values"] else ""
        raise ValueError(f"RLE is missing key(s) {', '.join(map(repr, missing))}{hint}")
    shape = _check_size(r["size"])
    n = math.prod(shape)
    raw_counts, raw_values = r["counts"], r["values"]
    if isinstance(raw_counts, (str, bytes)):
        counts = _decode_string(raw_counts, "counts", delta=False)
    else:
        counts = _int_array(raw_counts, "counts")
    if isinstance(raw_values, (str, bytes)):
        values = _decode_string(raw_values, "values", delta=False)
        dtype = _check_dtype(r, values)
        if dtype == np.uint64:
            values = values.view(np.uint64)  # compact values carry uint64 as bit patterns
    else:
        values = _int_array(raw_values, "values", allow_bool=True)
        dtype = _check_dtype(r, values)
    if values.size != counts.size:
        raise ValueError(
            f"'values' and 'counts' must have the same length, got {values.size} values "
            f"and {counts.size} counts"
        )
    counts = _check_counts(counts, n, "counts", shape)
    values = _values_as(values, dtype)
    return shape, dtype, values, counts

