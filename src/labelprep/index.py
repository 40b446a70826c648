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
import itertools
import operator
import os
import threading
import zipfile
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import ProgressCallback, report
from .errors import InputChangedError
from .io import atomic_open

__all__ = ["FORMAT_VERSION", "LabelIndex"]

#: Version of the ``.npz`` layout written by :meth:`LabelIndex.save`.
FORMAT_VERSION = 1
_MARKER = "labelprep_index_version"
_KEYS = ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids", "shape",
         "dtype", "background")

PathLike = str | os.PathLike

#: Voxels per kernel call during a build (progress granularity, work split).
_CHUNK_VOXELS = 1 << 22
_MIN_CHUNK_VOXELS = 1 << 16
_INITIAL_CAPACITY = 1024
_INITIAL_HASH_ROWS = 64
#: Keys below this (of 32/64-bit stacks) are mapped to ids by a direct table (at most
#: 512 KiB per thread) instead of hashing: labels 1..N of connected components, the
#: common case. The table starts small and doubles as larger labels show up.
_LUT_KEYS = 1 << 17
_INITIAL_LUT_KEYS = 1 << 12
#: Stacks smaller than this are indexed by one thread (threads cost more than they save).
_PARALLEL_MIN_VOXELS = 1 << 21


def axis_names(ndim: int) -> tuple[str, ...]:
    """Names of the axes in tables and CSV headers: y, x (2D); z, y, x (3D); axisK else."""
    if ndim == 2:
        return ("y", "x")
    if ndim == 3:
        return ("z", "y", "x")
    return tuple(f"axis{k}" for k in range(ndim))


def _index_dtype(size: int) -> np.dtype:
    return np.dtype(np.uint32) if size < 2**32 else np.dtype(np.uint64)


def _label_dtype(dtype: np.dtype) -> np.dtype:
    """dtype of ``idx.labels`` for a stack of ``dtype`` (bool -> uint8, float -> int64)."""
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    if dtype.kind == "f":
        return np.dtype(np.int64)
    return dtype.newbyteorder("=")


