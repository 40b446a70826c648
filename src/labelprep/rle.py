"""Multi-class run-length encoding (RLE) of label masks, COCO-compatible.

One encoding stores every class of a mask: COCO's run-length encoding with a
``values`` key added, holding the label of each run::

    >>> import numpy as np
    >>> from labelprep import rle
    >>> mask = np.array([[0, 0, 1, 1, 0],
    ...                  [3, 0, 1, 1, 0],
    ...                  [3, 3, 1, 1, 0],
    ...                  [3, 3, 0, 0, 0]], dtype=np.uint8)
    >>> r = rle.encode(mask)
    >>> r["values"], r["counts"]
    ([0, 3, 0, 3, 1, 0, 1, 0], [1, 3, 2, 2, 3, 1, 3, 5])
    >>> bool((rle.decode(r) == mask).all())
    True

Runs follow column-major (Fortran) order over all axes, exactly as COCO: the first
axis varies fastest; ``size`` is the array shape and ``dtype`` the NumPy dtype name.
``to_coco``/``from_coco`` convert binary masks to and from COCO's own RLE (identical
to ``pycocotools.mask.encode``), ``save``/``load`` read and write ``*.rle.json`` files.

Every function checks its input and raises ``ValueError`` (``TypeError`` for a float
mask) naming the problem rather than returning garbage.
"""

from __future__ import annotations

import array
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import ProgressCallback, report
from .errors import InputChangedError
from .io import atomic_open, too_big

__all__ = [
    "encode",
    "decode",
    "compact",
    "expand",
    "num_runs",
    "to_coco",
    "from_coco",
    "save",
    "load",
    "dumps",
    "SUFFIX",
]

SUFFIX = ".rle.json"
"""Conventional file name suffix of a multi-class RLE file."""

DTYPES = (
    "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
)
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# split work into chunks (for progress reports) only above this many elements
_CHUNK_ELEMENTS = 1 << 22
_N_CHUNKS = 32

RLE = dict[str, Any]


# ----------------------------------------------------------------------------- helpers

_KERNELS = None
# dtype -> its name, without NumPy's (slow) dtype.name
_DTYPE_NAMES = {np.dtype(name): name for name in DTYPES}


def _kernels():
    """The numba kernels, imported on first use (keeps ``import labelprep.rle`` cheap)."""
    global _KERNELS
    if _KERNELS is None:
        from ._kernels import rle as kernels

        _KERNELS = kernels
    return _KERNELS


def _as_mask(mask: Any, name: str = "mask") -> np.ndarray:
    """``mask`` as a native-byte-order integer or bool array, or a clear error."""
    if isinstance(mask, Mapping):
        raise TypeError(f"{name} must be an array, got a dict (decode it first)")
    a = np.asarray(mask)
    if a.dtype.kind not in "biu":
        if a.dtype.kind == "f":
            raise TypeError(
                f"{name} has float dtype {a.dtype}: RLE stores integer labels; cast it "
                f"first, e.g. {name}.astype(np.uint16), if its values are whole numbers"
            )
        raise TypeError(f"{name} must be an integer or bool array, got dtype {a.dtype}")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _unsigned_view(a: np.ndarray) -> np.ndarray:
    """Same bytes, unsigned dtype of the same width (kernels only compare for equality)."""
    return a.view(_UNSIGNED[a.dtype.itemsize])


def _chunks(n: int, split: bool) -> list[tuple[int, int]]:
    """``0 .. n`` in about ``_N_CHUNKS`` pieces if ``split`` (to report progress), else whole."""
    if not split or n <= 1:
        return [(0, n)]
    step = -(-n // _N_CHUNKS)
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _runs(a: np.ndarray, progress: ProgressCallback | None = None):
    """(starts, values) of the runs of ``a`` in column-major order; ``a`` unsigned."""
    if a.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, a.dtype)
    if a.ndim >= 2 and not a.flags.f_contiguous:
        a3 = _as_rows(a)
        if a3 is not None:
            return _runs_rows(a3, a.shape, progress)
        a = np.asfortranarray(a)  # other layouts: one copy, then a flat scan
    return _runs_flat(a.reshape(-1, order="F"), progress)  # a view: a is F-contiguous


