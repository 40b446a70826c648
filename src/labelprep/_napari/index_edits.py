"""Edits of the Voxel index dock: delete, merge, split, relabel, remove small objects.

Each edit goes through the model's :class:`labelprep.EditSession`, which touches only
the voxels of the objects concerned (the index knows them) and keeps the index equal to
a fresh build. The session writes through the layer's public ``data_setitem`` inside one
``block_history()``, so an edit is one step of napari's own undo history: Ctrl+Z /
Ctrl+Shift+Z undo and redo it like a brush stroke, and the dock follows (the index rows
are restored, not rebuilt).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QSpinBox

from ._compat import history_lengths
from .index_objects import NARROW_SPIN_BOX

__all__ = ["EDIT_KEYS", "EditActions", "EditPanel"]

#: Viewer key bindings of the edits (napari key names).
EDIT_KEYS = {"delete": "Alt-D", "merge": "Alt-M", "split": "Alt-S",
             "relabel": "Alt-L", "remove small": "Alt-R"}


class EditPanel(QGroupBox):
    """Buttons (and the values they need) for the edits of the selected objects."""

    def __init__(self, parent=None):
        super().__init__("Edit selected objects", parent)
        grid = QGridLayout(self)
        self.delete_button = QPushButton("Delete")
        self.merge_button = QPushButton("Merge")
        self.split_button = QPushButton("Split")
        for i, (name, b) in enumerate((("delete", self.delete_button),
                                       ("merge", self.merge_button),
                                       ("split", self.split_button))):
            b.setToolTip(f"{name.capitalize()} the selected objects ({EDIT_KEYS[name]}; "
                         "Ctrl+Z undoes)")
            grid.addWidget(b, 0, i)
        self.relabel_value = QSpinBox()
        self.relabel_value.setRange(0, 2**31 - 1)
        self.relabel_value.setStyleSheet(NARROW_SPIN_BOX)
        self.relabel_button = QPushButton("Relabel to")
        self.relabel_button.setToolTip(
            f"Give the selected object this label ({EDIT_KEYS['relabel']})")
        grid.addWidget(self.relabel_button, 1, 0)
        grid.addWidget(self.relabel_value, 1, 1, 1, 2)
        self.min_voxels = QSpinBox()
        self.min_voxels.setRange(1, 2**31 - 1)
        self.min_voxels.setValue(50)
        self.min_voxels.setStyleSheet(NARROW_SPIN_BOX)
        self.remove_small_button = QPushButton("Remove below")
        self.remove_small_button.setToolTip(
            f"Delete every object with fewer voxels ({EDIT_KEYS['remove small']})")
        grid.addWidget(self.remove_small_button, 2, 0)
        grid.addWidget(self.min_voxels, 2, 1)
        grid.addWidget(QLabel("voxels"), 2, 2)
        keys = ", ".join(f"{key} {name}" for name, key in EDIT_KEYS.items())
        self.keys_label = QLabel(f"<small>Keys: {keys}; Ctrl+Z / Ctrl+Shift+Z undo, redo</small>")
        self.keys_label.setWordWrap(True)
        grid.addWidget(self.keys_label, 3, 0, 1, 3)

    @property
    def buttons(self) -> tuple:
        return (self.delete_button, self.merge_button, self.split_button,
                self.relabel_button, self.remove_small_button)


class EditActions:
    """Edit methods of :class:`~.index_widget.VoxelIndexWidget` (a mixin)."""

    def _wire_edits(self) -> None:
        panel = self.edit_panel
        panel.delete_button.clicked.connect(lambda: self.delete_selected())
        panel.merge_button.clicked.connect(lambda: self.merge_selected())
        panel.split_button.clicked.connect(lambda: self.split_selected())
        panel.relabel_button.clicked.connect(
            lambda: self.relabel_selected(panel.relabel_value.value()))
        panel.remove_small_button.clicked.connect(
            lambda: self.remove_small(panel.min_voxels.value()))
        self._edit_marks: list[tuple[int, int]] = []  # (napari undo length, session steps)
        self._undone_marks: list[tuple[int, int]] = []  # the same after their undo, for redo
        self._editing = False
        actions = {
            "delete": lambda v: self.delete_selected(),
            "merge": lambda v: self.merge_selected(),
            "split": lambda v: self.split_selected(),
            "relabel": lambda v: self.relabel_selected(panel.relabel_value.value()),
            "remove small": lambda v: self.remove_small(panel.min_voxels.value()),
        }
        for name, key in EDIT_KEYS.items():
            self.viewer.bind_key(key, actions[name], overwrite=True)
            self._review_keys.append(key)

    @property
    def edit_session(self):
        """The :class:`labelprep.EditSession` of the layer (made on first use), or None
        without a fresh index."""
        if self.index is None or self.stale or self.layer is None:
            return None
        data = self.stack_data()  # the layer's array, or its time point's view
        if not isinstance(data, np.ndarray) or not data.flags.writeable:
            return None
        return self.state.session(data, writer=self._write_to_layer)

    def _write_to_layer(self, flat, values) -> None:
        layer = self.layer  # inside _edit's block_history: staged, one undo step
        where = np.unravel_index(flat, self.index.shape)
        if self.frame_t is not None:
            where = (np.full(flat.shape, self.frame_t, dtype=np.intp), *where)
        layer.data_setitem(where, values)

    def _edit(self, what: str, op):
        """Run ``op(session)`` (an EditSession call) on the layer; its result or None."""
        session = self.edit_session
        if session is None:
            why = ("Build the index first." if self.index is None else
                   "The index is stale: rebuild it before editing." if self.stale else
                   "This layer cannot be edited in place (read-only or not in memory).")
            self.show_message(why, error=True)
            return None
        before, applied = history_lengths(self.layer), session.applied
        self._editing = True
        try:
            with self.layer.block_history():  # the whole edit: one napari undo step
                result = op(session)
        except (KeyError, ValueError, TypeError) as exc:
            self.show_message(f"Cannot {what}: {exc}", error=True)
            return None
        finally:
            self._editing = False
        after = history_lengths(self.layer)
        self._history_seen = after
        steps = session.applied - applied
        if result.voxels and before is not None and after is not None and after[0] > before[0]:
            self._edit_marks.append((after[0], steps))
            self._undone_marks.clear()
        elif result.voxels:  # napari's history is full or unknown: no undo sync
            self._edit_marks.clear()
            self._undone_marks.clear()
        self._after_edit(result)
        return result

    def _after_edit(self, result) -> None:
        self._generation += 1
        self.state.adopt_edit(result)
        self._show_table(self.index, keep_view=True)
        if result is not None:
            ids = ", ".join(map(str, result.ids[:5])) + (" ..." if len(result.ids) > 5 else "")
            self.show_message(f"{result.op}: {len(result.ids):,} labels ({ids}), "
                              f"{result.voxels:,} voxels." if result.voxels else
                              f"{result.op}: nothing changed.")
            focus = [L for L in self.selected_labels if L in self.index]
            if focus:
                self.select_label(focus[0], move=False, keep_selection=True)

    def _follow_napari_history(self, old, new) -> bool:
        """napari's undo / redo changed the history from ``old`` to ``new``: if that
        undid (redid) our last edit, follow it in the index and return True."""
        session = self.state.edit_session
        if old is None or new is None or session is None or self.stale:
            return False
        if new == (old[0] - 1, old[1] + 1) and self._edit_marks and \
                self._edit_marks[-1][0] == old[0]:
            length, steps = self._edit_marks.pop()
            self._undone_marks.append((length - 1, steps))
            results = [session.undo(write=False) for _ in range(steps)]
            self._after_edit(results[-1] if results else None)
            return True
        if new == (old[0] + 1, old[1] - 1) and self._undone_marks and \
                self._undone_marks[-1][0] == old[0]:
            length, steps = self._undone_marks.pop()
            self._edit_marks.append((length + 1, steps))
            results = [session.redo(write=False) for _ in range(steps)]
            self._after_edit(results[-1] if results else None)
            return True
        return False

    # ----------------------------------------------------------- the edits
    def _need(self, n: int, what: str):
        labels = list(self.selected_labels)
        if len(labels) < n:
            self.show_message(f"Select {'an object' if n == 1 else f'{n} objects'} to "
                              f"{what} first (shift-click adds to the selection).", error=True)
            return None
        return labels

    def delete_selected(self):
        """Delete the selected objects (their voxels become background)."""
        labels = self._need(1, "delete")
        return None if labels is None else self._edit("delete", lambda s: s.delete(labels))

    def merge_selected(self, into: int | None = None):
        """Merge the selected objects into one (the smallest label, or ``into``)."""
        labels = self._need(2, "merge")
        return None if labels is None else self._edit(
            "merge", lambda s: s.merge(labels, into=into))

    def split_selected(self, connectivity: int = 1):
        """Split each selected object into its connected components (new labels)."""
        labels = self._need(1, "split")
        if labels is None:
            return None

        def op(s):
            results = [s.split(L, connectivity=connectivity) for L in labels]
            from labelprep.edit import EditResult

            return EditResult("split", added=tuple(a for r in results for a in r.added),
                              changed=tuple(c for r in results for c in r.changed),
                              voxels=sum(r.voxels for r in results)) if len(results) > 1 \
                else results[0]
        return self._edit("split", op)

    def relabel_selected(self, new: int):
        """Give the selected object the label ``new`` (merging if ``new`` exists)."""
        labels = self._need(1, "relabel")
        if labels is None:
            return None
        if len(labels) > 1:
            return self._edit("relabel", lambda s: s.merge(labels, into=int(new)))
        return self._edit("relabel", lambda s: s.relabel(labels[0], int(new)))

    def remove_small(self, min_voxels: int):
        """Delete every object of fewer than ``min_voxels`` voxels."""
        return self._edit("remove small objects", lambda s: s.remove_small(int(min_voxels)))
