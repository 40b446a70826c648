"""Encoding: the runs of a mask (two passes, row by row or over a flat view) and
:func:`encode`, with the list and compact string forms of its output."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._progress import ProgressCallback, report
from ..errors import InputChangedError
from ._base import _CHUNK_ELEMENTS, _DTYPE_NAMES, _UNSIGNED, RLE, _as_mask, _chunks, _kernels


def _unsigned_view(a: np.ndarray) -> np.ndarray:
    """Same bytes, unsigned dtype of the same width (kernels only compare for equality)."""
    return a.view(_UNSIGNED[a.dtype.itemsize])



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

