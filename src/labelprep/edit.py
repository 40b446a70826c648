"""EditSession: delete, merge, relabel, split objects of a labelled array in place, at the
speed of the objects touched, with the voxel index kept up to date and undo / redo.

A :class:`~labelprep.index.LabelIndex` knows the voxels of every object, so an edit
writes only those voxels (``np.where(stack == L)``-style edits scan the whole stack) and
updates only the index rows of the objects it touches. After every operation
``session.index`` equals, array for array, ``LabelIndex.build(session.labels)``.

>>> import numpy as np
>>> from labelprep.edit import EditSession
>>> stack = np.array([[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 3, 0]], dtype=np.uint8)
>>> session = EditSession(stack)
>>> session.merge([1, 2]).removed
(2,)
>>> session.split(3).added  # two pieces of one voxel: the first keeps 3
(4,)
>>> stack
array([[1, 1, 0, 1],
       [0, 0, 0, 1],
       [3, 0, 4, 0]], dtype=uint8)
>>> session.undo().op, session.undo().op, int(stack[0, 3]), int(stack[2, 2])
('undo split', 'undo merge', 2, 3)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ._edit_labels import check_label, free_ids, rows_of
from ._kernels.edit import Rows
from .index import LabelIndex

__all__ = ["EditResult", "EditSession"]


@dataclass(frozen=True)
class EditResult:
    """What one edit changed. ``removed``: labels no longer in the stack; ``added``: new
    labels (for :meth:`EditSession.split`, the new pieces); ``changed``: labels present
    before and after whose voxels changed; ``voxels``: voxels whose value changed."""

    op: str
    removed: tuple[int, ...] = ()
    added: tuple[int, ...] = ()
    changed: tuple[int, ...] = ()
    voxels: int = 0

    @property
    def ids(self) -> tuple[int, ...]:
        """Every label touched, ascending."""
        return tuple(sorted({*self.removed, *self.added, *self.changed}))


@dataclass
class _Record:
    result: EditResult
    removed: Rows  # rows taken out of the index
    added: Rows  # rows put in their place
    moves: tuple  # (voxels, starts, stops, old values, new values): the painted segments


class EditSession:
    """Edit the objects of ``labels`` in place through its voxel index, with undo / redo.

    Parameters
    ----------
    labels : ndarray
        Writeable integer or bool array (any shape with at least one axis); edited in
        place. Do not change it by other means while the session is in use.
    index : LabelIndex, optional
        The index of ``labels`` (built now if omitted; its ``background`` is the value
        edits write). It is copied, not modified.
    background : int or None
        Background of the index built when ``index`` is omitted (default 0).
    history : int
        Operations kept for :meth:`undo` (default 100); each keeps a copy of the voxel
        lists of the objects it touched.
    writer : callable, optional
        ``writer(flat_voxels, values)`` writes an edit instead of the session: the raveled
        (C-order) indices of the voxels that change and their new values, one per voxel.
        For arrays owned by someone who records edits, e.g. napari's
        ``Labels.data_setitem`` (which keeps its own undo history). It must write exactly
        these values into ``labels``.

    Notes
    -----
    Each operation writes only the voxels of the objects it touches, and rebuilds only
    their index rows (sorted merges of voxel lists, boxes and centroids recomputed from
    them). The per-object arrays (labels, counts, offsets, boxes, centroids) are copied
    whole, O(objects). Keeping ``voxel_indices`` one contiguous array, as a build makes
    it, means that when an edit changes the length of a row, the voxel lists stored
    after it shift: one ``memmove`` of up to all foreground voxels (about 10 ms per
    140 MB), the only cost that is not O(voxels touched); merges and splits move only
    the rows between the first and last row they touch.

    ``session.index`` is a new :class:`LabelIndex` after every edit. Its
    ``voxel_indices`` is a read-only view of the session's own buffer, which the next
    edit rewrites: take ``session.index`` again after each edit (or keep
    ``index.subset(index.labels)``, a copy). With ``background=None`` every value is an
    object, so deleting merges voxels into the row of 0 (O(voxels of 0)) and 0 itself
    cannot be deleted.

    See Also
    --------
    labelprep.LabelIndex.build : the index the session keeps current.
    labelprep.qa.flags : which objects to look at.
    """

    def __init__(self, labels: np.ndarray, index: LabelIndex | None = None, *,
                 background: int | None = 0, history: int = 100,
                 writer: Callable[[np.ndarray, np.ndarray], None] | None = None) -> None:
        from ._kernels import edit as kernels

        self._K = kernels
        if not isinstance(labels, np.ndarray):
            raise TypeError(f"labels must be a NumPy array, got {type(labels).__name__}")
        if labels.dtype.kind not in "biu":
            raise TypeError(f"labels must have an integer or bool dtype, got {labels.dtype}")
        if labels.ndim == 0:
            raise ValueError("labels must have at least one axis, got a 0-d array")
        if not labels.flags.writeable:
            raise ValueError("labels is read-only; EditSession edits it in place")
        self.history = operator.index(history)
        if self.history < 0:
            raise ValueError(f"history must be >= 0, got {history}")
        if index is None:
            index = LabelIndex.build(labels, background=background)
        elif not isinstance(index, LabelIndex):
            raise TypeError(f"index must be a LabelIndex, got {type(index).__name__}")
        elif index.shape != labels.shape or index.dtype != labels.dtype:
            raise ValueError(f"index is of a {index.shape} {index.dtype} stack, labels is "
                             f"{labels.shape} {labels.dtype}")
        self._arr = labels
        native = labels.dtype.isnative and labels.flags.c_contiguous
        self._flat = np.asarray(labels).reshape(-1) if native else None
        self._bg = index.background
        self.fill = 0 if self._bg is None else self._bg  #: the value deleted voxels get
        self._s = kernels.Store(index)  # the index's arrays, with a writeable voxel buffer
        self._index: LabelIndex | None = index
        self._meta = {"shape": index.shape, "dtype": index.dtype,
                      "background": index.background}
        if len(index) and not np.array_equal(self._read(self._s.buf[self._s.offsets[:-1]]),
                                             self._s.labels.astype(labels.dtype)):
            raise ValueError("index does not describe labels (its objects' first voxels "
                             "hold other values): build it from this array")
        self._log: list[_Record] = []
        self._pos = 0  # records applied
        self.writer = writer

    # ---------------------------------------------------------------- state
    @property
    def labels(self) -> np.ndarray:
        """The edited array (the one passed in)."""
        return self._arr

    @property
    def index(self) -> LabelIndex:
        """The index of :attr:`labels` as it is now (equal to a fresh build)."""
        if self._index is None:
            n = int(self._s.offsets[-1])
            self._index = LabelIndex(labels=self._s.labels, counts=self._s.counts,
                                     offsets=self._s.offsets,
                                     voxel_indices=self._s.buf[:n], bboxes=self._s.bboxes,
                                     centroids=self._s.centroids, **self._meta)
        return self._index

    @property
    def applied(self) -> int:
        """Operations applied and not undone (the undo steps available)."""
        return self._pos

    @property
    def can_undo(self) -> bool:
        return self._pos > 0

    @property
    def can_redo(self) -> bool:
        return self._pos < len(self._log)

    # ------------------------------------------------------------ operations
    def delete(self, ids: int | Iterable[int]) -> EditResult:
        """Set the voxels of the objects ``ids`` to :attr:`fill` (KeyError if one is
        not in the stack)."""
        rows = rows_of(self._s, ids)
        if self._bg is None and self.fill in self._s.labels[rows].tolist():
            raise ValueError(f"label {self.fill} is the fill value of this session "
                             "(background=None) and cannot be deleted")
        return self._delete_rows(rows, "delete")

    def remove_small(self, min_voxels: int) -> EditResult:
        """Delete every object of fewer than ``min_voxels`` voxels (as skimage's
        ``remove_small_objects(labels, max_size=min_voxels - 1)``)."""
        min_voxels = operator.index(min_voxels)
        if min_voxels < 0:
            raise ValueError(f"min_voxels must be >= 0, got {min_voxels}")
        return self._delete_rows(self._not_fill(np.flatnonzero(self._s.counts < min_voxels)),
                                 "remove_small")

    def keep(self, ids: int | Iterable[int]) -> EditResult:
        """Delete every object except ``ids``."""
        rows = np.setdiff1d(np.arange(len(self._s.labels)), rows_of(self._s, ids))
        return self._delete_rows(self._not_fill(rows), "keep")

    def merge(self, ids: int | Iterable[int], into: int | None = None) -> EditResult:
        """Merge the objects ``ids`` into one labelled ``into``: by default the smallest
        of ``ids``; it may be any other label, present (merged too) or not."""
        rows = rows_of(self._s, ids)
        target = (int(self._s.labels[rows].min()) if into is None
                  else check_label(into, "into", self._s, self._arr.dtype))
        if self._bg is not None and target == self._bg:
            raise ValueError(f"into={target} is the background; use delete()")
        return self._merge_rows(rows, target, "merge")

    def relabel(self, old: int, new: int) -> EditResult:
        """Give object ``old`` the label ``new``; if ``new`` exists, merge the two; if
        ``new`` is the background, delete ``old``."""
        rows = rows_of(self._s, [old])
        new = check_label(new, "new", self._s, self._arr.dtype)
        if self._bg is not None and new == self._bg:
            return self._delete_rows(rows, "relabel")
        return self._merge_rows(rows, new, "relabel")

    def split(self, id: int, connectivity: int = 1) -> EditResult:
        """Split object ``id`` into its connected components (``connectivity`` 1..ndim, as
        in ``scipy.ndimage.generate_binary_structure``). The largest piece keeps ``id`` (of
        equal ones, the first in raster order); the others get the next free labels
        (above the largest label, else the lowest unused ones) in raster order of their
        first voxels, returned as ``result.added``."""
        from ._kernels.qa import backward_offsets, component_ids

        ndim = len(self._meta["shape"])
        if isinstance(connectivity, bool) or not 1 <= operator.index(connectivity) <= ndim:
            raise ValueError(f"connectivity must be 1..{ndim}, got {connectivity!r}")
        rows = rows_of(self._s, [id])
        removed = self._s.take(rows)
        v = removed.voxels
        comp = np.empty(v.shape[0], dtype=np.int64)
        ncomp = component_ids(v, self._s.shape, *backward_offsets(self._meta["shape"],
                                                                 connectivity), comp)
        if ncomp == 1:
            return EditResult("split")
        grouped = v[np.argsort(comp, kind="stable")]
        stops = np.cumsum(np.bincount(comp, minlength=ncomp))
        starts = np.r_[0, stops[:-1]]
        big = int(np.argmax(stops - starts))  # the largest piece (the first of equals)
        ids = np.empty(ncomp, dtype=self._s.labels.dtype)
        ids[big] = self._s.labels[rows[0]]
        ids[np.arange(ncomp) != big] = free_ids(self._s, self._arr.dtype, self._bg, ncomp - 1)
        added = self._s.make(ids, [grouped[s:e] for s, e in zip(starts, stops)])
        other = np.flatnonzero(np.arange(ncomp) != big)
        moves = (grouped, starts[other], stops[other],
                 np.full(ncomp - 1, ids[big], dtype=self._s.labels.dtype),
                 ids[other])
        result = EditResult("split", added=tuple(ids[other].tolist()),
                            changed=(int(ids[big]),),
                            voxels=int((stops[other] - starts[other]).sum()))
        return self._commit(result, rows, removed, added, moves)

    def undo(self, *, write: bool = True) -> EditResult | None:
        """Undo the last operation (array bytes and index restored exactly); returns what
        the undo changed, or None if there is nothing to undo. ``write=False`` restores
        only the index: the array was already restored by other means (napari's own
        undo of what :attr:`writer` wrote)."""
        if not self.can_undo:
            return None
        self._pos -= 1
        r = self._step(self._log[self._pos], forward=False, write=write)
        return EditResult(f"undo {r.op}", r.added, r.removed, r.changed, r.voxels)

    def redo(self, *, write: bool = True) -> EditResult | None:
        """Redo the last undone operation; None if there is nothing to redo
        (``write=False``: the index only, as for :meth:`undo`)."""
        if not self.can_redo:
            return None
        self._pos += 1
        return self._step(self._log[self._pos - 1], forward=True, write=write)

    def _step(self, rec: _Record, forward: bool, write: bool = True) -> EditResult:
        voxels, starts, stops, old, new = rec.moves
        if write:
            self._paint(voxels, starts, stops, new if forward else old)
        gone, back = (rec.removed, rec.added) if forward else (rec.added, rec.removed)
        self._s.replace(self._s.find(gone.labels), back)
        self._index = None
        return rec.result

    # ------------------------------------- helpers (label ids: _edit_labels.py)
    def _not_fill(self, rows: np.ndarray) -> np.ndarray:
        return rows if self._bg is not None else rows[self._s.labels[rows] != self.fill]

    def _read(self, flat_idx: np.ndarray) -> np.ndarray:
        if self._flat is not None:
            return self._flat[flat_idx]
        return self._arr[np.unravel_index(flat_idx, self._arr.shape)]

    def _paint(self, voxels, starts, stops, values) -> None:
        if self.writer is not None:
            sel = np.concatenate([voxels[s:e] for s, e in zip(starts, stops)] or [voxels[:0]])
            per_voxel = np.repeat(np.asarray(values), np.asarray(stops) - np.asarray(starts))
            if sel.size:
                self.writer(sel, per_voxel.astype(self._arr.dtype))
            return
        if self._flat is not None:
            self._K.paint_segments(self._flat, voxels, starts, stops,
                                   np.asarray(values).astype(self._flat.dtype))
            return
        sel = np.concatenate([voxels[s:e] for s, e in zip(starts, stops)] or [voxels[:0]])
        self._arr[np.unravel_index(sel, self._arr.shape)] = np.repeat(
            np.asarray(values), np.asarray(stops) - np.asarray(starts)).astype(self._arr.dtype)

    def _delete_rows(self, rows: np.ndarray, op: str) -> EditResult:
        if rows.shape[0] == 0:
            return EditResult(op)
        if self._bg is None:  # the fill value is an object: a merge into it
            return self._merge_rows(rows, self.fill, op)
        removed = self._s.take(rows)
        off = removed.offsets
        moves = (removed.voxels, off[:-1], off[1:], removed.labels,
                 np.full(rows.shape[0], self.fill, dtype=self._s.labels.dtype))
        result = EditResult(op, removed=tuple(removed.labels.tolist()), voxels=int(off[-1]))
        return self._commit(result, rows, removed, self._s.empty(), moves)

    def _merge_rows(self, rows: np.ndarray, target: int, op: str) -> EditResult:
        t = int(self._s.find(np.array([target], dtype=self._s.labels.dtype))[0])
        if t >= 0:
            rows = np.union1d(rows, [t])
        labels = self._s.labels[rows]
        if rows.shape[0] == 1 and int(labels[0]) == target:
            return EditResult(op)
        removed = self._s.take(rows)
        v, off = removed.voxels, removed.offsets
        if rows.shape[0] == 1:
            merged = v
        elif rows.shape[0] == 2:
            merged = np.empty_like(v)
            self._K.merge_two(v[:off[1]], v[off[1]:], merged)
        else:  # timsort: merges the ascending runs
            merged = np.sort(v, kind="stable")
        added = self._s.make([target], [merged])
        moving = np.flatnonzero(labels != labels.dtype.type(target))
        moves = (v, off[moving], off[moving + 1], labels[moving],
                 np.full(moving.shape[0], target, dtype=self._s.labels.dtype))
        result = EditResult(op, removed=tuple(labels[moving].tolist()),
                            added=() if t >= 0 else (target,),
                            changed=(target,) if t >= 0 else (),
                            voxels=int((off[moving + 1] - off[moving]).sum()))
        return self._commit(result, rows, removed, added, moves)

    def _commit(self, result, rows, removed, added, moves) -> EditResult:
        voxels, starts, stops, _, new = moves
        self._paint(voxels, starts, stops, new)
        self._s.replace(rows, added)
        self._index = None
        del self._log[self._pos:]
        if self.history:
            self._log.append(_Record(result, removed, added, moves))
            if len(self._log) > self.history:
                del self._log[0]
            self._pos = len(self._log)
        return result