class LabelIndex:
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

    # ---------------------------------------------------------------- look-ups
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __contains__(self, label: object) -> bool:
        return self._row(label) >= 0

    def __repr__(self) -> str:
        bg = "" if self.background is None else f", background={self.background}"
        return (
            f"LabelIndex({len(self)} objects, {self.voxel_indices.shape[0]} voxels, "
            f"shape={self.shape}, dtype={self.dtype}{bg})"
        )

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

    # ----------------------------------------------------------------- exports
    def to_dict(self) -> dict[int, tuple[np.ndarray, ...]]:
        """``{label: np.where(stack == label)}`` for every label.

        The seed script stored ``[np.where(...)]`` (a one-element list); use
        ``{k: [v] for k, v in idx.to_dict().items()}`` for exactly that shape. All
        coordinates are unravelled at once (8 * ndim bytes per voxel); the arrays of
        each label are views into one block.
        """
        rows = self._unravel(self.voxel_indices, where_layout=True)
        offsets = self.offsets.tolist()
        return {
            label: tuple(rows[:, offsets[i]:offsets[i + 1]])
            for i, label in enumerate(self.labels.tolist())
        }

    def table(self):
        """One row per object: label, voxels, ``<axis>_start``/``<axis>_stop`` per axis,
        then ``centroid_<axis>`` per axis (a pandas DataFrame)."""
        import pandas as pd

        columns: dict[str, np.ndarray] = {"label": self.labels, "voxels": self.counts}
        for k, name in enumerate(self.axis_names):
            columns[f"{name}_start"] = self.bboxes[:, k, 0]
            columns[f"{name}_stop"] = self.bboxes[:, k, 1]
        for k, name in enumerate(self.axis_names):
            columns[f"centroid_{name}"] = self.centroids[:, k]
        return pd.DataFrame({k: np.array(v) for k, v in columns.items()})

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
        rows = np.unique(np.array([self.position(L) for L in labels], dtype=np.int64))
        counts = self.counts[rows]
        offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        voxels = np.empty(int(offsets[-1]), dtype=self.voxel_indices.dtype)
        for j, i in enumerate(rows.tolist()):
            voxels[offsets[j]:offsets[j + 1]] = self.voxel_indices[
                self.offsets[i]:self.offsets[i + 1]
            ]
        return LabelIndex(
            labels=self.labels[rows], counts=counts, offsets=offsets, voxel_indices=voxels,
            bboxes=self.bboxes[rows], centroids=self.centroids[rows], shape=self.shape,
            dtype=self.dtype, background=self.background,
        )

    def to_labels(self) -> np.ndarray:
        """Rebuild the labelled stack (same shape and dtype; background elsewhere)."""
        from ._kernels.index import paint

        fill = 0 if self.background is None else self.background
        native = self.dtype.newbyteorder("=")
        out = np.full(self.shape, fill, dtype=native)
        flat = out.reshape(-1)
        if self.dtype == np.bool_:
            flat = flat.view(np.uint8)
        values = self.labels.astype(flat.dtype)
        if len(self):
            paint(flat, self.voxel_indices, self.offsets, values)
        return out if native == self.dtype else out.astype(self.dtype)

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
        from ._kernels.index import format_coords_csv

        if labels is None:
            rows = np.arange(len(self))
        else:
            rows = np.unique(np.array([self.position(L) for L in labels], dtype=np.int64))
        shape = np.array(self.shape, dtype=np.int64)
        widths = sum(len(str(max(s - 1, 0))) + 1 for s in self.shape)
        batch = 1 << 18
        total = int(self.counts[rows].sum()) if rows.size else 0
        header = ",".join(("label",) + self.axis_names) + "\n"
        label_list = self.labels.tolist()

        def write(f) -> None:
            f.write(header.encode())
            done = 0
            starts: list[int] = []
            stops: list[int] = []
            pres: list[bytes] = []
            pending = 0

            def flush() -> None:
                nonlocal pending, done
                if not starts:
                    return
                pre_lens = np.array([len(p) for p in pres], dtype=np.int64)
                pre_stop = np.cumsum(pre_lens)
                pre_start = pre_stop - pre_lens
                prefixes = np.frombuffer(b"".join(pres), dtype=np.uint8)
                st = np.array(starts, dtype=np.int64)
                sp = np.array(stops, dtype=np.int64)
                nbytes = int(((sp - st) * (pre_lens + widths)).sum())
                buf = np.empty(nbytes, dtype=np.uint8)
                used = format_coords_csv(self.voxel_indices, st, sp, pre_start, pre_stop,
                                         prefixes, shape, buf)
                f.write(memoryview(buf[:used]))
                done += pending
                report(progress, done, total)
                starts.clear()
                stops.clear()
                pres.clear()
                pending = 0

            for i in rows.tolist():
                prefix = f"{label_list[i]},".encode()
                s, e = int(self.offsets[i]), int(self.offsets[i + 1])
                while s < e:
                    take = min(e - s, batch - pending)
                    starts.append(s)
                    stops.append(s + take)
                    pres.append(prefix)
                    pending += take
                    s += take
                    if pending >= batch:
                        flush()
            flush()
            report(progress, total, total)

        with atomic_open(path, "wb") as f:
            write(f)

    # ------------------------------------------------------------- save / load
    def save(self, path: PathLike) -> None:
        """Save to an ``.npz`` file (uncompressed; written atomically) at exactly ``path``."""
        arrays = {
            _MARKER: np.array(FORMAT_VERSION, dtype=np.int64),
            "labels": self.labels,
            "counts": self.counts,
            "offsets": self.offsets,
            "voxel_indices": self.voxel_indices,
            "bboxes": self.bboxes,
            "centroids": self.centroids,
            "shape": np.array(self.shape, dtype=np.int64),
            "dtype": np.array(self.dtype.str),
            "background": np.array("none" if self.background is None else str(self.background)),
        }
        with atomic_open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: PathLike) -> LabelIndex:
        """Load an index written by :meth:`save`.

        Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError``
        naming the file if it is not a LabelIndex file or is corrupt.
        """
        from ._index_file import parse_header, read_member, validate

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        try:
            if not zipfile.is_zipfile(path):
                raise ValueError("not an .npz archive (not a LabelIndex file)")
            with zipfile.ZipFile(path) as zf:
                if f"{_MARKER}.npy" not in zf.namelist():
                    raise ValueError(f"no {_MARKER!r} entry (not a LabelIndex file)")
                marker = read_member(zf, _MARKER)
                if marker.ndim != 0 or marker.dtype.kind not in "iu":
                    raise ValueError(f"{_MARKER!r} must be an integer")
                version = int(marker)
                if version > FORMAT_VERSION:
                    raise ValueError(
                        f"format version {version} is newer than this labelprep "
                        f"understands ({FORMAT_VERSION})"
                    )
                arrays = {k: read_member(zf, k) for k in _KEYS}
            shape, dtype, background = parse_header(arrays)
            idx = cls(
                labels=arrays["labels"], counts=arrays["counts"], offsets=arrays["offsets"],
                voxel_indices=arrays["voxel_indices"], bboxes=arrays["bboxes"],
                centroids=arrays["centroids"], shape=shape, dtype=dtype, background=background,
            )
            validate(idx)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"cannot load LabelIndex from {path}: {exc}") from exc
        except (OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError,
                MemoryError) as exc:
            raise ValueError(f"cannot load LabelIndex from {path}: corrupt file ({exc})") from exc
        return idx

    @staticmethod
    def is_index_file(path: PathLike) -> bool:
        """True if ``path`` looks like a file written by :meth:`save` (never raises)."""
        try:
            if not zipfile.is_zipfile(path):
                return False
            with zipfile.ZipFile(path) as zf:
                return f"{_MARKER}.npy" in zf.namelist()
        except Exception:  # noqa: BLE001 - a reader probe must never raise
            return False


