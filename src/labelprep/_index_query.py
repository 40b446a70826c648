"""Look-ups by label of a :class:`~labelprep.index.LabelIndex`: ``label in idx``, the row
of a label, its voxels (raveled, as coordinates or as ``np.where`` arrays), its bounding
box, centroid and size. :class:`LabelIndex` inherits them from :class:`LabelLookups`.
"""

from __future__ import annotations

import operator

import numpy as np


class LabelLookups:
    """The per-label look-ups of :class:`~labelprep.index.LabelIndex` (a mixin).

    They read the index's ``labels``, ``counts``, ``offsets``, ``voxel_indices``,
    ``bboxes``, ``centroids``, ``shape`` and ``ndim``, and ``_range`` (the range of
    values of the labels' dtype), all set by :class:`LabelIndex`'s constructor. Every
    look-up is a binary search in ``labels``: O(log objects), plus the object's voxels
    for :meth:`coords` and :meth:`where`.
    """

    def __contains__(self, label: object) -> bool:
        return self._row(label) >= 0

    def _row(self, label: object) -> int:
        """Row of ``label`` in ``self.labels``, or -1 if absent (never raises)."""
        try:
            if isinstance(label, (bool, np.bool_)):
                key = int(label)
            elif isinstance(label, (float, np.floating)):
                if not float(label).is_integer():
                    return -1
                key = int(label)
            else:
                key = operator.index(label)  # int, numpy int, bool
        except (TypeError, ValueError, OverflowError):
            return -1
        lo, hi = self._range
        if key < lo or key > hi:
            return -1
        value = np.array(key, dtype=self.labels.dtype)
        i = int(np.searchsorted(self.labels, value))
        if i < self.labels.shape[0] and self.labels[i] == value:
            return i
        return -1

    def position(self, label: int) -> int:
        """Row of ``label`` in :attr:`labels` (and in :meth:`table`).

        Raises ``KeyError`` naming the label if it is not in the index.
        """
        i = self._row(label)
        if i < 0:
            raise KeyError(f"label {label!r} is not in this index")
        return i

    def flat(self, label: int) -> np.ndarray:
        """Raveled C-order indices of the voxels of ``label`` (a read-only view)."""
        i = self.position(label)
        return self.voxel_indices[self.offsets[i]:self.offsets[i + 1]]

    def _unravel(self, flat: np.ndarray, where_layout: bool) -> np.ndarray:
        from ._kernels.index import unravel

        shape = np.array(self.shape, dtype=np.int64)
        if where_layout:
            out = np.empty((self.ndim, flat.shape[0]), dtype=np.intp)
            unravel(flat, shape, out.T)
        else:
            out = np.empty((flat.shape[0], self.ndim), dtype=np.intp)
            unravel(flat, shape, out)
        return out

    def coords(self, label: int) -> np.ndarray:
        """``(n, ndim)`` voxel coordinates of ``label`` in raster order.

        Equal to ``np.argwhere(stack == label)``.
        """
        return self._unravel(self.flat(label), where_layout=False)

    def where(self, label: int) -> tuple[np.ndarray, ...]:
        """Tuple of ``ndim`` index arrays, equal to ``np.where(stack == label)``."""
        return tuple(self._unravel(self.flat(label), where_layout=True))

    def bbox(self, label: int) -> tuple[slice, ...]:
        """Bounding box of ``label`` as slices: ``stack[idx.bbox(L)]`` crops the object."""
        box = self.bboxes[self.position(label)]
        return tuple(slice(int(start), int(stop)) for start, stop in box)

    def centroid(self, label: int) -> np.ndarray:
        """Mean voxel coordinate of ``label``, ``(ndim,)`` float64."""
        return self.centroids[self.position(label)].copy()

    def size(self, label: int) -> int:
        """Number of voxels of ``label``."""
        return int(self.counts[self.position(label)])
