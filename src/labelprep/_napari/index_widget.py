"""The "Voxel index" dock widget: load, index, select, review, edit and export objects.

The dock is wiring only. Its state (index, staleness, selection, review marks and
queue, edit session) is an :class:`~.index_model.IndexDockModel`, with no Qt; its
sub-widgets are small panels (:mod:`.index_panels`, :mod:`.index_objects`,
:mod:`.index_review`, :mod:`.index_edits`) and its actions mixins (loading, review,
edits, exports) over :class:`labelprep.LabelIndex`:

- **Load** a Labels layer of the viewer, or a stack from disk in a worker.
- **Build index** in a worker with a progress bar; painting marks it **stale**.
- **Objects**: one table row per object, sortable and size-filtered; the same columns
  are merged into the layer's ``features`` on ``label`` (other plugins' columns kept).
- **Select**: click an object (pan/zoom mode, 2D or 3D; shift-click adds or removes it),
  pick table rows or type an id. A click keeps the slice; a table or typed selection
  goes to the plane where the object has most voxels. Only the index is read.
- **Review**: Next / Previous through the table order or the flagged objects, marks
  OK / Fix / Bad in a ``review`` column, saved to and loaded from CSV.
- **Edit** the selected objects (delete, merge, split, relabel, remove small) in place,
  one step of napari's own undo each; the index follows without a rebuild.
- **Export** coordinates, table, index, Points, crops or COCO for the selected, shown
  or all objects.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QVBoxLayout

from ._common import DockWidget, layer_kind
from ._compat import history_lengths
from .index_build import BuildActions
from .index_dataset import DatasetExports
from .index_edits import EditActions, EditPanel
from .index_exports import ObjectExports
from .index_io import METADATA_KEY, features_for
from .index_loading import LoadActions, layer_problem
from .index_measure import MeasureActions, MeasurePanel
from .index_model import IndexDockModel
from .index_objects import ObjectsPanel
from .index_panels import SCOPES, ExportPanel, IndexPanel, LoadPanel
from .index_review import ReviewActions, ReviewPanel
from .index_select import SelectActions
from .index_time import TimeLapseActions

__all__ = ["SCOPES", "VoxelIndexWidget", "features_for", "layer_problem"]

#: attributes of the panels the dock exposes as its own (scripts and tests use them)
_PANEL_ATTRIBUTES = {
    "load_panel": ("layer_combo", "path_edit", "open_button", "open_dir_button",
                   "image_edit", "image_button", "load_button"),
    "index_panel": ("build_button", "auto_rebuild_check", "progress_bar", "status_label"),
    "objects_panel": ("label_edit", "go_button", "show_selected_check", "min_size",
                      "max_size", "model", "table", "count_label"),
    "export_panel": ("export_scope", "export_coords_button", "export_npz_button",
                     "export_table_button", "points_button", "centroids_button",
                     "crops_button", "coco_button", "objects_layer_button"),
}


class VoxelIndexWidget(BuildActions, LoadActions, SelectActions, ReviewActions, EditActions,
                       MeasureActions, TimeLapseActions, ObjectExports, DatasetExports,
                       DockWidget):
    """Dock widget: index a Labels layer and select, review, edit and export its objects.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose Labels layers are indexed.

    Attributes (for scripting and tests)
    ------------------------------------
    state : IndexDockModel
        The dock's state; ``index``, ``stale``, ``selected_labels`` read from it.
    layer : napari.layers.Labels or None
        The layer chosen in ``layer_combo``.
    edit_session : labelprep.EditSession or None
        The edits of the layer through the index (see :meth:`delete_selected` ...).
    ``next_object()``, ``previous_object()``, ``mark(label, "ok" | "fix" | "bad")``.
    """

    #: fraction of the canvas the selected object's bounding box fills after selection
    zoom_fill = 0.4
    #: objects smaller than this (voxels per axis) are zoomed as if they had this size
    zoom_min_extent = 8.0
    #: refuse "voxels to Points" beyond this many points (napari gets slow)
    max_points = 2_000_000
    #: with "rebuild after edits", wait this long after the last edit before rebuilding
    rebuild_delay_ms = 250

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.state = IndexDockModel()
        self.layer = None
        self.focus_label: int | None = None  # the object last selected, centred on
        self._generation = 0  # bumped on every data change of the layer
        self._history_seen = None  # (undo, redo) lengths last seen, see _history_state
        self._syncing = False  # guards layer selection feedback
        self._table_choosing = False  # the selection comes from the table's rows
        self._rebuild_pending = False
        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(self.rebuild_delay_ms)
        self._rebuild_timer.timeout.connect(self._auto_rebuild)
        self._build_ui()
        self.tasks = self.task_runner(
            progress_bar=self.progress_bar, on_change=self._on_tasks_changed
        )
        self.layer_combo.layer_changed.connect(self._set_layer)
        self._set_layer(self.layer_combo.layer())
        self._update_state()

    # ------------------------------------------------------------ state
    index = property(lambda self: self.state.index, doc="The LabelIndex (None until built).")
    stale = property(lambda self: self.state.stale, doc="True when the labels changed since.")
    build_seconds = property(lambda self: self.state.build_seconds)
    index_source = property(lambda self: self.state.index_source)

    @property
    def intensity_warning(self) -> str | None:
        """Set when the stack looks like intensities rather than labels."""
        return self.state.intensity_warning

    @property
    def selected_labels(self) -> tuple[int, ...]:
        """The selected objects (table rows, clicks, shift-clicks), in selection order."""
        return self.state.selected

    # =============================================================== UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self.scroll_body())
        layout.setContentsMargins(6, 6, 6, 6)
        self.load_panel = LoadPanel(self.viewer)
        self.index_panel = IndexPanel(self.message_label)
        self.objects_panel = ObjectsPanel()
        self.measure_panel = MeasurePanel(self.viewer)
        self.review_panel = ReviewPanel()
        self.edit_panel = EditPanel()
        self.export_panel = ExportPanel()
        for panel in (self.load_panel, self.index_panel):
            layout.addWidget(panel)
        layout.addWidget(self.objects_panel, 1)
        for panel in (self.measure_panel, self.review_panel, self.edit_panel,
                      self.export_panel):
            layout.addWidget(panel)
        for panel, names in _PANEL_ATTRIBUTES.items():
            for name in names:
                setattr(self, name, getattr(getattr(self, panel), name))
        self._wire_load()
        self.build_button.clicked.connect(self.build_index)
        self.go_button.clicked.connect(self._on_go)
        self.label_edit.returnPressed.connect(self._on_go)
        self.show_selected_check.toggled.connect(self._on_show_selected_toggled)
        self.min_size.valueChanged.connect(self._on_size_range)
        self.max_size.valueChanged.connect(self._on_size_range)
        self.objects_panel.rows_chosen.connect(self._on_rows_chosen)
        self.objects_panel.time_rows_chosen.connect(self._on_time_rows_chosen)
        self.objects_panel.all_times_toggled.connect(self._on_all_times_toggled)
        self.objects_panel.current_chosen.connect(
            lambda label: self.select_label(label, _from_table=True, keep_selection=True))
        self.model.layoutChanged.connect(self._on_table_layout)
        self.state.selection_changed.connect(self._on_selection_changed)
        self.state.stale_changed.connect(lambda _: self._update_state())
        self._wire_exports()
        self._wire_review()
        self._wire_edits()
        self._wire_measure()

    def _wire_exports(self) -> None:
        for kind in ("coords", "npz", "table"):
            getattr(self, f"export_{kind}_button").clicked.connect(
                lambda _=False, k=kind: self._export_clicked(k))
        self.points_button.clicked.connect(lambda: self.send_voxels_to_points())
        self.centroids_button.clicked.connect(lambda: self.send_centroids_to_points())
        self.crops_button.clicked.connect(self._crops_clicked)
        self.coco_button.clicked.connect(self._coco_clicked)
        self.objects_layer_button.clicked.connect(lambda: self.objects_to_layer())

    # =================================================== viewer / layers
    def set_layer(self, layer) -> None:
        """Make ``layer`` (a layer of the viewer) the one indexed by the widget."""
        self.layer_combo.set_layer(layer)

    def _layer_events(self, layer):
        return ((layer.events.selected_label, self._on_layer_selected_label),
                (layer.events.paint, self._on_layer_data_changed),
                (layer.events.data, self._on_layer_data_changed),
                (layer.events.labels_update, self._on_layer_data_changed),
                (layer.events.set_data, self._on_layer_set_data))

    def _set_layer(self, layer) -> None:
        old = self.layer
        if old is not None:
            self._disconnect_layer(old)
        self.layer = layer
        self._clear_index()
        if layer_kind(layer) == "labels":
            for emitter, slot in self._layer_events(layer):
                emitter.connect(slot)
            self._history_seen = history_lengths(layer)
            if self._on_layer_drag not in layer.mouse_drag_callbacks:
                layer.mouse_drag_callbacks.append(self._on_layer_drag)
            self._adopt_attached_index(layer)
        problem = layer_problem(layer) if layer is not None else None
        self.show_message(problem or "", error=False)
        self._show_spacing()
        self._update_state()

    def _disconnect_layer(self, layer) -> None:
        if layer_kind(layer) != "labels":
            return
        for emitter, slot in self._layer_events(layer):
            with contextlib.suppress(Exception):
                emitter.disconnect(slot)
        with contextlib.suppress(ValueError):
            layer.mouse_drag_callbacks.remove(self._on_layer_drag)

    def _adopt_attached_index(self, layer) -> None:
        """Use the index the .npz reader attached to the layer, if it still matches.

        It is dropped when the layer was edited since it was read (its undo history is
        not empty): the dock then asks for a build like for any other layer.
        """
        from labelprep import LabelIndex

        meta = layer.metadata if isinstance(layer.metadata, dict) else {}
        idx = meta.get(METADATA_KEY)
        if not isinstance(idx, LabelIndex):
            return
        if tuple(idx.shape) != tuple(layer.data.shape) or history_lengths(layer) not in (
            None,
            (0, 0),
        ):
            meta.pop(METADATA_KEY, None)
            return
        self._set_index(idx, seconds=None, source=str(meta.get(METADATA_KEY + "_path", "file")))

    def cleanup(self) -> None:
        """Disconnect from the viewer and the layer (called when the dock closes)."""
        if self.layer is not None:
            self._disconnect_layer(self.layer)
        self._unbind_review_keys()
        self._drop_timelapse()
        super().cleanup()

    def _on_tasks_changed(self) -> None:
        """A task (load, build or export) started or ended."""
        self._update_state()
        if self._rebuild_pending and not self.busy:
            self._rebuild_pending = False
            if self.stale and self.auto_rebuild_check.isChecked():
                self.build_index()

    # ============================================================= state
    def _update_state(self) -> None:
        idx = self.index
        has_layer = self.layer is not None
        busy = self.busy
        if idx is None:
            self.status_label.setText(
                "No index yet: press Build index." if has_layer else "No Labels layer."
            )
        else:
            voxels = int(np.sum(idx.counts)) if len(idx) else 0
            when = (f"built in {self.build_seconds:.2f} s" if self.build_seconds is not None
                    else "edited" if self.index_source == "edited"
                    else f"read from {Path(self.index_source).name}")
            text = f"<b>{len(idx):,}</b> objects, <b>{voxels:,}</b> voxels, {when}"
            if self.stale:
                text += (
                    "<br><span style='color:#e0504d'><b>Index is stale</b>: the labels changed "
                    "since it was built. Press Build index.</span>"
                )
            self.status_label.setText(text)
        self.build_button.setText("Rebuild index (stale)" if self.stale else "Build index")
        self.build_button.setStyleSheet(
            "QPushButton { background-color: #c0392b; color: white; font-weight: bold; }"
            if self.stale
            else ""
        )
        self.build_button.setEnabled(has_layer and not busy)
        self.load_button.setEnabled(not busy)
        ready = idx is not None and not busy
        for b in (*self.export_panel.buttons, *self.review_panel.buttons, self.go_button,
                  self.measure_panel.measure_button):
            b.setEnabled(ready)
        for b in self.edit_panel.buttons:
            b.setEnabled(ready and not self.stale)
        self._update_count()

    def _update_count(self) -> None:
        if self.index is None:
            total = 0
        else:  # an all-time-points table: the objects of every time point
            total = len(self.index) if self.model.time is None else len(self.model.full_frame)
        self.objects_panel.update_count(total)

    # ============================================================ table
    def _on_size_range(self, *_) -> None:
        self.model.set_size_range(*self.objects_panel.size_range())
        self._update_count()

    def set_size_range(self, minimum: int | None = None, maximum: int | None = None) -> None:
        """Show only objects with ``minimum <= voxels <= maximum`` (None: no bound)."""
        self.min_size.setValue(int(minimum or 0))
        self.max_size.setValue(int(maximum or 0))
        self._on_size_range()

    def _on_table_layout(self) -> None:
        self.objects_panel.show_selection(self.selected_labels, self.focus_label)

    def _on_rows_chosen(self, labels) -> None:
        self._table_choosing = True  # the table shows it already
        try:
            self.state.set_selection(labels)
        finally:
            self._table_choosing = False

    def _on_selection_changed(self, labels) -> None:
        if not self._table_choosing:
            self.objects_panel.show_selection(labels, self.focus_label)

    def current_row_label(self):
        """Label of the table's current row, or None."""
        return self.objects_panel.current_label()