def _as_rows(a: np.ndarray) -> np.ndarray | None:
    """``a`` (2D or more, not F-contiguous) as an (H, P, X) view for the row sweep.

    H is the first axis (the one runs go along), X the last (the one contiguous in
    memory) and P the axes between. None if the last axis is not the one with the
    smallest stride (the sweep would not read memory in order) or if a view is not
    possible (strided arrays of 4 or more axes): the caller copies to Fortran order.
    """
    if a.ndim == 2:
        return a[:, None, :] if abs(a.strides[1]) <= abs(a.strides[0]) else None
    if a.flags.c_contiguous:
        return a.reshape(a.shape[0], -1, a.shape[-1])
    if a.ndim == 3 and abs(a.strides[2]) <= min(abs(a.strides[0]), abs(a.strides[1])):
        return a
    return None


def _runs_rows(a3: np.ndarray, shape: tuple[int, ...], progress):
    """Runs of an (H, P, X) array in column-major order, reading it row by row.

    Column (p, x) (the line ``a3[:, p, x]``) comes at rank ``mid_f[p] + P * x`` in
    column-major order, ``mid_f`` being the column-major rank of the middle index p
    over ``shape[1:-1]``. One pass counts the changes down each column, which lays out
    the output (the run at each column top, then each column's changes, in
    column-major order); a second pass writes each change into its slot. The output
    is written sorted and no copy of the array is made.
    """
    k = _kernels()
    h, pp, xx = a3.shape
    if pp > 1 and len(shape) > 3:
        mid_r = np.arange(pp, dtype=np.int64).reshape(shape[1:-1]).ravel(order="F")
        mid_f = np.empty(pp, np.int64)
        mid_f[mid_r] = np.arange(pp, dtype=np.int64)
    else:
        mid_r = mid_f = np.arange(pp, dtype=np.int64)
    # at most h - 1 changes per column: the narrowest counter that holds them
    # vectorises best
    cnt_dtype = np.uint16 if h <= 1 << 16 else np.uint32 if h <= 1 << 32 else np.int64
    cnt = np.zeros(pp * xx, cnt_dtype)
    split = progress is not None and a3.size >= _CHUNK_ELEMENTS
    row_chunks = _chunks(h, split)
    for i0, i1 in row_chunks:
        k.count_changes(a3, i0, i1, cnt)
        report(progress, i1, 2 * h)
    starts, values, cursor, ends, top, total = k.column_slots(a3, mid_r, cnt)
    flags = np.zeros(-(-xx // 8) * 8, np.uint8)
    scratch = (flags, flags.view(np.uint64))
    # second pass in blocks of rows (2D) or of middle indices (stacks), for progress
    if pp == 1:
        for i0, i1 in row_chunks:
            k.record_changes(a3, mid_f, top, cursor, starts, values, 0, 1, i0, i1, *scratch)
            report(progress, h + i1, 2 * h)
    else:
        for p0, p1 in _chunks(pp, split):
            k.record_changes(a3, mid_f, top, cursor, starts, values, p0, p1, 0, h, *scratch)
            report(progress, h + h * p1 // pp, 2 * h)
    if not np.array_equal(cursor, ends):
        raise _changed_error()
    return starts[:total], values[:total]


def _runs_flat(flat: np.ndarray, progress):
    """Runs of a 1D array (the column-major view of the mask): counting pass, then one
    that writes the positions of the changes."""
    k = _kernels()
    n = flat.size
    chunks = _chunks(n, progress is not None and n >= _CHUNK_ELEMENTS)
    m = 1
    for lo, hi in chunks:
        m += k.flat_count_changes(flat, lo, hi)
        report(progress, hi, 2 * n)
    # one spare slot: the kernel writes without a branch (and past the counted end there)
    starts = np.empty(m + 1, np.int64)
    starts[0] = 0
    pos = 1
    flags = np.zeros(4096, np.uint8)
    scratch = (flags, flags.view(np.uint64))
    for lo, hi in chunks:
        pos = k.flat_record_changes(flat, lo, hi, starts, pos, *scratch)
        report(progress, n + hi, 2 * n)
    if pos != m:
        raise _changed_error()
    starts = starts[:m]
    return starts, flat[starts]


def _changed_error() -> InputChangedError:
    return InputChangedError(
        "the mask changed while it was being encoded (its runs differ between the two "
        "passes over it); encode it again once it is no longer being edited, or a copy"
    )


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


# ----------------------------------------------------------------------------- public API

def encode(
    mask: Any, *, compact: bool = False, progress: ProgressCallback | None = None
) -> RLE:
    """Multi-class run-length encoding of an integer or bool array of any shape.

    Parameters
    ----------
    mask : array_like of int or bool
        Label image: 2D, a 3D stack, any shape, any memory layout; values of any
        integer dtype (uint8 .. uint64, signed) are kept exactly.
    compact : bool
        Store ``counts`` and ``values`` as COCO-style compressed strings (about 2-4x
        smaller JSON); :func:`decode` and :func:`load` read both forms.
    progress : callable, optional
        ``progress(done, total)``, called as the work advances (large arrays only).

    Returns
    -------
    dict
        ``{"size": list(mask.shape), "dtype": mask.dtype.name, "values": [...],
        "counts": [...]}``: run ``i`` holds ``counts[i]`` elements equal to
        ``values[i]``, in column-major (Fortran) order. Plain Python ints, ready for
        JSON.

    Raises
    ------
    TypeError
        If ``mask`` has a float (or other non-integer) dtype.
    labelprep.errors.InputChangedError
        (a RuntimeError) If ``mask`` was modified while being encoded (its two passes
        disagree). ``mask`` must not change during the call: an edit that keeps the
        number of runs cannot be detected (pass a copy if something may edit it).

    See Also
    --------
    decode : the inverse.
    compact : the COCO string form of the counts.
    pycocotools.mask.encode : the binary-mask encoder this matches byte for byte.

    Examples
    --------
    >>> encode(np.array([[0, 3], [0, 3]], np.uint8))
    {'size': [2, 2], 'dtype': 'uint8', 'values': [0, 3], 'counts': [2, 2]}
    """
    a = _as_mask(mask)
    counts, values = _runs(_unsigned_view(a), progress)
    _kernels().starts_to_counts(counts, a.size)
    values = values.view(a.dtype)
    r: RLE = {"size": list(a.shape), "dtype": _DTYPE_NAMES.get(a.dtype) or a.dtype.name}
    if compact:
        r["values"], r["counts"] = _compact_strings(values, counts)
    else:
        r["values"], r["counts"] = _as_list(values), counts.tolist()
    return r


def _as_list(values: np.ndarray) -> list[int]:
    """Values as a list of Python ints (bool as 0/1); bytes go through ``bytes``,
    faster than ``tolist`` for them."""
    if values.dtype.itemsize == 1 and values.dtype.kind in "bu":
        return list(values.view(np.uint8).tobytes())
    return values.tolist()


def _compact_strings(values: np.ndarray, counts: np.ndarray) -> tuple[str, str]:
    k = _kernels()
    if values.dtype == np.uint64:
        v64 = values.view(np.int64)  # bit pattern: exact, and short for huge values
    else:
        v64 = values.astype(np.int64)
    vs = k.coco_string_encode(v64, False).tobytes().decode("ascii")
    cs = k.coco_string_encode(counts.astype(np.int64, copy=False), False)
    return vs, cs.tobytes().decode("ascii")


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


# ----------------------------------------------------------------------------- COCO

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


# ----------------------------------------------------------------------------- files

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
        If the file is not valid JSON or not a valid RLE; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
        r = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a valid JSON file: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path} is not a valid RLE file: its JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise ValueError(f"{path} is not a valid RLE file: {exc}") from None
    try:
        _parse(r)
    except ValueError as exc:
        raise ValueError(f"{path} is not a valid RLE file: {exc}") from None
    return r
