"""The Voxel index dock's Objects panel: label box, size filter and the object table.

The table shows the model's selection (several rows with Ctrl/Shift, or shift-clicks on
the canvas) and reports the user's row choices as signals; it holds no state of its
own beyond Qt's view (see :class:`~.index_table.ObjectTableModel` for sort and filter).
For a time-lapse layer it can list every time point ("all time points"): choosing rows
of another time point reports ``time_rows_chosen(t, labels)`` once Qt has finished the
click, so that the dock can move to that time point (which shows the table again).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
)

from .index_table import ObjectTableModel

__all__ = ["NARROW_SPIN_BOX", "ObjectsPanel"]

#: napari's theme gives spin boxes a 70 px text area; ours hold short counts
NARROW_SPIN_BOX = "QAbstractSpinBox { min-width: 40px; }"


def _size_box() -> QSpinBox:
    box = QSpinBox()
    box.setRange(0, 2**31 - 1)
    box.setSpecialValueText("any")
    box.setKeyboardTracking(False)
    box.setStyleSheet(NARROW_SPIN_BOX)
    return box


class ObjectsPanel(QGroupBox):
    """Label id box, size range, the object table and its row count.

    Signals: ``rows_chosen(list)`` (the labels of the rows the user selected),
    ``current_chosen(int)`` (the row the user moved to), ``time_rows_chosen(int, list)``
    (rows of time point t, another than the model's, chosen in an all-time-points
    table; the row clicked first), ``all_times_toggled(bool)``.
    """

    rows_chosen = Signal(list)
    current_chosen = Signal(int)
    time_rows_chosen = Signal(int, list)
    all_times_toggled = Signal(bool)

    def __init__(self, parent=None):
        super().__init__("Objects", parent)
        box = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Label"))
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("label id")
        self.label_edit.setToolTip("Type a label id and press Enter to select it")
        self.go_button = QPushButton("Go")
        self.show_selected_check = QCheckBox("selected only")
        self.show_selected_check.setToolTip("Show only the selected object in the layer")
        self.show_selected_check.setChecked(True)
        row.addWidget(self.label_edit, 1)
        row.addWidget(self.go_button)
        box.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Size"))
        self.min_size = _size_box()
        self.max_size = _size_box()
        row.addWidget(self.min_size, 1)
        row.addWidget(QLabel("to"))  # voxels
        row.addWidget(self.max_size, 1)
        box.addLayout(row)
        row = QHBoxLayout()
        self.geometry_check = QCheckBox("bbox/centroid")
        self.geometry_check.setToolTip("Show the bounding box and centroid columns")
        row.addWidget(self.show_selected_check)
        row.addWidget(self.geometry_check)
        row.addStretch(1)
        box.addLayout(row)
        self.all_times_check = QCheckBox("all time points")
        self.all_times_check.setToolTip(
            "List the objects of every time point; choosing a row of another time point "
            "moves the time slider there")
        self.all_times_check.setVisible(False)  # time-lapse layers only
        self.all_times_check.toggled.connect(self.all_times_toggled)
        box.addWidget(self.all_times_check)
        self.model = ObjectTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # table order until clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setResizeContentsPrecision(200)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.table.setMinimumHeight(180)
        self.table.setMinimumWidth(120)
        box.addWidget(self.table, 1)
        self.count_label = QLabel()
        box.addWidget(self.count_label)
        self._syncing = False
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.model.modelReset.connect(self._apply_column_visibility)
        self.geometry_check.toggled.connect(self._apply_column_visibility)

    # ------------------------------------------------------------ columns
    def _apply_column_visibility(self, *_) -> None:
        """bbox/centroid columns hidden unless asked for: the canvas keeps its width."""
        show = self.geometry_check.isChecked()
        for c, name in enumerate(self.model.columns):
            geometry = name.endswith(("_start", "_stop")) or name.startswith("centroid")
            self.table.setColumnHidden(c, geometry and not show)
        self.table.resizeColumnsToContents()

    def set_time_lapse(self, on: bool) -> None:
        """Offer the "all time points" table (time-lapse layers) or not."""
        self.all_times_check.setVisible(on)
        if not on:
            self.all_times_check.setChecked(False)

    def all_times(self) -> bool:
        """Whether the table lists every time point."""
        return self.all_times_check.isVisible() and self.all_times_check.isChecked()

    # ---------------------------------------------------------- selection
    def _on_selection(self, selected=None, *_) -> None:
        if self._syncing:
            return
        model = self.model
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if model.time is not None:
            new = sorted({i.row() for i in selected.indexes()}) if selected else []
            t = model.time_at(new[0]) if new else model.time
            rows = [r for r in rows if model.time_at(r) == t]
            if t != model.time:  # the first new row first: the one to show
                labels = [model.label_at(r) for r in (new[0], *(r for r in rows if r != new[0]))]
                # after Qt's click handling: the dock shows the table again for time t
                QTimer.singleShot(0, lambda: self.time_rows_chosen.emit(t, labels))
                return
        self.rows_chosen.emit([model.label_at(r) for r in rows])

    def _on_current(self, current, previous) -> None:
        if self._syncing or not current.isValid():
            return
        model = self.model
        if model.time is not None and model.time_at(current.row()) != model.time:
            return  # another time point: the selection reports it (time_rows_chosen)
        self.current_chosen.emit(model.label_at(current.row()))

    def show_selection(self, labels, current=None) -> None:
        """Select the rows of ``labels`` (those shown), ``current`` made current and
        scrolled to; the user's signals are not emitted."""
        model, selection = self.model, self.table.selectionModel()
        rows = np.array(sorted(r for r in (model.row_of_label(L) for L in labels) if r >= 0),
                        dtype=np.int64)
        block = QItemSelection()
        if rows.size:  # contiguous runs of rows as one range each
            breaks = np.flatnonzero(np.diff(rows) != 1)
            starts = np.r_[rows[0], rows[breaks + 1]]
            stops = np.r_[rows[breaks], rows[-1]]
            last = model.columnCount() - 1
            for a, b in zip(starts.tolist(), stops.tolist()):
                block.select(model.index(a, 0), model.index(b, last))
        self._syncing = True
        try:
            selection.select(block, QItemSelectionModel.SelectionFlag.ClearAndSelect
                             | QItemSelectionModel.SelectionFlag.Rows)
            row = model.row_of_label(current) if current is not None else -1
            if row >= 0:
                index = model.index(row, 0)
                selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._syncing = False

    def current_label(self):
        """Label of the table's current row (if of the model's time point), or None."""
        index = self.table.currentIndex()
        if not index.isValid() or self.model.time_at(index.row()) != self.model.time:
            return None
        return self.model.label_at(index.row())

    def size_range(self) -> tuple[int | None, int | None]:
        return self.min_size.value() or None, self.max_size.value() or None

    def update_count(self, total: int) -> None:
        """The row count: ``total`` objects (of every time point in an all-time-points
        table)."""
        shown = self.model.rowCount()
        where = " (all time points)" if self.model.time is not None else ""
        self.count_label.setText(f"{shown:,} of {total:,} objects shown{where}"
                                 if total else "")
