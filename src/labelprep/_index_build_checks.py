"""The in-memory build's checks of its input, and its errors.

What :func:`labelprep._index_build._build_numpy` accepts as a stack and a background
(and the dtypes of the index it makes from them), and the messages it raises when a
float stack holds a value that cannot be a label or the stack changes during the build.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .errors import InputChangedError


def _index_dtype(size: int) -> np.dtype:
    return np.dtype(np.uint32) if size < 2**32 else np.dtype(np.uint64)


def _label_dtype(dtype: np.dtype) -> np.dtype:
    """dtype of ``idx.labels`` for a stack of ``dtype`` (bool -> uint8, float -> int64)."""
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    if dtype.kind == "f":
        return np.dtype(np.int64)
    return dtype.newbyteorder("=")


def _check_stack(labels: Any) -> np.ndarray:
    if not isinstance(labels, np.ndarray):
        raise TypeError(
            f"labels must be a NumPy array, got {type(labels).__name__}; "
            "use np.asarray(labels) for array-likes"
        )
    arr = np.asarray(labels)  # drops ndarray subclasses such as np.memmap (no copy)
    if arr.ndim == 0:
        raise ValueError("labels must have at least one axis, got a 0-d array")
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise TypeError(
            f"labels must have an integer or bool dtype (or whole-number floats), "
            f"got {arr.dtype}"
        )
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)  # numba has no float16: one converted copy
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))  # one converted copy
    return arr


def _background_key(dtype: np.dtype, background: Any) -> tuple[Any, int | None]:
    """(background as the kernels compare it, or None; background as a Python int)."""
    if background is None:
        return None, None
    try:
        if isinstance(background, (bool, np.bool_)):
            bg = int(background)
        elif isinstance(background, (float, np.floating)):
            if not float(background).is_integer():
                raise TypeError
            bg = int(background)
        else:  # int, numpy integer
            bg = operator.index(background)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"background must be an integer or None, got {background!r}") from None
    if dtype.kind == "f":
        return np.float64(bg), bg
    if dtype.kind == "b":
        if bg not in (0, 1):
            raise ValueError(f"background={bg} cannot occur in a bool stack (use 0 or 1)")
        return np.uint8(bg), bg
    info = np.iinfo(dtype)
    if not info.min <= bg <= info.max:
        raise ValueError(
            f"background={bg} cannot occur in a {dtype} stack "
            f"(values {info.min}..{info.max}); pass background=None to index every value"
        )
    unsigned = np.dtype(f"u{dtype.itemsize}")
    native = np.array(bg, dtype=dtype.newbyteorder("="))
    return native.view(unsigned)[()], bg


def _float_value_error(dtype: Any, value: float) -> str:
    """Why a float stack's value cannot be a label: not whole, or beyond int64 labels."""
    if value == value and abs(value) != float("inf") and float(value).is_integer():
        return (f"labels is a {dtype} array with the value {value:g}, outside the range "
                "that float stacks are indexed in (|value| < 9.2e18, as int64 labels); "
                "convert it to an integer dtype first")
    return (f"labels is a {dtype} array with a value that is not a whole number "
            f"({value}); float stacks are accepted only if every value is integral")


def _changed_error() -> InputChangedError:
    return InputChangedError(
        "the labels changed while the index was being built (a value or a voxel count "
        "differs between the two passes over the stack); build it again once the stack "
        "is no longer being edited, or from a copy"
    )
