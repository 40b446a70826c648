"""Label ids for an :class:`~labelprep.edit.EditSession`: the index rows of the ids an edit
names, a new label checked against the array's dtype, and free labels for the pieces of a
split. ``store`` is the session's :class:`~labelprep._kernels.edit.Store` (its ``labels``,
ascending, and ``find``); ``dtype`` the edited array's.
"""

from __future__ import annotations

import itertools
import operator
from typing import Any

import numpy as np


def rows_of(store, ids: Any) -> np.ndarray:
    """Sorted unique rows of the labels ``ids`` in ``store`` (KeyError naming an unknown one)."""
    values = [ids] if np.ndim(ids) == 0 else list(ids)
    try:
        keys = [operator.index(v) for v in values]
    except TypeError:
        raise TypeError(f"label ids must be integers, got {ids!r}") from None
    info = np.iinfo(store.labels.dtype)
    inside = [info.min <= k <= info.max for k in keys]
    pos = store.find(np.array([k if ok else 0 for k, ok in zip(keys, inside)],
                              dtype=store.labels.dtype))
    pos[~np.array(inside, dtype=bool)] = -1
    if (pos < 0).any():
        raise KeyError(f"label {keys[int(np.argmax(pos < 0))]} is not in the stack")
    return np.unique(pos)


def check_label(value: Any, name: str, store, dtype: np.dtype) -> int:
    """``value`` as an integer label of a ``dtype`` array (whose index rows are ``store``):
    TypeError or ValueError naming the argument ``name`` if it is not one."""
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer label, got {value!r}") from None
    info = np.iinfo(store.labels.dtype)
    hi = 1 if dtype == np.bool_ else info.max
    if not info.min <= value <= hi:
        raise ValueError(f"{name}={value} cannot be stored in a {dtype} array "
                         f"(values {info.min}..{hi})")
    return value


def free_ids(store, dtype: np.dtype, background: int | None, k: int) -> list[int]:
    """``k`` labels not in the stack (and not the background): the next ones above
    the largest label, else the lowest unused ones from 1 up, then from the dtype's
    minimum up."""
    info = np.iinfo(store.labels.dtype)
    lo, hi = (0, 1) if dtype == np.bool_ else (int(info.min), int(info.max))
    taken = set(store.labels.tolist())
    if background is not None:
        taken.add(background)
    start = int(store.labels[-1]) + 1 if len(store.labels) else 1
    candidates = itertools.chain(range(start, hi + 1), range(min(1, hi), hi + 1),
                                 range(lo, min(1, hi + 1)))
    out: set[int] = set()
    for v in candidates:
        if len(out) == k:
            break
        if v not in taken:
            out.add(v)
    if len(out) < k:
        raise ValueError(f"no {k} free labels left in a {dtype} array "
                         f"for the pieces of the split")
    return sorted(out)
