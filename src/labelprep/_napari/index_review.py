"""Review mode of the Voxel index dock: a queue, Next / Previous, OK / Fix / Bad marks.

The queue is the object table's current order (its sort and size filter), or only the
objects :func:`labelprep.qa.flags` flags. Each step selects, centres and slices to the
object; marks go to the model, the table's ``review`` column and the layer's
``features``, and are saved to / loaded from a CSV (``label,review``) so a review
resumes another day. Viewer key bindings (listed in the panel) do the same.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from .index_model import MARKS, REVIEW_COLUMN

__all__ = ["KEYS", "ReviewActions", "ReviewPanel"]

#: Viewer key bindings of review mode (napari key names).
KEYS = {
    "next": "Alt-N", "previous": "Alt-P",
    "ok": "Alt-O", "fix": "Alt-F", "bad": "Alt-B",
}
QUEUES = {"table": "Queue: table order", "flagged": "Queue: flagged only"}


def _marks_from(frame, path) -> dict[int, str]:
    """{label: mark} of a marks table (blank marks skipped); ValueError naming the row."""
    from pathlib import Path

    labels = frame["label"].tolist()
    values = [str(v).strip().lower() for v in frame[REVIEW_COLUMN].tolist()]
    marks = {}
    for row, (label, value) in enumerate(zip(labels, values), start=2):
        if value == "":
            continue
        try:
            key = int(label)
        except (TypeError, ValueError):
            raise ValueError(f"{Path(path).name} line {row}: label {label!r} is not an "
                             "integer") from None
        if value not in MARKS:
            raise ValueError(f"{Path(path).name} line {row}: mark {value!r} is not one of "
                             f"{', '.join(MARKS)}")
        marks[key] = value
    return marks


class ReviewPanel(QGroupBox):
    """Queue choice, Previous / Next, OK / Fix / Bad, the count, save / load marks."""

    def __init__(self, parent=None):
        super().__init__("Review", parent)
        box = QVBoxLayout(self)
        self.queue_combo = QComboBox()
        self.queue_combo.setToolTip("Next / Previous step through the table's rows (its sort "
                                    "and size filter), or only the objects labelprep.qa flags")
        for key, text in QUEUES.items():
            self.queue_combo.addItem(text, key)
        box.addWidget(self.queue_combo)
        row = QHBoxLayout()
        self.previous_button = QPushButton("< Previous")
        self.next_button = QPushButton("Next >")
        self.mark_buttons = {m: QPushButton(m.upper() if m == "ok" else m.capitalize())
                             for m in MARKS}
        row.addWidget(self.previous_button)
        row.addWidget(self.next_button)
        box.addLayout(row)
        row = QHBoxLayout()
        for m, b in self.mark_buttons.items():
            b.setToolTip(f"Mark the selected objects '{m}' ({KEYS[m]}) and go to the next")
            row.addWidget(b)
        box.addLayout(row)
        self.previous_button.setToolTip(f"Previous object of the queue ({KEYS['previous']})")
        self.next_button.setToolTip(f"Next object of the queue ({KEYS['next']})")
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        box.addWidget(self.summary_label)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save marks...")
        self.load_button = QPushButton("Load marks...")
        row.addWidget(self.save_button)
        row.addWidget(self.load_button)
        box.addLayout(row)
        keys = ", ".join(f"{KEYS[k]} {k}" for k in KEYS)
        self.keys_label = QLabel(f"<small>Keys: {keys}</small>")
        self.keys_label.setWordWrap(True)
        box.addWidget(self.keys_label)

    @property
    def buttons(self) -> tuple:
        return (self.previous_button, self.next_button, *self.mark_buttons.values(),
                self.save_button, self.load_button)


class ReviewActions:
    """Review methods of :class:`~.index_widget.VoxelIndexWidget` (a mixin)."""

    def _wire_review(self) -> None:
        panel = self.review_panel
        panel.next_button.clicked.connect(lambda: self.next_object())
        panel.previous_button.clicked.connect(lambda: self.previous_object())
        for m, b in panel.mark_buttons.items():
            b.clicked.connect(lambda _=False, m=m: self._mark_and_next(m))
        panel.save_button.clicked.connect(self._save_marks_clicked)
        panel.load_button.clicked.connect(self._load_marks_clicked)
        panel.queue_combo.currentIndexChanged.connect(lambda *_: self._on_queue_source())
        self.state.marks_changed.connect(self._update_review_summary)
        self.state.queue_changed.connect(self._update_review_summary)
        self.state.index_changed.connect(self._update_review_summary)
        actions = {"next": lambda v: self.next_object(),
                   "previous": lambda v: self.previous_object()}
        actions.update({m: (lambda v, m=m: self._mark_and_next(m)) for m in MARKS})
        self._review_keys = []
        for name, key in KEYS.items():
            self.viewer.bind_key(key, actions[name], overwrite=True)
            self._review_keys.append(key)

    def _unbind_review_keys(self) -> None:
        for key in getattr(self, "_review_keys", ()):
            self.viewer.bind_key(key, None, overwrite=True)
        self._review_keys = []

    # -------------------------------------------------------------- queue
    def review_queue(self) -> np.ndarray:
        """The labels Next / Previous step through, in order (see the module docstring)."""
        order = self.model.display_labels()
        if self.state.queue_source == "flagged":
            flagged = self._flagged_labels()
            order = order[np.isin(order, flagged)] if flagged is not None else order[:0]
        return order

    def _flagged_labels(self):
        flags = self.state.flags
        if flags is None:
            return None
        columns = [c for c in flags.columns if c != "label" and flags[c].dtype == bool]
        return flags["label"].to_numpy()[flags[columns].to_numpy().any(axis=1)]

    def _on_queue_source(self) -> None:
        source = self.review_panel.queue_combo.currentData()
        self.state.queue_source = source
        if source == "flagged" and self.state.flags is None and self.index is not None:
            self.compute_flags()
        self._refresh_queue()

    def compute_flags(self):
        """Compute :func:`labelprep.qa.flags` for every object (worker); the flagged queue
        and a ``flags`` column of the table follow. Returns the worker or None."""
        idx, layer = self.index, self.layer
        if idx is None or layer is None:
            return None
        data = np.asarray(self.stack_data())

        def job(progress):
            return idx.flags(data)

        def done(flags):
            if idx is not self.index:
                return
            self.state.flags = flags
            self._refresh_queue()
            n = self._flagged_labels().size
            self.show_message(f"{n:,} of {len(idx):,} objects flagged.")

        return self.tasks.start(job, on_done=done, label="Flagging", lock=layer)

    def _refresh_queue(self) -> None:
        self.state.set_queue(self.review_queue(), self.state.queue_source)

    def _step(self, forward: bool):
        if self.index is None:
            self.show_message("Build the index first.", error=True)
            return None
        queue = self.review_queue()
        self.state.set_queue(queue, self.state.queue_source)
        current = self.focus_label
        label = (self.state.next_in_queue if forward else self.state.previous_in_queue)(current)
        if label is None:
            if queue.size == 0:
                self.show_message("The review queue is empty.", error=True)
            else:
                self.show_message("End of the queue." if forward else "Start of the queue.")
            return None
        self.select_label(label)
        return label

    def next_object(self):
        """Select, centre and slice to the next object of the queue; its label or None."""
        return self._step(True)

    def previous_object(self):
        """Select the previous object of the queue; its label or None."""
        return self._step(False)

    # -------------------------------------------------------------- marks
    def mark(self, label, value) -> None:
        """Mark object ``label`` "ok", "fix" or "bad" (None clears): the model, the table's
        ``review`` column and the layer's ``features`` follow."""
        self.state.mark(label, value)
        text = self.state.marks.get(int(label), "")
        self.model.set_cell(int(label), REVIEW_COLUMN, text)
        features = getattr(self.layer, "features", None)
        if features is not None and REVIEW_COLUMN in features and "label" in features:
            rows = np.flatnonzero(features["label"].to_numpy() == int(label))
            if rows.size:
                features.iloc[rows, features.columns.get_loc(REVIEW_COLUMN)] = text

    def _mark_and_next(self, value: str) -> None:
        labels = self.selected_labels or ((self.focus_label,) if self.focus_label else ())
        if not labels:
            self.show_message("Select an object to mark first.", error=True)
            return
        for label in labels:
            self.mark(label, value)
        self.next_object()

    def _update_review_summary(self, *_) -> None:
        self.review_panel.summary_label.setText(
            self.state.review_summary() if self.index is not None else "")

    def save_marks(self, path):
        """Write the marks as CSV (``label,review``, marked objects only); the path or
        None (refused, said why)."""
        import pandas as pd

        from labelprep.io import atomic_open

        from ._common import check_output

        path = check_output(self, path, self.layer, what="save marks to")
        if path is None:
            return None
        marks = self.state.marks
        frame = pd.DataFrame({"label": sorted(marks), REVIEW_COLUMN:
                              [marks[L] for L in sorted(marks)]})
        with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False)
        self.show_message(f"Saved {len(marks):,} marks to {path}.")
        return path

    def load_marks(self, path) -> int | None:
        """Read marks saved by :meth:`save_marks`; the number applied, or None (a bad
        file: the message says why). Labels no longer in the index are skipped."""
        from labelprep.io._tables import read_csv_table

        try:
            frame = read_csv_table(path, ("label", REVIEW_COLUMN))
            marks = _marks_from(frame, path)
            unknown = self.state.set_marks(marks)
        except (OSError, ValueError) as exc:
            self.show_message(f"Cannot load marks: {exc}", error=True)
            return None
        self._refresh_review_column()
        extra = f" ({len(unknown)} labels not in the index skipped)" if unknown else ""
        self.show_message(f"Loaded {len(marks) - len(unknown):,} marks{extra}.")
        return len(marks) - len(unknown)

    def _refresh_review_column(self) -> None:
        """The table and the layer's features get the review column from the model."""
        if self.index is None:
            return
        self._show_table(self.index, keep_view=True)

    def _save_marks_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save review marks", "review.csv",
                                              "CSV (*.csv)")
        if path:
            self.save_marks(path)

    def _load_marks_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load review marks", "", "CSV (*.csv)")
        if path:
            self.load_marks(path)
