"""The Voxel index dock's state, without Qt: index, staleness, selection, review, edits.

:class:`IndexDockModel` holds what the dock knows; its sub-widgets (load, objects,
review, edits, export) observe its psygnal signals and call its methods. Nothing here
imports Qt or napari, so the state logic is tested without a viewer::

    >>> import numpy as np
    >>> from labelprep import LabelIndex
    >>> model = IndexDockModel()
    >>> model.set_index(LabelIndex.build(np.array([[1, 0, 2], [3, 3, 0]])))
    >>> model.set_queue([3, 1, 2])
    >>> model.next_in_queue(), model.next_in_queue(current=3)
    (3, 1)
    >>> model.mark(1, "ok"); model.review_summary()
    '1 of 3 reviewed (1 ok, 0 fix, 0 bad)'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from psygnal import Signal

__all__ = ["MARKS", "IndexDockModel", "merge_features"]

#: The review marks, in the order the dock shows them.
MARKS = ("ok", "fix", "bad")
#: Columns of ``layer.features`` this dock owns (besides ``label`` and ``index``).
REVIEW_COLUMN = "review"


def merge_features(current, ours, own: Iterable[str]):
    """``current`` features with ``ours`` merged in on ``label``.

    Columns other plugins put in ``current`` are kept (rows matched by ``label``; an
    object not in ``current`` gets their missing value); the columns in ``own`` (ours)
    are replaced by ``ours``'s. Rows follow ``ours`` (one per object of the index).

    >>> import pandas as pd
    >>> cur = pd.DataFrame({"label": [2, 1], "cluster": [7, 8], "voxels": [0, 0]})
    >>> merge_features(cur, pd.DataFrame({"label": [1, 2], "voxels": [5, 6]}),
    ...                ["voxels"]).to_dict("list")
    {'label': [1, 2], 'voxels': [5, 6], 'cluster': [8, 7]}
    """
    import pandas as pd

    ours = ours.reset_index(drop=True)
    if current is None or len(getattr(current, "columns", ())) == 0 or "label" not in current:
        return ours
    own = set(own) | set(ours.columns)
    foreign = [c for c in current.columns if c not in own and c != "label"]
    if not foreign:
        return ours
    keep = current[["label", *foreign]].drop_duplicates("label", keep="last")
    merged = ours.merge(keep, on="label", how="left", sort=False)
    return pd.DataFrame(merged, columns=[*ours.columns, *foreign])


class IndexDockModel:
    """State of one Voxel index dock (see the module docstring).

    Signals: ``index_changed()`` (a new index, or none), ``stale_changed(bool)``,
    ``selection_changed(tuple)``, ``marks_changed()``, ``queue_changed()``.
    """

    index_changed = Signal()
    stale_changed = Signal(bool)
    selection_changed = Signal(tuple)
    marks_changed = Signal()
    queue_changed = Signal()

    def __init__(self) -> None:
        self.index = None
        self.stale = False
        self.build_seconds: float | None = None
        self.index_source = ""  # "built", "edited" or the .npz path it was read from
        self.intensity_warning: str | None = None
        self.selected: tuple[int, ...] = ()
        self.marks: dict[int, str] = {}
        self.queue = np.zeros(0, dtype=np.int64)
        self.queue_source = "table"  # "table" or "flagged"
        self.flags = None  # the DataFrame of idx.flags(), when computed
        self.edit_session = None
        self.measurements = None  # the DataFrame of the last measure(), for this index

    # --------------------------------------------------------------- index
    def set_index(self, idx, *, seconds: float | None = None, source: str = "built",
                  keep_session: bool = False) -> None:
        """Adopt ``idx``; drop the selection and marks of labels it does not have."""
        self.index = idx
        self.build_seconds = seconds
        self.index_source = source
        self.measurements = None  # of the previous index: measure again
        if not keep_session:
            self.edit_session = None
            self.flags = None
        self._set_stale(False)
        present = self._present
        self.marks = {L: m for L, m in self.marks.items() if present(L)}
        self.index_changed.emit()
        self.set_selection([L for L in self.selected if present(L)])

    def clear(self) -> None:
        """No index (another layer, or its data were replaced)."""
        self.index = None
        self.build_seconds = None
        self.index_source = ""
        self.edit_session = None
        self.flags = None
        self.measurements = None
        self.marks = {}
        self.queue = np.zeros(0, dtype=np.int64)
        self._set_stale(False)
        self.index_changed.emit()
        self.set_selection(())

    def mark_stale(self) -> None:
        """The labels changed behind the index: edits need a rebuild first."""
        self.edit_session = None
        self._set_stale(True)

    def _set_stale(self, value: bool) -> None:
        if value != self.stale:
            self.stale = value
            self.stale_changed.emit(value)

    def _present(self, label) -> bool:
        return self.index is not None and int(label) in self.index

    # ----------------------------------------------------------- selection
    def set_selection(self, labels: Iterable[int]) -> None:
        """Select ``labels`` (in the index; order kept, duplicates dropped)."""
        seen: dict[int, None] = {}
        for L in labels:
            if self._present(L):
                seen[int(L)] = None
        value = tuple(seen)
        if value != self.selected:
            self.selected = value
            self.selection_changed.emit(value)

    def toggle(self, label: int) -> None:
        """Add ``label`` to the selection, or take it out if it is in it (shift-click)."""
        label = int(label)
        if label in self.selected:
            self.set_selection([L for L in self.selected if label != L])
        else:
            self.set_selection([*self.selected, label])

    # -------------------------------------------------------------- review
    def set_queue(self, labels: Iterable[int], source: str = "table") -> None:
        """The objects Next / Previous step through, in order."""
        self.queue = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels,
                                dtype=np.int64)
        self.queue_source = source
        self.queue_changed.emit()

    def _step(self, current: int | None, direction: int) -> int | None:
        q = self.queue
        if q.size == 0:
            return None
        hits = np.flatnonzero(q == current) if current is not None else np.zeros(0, int)
        if hits.size == 0:
            return int(q[0] if direction > 0 else q[-1])
        i = int(hits[0]) + direction
        return int(q[i]) if 0 <= i < q.size else None

    def next_in_queue(self, current: int | None = None) -> int | None:
        """The object after ``current`` in the queue (the first if ``current`` is not in
        it); None at the end."""
        return self._step(current, +1)

    def previous_in_queue(self, current: int | None = None) -> int | None:
        """The object before ``current`` (the last if ``current`` is not in it)."""
        return self._step(current, -1)

    def mark(self, label: int, value: str | None) -> None:
        """Mark ``label`` "ok", "fix" or "bad" (None or "" clears the mark)."""
        label = int(label)
        if not self._present(label):
            raise KeyError(f"label {label} is not in the index")
        if value in (None, ""):
            self.marks.pop(label, None)
        else:
            value = str(value).lower()
            if value not in MARKS:
                raise ValueError(f"mark must be one of {MARKS} (or None), got {value!r}")
            self.marks[label] = value
        self.marks_changed.emit()

    def set_marks(self, marks: dict[int, str]) -> list[int]:
        """Replace the marks by ``marks``; returns the labels not in the index (skipped)."""
        unknown = [int(L) for L in marks if not self._present(L)]
        for L, m in marks.items():
            if m not in MARKS:
                raise ValueError(f"label {L}: mark must be one of {MARKS}, got {m!r}")
        self.marks = {int(L): m for L, m in marks.items() if self._present(L)}
        self.marks_changed.emit()
        return unknown

    def review_summary(self) -> str:
        """'37 of 212 reviewed (30 ok, 5 fix, 2 bad)' over the queue (or all objects)."""
        labels = self.queue if self.queue.size else (
            np.asarray(self.index.labels) if self.index is not None else np.zeros(0, int))
        marked = np.fromiter(self.marks, dtype=np.int64, count=len(self.marks))
        values = list(self.marks.values())
        inside = [values[i] for i in np.flatnonzero(np.isin(marked, labels)).tolist()]
        counts = {m: inside.count(m) for m in MARKS}
        detail = ", ".join(f"{counts[m]} {m}" for m in MARKS)
        return f"{len(inside)} of {labels.size} reviewed ({detail})"

    # --------------------------------------------------------------- edits
    def session(self, labels: np.ndarray, writer: Any = None):
        """The :class:`labelprep.EditSession` over ``labels`` (made on first use)."""
        from labelprep.edit import EditSession

        if self.index is None:
            raise ValueError("build the index first")
        if self.stale:
            raise ValueError("the index is stale (the labels changed): rebuild it first")
        if self.edit_session is None or self.edit_session.labels is not labels:
            self.edit_session = EditSession(labels, self.index, writer=writer)
        return self.edit_session

    def adopt_edit(self, result) -> None:
        """After an edit (or its undo) through :attr:`edit_session`: its index, the marks
        and selection of labels that are gone dropped, the new pieces selected."""
        self.set_index(self.edit_session.index, source="edited", keep_session=True)
        if result is not None and result.added and not result.op.startswith("undo"):
            self.set_selection([*self.selected, *result.added])
