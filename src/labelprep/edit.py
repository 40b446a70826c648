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

import itertools
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

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


class _Rows:
    """A few index rows detached from the session (labels ascending, CSR voxels)."""

    def __init__(self, labels, counts, bboxes, centroids, voxels, offsets):
        self.labels, self.counts, self.bboxes = labels, counts, bboxes
        self.centroids, self.voxels, self.offsets = centroids, voxels, offsets


@dataclass
class _Record:
    result: EditResult
    removed: _Rows  # rows taken out of the index
    added: _Rows  # rows put in their place
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
    """

    def __init__(self, labels: np.ndarray, index: LabelIndex | None = None, *,
                 background: int | None = 0, history: int = 100) -> None:
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
        self._flat = labels.reshape(-1) if native else None
        self._bg = index.background
        self.fill = 0 if self._bg is None else self._bg  #: the value deleted voxels get
        self._L, self._C, self._O = index.labels, index.counts, index.offsets
        self._B, self._Ce = index.bboxes, index.centroids
        self._buf = np.array(index.voxel_indices)  # own, writeable copy
        self._shape = np.array(index.shape, dtype=np.int64)
        self._index: LabelIndex | None = index
        self._meta = dict(shape=index.shape, dtype=index.dtype, background=index.background)
        if len(index) and not np.array_equal(self._read(self._buf[self._O[:-1]]),
                                             self._L.astype(labels.dtype)):
            raise ValueError("index does not describe labels (its objects' first voxels "
                             "hold other values): build it from this array")
        self._log: list[_Record] = []
        self._pos = 0  # records applied

    # ---------------------------------------------------------------- state
    @property
    def labels(self) -> np.ndarray:
        """The edited array (the one passed in)."""
        return self._arr

    @property
    def index(self) -> LabelIndex:
        """The index of :attr:`labels` as it is now (equal to a fresh build)."""
        if self._index is None:
            n = int(self._O[-1])
            self._index = LabelIndex(labels=self._L, counts=self._C, offsets=self._O,
                                     voxel_indices=self._buf[:n], bboxes=self._B,
                                     centroids=self._Ce, **self._meta)
        return self._index

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
        rows = self._rows_of(ids)
        if self._bg is None and self.fill in self._L[rows].tolist():
            raise ValueError(f"label {self.fill} is the fill value of this session "
                             "(background=None) and cannot be deleted")
        return self._delete_rows(rows, "delete")

    def remove_small(self, min_voxels: int) -> EditResult:
        """Delete every object of fewer than ``min_voxels`` voxels (as
        ``skimage.morphology.remove_small_objects(labels, min_size=min_voxels)``)."""
        min_voxels = operator.index(min_voxels)
        if min_voxels < 0:
            raise ValueError(f"min_voxels must be >= 0, got {min_voxels}")
        return self._delete_rows(self._not_fill(np.flatnonzero(self._C < min_voxels)),
                                 "remove_small")

    def keep(self, ids: int | Iterable[int]) -> EditResult:
        """Delete every object except ``ids``."""
        rows = np.setdiff1d(np.arange(len(self._L)), self._rows_of(ids))
        return self._delete_rows(self._not_fill(rows), "keep")

    def merge(self, ids: int | Iterable[int], into: int | None = None) -> EditResult:
        """Merge the objects ``ids`` into one labelled ``into``: by default the smallest
        of ``ids``; it may be any other label, present (merged too) or not."""
        rows = self._rows_of(ids)
        target = int(self._L[rows].min()) if into is None else self._check_label(into, "into")
        if self._bg is not None and target == self._bg:
            raise ValueError(f"into={target} is the background; use delete()")
        return self._merge_rows(rows, target, "merge")

    def relabel(self, old: int, new: int) -> EditResult:
        """Give object ``old`` the label ``new``; if ``new`` exists, merge the two; if
        ``new`` is the background, delete ``old``."""
        rows = self._rows_of([old])
        new = self._check_label(new, "new")
        if self._bg is not None and new == self._bg:
            return self._delete_rows(rows, "relabel")
        return self._merge_rows(rows, new, "relabel")

    def split(self, id: int, connectivity: int = 1) -> EditResult:  # noqa: A002
        """Split object ``id`` into its connected components (``connectivity`` 1..ndim, as
        in ``scipy.ndimage.generate_binary_structure``). The largest piece keeps ``id`` (of
        equal ones, the first in raster order); the others get the next free labels
        (above the largest label, else the lowest unused ones) in raster order of their
        first voxels, returned as ``result.added``."""
        from ._kernels.qa import backward_offsets, component_ids

        ndim = len(self._meta["shape"])
        if isinstance(connectivity, bool) or not 1 <= operator.index(connectivity) <= ndim:
            raise ValueError(f"connectivity must be 1..{ndim}, got {connectivity!r}")
        rows = self._rows_of([id])
        removed = self._take(rows)
        v = removed.voxels
        comp = np.empty(v.shape[0], dtype=np.int64)
        ncomp = component_ids(v, self._shape, *backward_offsets(self._meta["shape"],
                                                                 connectivity), comp)
        if ncomp == 1:
            return EditResult("split")
        grouped = v[np.argsort(comp, kind="stable")]
        stops = np.cumsum(np.bincount(comp, minlength=ncomp))
        starts = np.r_[0, stops[:-1]]
        big = int(np.argmax(stops - starts))  # the largest piece (the first of equals)
        ids = np.empty(ncomp, dtype=self._L.dtype)
        ids[big] = self._L[rows[0]]
        ids[np.arange(ncomp) != big] = self._free_ids(ncomp - 1)
        added = self._make_rows(ids, [grouped[s:e] for s, e in zip(starts, stops)])
        other = np.flatnonzero(np.arange(ncomp) != big)
        moves = (grouped, starts[other], stops[other],
                 np.full(ncomp - 1, ids[big], dtype=self._L.dtype),
                 ids[other])
        result = EditResult("split", added=tuple(ids[other].tolist()),
                            changed=(int(ids[big]),),
                            voxels=int((stops[other] - starts[other]).sum()))
        return self._commit(result, rows, removed, added, moves)

    def undo(self) -> EditResult | None:
        """Undo the last operation (array bytes and index restored exactly); None if
        there is nothing to undo. Returns what the undo changed."""
        if not self.can_undo:
            return None
        rec = self._log[self._pos - 1]
        voxels, starts, stops, old, new = rec.moves
        self._paint(voxels, starts, stops, old)
        self._replace(self._find(rec.added.labels), rec.removed)
        self._pos -= 1
        r = rec.result
        return EditResult(f"undo {r.op}", r.added, r.removed, r.changed, r.voxels)

    def redo(self) -> EditResult | None:
        """Redo the last undone operation; None if there is nothing to redo."""
        if not self.can_redo:
            return None
        rec = self._log[self._pos]
        voxels, starts, stops, old, new = rec.moves
        self._paint(voxels, starts, stops, new)
        self._replace(self._find(rec.removed.labels), rec.added)
        self._pos += 1
        return rec.result

    # ---------------------------------------------------------------- helpers
    def _rows_of(self, ids: Any) -> np.ndarray:
        """Sorted unique rows of the labels ``ids`` (KeyError naming an unknown one)."""
        values = [ids] if np.ndim(ids) == 0 else list(ids)
        try:
            keys = [operator.index(v) for v in values]
        except TypeError:
            raise TypeError(f"label ids must be integers, got {ids!r}") from None
        info = np.iinfo(self._L.dtype)
        inside = [info.min <= k <= info.max for k in keys]
        pos = self._find(np.array([k if ok else 0 for k, ok in zip(keys, inside)],
                                  dtype=self._L.dtype))
        pos[~np.array(inside, dtype=bool)] = -1
        if (pos < 0).any():
            raise KeyError(f"label {keys[int(np.argmax(pos < 0))]} is not in the stack")
        return np.unique(pos)

    def _find(self, typed: np.ndarray) -> np.ndarray:
        """Rows of the labels ``typed`` (of the labels' dtype), -1 where absent."""
        n = self._L.shape[0]
        if n == 0:
            return np.full(typed.shape[0], -1, dtype=np.int64)
        pos = np.searchsorted(self._L, typed).astype(np.int64)
        clipped = np.minimum(pos, n - 1)
        return np.where(self._L[clipped] == typed, clipped, -1)

    def _check_label(self, value: Any, name: str) -> int:
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an integer label, got {value!r}") from None
        info = np.iinfo(self._L.dtype)
        hi = 1 if self._arr.dtype == np.bool_ else info.max
        if not info.min <= value <= hi:
            raise ValueError(f"{name}={value} cannot be stored in a {self._arr.dtype} array "
                             f"(values {info.min}..{hi})")
        return value

    def _not_fill(self, rows: np.ndarray) -> np.ndarray:
        return rows if self._bg is not None else rows[self._L[rows] != self.fill]

    def _free_ids(self, k: int) -> list[int]:
        """``k`` labels not in the stack (and not the background): the next ones above
        the largest label, else the lowest unused ones from 1 up, then from the dtype's
        minimum up."""
        info = np.iinfo(self._L.dtype)
        lo, hi = (0, 1) if self._arr.dtype == np.bool_ else (int(info.min), int(info.max))
        taken = set(self._L.tolist())
        if self._bg is not None:
            taken.add(self._bg)
        start = int(self._L[-1]) + 1 if len(self._L) else 1
        candidates = itertools.chain(range(start, hi + 1), range(min(1, hi), hi + 1),
                                     range(lo, min(1, hi + 1)))
        out: set[int] = set()
        for v in candidates:
            if len(out) == k:
                break
            if v not in taken:
                out.add(v)
        if len(out) < k:
            raise ValueError(f"no {k} free labels left in a {self._arr.dtype} array "
                             f"for the pieces of the split")
        return sorted(out)

    def _read(self, flat_idx: np.ndarray) -> np.ndarray:
        if self._flat is not None:
            return self._flat[flat_idx]
        return self._arr[np.unravel_index(flat_idx, self._arr.shape)]

    def _paint(self, voxels, starts, stops, values) -> None:
        if self._flat is not None:
            self._K.paint_segments(self._flat, voxels, starts, stops,
                                   np.asarray(values).astype(self._flat.dtype))
            return
        sel = np.concatenate([voxels[s:e] for s, e in zip(starts, stops)] or [voxels[:0]])
        self._arr[np.unravel_index(sel, self._arr.shape)] = np.repeat(
            np.asarray(values), np.asarray(stops) - np.asarray(starts)).astype(self._arr.dtype)

    def _empty_rows(self) -> _Rows:
        return _Rows(self._L[:0], self._C[:0], self._B[:0], self._Ce[:0], self._buf[:0],
                     np.zeros(1, dtype=np.int64))

    def _take(self, rows: np.ndarray) -> _Rows:
        """Copies of the index rows ``rows``."""
        counts = self._C[rows]
        offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        voxels = np.empty(int(offsets[-1]), dtype=self._buf.dtype)
        self._K.gather_rows(self._buf, self._O, rows, offsets, voxels)
        return _Rows(self._L[rows], counts, self._B[rows], self._Ce[rows], voxels, offsets)

    def _make_rows(self, labels, pieces: list[np.ndarray]) -> _Rows:
        """Index rows of the objects ``labels`` made of the (ascending) voxel lists
        ``pieces``: boxes and centroids computed as a build computes them."""
        labels = np.array(labels, dtype=self._L.dtype)
        order = np.argsort(labels)
        pieces = [pieces[i] for i in order]
        counts = np.array([p.shape[0] for p in pieces], dtype=np.int64)
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        voxels = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        bboxes = np.empty((counts.shape[0], self._shape.shape[0], 2), dtype=np.int64)
        sums = np.empty((counts.shape[0], self._shape.shape[0]), dtype=np.int64)
        self._K.segment_stats(voxels, offsets, self._shape, bboxes, sums)
        return _Rows(labels[order], counts, bboxes, sums / counts[:, None], voxels, offsets)

    def _delete_rows(self, rows: np.ndarray, op: str) -> EditResult:
        if rows.shape[0] == 0:
            return EditResult(op)
        if self._bg is None:  # the fill value is an object: a merge into it
            return self._merge_rows(rows, self.fill, op)
        removed = self._take(rows)
        off = removed.offsets
        moves = (removed.voxels, off[:-1], off[1:], removed.labels,
                 np.full(rows.shape[0], self.fill, dtype=self._L.dtype))
        result = EditResult(op, removed=tuple(removed.labels.tolist()), voxels=int(off[-1]))
        return self._commit(result, rows, removed, self._empty_rows(), moves)

    def _merge_rows(self, rows: np.ndarray, target: int, op: str) -> EditResult:
        t = int(self._find(np.array([target], dtype=self._L.dtype))[0])
        if t >= 0:
            rows = np.union1d(rows, [t])
        labels = self._L[rows]
        if rows.shape[0] == 1 and int(labels[0]) == target:
            return EditResult(op)
        removed = self._take(rows)
        v, off = removed.voxels, removed.offsets
        if rows.shape[0] == 1:
            merged = v
        elif rows.shape[0] == 2:
            merged = np.empty_like(v)
            self._K.merge_two(v[:off[1]], v[off[1]:], merged)
        else:  # timsort: merges the ascending runs
            merged = np.sort(v, kind="stable")
        added = self._make_rows([target], [merged])
        moving = np.flatnonzero(labels != labels.dtype.type(target))
        moves = (v, off[moving], off[moving + 1], labels[moving],
                 np.full(moving.shape[0], target, dtype=self._L.dtype))
        result = EditResult(op, removed=tuple(labels[moving].tolist()),
                            added=() if t >= 0 else (target,),
                            changed=(target,) if t >= 0 else (),
                            voxels=int((off[moving + 1] - off[moving]).sum()))
        return self._commit(result, rows, removed, added, moves)

    def _commit(self, result, rows, removed, added, moves) -> EditResult:
        voxels, starts, stops, old, new = moves
        self._paint(voxels, starts, stops, new)
        self._replace(rows, added)
        del self._log[self._pos:]
        if self.history:
            self._log.append(_Record(result, removed, added, moves))
            if len(self._log) > self.history:
                del self._log[0]
            self._pos = len(self._log)
        return result

    def _replace(self, rem: np.ndarray, add: _Rows) -> None:
        """Take rows ``rem`` out of the index and put the rows ``add`` in, shifting the
        voxel lists between them in place (one memmove per run of untouched rows)."""
        L, C, O = self._L, self._C, self._O
        keep = np.ones(L.shape[0], dtype=bool)
        keep[rem] = False
        kept = np.flatnonzero(keep)
        ins = np.searchsorted(L[kept], add.labels)
        counts = np.insert(C[kept], ins, add.counts)
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        if offsets[-1] > self._buf.shape[0]:  # (only after edits of edits; rare)
            grown = np.empty(max(int(offsets[-1]), self._buf.shape[0] * 5 // 4),
                             dtype=self._buf.dtype)
            grown[:O[-1]] = self._buf[:O[-1]]
            self._buf = grown
        if kept.shape[0]:
            q = np.arange(kept.shape[0])
            delta = offsets[q + np.searchsorted(ins, q, side="right")] - O[kept]
            brk = np.ones(kept.shape[0], dtype=bool)
            brk[1:] = (np.diff(kept) != 1) | (np.diff(delta) != 0)
            first = np.flatnonzero(brk)
            last = np.r_[first[1:], kept.shape[0]] - 1
            src = O[kept[first]]
            length = O[kept[last] + 1] - src
            shift = delta[first]
            mv = shift != 0
            self._K.move_runs(self._buf, src[mv], src[mv] + shift[mv], length[mv])
        self._K.scatter_rows(add.voxels, add.offsets, self._buf, offsets,
                             ins + np.arange(ins.shape[0]))
        self._L = np.insert(L[kept], ins, add.labels)
        self._C, self._O = counts, offsets
        self._B = np.insert(self._B[kept], ins, add.bboxes, axis=0)
        self._Ce = np.insert(self._Ce[kept], ins, add.centroids, axis=0)
        self._index = None
