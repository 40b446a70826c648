"""The object table of the "Voxel index" dock: a Qt model over ``LabelIndex.table()``.

Sorting and the size filter are done here with NumPy (one ``argsort`` / one boolean
mask over the whole column) instead of a ``QSortFilterProxyModel``: a proxy compares
rows through Python ``data()`` calls, which takes seconds for tens of thousands of
objects, while NumPy takes milliseconds. Only the rows on screen are ever formatted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt

__all__ = ["ObjectTableModel"]

#: Role returning the raw (unformatted) value of a cell.
RAW_ROLE = Qt.ItemDataRole.UserRole + 1


class ObjectTableModel(QAbstractTableModel):
    """Rows = objects of a :class:`labelprep.LabelIndex`, columns = ``idx.table()``.

    The model keeps the table as NumPy columns plus ``order``: the table rows shown, in
    display order. ``row_of_label(L)`` and ``label_at(row)`` map between the two in
    O(log n) / O(1) without touching the label stack.

    A time-lapse table of every time point (``set_table(frame, time=t)``, rows in ``t``
    order) shows all rows, but its label lookups (``row_of_label``, ``frame``,
    ``display_labels``, ``set_cell``...) are those of time point ``time``, the one the
    dock works on; :meth:`time_at` tells a row's time point.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._frame: pd.DataFrame = pd.DataFrame()
        self._columns: list[str] = []
        self._values: list[np.ndarray] = []
        self._is_float: list[bool] = []
        self._labels = np.zeros(0, dtype=np.int64)
        self._sorter: np.ndarray | None = None  # argsort of labels when not ascending
        self._voxels = np.zeros(0, dtype=np.int64)
        self._order = np.zeros(0, dtype=np.intp)  # table positions shown, display order
        self._row_of = np.zeros(0, dtype=np.intp)  # display row of each table position, -1 hidden
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._size_range: tuple[int | None, int | None] = (None, None)
        self._times: np.ndarray | None = None  # the t column of an all-time-points table
        self._time: int | None = None
        self._span = (0, 0)  # table positions of time point ``time`` (all rows otherwise)
        self._span_frame: pd.DataFrame | None = None

    # ----------------------------------------------------------------- content
    @property
    def frame(self) -> pd.DataFrame:
        """The table of the objects the dock works on (table order): the whole table as
        given to :meth:`set_table`, or the rows of time point ``time`` of an
        all-time-points table."""
        a, b = self._span
        if self._times is None:
            return self._frame
        if self._span_frame is None:
            self._span_frame = self._frame.iloc[a:b].reset_index(drop=True)
        return self._span_frame

    @property
    def full_frame(self) -> pd.DataFrame:
        """Every row of the table, as given to :meth:`set_table`."""
        return self._frame

    @property
    def time(self) -> int | None:
        """The time point of an all-time-points table the lookups are on, else None."""
        return self._time

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def set_table(self, frame: pd.DataFrame | None, *, time: int | None = None) -> None:
        """Show ``frame`` (must have ``label`` and ``voxels`` columns); ``None`` clears.

        ``time``: ``frame`` holds every time point (a ``t`` column, rows in ``t``
        order) and the label lookups are on time point ``time``.
        """
        if frame is None:
            frame = pd.DataFrame({"label": np.zeros(0, np.int64), "voxels": np.zeros(0, np.int64)})
        times = None
        if time is not None:
            if "t" not in frame:
                raise ValueError("an all-time-points table needs a 't' column")
            times = frame["t"].to_numpy()
            if times.size > 1 and bool(np.any(times[1:] < times[:-1])):
                raise ValueError("the rows of an all-time-points table must be in 't' order")
        self.beginResetModel()
        self._frame = frame
        self._columns = [str(c) for c in frame.columns]
        self._values = [frame[c].to_numpy(copy=True) for c in frame.columns]
        self._is_float = [v.dtype.kind == "f" for v in self._values]
        self._labels = frame["label"].to_numpy()
        self._times = times
        self._time = None if time is None else int(time)
        self._set_span()
        self._voxels = self._values[self._columns.index("voxels")]  # set_cell changes it
        self._recompute()
        self.endResetModel()

    def _set_span(self) -> None:
        """The table positions of the lookups' time point and the sorter of their labels."""
        n = self._labels.size
        if self._times is None:
            a, b = 0, n
        else:
            a = int(np.searchsorted(self._times, self._time, side="left"))
            b = int(np.searchsorted(self._times, self._time, side="right"))
        self._span = (a, b)
        self._span_frame = None
        labels = self._labels[a:b]
        if labels.size > 1 and not bool(np.all(labels[1:] > labels[:-1])):
            self._sorter = np.argsort(labels, kind="stable")
        else:
            self._sorter = None

    def _recompute(self) -> None:
        """Recompute ``_order`` and ``_row_of`` from the size filter and the sort key."""
        n = self._labels.size
        keep = np.ones(n, dtype=bool)
        lo, hi = self._size_range
        if lo is not None:
            keep &= self._voxels >= lo
        if hi is not None:
            keep &= self._voxels <= hi
        order = np.flatnonzero(keep)
        if self._sort is not None and order.size:
            column, direction = self._sort
            key = self._values[column][order]
            perm = np.argsort(key, kind="stable")
            if direction == Qt.SortOrder.DescendingOrder:
                perm = perm[::-1]
            order = order[perm]
        self._order = order
        row_of = np.full(n, -1, dtype=np.intp)
        row_of[order] = np.arange(order.size, dtype=np.intp)
        self._row_of = row_of

    def _relayout(self, change) -> None:
        """Apply ``change()`` (which alters filter/sort) keeping selections valid."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        positions = [int(self._order[i.row()]) if i.isValid() else -1 for i in persistent]
        change()
        self._recompute()
        new = []
        for old, pos in zip(persistent, positions):
            row = int(self._row_of[pos]) if pos >= 0 else -1
            new.append(self.index(row, old.column()) if row >= 0 else QModelIndex())
        self.changePersistentIndexList(persistent, new)
        self.layoutChanged.emit()

    def set_size_range(self, minimum: int | None, maximum: int | None) -> None:
        """Show only objects with ``minimum <= voxels <= maximum`` (``None``: no bound)."""
        value = (
            None if minimum is None else int(minimum),
            None if maximum is None else int(maximum),
        )
        if value == self._size_range:
            return

        def change():
            self._size_range = value

        self._relayout(change)

    # --------------------------------------------------------------- lookups
    def position_of_label(self, label) -> int:
        """Table position of ``label`` (of time point ``time`` in an all-time-points
        table; the row of ``frame`` otherwise), or -1 if absent."""
        a, b = self._span
        pos = self._span_position(label, self._labels[a:b])
        return pos + a if pos >= 0 else -1

    def _span_position(self, label, labels: np.ndarray) -> int:
        if labels.size == 0:
            return -1
        try:
            key = np.asarray(label).astype(labels.dtype, casting="unsafe")
            if int(key) != int(label):
                return -1
        except (OverflowError, ValueError, TypeError):
            return -1
        if self._sorter is None:
            pos = int(np.searchsorted(labels, key))
            return pos if pos < labels.size and labels[pos] == key else -1
        i = int(np.searchsorted(labels, key, sorter=self._sorter))
        if i < labels.size and labels[self._sorter[i]] == key:
            return int(self._sorter[i])
        return -1

    def row_of_label(self, label) -> int:
        """Display row of ``label``; -1 if it is unknown or filtered out."""
        pos = self.position_of_label(label)
        return int(self._row_of[pos]) if pos >= 0 else -1

    def label_at(self, row: int) -> int:
        """Label id shown at display ``row`` (a Python int)."""
        return int(self._labels[self._order[row]])

    def time_at(self, row: int) -> int | None:
        """Time point of display ``row`` of an all-time-points table, else None."""
        return None if self._times is None else int(self._times[self._order[row]])

    def _in_span(self, positions: np.ndarray) -> np.ndarray:
        a, b = self._span
        if self._times is None:
            return positions
        return positions[(positions >= a) & (positions < b)]

    def display_labels(self) -> np.ndarray:
        """Labels of the rows shown, in display order (the current sort and filter); of
        time point ``time`` only in an all-time-points table."""
        return self._labels[self._in_span(self._order)]

    def display_frame(self) -> pd.DataFrame:
        """The rows shown, in display order, as a DataFrame (what the user sees)."""
        return self._frame.iloc[self._order].reset_index(drop=True)

    def set_cell(self, label, column: str, value) -> None:
        """Set one cell (``column`` of ``label``'s row) in place and repaint it."""
        pos = self.position_of_label(label)
        if pos < 0 or column not in self._columns:
            return
        c = self._columns.index(column)
        self._values[c][pos] = value
        self._frame.iat[pos, c] = value
        self._span_frame = None
        row = int(self._row_of[pos])
        if row >= 0:
            index = self.index(row, c)
            self.dataChanged.emit(index, index)

    def visible_labels(self) -> np.ndarray:
        """Labels of the rows that pass the filter, in table (ascending label) order; of
        time point ``time`` only in an all-time-points table."""
        return self._labels[self._in_span(np.sort(self._order))]

    # ------------------------------------------------------------ Qt model API
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else int(self._order.size)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column = index.column()
        value = self._values[column][self._order[index.row()]]
        if role == Qt.ItemDataRole.DisplayRole:
            if self._is_float[column]:
                return f"{value:.1f}"
            return str(value.item() if hasattr(value, "item") else value)
        if role == RAW_ROLE:
            return value.item() if hasattr(value, "item") else value
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._columns[section] if 0 <= section < len(self._columns) else None
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self._columns):
            return

        def change():
            self._sort = (column, order)

        self._relayout(change)
