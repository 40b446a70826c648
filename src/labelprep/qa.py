"""Review flags for every object of a labelled stack, from its :class:`LabelIndex`.

One row per object: is it unusually small or large for this stack, does it touch the
stack's border, lie in a single plane, fill little of its bounding box, or fall apart
into several connected pieces? All flags but the last come from the index's per-object
arrays (O(objects)); connected pieces are counted from each object's own voxel list
(a union-find in numba, O(voxels), on all cores), never by scanning the stack.

>>> import numpy as np
>>> from labelprep import LabelIndex
>>> from labelprep.qa import flags
>>> stack = np.zeros((4, 6), dtype=np.uint8)
>>> stack[1:3, 1:3] = 1; stack[0, 4] = 2; stack[3, 5] = 2
>>> table = flags(LabelIndex.build(stack), stack)
>>> table[["label", "touches_border", "low_fill", "fragmented"]]
   label  touches_border  low_fill  fragmented
0      1           False     False       False
1      2            True     False        True
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .index import LabelIndex, default_workers

__all__ = ["FLAG_COLUMNS", "flags", "size_thresholds"]

#: The boolean columns of :func:`flags`, in order.
FLAG_COLUMNS = ("tiny", "huge", "touches_border", "single_slice", "low_fill", "fragmented")
#: Scale of the median absolute deviation to a normal distribution's standard deviation.
_MAD_SCALE = 1.4826
_MIN_VOXELS_PER_TASK = 1 << 20


def size_thresholds(counts: np.ndarray, spread: float = 3.0) -> tuple[float, float]:
    """``(tiny, huge)`` voxel counts: ``spread`` robust standard deviations below and
    above the median of the log sizes, i.e. ``exp(median(log n) -/+ spread * 1.4826 *
    MAD(log n))``. Sizes are compared on a log scale because object sizes are skewed;
    ``spread=3`` flags, for a log-normal size distribution, about 0.1% on each side.
    NaN for no objects.

    >>> [round(t) for t in size_thresholds(np.array([80, 90, 100, 110, 120, 5, 4000]))]
    [44, 225]
    """
    counts = np.asarray(counts)
    if counts.size == 0:
        return float("nan"), float("nan")
    logs = np.log(np.maximum(counts, 1).astype(np.float64))
    median = float(np.median(logs))
    mad = _MAD_SCALE * float(np.median(np.abs(logs - median)))
    return float(np.exp(median - spread * mad)), float(np.exp(median + spread * mad))


def flags(
    index: LabelIndex,
    labels: np.ndarray | None = None,
    *,
    tiny: float | None = None,
    huge: float | None = None,
    spread: float = 3.0,
    low_fill: float = 0.1,
    connectivity: int = 1,
    workers: int | None = None,
) -> Any:
    """One row of review flags per object of ``index`` (a pandas DataFrame).

    Parameters
    ----------
    index : LabelIndex
        Index of the labelled stack.
    labels : ndarray, optional
        The stack the index was built from. Not needed to compute the flags (the index
        holds every voxel); if given, it is checked to match the index (shape, and the
        first voxel of each object), so that a stale index is refused.
    tiny, huge : float, optional
        Objects of fewer than ``tiny`` voxels are ``tiny``, of more than ``huge`` are
        ``huge``. Default: from the size distribution (:func:`size_thresholds`).
    spread : float
        Robust standard deviations of the log sizes for the default ``tiny``/``huge``.
    low_fill : float
        ``low_fill`` flags objects whose voxels fill less than this fraction of their
        bounding box (default 0.1).
    connectivity : int
        1..ndim, as in ``scipy.ndimage.generate_binary_structure``: which neighbours
        join voxels into one piece for ``fragmented`` (1: faces only, ndim: corners).
    workers : int, optional
        Threads for the component counts (default: the usable cores, at most 8).

    Returns
    -------
    DataFrame
        Columns ``label``, then the booleans of :data:`FLAG_COLUMNS`:

        - ``tiny``, ``huge``: voxel count below ``tiny`` / above ``huge``;
        - ``touches_border``: the bounding box reaches the first or last plane of any
          axis;
        - ``single_slice``: (3D and more) every voxel in one plane along axis 0, the
          stack axis (bounding box 1 thick there); always False in 1D and 2D;
        - ``low_fill``: ``fill`` below ``low_fill``;
        - ``fragmented``: more than one connected piece;

        then ``voxels``, ``fill`` (voxels / bounding-box volume) and ``components``.
        ``table.attrs["thresholds"]`` holds the thresholds used.

    See Also
    --------
    labelprep.EditSession : fix what the flags find.
    labelprep.LabelIndex.measure : the objects' statistics.
    """
    import pandas as pd

    from ._kernels.qa import backward_offsets, count_components

    if not isinstance(index, LabelIndex):
        raise TypeError(f"index must be a LabelIndex, got {type(index).__name__}")
    ndim = index.ndim
    if isinstance(connectivity, bool) or connectivity not in range(1, ndim + 1):
        raise ValueError(f"connectivity must be 1..{ndim} for a {ndim}D stack, "
                         f"got {connectivity!r}")
    if not 0 <= low_fill <= 1:
        raise ValueError(f"low_fill must be a fraction in [0, 1], got {low_fill!r}")
    if not spread > 0:
        raise ValueError(f"spread must be > 0, got {spread!r}")
    for name, value in (("tiny", tiny), ("huge", huge)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be a voxel count >= 0, got {value!r}")
    if labels is not None:
        _check_labels(index, labels)

    counts = index.counts
    auto_tiny, auto_huge = size_thresholds(counts, spread)
    tiny = auto_tiny if tiny is None else float(tiny)
    huge = auto_huge if huge is None else float(huge)
    extent = index.bboxes[:, :, 1] - index.bboxes[:, :, 0]
    fill = counts / np.prod(extent, axis=1, dtype=np.float64) if len(index) else counts * 1.0
    shape = np.array(index.shape, dtype=np.int64)
    border = (index.bboxes[:, :, 0] == 0).any(axis=1) | (index.bboxes[:, :, 1] == shape).any(
        axis=1)
    single = extent[:, 0] == 1 if ndim >= 3 else np.zeros(len(index), dtype=bool)

    components = np.zeros(len(index), dtype=np.int64)
    if len(index):
        nbflat, forbidden = backward_offsets(index.shape, connectivity)
        parts = _split_rows(index.offsets, workers or default_workers())

        def run(part):
            count_components(index.voxel_indices, index.offsets, part[0], part[1], shape,
                             nbflat, forbidden, components)

        if len(parts) == 1:
            run(parts[0])
        else:
            with ThreadPoolExecutor(max_workers=len(parts)) as pool:
                list(pool.map(run, parts))

    table = pd.DataFrame({
        "label": np.array(index.labels),
        "tiny": counts < tiny,
        "huge": counts > huge,
        "touches_border": border,
        "single_slice": single,
        "low_fill": fill < low_fill,
        "fragmented": components > 1,
        "voxels": np.array(counts),
        "fill": fill,
        "components": components,
    })
    table.attrs["thresholds"] = {"tiny": tiny, "huge": huge, "low_fill": float(low_fill),
                                 "connectivity": int(connectivity)}
    return table


def _split_rows(offsets: np.ndarray, workers: int) -> list[tuple[int, int]]:
    """Row ranges of about equal voxel counts: a few per worker (big objects balance)."""
    n = offsets.shape[0] - 1
    total = int(offsets[-1])
    tasks = max(1, min(4 * workers, total // _MIN_VOXELS_PER_TASK))
    cuts = np.searchsorted(offsets, np.linspace(0, total, tasks + 1)[1:-1])
    bounds = [0, *sorted({int(c) for c in cuts if 0 < c < n}), n]
    return list(itertools.pairwise(bounds))


def _check_labels(index: LabelIndex, labels: Any) -> None:
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels must be a NumPy array, got {type(labels).__name__}")
    if labels.shape != index.shape:
        raise ValueError(f"labels has shape {labels.shape}, the index is of a "
                         f"{index.shape} stack")
    if len(index):
        first = np.unravel_index(index.voxel_indices[index.offsets[:-1]], index.shape)
        if not np.array_equal(labels[first], index.labels.astype(labels.dtype)):
            raise ValueError("the index does not describe labels (its objects' first "
                             "voxels hold other values): build it again")
