"""Reading an on-disk (zarr) index lazily: :class:`ZarrLabelIndex` and :func:`open_index`."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressCallback, report
from ..index import LabelIndex
from ..io import atomic_open
from ._format import _MARKER, ZARR_FORMAT_VERSION, _zarr
from ._plan import BATCH_ENTRIES, PathLike


class ZarrLabelIndex:
    """A LabelIndex on disk (zarr), opened lazily: see :func:`open_index`.

    The per-object arrays (``labels``, ``counts``, ``offsets``, ``bboxes``,
    ``centroids``: O(objects)) are read when opened; ``voxel_indices`` stays on disk
    (a ``zarr.Array``) and :meth:`flat`, :meth:`coords` and :meth:`where` read only
    the requested object's slice of it. The read API is the one of
    :class:`~labelprep.LabelIndex`; :meth:`load` gives an in-memory LabelIndex.
    """

    def __init__(self, path: PathLike, *, store: Any = None, check: bool = True):
        self.path = Path(path)
        zarr = _zarr()
        try:
            group = zarr.open_group(store if store is not None else os.fspath(self.path),
                                    mode="r")
            attrs = dict(group.attrs)
            if _MARKER not in attrs:
                raise ValueError(f"no {_MARKER!r} attribute (not a labelprep index)")
            version = int(attrs[_MARKER])
            if version > ZARR_FORMAT_VERSION:
                raise ValueError(
                    f"format version {version} is newer than this labelprep understands "
                    f"({ZARR_FORMAT_VERSION})"
                )
            meta = {k: np.asarray(group[k][...]) for k in
                    ("labels", "counts", "offsets", "bboxes", "centroids")}
            voxels = group["voxel_indices"]
            from .._index_file import check_header, validate

            shape, dtype, background = check_header(attrs["shape"], attrs["dtype"],
                                                    attrs["background"])
            vdtype = np.dtype(voxels.dtype)
            total = int(voxels.shape[0])
            # the per-object arrays checked by LabelIndex itself; the voxel indices
            # are a zero-copy stand-in of the right length and dtype
            self._meta = LabelIndex(
                labels=meta["labels"], counts=meta["counts"], offsets=meta["offsets"],
                voxel_indices=np.broadcast_to(np.zeros(1, dtype=vdtype), (total,)),
                bboxes=meta["bboxes"], centroids=meta["centroids"], shape=shape,
                dtype=dtype, background=background,
            )
            if check:  # every voxel, 16M at a time: O(voxels) reading, bounded memory
                validate(self._meta, voxels=voxels, window=1 << 24)
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ValueError(f"cannot open index {self.path}: {exc}") from exc
        except Exception as exc:  # zarr raises its own errors for broken metadata
            raise ValueError(f"cannot open index {self.path}: corrupt ({exc})") from exc
        self.voxel_indices = voxels
        m = self._meta
        self.labels, self.counts, self.offsets = m.labels, m.counts, m.offsets
        self.bboxes, self.centroids = m.bboxes, m.centroids
        self.shape, self.ndim, self.dtype = m.shape, m.ndim, m.dtype
        self.background, self.axis_names = m.background, m.axis_names

    def __len__(self) -> int:
        return len(self._meta)

    def __contains__(self, label: object) -> bool:
        return label in self._meta

    def __repr__(self) -> str:
        bg = "" if self.background is None else f", background={self.background}"
        return (
            f"ZarrLabelIndex({self.path}: {len(self)} objects, "
            f"{self.voxel_indices.shape[0]} voxels, shape={self.shape}, "
            f"dtype={self.dtype}{bg})"
        )

    def position(self, label: int) -> int:
        """Row of ``label`` in :attr:`labels`; ``KeyError`` naming it if absent."""
        return self._meta.position(label)

    def _one(self, label: int) -> tuple[LabelIndex, int]:
        """An in-memory index of just ``label`` (reads only its voxel indices)."""
        i = self.position(label)
        s, e = int(self.offsets[i]), int(self.offsets[i + 1])
        flat = np.asarray(self.voxel_indices[s:e])
        one = LabelIndex(
            labels=self.labels[i:i + 1], counts=self.counts[i:i + 1],
            offsets=np.array([0, e - s], dtype=np.int64), voxel_indices=flat,
            bboxes=self.bboxes[i:i + 1], centroids=self.centroids[i:i + 1],
            shape=self.shape, dtype=self.dtype, background=self.background,
        )
        return one, i

    def flat(self, label: int) -> np.ndarray:
        """Raveled C-order indices of the voxels of ``label`` (read from disk)."""
        one, _ = self._one(label)
        return one.voxel_indices

    def coords(self, label: int) -> np.ndarray:
        """``(n, ndim)`` coordinates of ``label`` in raster order (reads only its slice)."""
        one, _ = self._one(label)
        return one.coords(one.labels[0])

    def where(self, label: int) -> tuple[np.ndarray, ...]:
        """``np.where(stack == label)`` (reads only the slice of ``label``)."""
        one, _ = self._one(label)
        return one.where(one.labels[0])

    def bbox(self, label: int) -> tuple[slice, ...]:
        """Bounding box of ``label`` as slices."""
        return self._meta.bbox(label)

    def centroid(self, label: int) -> np.ndarray:
        """Mean voxel coordinate of ``label``."""
        return self._meta.centroid(label)

    def size(self, label: int) -> int:
        """Number of voxels of ``label``."""
        return self._meta.size(label)

    def table(self):
        """The per-object table of :meth:`LabelIndex.table` (no voxel data read)."""
        return self._meta.table()

    def subset(self, labels: Iterable[int]) -> LabelIndex:
        """An in-memory index of some objects (reads only their voxel indices)."""
        rows = np.unique(np.array([self.position(L) for L in labels], dtype=np.int64))
        return self._rows_index(rows)

    def _rows_index(self, rows: np.ndarray) -> LabelIndex:
        """An in-memory index of the objects in ``rows`` (ascending row numbers)."""
        counts = self.counts[rows]
        offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        if rows.shape[0] and rows[-1] - rows[0] + 1 == rows.shape[0]:  # consecutive: one read
            s, e = int(self.offsets[rows[0]]), int(self.offsets[rows[-1] + 1])
            voxels = np.asarray(self.voxel_indices[s:e])
        else:
            voxels = np.empty(int(offsets[-1]), dtype=self.voxel_indices.dtype)
            for j, i in enumerate(rows.tolist()):
                voxels[offsets[j]:offsets[j + 1]] = self.voxel_indices[
                    int(self.offsets[i]):int(self.offsets[i + 1])
                ]
        return LabelIndex(
            labels=self.labels[rows], counts=counts, offsets=offsets, voxel_indices=voxels,
            bboxes=self.bboxes[rows], centroids=self.centroids[rows], shape=self.shape,
            dtype=self.dtype, background=self.background,
        )

    def write_coords_csv(self, path: PathLike, labels: Iterable[int] | None = None,
                         progress: ProgressCallback | None = None,
                         batch_entries: int = BATCH_ENTRIES) -> None:
        """Write one CSV row per voxel, ``label,<axis names...>``, like
        :meth:`LabelIndex.write_coords_csv`, reading the index batch by batch (memory:
        one batch). The file is written under a temporary name, then renamed."""
        if labels is None:
            rows = np.arange(len(self), dtype=np.int64)
        else:
            rows = np.unique(np.array([self.position(L) for L in labels], dtype=np.int64))
        counts = self.counts[rows]
        ends = np.cumsum(counts)
        total = int(ends[-1]) if ends.size else 0
        path = Path(path)
        part = path.parent / f".{path.name}.part-{uuid.uuid4().hex[:8]}"
        try:
            with atomic_open(path, "wb") as out:
                out.write((",".join(("label",) + self.axis_names) + "\n").encode())
                j0, done = 0, 0
                while j0 < rows.shape[0]:
                    j1 = int(np.searchsorted(ends, done + batch_entries, side="right"))
                    j1 = min(max(j1, j0 + 1), rows.shape[0])
                    self._rows_index(rows[j0:j1]).write_coords_csv(part)
                    with open(part, "rb") as f:
                        f.readline()  # the header, written once above
                        shutil.copyfileobj(f, out, 1 << 20)
                    done = int(ends[j1 - 1])
                    report(progress, done, total)
                    j0 = j1
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        report(progress, total, total)

    def load(self) -> LabelIndex:
        """The whole index in memory (reads every voxel index)."""
        voxels = np.asarray(self.voxel_indices[...])
        return LabelIndex(
            labels=self.labels, counts=self.counts, offsets=self.offsets, voxel_indices=voxels,
            bboxes=self.bboxes, centroids=self.centroids, shape=self.shape, dtype=self.dtype,
            background=self.background,
        )


def open_index(path: PathLike, *, store: Any = None, check: bool = True) -> ZarrLabelIndex:
    """Open an on-disk index written by :func:`build_to_zarr` or :func:`save_zarr`.

    The per-object arrays are read (O(objects)); ``coords(L)``, ``where(L)`` and
    ``flat(L)`` read object L's slice of the voxel indices when asked. With ``check``
    (default) the file is not trusted: every field is validated, the voxel indices too
    (read 16M at a time, O(voxels), in bounded memory), as :meth:`LabelIndex.load` does.

    Parameters
    ----------
    path : str or Path
        The index directory.
    store : zarr store, optional
        Read through this store instead of ``path`` (e.g. a wrapped or remote store);
        ``path`` then only names the index in messages.
    check : bool
        Validate the voxel indices against the per-object arrays (default True).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist (and no ``store`` was given).
    ValueError
        ``path`` is not a labelprep index or is corrupt; the message names it.
    """
    path = Path(path)
    if store is None and not path.exists():
        raise FileNotFoundError(f"no such index: {path}")
    return ZarrLabelIndex(path, store=store, check=check)
