"""LabelIndex: an O(N) per-label voxel index of a labelled stack, with per-object stats.

"Which voxels make up object L?" answered for every label at once. :meth:`LabelIndex.build`
makes two linear passes over the stack (a counting sort, in numba) and stores, for all
objects together, one flat array of raveled C-order voxel indices grouped by label
(``voxel_indices``) plus per-label offsets (CSR). Coordinates are unravelled only when
asked for, so ``idx.coords(L)`` for a 10k-voxel object takes microseconds and the whole
index costs 4 bytes per foreground voxel (8 for stacks of 2**32 voxels or more).

>>> import numpy as np
>>> from labelprep import LabelIndex
>>> stack = np.array([[0, 7, 7], [2, 0, 7]], dtype=np.uint16)
>>> idx = LabelIndex.build(stack)
>>> idx.labels
array([2, 7], dtype=uint16)
>>> idx.coords(7)
array([[0, 1],
       [0, 2],
       [1, 2]])
>>> idx.bbox(7)
(slice(0, 2, None), slice(1, 3, None))
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._index_build import _build_numpy, _label_dtype
from ._index_build import default_workers as default_workers  # labelprep.index's, as before
from ._index_file import FORMAT_VERSION
from ._index_query import LabelLookups
from ._progress import ProgressCallback

__all__ = ["FORMAT_VERSION", "LabelIndex"]


PathLike = str | os.PathLike


def axis_names(ndim: int) -> tuple[str, ...]:
    """Names of the axes in tables and CSV headers: y, x (2D); z, y, x (3D); axisK else."""
    if ndim == 2:
        return ("y", "x")
    if ndim == 3:
        return ("z", "y", "x")
    return tuple(f"axis{k}" for k in range(ndim))


# The look-ups by label (position, flat, coords, where, bbox, centroid, size, `in`) are
# inherited from _index_query.LabelLookups; the work of the exports (to_dict ... write_coords_csv)
# is done in _index_export, of the build in _index_build, of save / load in _index_file.
class LabelIndex(LabelLookups):
    """Per-label voxel index of a labelled stack: which voxels belong to each object.

    Build one with :meth:`LabelIndex.build` (or :meth:`load` a saved one). The index
    stores, for the ``n`` labels present (ascending, background excluded), the raveled
    C-order indices of their voxels in one flat array, grouped by label (CSR layout):
    the voxels of ``labels[i]`` are ``voxel_indices[offsets[i]:offsets[i + 1]]``, in
    raster order. Per-object voxel counts, bounding boxes and centroids come for free.

    Attributes
    ----------
    labels : (n,) ndarray
        Label ids present, ascending, background excluded. Same dtype as the stack
        (uint8 for a bool stack, int64 for a float stack).
    counts : (n,) int64 ndarray
        Voxels per label.
    offsets : (n + 1,) int64 ndarray
        CSR offsets into ``voxel_indices``.
    voxel_indices : (N,) uint32 or uint64 ndarray
        Raveled C-order voxel indices grouped by label, ascending within each label;
        uint64 only for stacks of 2**32 voxels or more.
    bboxes : (n, ndim, 2) int64 ndarray
        ``[start, stop)`` per axis (stop exclusive, like a slice).
    centroids : (n, ndim) float64 ndarray
        Mean coordinate per axis.
    shape, ndim, dtype
        Shape, number of dimensions and dtype of the indexed stack.
    background : int or None
        The value that was excluded, or None if every value was indexed.
    axis_names : tuple of str
        ``("z", "y", "x")`` in 3D, ``("y", "x")`` in 2D, ``("axis0", ...)`` otherwise.

    Notes
    -----
    The constructor takes these arrays as keywords and checks that they are
    consistent (cheap, O(objects)); it is meant for :meth:`build`, :meth:`load` and
    code that assembles an index itself (e.g. chunk by chunk). The arrays are made
    read-only so that views handed out by :meth:`flat` cannot corrupt the index.
    """

    def __init__(
        self,
        *,
        labels: np.ndarray,
        counts: np.ndarray,
        offsets: np.ndarray,
        voxel_indices: np.ndarray,
        bboxes: np.ndarray,
        centroids: np.ndarray,
        shape: tuple[int, ...],
        dtype: Any,
        background: int | None,
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(dtype)
        self.background = None if background is None else int(background)
        size = int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1
        self._stack_size = size
        self.labels = np.asarray(labels)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.voxel_indices = np.asarray(voxel_indices)
        self.bboxes = np.asarray(bboxes, dtype=np.int64)
        self.centroids = np.asarray(centroids, dtype=np.float64)
        n = self.labels.shape[0] if self.labels.ndim == 1 else -1
        problems = []
        if self.ndim < 1:
            problems.append(f"shape {self.shape} has no axes")
        if self.labels.ndim != 1:
            problems.append(f"labels must be 1-D, got shape {self.labels.shape}")
        elif n and not bool(np.all(self.labels[1:] > self.labels[:-1])):
            problems.append("labels must be strictly ascending")
        if self.labels.dtype != _label_dtype(self.dtype):
            problems.append(
                f"labels dtype {self.labels.dtype} does not match a {self.dtype} stack "
                f"(expected {_label_dtype(self.dtype)})"
            )
        if self.counts.shape != (n,):
            problems.append(f"counts has shape {self.counts.shape}, expected ({n},)")
        if self.offsets.shape != (n + 1,):
            problems.append(f"offsets has shape {self.offsets.shape}, expected ({n + 1},)")
        elif self.offsets[0] != 0 or self.offsets[-1] != self.voxel_indices.shape[0]:
            problems.append("offsets must start at 0 and end at len(voxel_indices)")
        elif self.counts.shape == (n,) and not np.array_equal(np.diff(self.offsets), self.counts):
            problems.append("counts must equal the differences of offsets")
        if self.voxel_indices.ndim != 1 or self.voxel_indices.dtype not in (
            np.dtype(np.uint32), np.dtype(np.uint64)
        ):
            problems.append("voxel_indices must be a 1-D uint32 or uint64 array")
        elif self.voxel_indices.dtype.itemsize * 8 < 64 and size > 2**32 - 1:
            problems.append("voxel_indices must be uint64 for stacks of 2**32 voxels or more")
        if self.bboxes.shape != (n, self.ndim, 2):
            problems.append(f"bboxes has shape {self.bboxes.shape}, expected ({n}, {self.ndim}, 2)")
        if self.centroids.shape != (n, self.ndim):
            problems.append(
                f"centroids has shape {self.centroids.shape}, expected ({n}, {self.ndim})"
            )
        if problems:
            raise ValueError("inconsistent LabelIndex: " + "; ".join(problems))
        for arr in (self.labels, self.counts, self.offsets, self.voxel_indices, self.bboxes,
                    self.centroids):
            arr.flags.writeable = False
        self.axis_names = axis_names(self.ndim)
        if self.labels.dtype.kind in "iu":
            info = np.iinfo(self.labels.dtype)
            self._range = (int(info.min), int(info.max))
        else:  # pragma: no cover - labels are always integers
            self._range = (None, None)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        label_image: Any = None,
        *,
        background: int | None = 0,
        progress: ProgressCallback | None = None,
        workers: int | None = None,
        time_axis: int | None = None,
        image: Any = None,
        labels: Any = None,
    ) -> LabelIndex:
        """Index every object of a labelled stack in two linear passes.

        Parameters
        ----------
        label_image : ndarray
            Integer or bool array with at least one axis (2D, 3D or nD), any memory
            order. A float array is accepted only if every value is a whole number
            (labels are then reported as int64). A dask array is handed to
            ``labelprep.chunked.build_from_dask``.
        background : int or None
            Value that is not an object (default 0); ``None`` indexes every value.
        progress : callable, optional
            ``progress(done, total)``, called a few dozen times (always from the
            calling thread).
        workers : int, optional
            Threads to use; default: the usable cores (at most 8) for stacks of 2M
            voxels or more, else 1. Each thread scans a contiguous slab of the stack;
            the result does not depend on ``workers``.
        time_axis : int, optional
            A time-lapse stack, ``(t, z, y, x)`` or ``(t, y, x)``: each time point is
            indexed on its own and a :class:`labelprep.timelapse.TimeLapseIndex` (one
            LabelIndex per frame, rows keyed by (t, label)) is returned.
        image : ndarray, optional
            An intensity image of the stack's shape (or plus a last axis of channels,
            as :func:`labelprep.measure.measure` takes it): its per-object sums, minimum
            and maximum are gathered during the build's second pass, while the stack's
            rows are read anyway, instead of later through ``voxel_indices``. They are
            kept on the index (not saved) and used by :meth:`measure` when it is given
            this same array object; see :func:`labelprep.measure.build_and_measure`.
            Not used with ``time_axis`` or a dask stack (measure then reads the image).
        labels : ndarray, deprecated
            The old name of ``label_image`` (``idx.labels`` are the ids): still
            accepted, with a ``DeprecationWarning``.

        Returns
        -------
        LabelIndex (or TimeLapseIndex with ``time_axis``)

        Raises
        ------
        TypeError
            ``labels`` is not an array, has a non-numeric dtype, or is a float array
            with a value that is not a whole number (NaN, 1.5, ...).
        ValueError
            ``labels`` is 0-d, or ``background`` cannot occur in its dtype.
        labelprep.errors.InputChangedError
            (a RuntimeError) ``labels`` was modified during the build (e.g. painted on
            in napari): the two passes over it disagree. Nothing is written outside
            the index. ``labels`` must not change during the call: an edit that keeps
            every label's voxel count cannot be detected (the Voxel index dock keeps
            its layer out of painting modes while it builds; elsewhere pass a copy).

        Notes
        -----
        Extra memory: the result (4 bytes per foreground voxel, 8 for stacks of 2**32
        voxels or more) plus O(objects). The stack is never copied, except when it is
        float16 or in non-native byte order (one converted copy). Fortran-ordered and
        transposed stacks are read in memory order; the voxels of each object are then
        sorted back to C order (an extra O(N log n) step).

        See Also
        --------
        LabelIndex.measure : regionprops-style statistics of every object.
        LabelIndex.flags : review flags (tiny, huge, fragmented, ...) per object.
        labelprep.EditSession : edit the stack in place through the index, with undo.
        labelprep.chunked.build_from_dask : the same index, chunk by chunk.
        skimage.measure.regionprops : the per-object loop this replaces.

        Examples
        --------
        >>> idx = LabelIndex.build(np.array([[1, 1, 0], [0, 2, 2]]))
        >>> idx.labels, idx.counts
        (array([1, 2]), array([2, 2]))
        """
        if labels is not None:
            if label_image is not None:
                raise TypeError("give the stack once: label_image (labels= is its old name)")
            import warnings

            warnings.warn("LabelIndex.build(labels=...) is deprecated: the stack is now "
                          "called label_image (idx.labels are the ids)",
                          DeprecationWarning, stacklevel=2)
            label_image = labels
        if label_image is None:
            raise TypeError("LabelIndex.build() needs the labelled stack: label_image must be "
                            "a NumPy array (or a dask array), got None")
        labels = label_image
        if time_axis is not None:
            from .timelapse import TimeLapseIndex

            return TimeLapseIndex.build(labels, time_axis, background=background,
                                        progress=progress, workers=workers)
        if type(labels).__module__.split(".")[0] == "dask":
            if importlib.util.find_spec("labelprep.chunked") is None:
                raise TypeError(
                    "labels is a dask array, but dask support (labelprep.chunked) is not "
                    "available in this version; pass np.asarray(labels) to index it in memory"
                )
            from .chunked import build_from_dask

            return build_from_dask(labels, background, progress)
        return _build_numpy(labels, background, progress, workers, image)

    # ------------------------------------------- look-ups (more in LabelLookups)
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        bg = "" if self.background is None else f", background={self.background}"
        return (
            f"LabelIndex({len(self)} objects, {self.voxel_indices.shape[0]} voxels, "
            f"shape={self.shape}, dtype={self.dtype}{bg})"
        )

    # ----------------------------------------------------------------- exports
    def to_dict(self) -> dict[int, tuple[np.ndarray, ...]]:
        """``{label: np.where(stack == label)}`` for every label.

        The seed script stored ``[np.where(...)]`` (a one-element list); use
        ``{k: [v] for k, v in idx.to_dict().items()}`` for exactly that shape. All
        coordinates are unravelled at once (8 * ndim bytes per voxel); the arrays of
        each label are views into one block.
        """
        from ._index_export import to_dict

        return to_dict(self)

    def table(self):
        """One row per object: label, voxels, ``<axis>_start``/``<axis>_stop`` per axis,
        then ``centroid_<axis>`` per axis (a pandas DataFrame)."""
        from ._index_export import table

        return table(self)

    def measure(self, image: Any = None, spacing: Any = None, properties: Any = None):
        """Per-object measurements (a DataFrame), as :func:`labelprep.measure.measure`."""
        from .measure import measure

        return measure(self, image, spacing, properties)

    def flags(self, labels: Any = None, **thresholds: Any):
        """Review flags per object (a DataFrame), as :func:`labelprep.qa.flags`."""
        from .qa import flags

        return flags(self, labels, **thresholds)

    def subset(self, labels: Iterable[int]) -> LabelIndex:
        """A new index restricted to ``labels`` (KeyError naming any unknown label)."""
        from ._index_export import subset

        return subset(self, labels)

    def to_labels(self) -> np.ndarray:
        """Rebuild the labelled stack (same shape and dtype; background elsewhere)."""
        from ._index_export import to_labels

        return to_labels(self)

    def write_coords_csv(
        self,
        path: PathLike,
        labels: Iterable[int] | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Write one CSV row per voxel: ``label,<axis names...>``.

        Rows are in raster order within each label, labels ascending; ``labels``
        restricts the output to some objects. The file is written atomically.
        """
        from ._index_export import write_coords_csv

        write_coords_csv(self, path, labels, progress)

    # ------------------------------------------------------------- save / load
    def save(self, path: PathLike) -> None:
        """Save to an ``.npz`` file (uncompressed; written atomically) at exactly ``path``."""
        from ._index_file import save_index

        save_index(self, path)

    @classmethod
    def load(cls, path: PathLike) -> LabelIndex:
        """Load an index written by :meth:`save`.

        Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError``
        naming the file if it is not a LabelIndex file or is corrupt.
        """
        from ._index_file import load_index

        return load_index(cls, path)

    @staticmethod
    def is_index_file(path: PathLike) -> bool:
        """True if ``path`` looks like a file written by :meth:`save` (never raises)."""
        from ._index_file import is_index_file

        return is_index_file(path)
