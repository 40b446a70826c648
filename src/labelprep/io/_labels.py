"""Does an array look like a label image? A cheap check on a sample of its rows."""

from __future__ import annotations

from typing import Any

import numpy as np


def _sample_rows(stack: Any, planes: int = 8, rows: int = 64) -> np.ndarray:
    """Up to ``planes`` x ``rows`` evenly spaced full rows (last axis) of ``stack``."""
    shape = tuple(stack.shape)
    if len(shape) == 1:
        return np.asarray(stack[: 1 << 16])[None, :]
    lead = shape[:-2]
    picks = []
    n_lead = int(np.prod(lead)) if lead else 1
    for flat in np.unique(np.linspace(0, n_lead - 1, min(planes, n_lead)).astype(np.int64)):
        pos = np.unravel_index(int(flat), lead) if lead else ()
        ys = np.unique(np.linspace(0, shape[-2] - 1, min(rows, shape[-2])).astype(np.int64))
        picks.append(np.asarray(stack[tuple(int(i) for i in pos) + (ys,)]))
    return np.concatenate([p.reshape(-1, shape[-1]) for p in picks])


def intensity_warning(stack: Any) -> str | None:
    """A warning text if ``stack`` looks like intensities rather than labels, else None.

    Labels are mostly flat: neighbouring voxels are equal inside objects and jump by
    arbitrary amounts at their borders. Intensities (a grey-level image given as a
    stack by mistake) change at most voxels, by small steps. Only a sample of rows is
    read (about 512 rows), so this is cheap on any stack, a dask or memory-mapped one
    too. Bool and float stacks are not checked.

    Examples
    --------
    >>> labels = np.zeros((64, 64), np.uint16); labels[10:30, 10:30] = 7
    >>> intensity_warning(labels) is None
    True
    >>> ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint16) * 20
    >>> "intensity image" in intensity_warning(ramp)
    True
    """
    dtype = np.dtype(stack.dtype)
    if dtype.kind not in "iu" or stack.ndim < 1 or stack.shape[-1] < 2 or 0 in stack.shape:
        return None
    rows = _sample_rows(stack).astype(np.int64)
    steps = np.abs(np.diff(rows, axis=-1))
    changed = steps[steps != 0]
    share = changed.size / steps.size
    distinct = np.unique(rows).size
    if share < 0.3 or distinct <= 64:
        return None
    spread = int(rows.max() - rows.min())
    median_step = float(np.median(changed))
    if median_step > 0.05 * spread:
        return None  # neighbours differ by arbitrary amounts: random labels, not intensities
    return (
        f"this looks like an intensity image, not labels: {share:.0%} of neighbouring "
        f"voxels differ, by a median step of {median_step:g} over a range of {spread} "
        f"({distinct} distinct values in a sample); every distinct value will be indexed "
        "as an object"
    )