# ---------------------------------------------------------------------- helpers
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


class _Plan:
    """How to walk a stack in memory order as 2D ``(rows, cols)`` blocks without a copy.

    Length-1 axes are dropped; the remaining axes are ordered by decreasing stride
    (identity for C-contiguous stacks), the innermost one becomes the columns, and as
    many of the others as can be merged without a copy become the rows. Any axes left
    over in front are looped over in Python (``blocks``).
    """

    def __init__(self, arr: np.ndarray):
        shape = arr.shape
        ndim = arr.ndim
        axes = [a for a in range(ndim) if shape[a] > 1] or [ndim - 1]
        sub = arr[tuple(slice(None) if a in axes else 0 for a in range(ndim))]
        if sub.ndim == 0:  # pragma: no cover - a single voxel keeps its last axis
            sub = sub.reshape(1)
        local = list(range(len(axes)))
        if not arr.flags.c_contiguous:
            local.sort(key=lambda j: -abs(sub.strides[j]))
        self.permuted = local != sorted(local)
        view = sub.transpose(local)
        self.scan_axes = [axes[j] for j in local]
        if view.ndim == 1:
            view = view.reshape(1, -1)
            self.scan_axes = [-1] + self.scan_axes  # dummy row axis of length 1
        k = view.ndim - 2
        while k > 0 and view.strides[k - 1] == view.strides[k] * view.shape[k]:
            k -= 1
        self.k = k
        self.view = view
        self.cols = view.shape[-1]
        self.row_dims = np.array(view.shape[k:-1], dtype=np.int64)
        self.rows = int(np.prod(self.row_dims))
        row_axes = self.scan_axes[k:-1]
        self.col_axis = self.scan_axes[-1]
        cstrides = np.ones(ndim, dtype=np.int64)
        for a in range(ndim - 2, -1, -1):
            cstrides[a] = cstrides[a + 1] * shape[a + 1]
        self.cstrides = cstrides
        # a dummy row axis (1D stacks) maps onto a scratch coordinate slot at index ndim
        self.ndim = ndim
        self.nslots = ndim + (1 if -1 in row_axes else 0)
        self.row_axes = np.array([a if a >= 0 else ndim for a in row_axes], dtype=np.int64)
        self.row_cs = np.array([cstrides[a] if a >= 0 else 0 for a in row_axes], dtype=np.int64)
        self.col_cs = int(cstrides[self.col_axis])

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Block ``b`` (C order over the leading axes): a 2D ``(rows, cols)`` view, the
        coordinates of its fixed axes and the flat index of its first voxel."""
        lead = self.view.shape[: self.k]
        idx = np.unravel_index(b, lead) if lead else ()
        sub = self.view[tuple(int(i) for i in idx)]
        # a view, never a copy (``reshape(copy=False)`` needs NumPy >= 2.1)
        a2d = sub.reshape(self.rows, self.cols)
        if a2d.size and not np.may_share_memory(a2d, sub):  # pragma: no cover
            raise AssertionError("block reshape copied the stack")
        coord0 = np.zeros(self.nslots, dtype=np.int64)
        flat0 = 0
        for j, i in enumerate(idx):
            ax = self.scan_axes[j]
            coord0[ax] = int(i)
            flat0 += int(i) * int(self.cstrides[ax])
        return a2d, coord0, flat0

    @property
    def nblocks(self) -> int:
        return int(np.prod(self.view.shape[: self.k], dtype=np.int64))

    def work_items(self, workers: int) -> list[list[tuple[int, int, int]]]:
        """Split the scan into ``(block, row_start, row_stop)`` items, a few MB each,
        then into at most ``workers`` contiguous (raster-order) parts of equal size."""
        size = self.nblocks * self.rows * self.cols
        chunk = min(_CHUNK_VOXELS, max(_MIN_CHUNK_VOXELS, size // (16 * workers)))
        step = max(1, chunk // max(self.cols, 1))
        items = [(b, r0, min(self.rows, r0 + step))
                 for b in range(self.nblocks) for r0 in range(0, self.rows, step)]
        nparts = max(1, min(workers, len(items)))
        voxels = np.cumsum([(r1 - r0) * self.cols for _, r0, r1 in items])
        cuts = np.searchsorted(voxels, voxels[-1] * np.arange(1, nparts) / nparts, side="left")
        bounds = [0, *sorted(set((cuts + 1).tolist())), len(items)]
        return [items[i:j] for i, j in itertools.pairwise(bounds) if j > i]


class _Part:
    """One worker's contiguous share of a build, with its own id tables, counts (pass 1)
    and write cursors and statistics (pass 2)."""

    def __init__(self, items, lut_size: int):
        self.items = items
        self.cap = _INITIAL_CAPACITY
        self.keys = np.empty(self.cap, dtype=np.uint64)
        self.counts = np.zeros(self.cap, dtype=np.int64)
        self.lut = np.full(lut_size, -1, np.int32)  # id of each small key, or -1
        self.table, self.shift = None, np.uint64(0)  # the other keys: made when needed
        self.state = np.zeros(4, dtype=np.int64)  # ids, resume row, resume col, hashed keys
        self.done = 0  # voxels scanned in the current pass (read by the progress loop)
        self.inv: np.ndarray | None = None  # each id's row in the merged labels
        self.stats: np.ndarray | None = None  # [cursor, end, min_0, max_0, sum_0, ...] per id
        self.ist: np.ndarray | None = None  # intensity sums per id, given an image

    @property
    def n(self) -> int:
        return int(self.state[0])

    def grow(self) -> None:
        """Make room for one more id: longer ``keys``/``counts``, or a bigger hash table."""
        from ._kernels.index import rehash

        n = self.n
        if n == self.cap:
            self.cap *= 2
            self.keys = _grow(self.keys, self.cap, n)
            self.counts = _grow(self.counts, self.cap, n, np.zeros(self.cap, np.int64))
        hashed = int(self.state[3])
        if self.table is not None and 2 * (hashed + 1) > self.table.shape[0]:
            self.table, self.shift = _new_table(4 * (hashed + 1))
            rehash(self.keys, n, self.lut.shape[0], self.table, self.shift)


def _run_parts(fn, parts: list[_Part], progress, base: int, total: int) -> None:
    """Run ``fn(part, stop)`` for each part (threads if several; the kernels release the
    GIL) while reporting progress from this thread only; re-raise the first error."""
    for part in parts:
        part.done = 0
    stop = threading.Event()
    if len(parts) == 1:
        fn(parts[0], stop, lambda: report(progress, base + parts[0].done, total))
        return
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        futures = [pool.submit(fn, part, stop, None) for part in parts]
        pending = set(futures)
        try:
            while pending:
                _, pending = wait(pending, timeout=0.05, return_when=FIRST_EXCEPTION)
                if any(f.done() and f.exception() is not None for f in futures):
                    stop.set()
                report(progress, base + sum(p.done for p in parts), total)
        finally:
            if pending:  # an error (or KeyboardInterrupt) in this thread: stop the others
                stop.set()
        for f in futures:
            f.result()


def default_workers() -> int:
    """Threads used by :meth:`LabelIndex.build` by default: the usable cores, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _build_numpy(labels: Any, background: Any, progress: ProgressCallback | None,
                 workers: int | None = None, image: Any = None) -> LabelIndex:
    from ._kernels import index as K
    from .measure import FusedIntensity

    arr = _check_stack(labels)
    orig_dtype = np.asarray(labels).dtype
    bg_key, bg = _background_key(orig_dtype, background)
    shape = arr.shape
    ndim = arr.ndim
    size = int(arr.size)
    label_dtype = _label_dtype(orig_dtype)
    vdtype = _index_dtype(size)
    if workers is None:
        workers = default_workers() if size >= _PARALLEL_MIN_VOXELS else 1
    elif operator.index(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    fused = None if image is None else FusedIntensity(image, shape)

    def empty() -> LabelIndex:
        return FusedIntensity.attach(fused, [], 0, LabelIndex(
            labels=np.zeros(0, dtype=label_dtype), counts=np.zeros(0, np.int64),
            offsets=np.zeros(1, np.int64), voxel_indices=np.zeros(0, vdtype),
            bboxes=np.zeros((0, ndim, 2), np.int64), centroids=np.zeros((0, ndim), np.float64),
            shape=shape, dtype=orig_dtype, background=bg,
        ))

    if size == 0:
        report(progress, 1, 1)
        return empty()

    is_float = arr.dtype.kind == "f"
    if arr.dtype.kind in "bi":
        arr = arr.view(np.dtype(f"u{arr.dtype.itemsize}"))
    if not is_float and arr.dtype.itemsize <= 2:
        lut_size = 1 << (8 * arr.dtype.itemsize)  # every key
    else:
        lut_size = _INITIAL_LUT_KEYS  # grown up to _LUT_KEYS as larger labels show up
    plan = _Plan(arr)
    sorting = plan.permuted
    total = size * (3 if sorting else 2)
    parts = [_Part(items, lut_size) for items in plan.work_items(workers)]

    # pass 1: ids and counts (each part on its own rows) ----------------------------
    def count(part: _Part, stop: threading.Event, tick) -> None:
        for b, row0, r1 in part.items:
            if stop.is_set():
                return
            a2d, _, _ = plan.block(b)
            r0, c0 = row0, 0  # where count_rows (re)starts
            while True:
                status = K.count_rows(a2d, r0, c0, r1, bg_key, part.lut, part.table,
                                      part.shift, part.keys, part.counts, part.state)
                if status == K.DONE:
                    break
                r0, c0 = int(part.state[1]), int(part.state[2])
                if status == K.HASH:  # a key >= len(part.lut)
                    key = int(a2d[r0, c0])
                    if 0 <= key < _LUT_KEYS and part.table is None:
                        part.lut = _grow_lut(part.lut, key)
                    else:  # hash the large keys from now on
                        part.table, part.shift = _new_table(_INITIAL_HASH_ROWS)
                    continue
                if status == K.NOT_INTEGRAL:
                    raise TypeError(_float_value_error(orig_dtype, float(a2d[r0, c0])))
                part.grow()
            part.done += (r1 - row0) * plan.cols
            if tick is not None:
                tick()

    _run_parts(count, parts, progress, 0, total)
    if sum(part.n for part in parts) == 0:
        report(progress, total, total)
        return empty()

    # merge the parts: labels ascending, counts, CSR offsets, per-part write cursors -
    keys = np.concatenate([part.keys[:part.n] for part in parts])
    if is_float:
        values = keys.view(np.int64)
    elif orig_dtype.kind == "b":
        values = keys.astype(np.uint8)
    else:
        values = keys.astype(arr.dtype).view(label_dtype)
    labels_out, inverse = np.unique(values, return_inverse=True)
    del keys, values
    n = labels_out.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    start = 0
    for part in parts:
        part.inv = inverse[start:start + part.n]  # distinct within a part
        start += part.n
        counts[part.inv] += part.counts[:part.n]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    acc = offsets[:-1].copy()
    for part in parts:  # earlier parts come first within each label (raster order)
        part.stats = np.empty((part.n, 2 + 3 * plan.nslots), dtype=np.int64)
        K.part_slots(part.stats, part.inv, part.counts, acc)
        part.ist = None if fused is None else fused.part_sums(part.n)
        part.keys = part.counts = None  # no longer needed
    del acc

    # pass 2: scatter raveled indices, gather boxes and sums --------------------------
    # (with a row of spare slots: should the stack change meanwhile, the kernel's writes
    # stay inside this buffer, and the check after the pass raises)
    buffer = np.empty(int(offsets[-1]) + plan.cols, dtype=vdtype)
    out = buffer[:int(offsets[-1])]

    def scatter(part: _Part, stop: threading.Event, tick) -> None:
        for b, r0, r1 in part.items:
            if stop.is_set():
                return
            a2d, coord0, flat0 = plan.block(b)
            status = K.scatter_rows(a2d, r0, r1, plan.row_dims, plan.row_axes, plan.col_axis,
                                    coord0, plan.row_cs, plan.col_cs, flat0, bg_key, part.lut,
                                    part.table, part.shift, part.stats, buffer,
                                    None if fused is None else fused.values, part.ist)
            if status == K.CHANGED:
                raise _changed_error()
            part.done += (r1 - r0) * plan.cols
            if tick is not None:
                tick()

    _run_parts(scatter, parts, progress, size, total)
    if any((part.stats[:, 0] != part.stats[:, 1]).any() for part in parts):
        raise _changed_error()  # more or fewer voxels than counted
    bboxes = np.empty((n, ndim, 2), dtype=np.int64)
    sums = np.empty((n, ndim), dtype=np.int64)
    for p, part in enumerate(parts):
        K.merge_stats(bboxes, sums, part.inv, part.stats, p == 0)
    merged = [(part.inv, part.ist) for part in parts]
    del parts

    if sorting:  # memory order differs from C order: restore raster order per label
        _sort_segments(out, offsets, workers, progress, 2 * size, size, total)
    report(progress, total, total)

    centroids = sums / counts[:, None]
    del sums
    return FusedIntensity.attach(fused, merged, n, LabelIndex(
        labels=labels_out, counts=counts, offsets=offsets, voxel_indices=out,
        bboxes=bboxes, centroids=centroids, shape=shape, dtype=orig_dtype, background=bg,
    ))


def _sort_segments(out, offsets, workers, progress, base, span, total) -> None:
    """Sort each label's indices (in place), labels split over ``workers`` threads."""
    from ._kernels.index import sort_segments

    n = offsets.shape[0] - 1
    steps = np.unique(np.searchsorted(offsets, np.linspace(0, offsets[-1], 33)[1:-1]))
    bounds = [0, *[int(b) for b in steps if 0 < b < n], n]
    chunks = list(itertools.pairwise(bounds))
    done = 0
    nvox = max(int(offsets[-1]), 1)

    def run(chunk):
        sort_segments(out, offsets, chunk[0], chunk[1])
        return chunk

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i0, i1 in pool.map(run, chunks):
            done += int(offsets[i1] - offsets[i0])
            report(progress, base + span * done // nvox, total)


def _new_table(capacity: int) -> tuple[np.ndarray, np.uint64]:
    """An empty hash table of at least ``capacity`` (power of two) ``(key, id + 1)`` rows."""
    bits = max(int(capacity - 1).bit_length(), 1)
    return np.zeros((1 << bits, 2), dtype=np.uint64), np.uint64(64 - bits)


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


def _grow_lut(lut: np.ndarray, key: int) -> np.ndarray:
    """``lut`` extended with -1 entries to the next power of two above ``key``."""
    new = np.full(min(_LUT_KEYS, 1 << key.bit_length()), -1, dtype=lut.dtype)
    new[:lut.shape[0]] = lut
    return new


def _grow(arr: np.ndarray, cap: int, n: int, new: np.ndarray | None = None) -> np.ndarray:
    """``arr`` with capacity ``cap`` (rows ``n:`` from ``new`` or uninitialised)."""
    if new is None:
        new = np.empty((cap,) + arr.shape[1:], dtype=arr.dtype)
    new[:n] = arr[:n]
    return new
