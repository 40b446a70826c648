"""The "Voxel index" dock widget: load, index, click-to-select, zoom, table and export.

The widget is a thin shell over :class:`labelprep.LabelIndex`:

- **Load**: pick a Labels layer of the viewer, or read a labelled stack from disk with
  :func:`labelprep.io.read_stack` (TIFF, folder of 2D slices, ``.npy``) in a worker
  thread, optionally with a grey-level image alongside.
- **Build index**: :meth:`LabelIndex.build` in a worker thread with a progress bar.
- **Objects**: one table row per object (label, voxels, bounding box, centroid),
  sortable, filtered by size; the same table is set as the layer's ``features`` (with
  the ``index`` column napari maps labels through) so the status bar shows an object's
  stats on hover.
- **Select**: click an object on the canvas (2D or 3D, pan/zoom mode), pick a table row
  or type a label id: the layer's ``selected_label`` is set, only that label is shown,
  the camera centres and zooms on the object and the slice moves onto it. Everything is
  read from the index; the stack is never scanned.
- **Export**: coordinates CSV, index ``.npz``, table CSV, or Points layers of the
  voxels / centroids, for the selected objects, the objects shown, or all objects.
- Painting the layer marks the index **stale** (shown in red on the Build button); tick
  "rebuild after edits" to rebuild automatically after each stroke.

Clicks select only in ``pan_zoom`` mode (napari's own ``pick`` mode also selects, and
the widget follows it); in paint, fill, erase or polygon mode a click paints as usual.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import QItemSelectionModel, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
)

from labelprep.io import atomic_open

from ._common import DockWidget, Failure, LayerComboBox, check_output, layer_data
from .index_dataset import DatasetExports
from .index_io import METADATA_KEY, features_for
from .index_table import ObjectTableModel
from .index_view import focus_object

__all__ = ["VoxelIndexWidget", "features_for", "layer_problem"]

_TIME_AXIS_NAMES = {"t", "time", "frame", "frames", "timepoint"}

SCOPES = ("selected", "shown", "all")
_SCOPE_TEXT = {
    "selected": "Selected objects",
    "shown": "Objects shown in table",
    "all": "All objects",
}


class _UndoEvent:
    """Stands for an undo/redo of the layer (napari emits no dedicated event)."""

    type = "undo"


def layer_problem(layer) -> str | None:
    """Why ``layer`` cannot be indexed (a sentence for the user), or ``None`` if it can."""
    if layer is None:
        return "No layer: add a Labels layer or load a labelled stack first."
    kind = getattr(layer, "_type_string", type(layer).__name__.lower())
    dtype = np.dtype(getattr(layer_data(layer), "dtype", np.float64))
    if kind != "labels":
        if getattr(layer, "rgb", False):
            return f"Layer '{layer.name}' is an RGB image, not a labelled stack."
        if dtype.kind in "fc":
            return (
                f"Layer '{layer.name}' holds {dtype} data, not integer labels: pick a Labels "
                "layer (the voxel index needs one integer id per object)."
            )
        return (
            f"Layer '{layer.name}' is an Image layer: convert it to Labels first "
            "(right-click the layer > Convert to Labels), then pick it here."
        )
    if dtype.kind not in "biu":
        return f"Layer '{layer.name}' holds {dtype} data, not integer labels."
    names = [str(n).strip().lower() for n in (getattr(layer, "axis_labels", None) or ())]
    time_axes = [n for n in names if n in _TIME_AXIS_NAMES]
    if layer.ndim > 3 or time_axes:
        why = f"a time axis ('{time_axes[0]}')" if time_axes else f"{layer.ndim} dimensions"
        return (
            f"Layer '{layer.name}' has {why}: the voxel index treats the whole layer as one "
            "2D or 3D stack, so an object would merge over time points. Index one time "
            "point at a time (e.g. add layer.data[t] as its own Labels layer)."
        )
    if layer.ndim < 2:
        return f"Layer '{layer.name}' is {layer.ndim}D: the voxel index needs a 2D or 3D stack."
    return None


class VoxelIndexWidget(DatasetExports, DockWidget):
    """Dock widget: index a Labels layer and select, inspect and export its objects.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose Labels layers are indexed.

    Attributes (for scripting and tests)
    ------------------------------------
    index : LabelIndex or None
        The index of :attr:`layer`'s data (``None`` until built).
    layer : napari.layers.Labels or None
        The layer chosen in ``layer_combo``.
    stale : bool
        True when the layer's data changed after the index was built.
    worker : the running ``thread_worker`` or None; ``busy`` is True while one runs.
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
        self.index = None
        self.layer = None
        self.stale = False
        self.build_seconds: float | None = None
        self.intensity_warning: str | None = None  # set when the stack looks like intensities
        self.index_source = ""  # "built" or the .npz path it was read from
        self._generation = 0  # bumped on every data change of the layer
        self._history_seen = None  # (undo, redo) lengths last seen, see _history_state
        self._syncing = False  # guards table <-> layer selection feedback
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

    # ================================================================== UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        # ---- Load
        load_box = QGroupBox("Labels")
        load = QFormLayout(load_box)
        # Labels first (the usual choice), then images (listed to explain why not); a
        # newly added Labels layer (e.g. just loaded) becomes the target.
        self.layer_combo = LayerComboBox(self.viewer, ("labels", "image"), follow_inserted=True)
        self.layer_combo.setToolTip("The Labels layer to index (kept in sync with the layer list)")
        load.addRow("Layer", self.layer_combo)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("labelled stack: .tif, .npy or folder of slices")
        self.open_button = QPushButton("Open...")
        self.open_dir_button = QPushButton("Folder...")
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.open_button)
        row.addWidget(self.open_dir_button)
        load.addRow("Stack", row)
        self.image_edit = QLineEdit()
        self.image_edit.setPlaceholderText("optional grey-level image shown underneath")
        self.image_button = QPushButton("Open...")
        row = QHBoxLayout()
        row.addWidget(self.image_edit, 1)
        row.addWidget(self.image_button)
        load.addRow("Image", row)
        self.load_button = QPushButton("Load from disk")
        load.addRow(self.load_button)
        layout.addWidget(load_box)

        # ---- Index
        index_box = QGroupBox("Index")
        index = QVBoxLayout(index_box)
        row = QHBoxLayout()
        self.build_button = QPushButton("Build index")
        self.build_button.setToolTip("Index every object of the layer (runs in the background)")
        self.auto_rebuild_check = QCheckBox("rebuild after edits")
        self.auto_rebuild_check.setToolTip(
            "Rebuild the index after each paint stroke instead of only marking it stale"
        )
        row.addWidget(self.build_button, 1)
        row.addWidget(self.auto_rebuild_check)
        index.addLayout(row)
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.progress_bar.setTextVisible(True)
        index.addWidget(self.progress_bar)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        index.addWidget(self.status_label)
        index.addWidget(self.message_label)
        layout.addWidget(index_box)

        # ---- Objects
        objects_box = QGroupBox("Objects")
        objects = QVBoxLayout(objects_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Label"))
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("label id")
        self.label_edit.setToolTip("Type a label id and press Enter to select it")
        self.go_button = QPushButton("Go")
        self.show_selected_check = QCheckBox("show selected only")
        self.show_selected_check.setChecked(True)
        row.addWidget(self.label_edit, 1)
        row.addWidget(self.go_button)
        row.addWidget(self.show_selected_check)
        objects.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Voxels from"))
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 2**31 - 1)
        self.min_size.setSpecialValueText("any")
        self.min_size.setKeyboardTracking(False)
        self.max_size = QSpinBox()
        self.max_size.setRange(0, 2**31 - 1)
        self.max_size.setSpecialValueText("any")
        self.max_size.setKeyboardTracking(False)
        row.addWidget(self.min_size, 1)
        row.addWidget(QLabel("to"))
        row.addWidget(self.max_size, 1)
        objects.addLayout(row)
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
        objects.addWidget(self.table, 1)
        self.count_label = QLabel()
        objects.addWidget(self.count_label)
        layout.addWidget(objects_box, 1)

        # ---- Export
        export_box = QGroupBox("Export")
        export = QVBoxLayout(export_box)
        self.export_scope = QComboBox()
        for scope in SCOPES:
            self.export_scope.addItem(_SCOPE_TEXT[scope], scope)
        export.addWidget(self.export_scope)
        grid = QHBoxLayout()
        self.export_coords_button = QPushButton("Coords CSV")
        self.export_coords_button.setToolTip("One row per voxel: label, z, y, x")
        self.export_npz_button = QPushButton("Index NPZ")
        self.export_npz_button.setToolTip("The index of these objects (open it again in napari)")
        self.export_table_button = QPushButton("Table CSV")
        self.export_table_button.setToolTip("One row per object: label, voxels, bbox, centroid")
        for b in (self.export_coords_button, self.export_npz_button, self.export_table_button):
            grid.addWidget(b)
        export.addLayout(grid)
        grid = QHBoxLayout()
        self.points_button = QPushButton("Voxels to Points")
        self.centroids_button = QPushButton("Centroids to Points")
        grid.addWidget(self.points_button)
        grid.addWidget(self.centroids_button)
        export.addLayout(grid)
        grid = QHBoxLayout()
        self.crops_button = QPushButton("Crops...")
        self.crops_button.setToolTip("Per object: image and mask crops over its bbox, with a "
                                     "crops.csv manifest (the image: the Image layer of this shape)")
        self.coco_button = QPushButton("COCO...")
        self.coco_button.setToolTip("COCO instance annotations (RLE), one image per slice in 3D")
        self.objects_layer_button = QPushButton("Objects to layer")
        self.objects_layer_button.setToolTip("These objects as a new Labels layer")
        for b in (self.crops_button, self.coco_button, self.objects_layer_button):
            grid.addWidget(b)
        export.addLayout(grid)
        layout.addWidget(export_box)

        # ---- wiring
        self.open_button.clicked.connect(self._choose_stack_file)
        self.open_dir_button.clicked.connect(self._choose_stack_folder)
        self.image_button.clicked.connect(self._choose_image_file)
        self.load_button.clicked.connect(self._on_load_clicked)
        self.build_button.clicked.connect(self.build_index)
        self.go_button.clicked.connect(self._on_go)
        self.label_edit.returnPressed.connect(self._on_go)
        self.show_selected_check.toggled.connect(self._on_show_selected_toggled)
        self.min_size.valueChanged.connect(self._on_size_range)
        self.max_size.valueChanged.connect(self._on_size_range)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.model.layoutChanged.connect(self._on_table_layout)
        self.export_coords_button.clicked.connect(lambda: self._export_clicked("coords"))
        self.export_npz_button.clicked.connect(lambda: self._export_clicked("npz"))
        self.export_table_button.clicked.connect(lambda: self._export_clicked("table"))
        self.points_button.clicked.connect(lambda: self.send_voxels_to_points())
        self.centroids_button.clicked.connect(lambda: self.send_centroids_to_points())
        self.crops_button.clicked.connect(self._crops_clicked)
        self.coco_button.clicked.connect(self._coco_clicked)
        self.objects_layer_button.clicked.connect(lambda: self.objects_to_layer())

    # ====================================================== viewer / layers
    def set_layer(self, layer) -> None:
        """Make ``layer`` (a layer of the viewer) the one indexed by the widget."""
        self.layer_combo.set_layer(layer)

    def _set_layer(self, layer) -> None:
        old = self.layer
        if old is not None:
            self._disconnect_layer(old)
        self.layer = layer
        self._clear_index()
        if layer is not None and getattr(layer, "_type_string", "") == "labels":
            layer.events.selected_label.connect(self._on_layer_selected_label)
            layer.events.paint.connect(self._on_layer_data_changed)
            layer.events.data.connect(self._on_layer_data_changed)
            layer.events.labels_update.connect(self._on_layer_data_changed)
            layer.events.set_data.connect(self._on_layer_set_data)
            self._history_seen = self._history_state(layer)
            if self._on_layer_drag not in layer.mouse_drag_callbacks:
                layer.mouse_drag_callbacks.append(self._on_layer_drag)
            self._adopt_attached_index(layer)
        problem = layer_problem(layer) if layer is not None else None
        self.show_message(problem or "", error=False)
        self._update_state()

    def _disconnect_layer(self, layer) -> None:
        if getattr(layer, "_type_string", "") != "labels":
            return
        for emitter, slot in (
            (layer.events.selected_label, self._on_layer_selected_label),
            (layer.events.paint, self._on_layer_data_changed),
            (layer.events.data, self._on_layer_data_changed),
            (layer.events.labels_update, self._on_layer_data_changed),
            (layer.events.set_data, self._on_layer_set_data),
        ):
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
        if tuple(idx.shape) != tuple(layer.data.shape) or self._history_state(layer) not in (
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
        super().cleanup()

    def _on_tasks_changed(self) -> None:
        """A task (load, build or export) started or ended."""
        self._update_state()
        if self._rebuild_pending and not self.busy:
            self._rebuild_pending = False
            if self.stale and self.auto_rebuild_check.isChecked():
                self.build_index()

    # ============================================================== load
    def _choose_stack_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a labelled stack", "", "Stacks (*.tif *.tiff *.npy);;All files (*)"
        )
        if path:
            self.path_edit.setText(path)

    def _choose_stack_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open a folder of 2D label slices, or a zarr / OME-Zarr stack"
        )
        if path:
            self.path_edit.setText(path)

    def _choose_image_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open the grey-level image", "", "Images (*.tif *.tiff *.npy);;All files (*)"
        )
        if path:
            self.image_edit.setText(path)

    def _on_load_clicked(self) -> None:
        self.load_stack(self.path_edit.text().strip(), self.image_edit.text().strip() or None)

    def load_stack(self, path=None, image_path=None):
        """Read a labelled stack (and an optional image) into new layers, in a worker.

        ``path``/``image_path`` default to the text fields. Returns the worker (or None
        if nothing was started: no path or a task already running).
        """
        if path is None:
            path = self.path_edit.text().strip()
        if image_path is None:
            image_path = self.image_edit.text().strip() or None
        if not path:
            self.show_message("Choose a labelled stack first (Open... or Folder...).", error=True)
            return None
        self.path_edit.setText(str(path))
        if image_path:
            self.image_edit.setText(str(image_path))

        def read(path, image_path, progress):
            from labelprep.io import is_zarr_path, open_lazy, read_stack

            lazy = is_zarr_path(path) or Path(path).suffix.lower() == ".zarr"
            # zarr / OME-Zarr stays lazy (dask): indexed chunk by chunk, never loaded whole
            labels = open_lazy(path) if lazy else read_stack(path, progress=progress)
            if labels.dtype.kind not in "biu":
                if (
                    not lazy
                    and labels.dtype.kind == "f"
                    and labels.size
                    and bool(np.all(np.isfinite(labels)) and np.all(np.mod(labels, 1) == 0))
                ):
                    labels = labels.astype(np.int64)
                else:
                    return Failure(
                        f"{path} holds {labels.dtype} values, not integer labels: is it the "
                        "grey-level image? Put it in the Image field instead."
                    )
            if labels.dtype == bool:
                labels = labels.astype(np.uint8)
            if labels.ndim not in (2, 3):
                return Failure(
                    f"{path} has shape {labels.shape}: the voxel index needs a 2D or 3D stack "
                    "(a time series or multichannel stack: save one time point/channel)."
                )
            image = read_stack(image_path) if image_path else None
            return Path(path), labels, image

        return self.tasks.start(read, path, image_path, on_done=self._on_loaded, label="Reading")

    def _on_loaded(self, result) -> None:
        path, labels, image = result
        name = path.name.split(".")[0] or path.name
        if image is not None:
            if image.shape[: labels.ndim] != labels.shape and image.shape != labels.shape:
                self.show_message(
                    f"Image shape {image.shape} differs from the labels {labels.shape}; "
                    "shown anyway.",
                )
            self.viewer.add_image(image, name=f"{name} image", colormap="gray")
        layer = self.viewer.add_labels(labels, name=name, opacity=0.6)
        if not getattr(labels, "flags", None) or not labels.flags.writeable:
            layer.editable = False  # a read-only memory map (.npy): no painting
        self.set_layer(layer)
        self.show_message(f"Loaded {path.name}: shape {labels.shape}, {labels.dtype}.")

    # ============================================================= build
    def build_index(self):
        """Index the current layer in a worker thread. Returns the worker (or None)."""
        layer = self.layer
        problem = layer_problem(layer)
        if problem:
            self.show_message(problem, error=True)
            return None
        data = layer_data(layer)  # not np.asarray: may be dask
        background = int(getattr(layer.colormap, "background_value", 0))
        generation = self._generation

        def build(data, background, progress):
            from labelprep import LabelIndex
            from labelprep.io import intensity_warning

            warning = intensity_warning(data)
            t0 = time.perf_counter()
            idx = LabelIndex.build(data, background=background, progress=progress)
            seconds = time.perf_counter() - t0
            table = idx.table()
            return idx, table, seconds, warning

        def done(result):
            if layer is not self.layer:
                return  # the user switched layers meanwhile: drop it
            idx, table, seconds, warning = result
            self.intensity_warning = None
            self._set_index(idx, seconds=seconds, table=table, source="built")
            if self._generation != generation:  # painted while building
                self._mark_stale()
            if warning is not None:
                self.intensity_warning = warning
                self.show_message(f"Indexed, but {warning}.", error=True)

        # the build reads the layer's own array (no copy): no painting until it is done
        return self.tasks.start(build, data, background, on_done=done, label="Indexing",
                                lock=layer)

    def _set_index(self, idx, *, seconds=None, table=None, source="built") -> None:
        self.index = idx
        self.build_seconds = seconds
        self.index_source = source
        self.stale = False
        table = idx.table() if table is None else table
        self.model.set_table(table)
        self.table.resizeColumnsToContents()
        layer = self.layer
        if layer is not None and getattr(layer, "_type_string", "") == "labels":
            layer.features = features_for(table)
        self._on_size_range()
        self._update_state()
        self.show_message("")
        if layer is not None and layer.selected_label in idx:
            self._highlight_row(layer.selected_label)

    def _clear_index(self) -> None:
        self.index = None
        self.stale = False
        self.build_seconds = None
        self.index_source = ""
        self.model.set_table(None)

    # ============================================================= stale
    @staticmethod
    def _history_state(layer):
        """(undo, redo) history lengths of a Labels layer, or None if unavailable.

        Undo/redo change the data but emit only ``set_data``, which every slice change
        and selection refresh emit too; a change in these lengths tells them apart.
        (Read-only use of napari's private history deques; None disables the check.)
        """
        try:
            return len(layer._undo_history), len(layer._redo_history)
        except (AttributeError, TypeError):
            return None

    def _on_layer_set_data(self, event=None) -> None:
        layer = self.layer
        if layer is None:
            return
        state = self._history_state(layer)
        if state is not None and state != self._history_seen:
            self._history_seen = state
            self._on_layer_data_changed(_UndoEvent())

    def _on_layer_data_changed(self, event=None) -> None:
        if self.layer is not None:
            self._history_seen = self._history_state(self.layer)
        self._generation += 1
        if self.layer is not None and isinstance(self.layer.metadata, dict):
            self.layer.metadata.pop(METADATA_KEY, None)  # the attached index no longer matches
        if self.index is None:
            return
        self._mark_stale()
        if (
            getattr(event, "type", "") in ("paint", "data", "undo")
            and self.auto_rebuild_check.isChecked()
        ):
            # Debounce: one edit emits several events (paint, then labels_update), and
            # quick successive strokes should give one rebuild, not one each.
            self._rebuild_timer.start()

    def _auto_rebuild(self) -> None:
        if not (self.stale and self.auto_rebuild_check.isChecked()):
            return
        if self.busy:
            self._rebuild_pending = True
        else:
            self.build_index()

    def _mark_stale(self) -> None:
        if not self.stale:
            self.stale = True
            self._update_state()

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
            when = (
                f"built in {self.build_seconds:.2f} s"
                if self.build_seconds is not None
                else f"read from {Path(self.index_source).name}"
            )
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
        for b in (
            self.export_coords_button,
            self.export_npz_button,
            self.export_table_button,
            self.points_button,
            self.centroids_button,
            self.crops_button,
            self.coco_button,
            self.objects_layer_button,
            self.go_button,
        ):
            b.setEnabled(idx is not None and not busy)
        self._update_count()

    def _update_count(self) -> None:
        n = len(self.index) if self.index is not None else 0
        shown = self.model.rowCount()
        self.count_label.setText(f"{shown:,} of {n:,} objects shown" if n else "")

    # ============================================================ table
    def _on_size_range(self, *_) -> None:
        lo = self.min_size.value() or None
        hi = self.max_size.value() or None
        self.model.set_size_range(lo, hi)
        self._update_count()

    def set_size_range(self, minimum: int | None = None, maximum: int | None = None) -> None:
        """Show only objects with ``minimum <= voxels <= maximum`` (None: no bound)."""
        self.min_size.setValue(int(minimum or 0))
        self.max_size.setValue(int(maximum or 0))
        self._on_size_range()

    def _on_table_layout(self) -> None:
        layer = self.layer
        if layer is not None and self.index is not None and layer.selected_label in self.index:
            self._highlight_row(layer.selected_label, select=False)

    def _on_current_row(self, current, previous) -> None:
        if self._syncing or not current.isValid():
            return
        self.select_label(self.model.label_at(current.row()), _from_table=True)

    def _highlight_row(self, label, select: bool = True) -> int:
        """Make ``label``'s row current (and selected), scrolled into view; its row or -1."""
        row = self.model.row_of_label(label)
        selection = self.table.selectionModel()
        self._syncing = True
        try:
            if row < 0:
                if select:
                    selection.clearSelection()
                return -1
            index = self.model.index(row, 0)
            flags = QItemSelectionModel.SelectionFlag.Rows
            if select:
                flags |= QItemSelectionModel.SelectionFlag.ClearAndSelect
            else:
                flags |= QItemSelectionModel.SelectionFlag.NoUpdate
            selection.setCurrentIndex(index, flags)
            self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._syncing = False
        return row

    def current_row_label(self):
        """Label of the table's current row, or None."""
        index = self.table.currentIndex()
        return self.model.label_at(index.row()) if index.isValid() else None

    # =========================================================== select
    def _on_go(self) -> None:
        text = self.label_edit.text().strip()
        try:
            label = int(text)
        except ValueError:
            self.show_message(f"'{text}' is not a label id (type an integer).", error=True)
            return
        self.select_label(label)

    def select_label(self, label, *, _from_table: bool = False, move: bool = True) -> bool:
        """Select object ``label``: layer selection, view, slice and table row.

        Uses the index only (bounding box, centroid, the object's voxel list); the stack
        is never scanned. Returns False (with a message) if there is no index or the
        label is not in it.
        """
        idx, layer = self.index, self.layer
        if idx is None or layer is None:
            self.show_message("Build the index first.", error=True)
            return False
        try:
            label = int(label)
        except (TypeError, ValueError):
            self.show_message(f"{label!r} is not a label id.", error=True)
            return False
        if label not in idx:
            self.show_message(f"Label {label} is not in the index.", error=True)
            return False
        self._syncing = True
        try:
            if self.show_selected_check.isChecked() and not layer.show_selected_label:
                layer.show_selected_label = True
            layer.selected_label = label
        finally:
            self._syncing = False
        if move:
            focus_object(
                self.viewer, layer, idx, label, fill=self.zoom_fill, min_extent=self.zoom_min_extent
            )
        if not _from_table:
            self._highlight_row(label)
        self.label_edit.setText(str(label))
        if self.stale:
            self.show_message("The index is stale: positions may be out of date. Rebuild it.")
        else:
            self.show_message(f"Label {label}: {idx.size(label):,} voxels.")
        return True

    def _on_layer_selected_label(self, event=None) -> None:
        """The layer's selected label changed outside the widget (pick mode, layer controls)."""
        if self._syncing or self.index is None or self.layer is None:
            return
        label = self.layer.selected_label
        if label not in self.index:
            self._syncing = True
            try:
                self.table.selectionModel().clearSelection()
            finally:
                self._syncing = False
            return
        if self.layer.mode in ("pan_zoom", "pick"):
            self.select_label(label)
        else:  # painting with another label: follow in the table, keep the view still
            self._highlight_row(label)

    def _on_layer_drag(self, layer, event):
        """Mouse callback on the Labels layer: a click (no drag) in pan_zoom selects.

        The label is read at press time with ``layer.get_value(..., world=True)`` (a ray
        through the volume in 3D) and applied on release unless the mouse moved more than
        a few pixels (then it was a pan or rotate drag).
        """
        if layer.mode != "pan_zoom" or self.index is None:
            return
        value = layer.get_value(
            event.position,
            view_direction=event.view_direction,
            dims_displayed=list(event.dims_displayed),
            world=True,
        )
        if isinstance(value, tuple):  # multiscale: (data_level, value)
            value = value[-1]
        start = np.asarray(event.pos, dtype=float)
        yield
        moved = 0.0
        while event.type == "mouse_move":
            moved = max(moved, float(np.abs(np.asarray(event.pos, float) - start).max()))
            yield
        if moved > 4 or value is None:
            return
        value = int(value)
        if value == getattr(layer.colormap, "background_value", 0) or value not in self.index:
            return
        self.select_label(value)

    def _on_show_selected_toggled(self, on: bool) -> None:
        if self.layer is not None and getattr(self.layer, "_type_string", "") == "labels":
            self.layer.show_selected_label = bool(on)

    # =========================================================== export
    def export_labels(self, scope: str | None = None) -> np.ndarray:
        """Label ids an export covers: ``selected`` rows (or the layer's selected label),
        ``shown`` (rows passing the size filter) or ``all``."""
        if self.index is None:
            return np.zeros(0, dtype=np.int64)
        scope = scope or self.export_scope.currentData()
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        if scope == "all":
            return np.asarray(self.index.labels)
        if scope == "shown":
            return self.model.visible_labels()
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        labels = [self.model.label_at(r) for r in rows]
        if not labels and self.layer is not None and self.layer.selected_label in self.index:
            labels = [int(self.layer.selected_label)]
        return np.array(sorted(labels), dtype=np.asarray(self.index.labels).dtype)

    def _export_target(self, scope):
        """(index, labels) to export, or None with a message if there is nothing."""
        if self.index is None:
            self.show_message("Build the index first.", error=True)
            return None
        labels = self.export_labels(scope)
        if labels.size == 0:
            self.show_message("Nothing to export: select an object first.", error=True)
            return None
        return self.index, labels

    def _export_clicked(self, kind: str) -> None:
        filters = {
            "coords": ("Save voxel coordinates", "coords.csv", "CSV (*.csv)"),
            "npz": ("Save the index", "objects.npz", "LabelIndex (*.npz)"),
            "table": ("Save the object table", "objects.csv", "CSV (*.csv)"),
        }
        title, default, pattern = filters[kind]
        path, _ = QFileDialog.getSaveFileName(self, title, default, pattern)
        if path:
            {
                "coords": self.export_coords_csv,
                "npz": self.export_npz,
                "table": self.export_table_csv,
            }[kind](path)

    def _crops_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the crops")
        if folder:
            self.export_crops(folder)

    def _coco_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save COCO annotations", "annotations.json",
                                              "COCO JSON (*.json)")
        if path:
            self.export_coco(path)

    def _run_export(self, what: str, path, scope, write):
        """Write the scope's objects with ``write(idx, labels, path, progress)`` (worker)."""
        target = self._export_target(scope)
        if target is None:
            return None
        idx, labels = target
        path = check_output(self, path, self.layer, what="export to")
        if path is None:
            return None

        def job(progress):
            write(idx, labels, path, progress)
            return path

        return self.tasks.start(
            job,
            on_done=lambda result: self.show_message(f"Wrote {what} to {result}."),
            label=f"Writing {what}",
        )

    def export_coords_csv(self, path, scope: str | None = None):
        """CSV of voxel coordinates (``label,z,y,x``) of the scope's objects (worker)."""

        def write(idx, labels, path, progress):
            every = labels.size == len(idx)
            idx.write_coords_csv(path, labels=None if every else labels, progress=progress)

        return self._run_export("coordinates", path, scope, write)

    def export_npz(self, path, scope: str | None = None):
        """The index of the scope's objects as ``.npz`` (``LabelIndex.save``; worker)."""

        def write(idx, labels, path, progress):
            every = labels.size == len(idx)
            (idx if every else idx.subset(labels)).save(path)

        return self._run_export("index", path, scope, write)

    def export_table_csv(self, path, scope: str | None = None):
        """The object table (label, voxels, bbox, centroid) of the scope's objects (worker)."""
        frame = self.model.frame

        def write(idx, labels, path, progress):
            positions = np.searchsorted(np.asarray(idx.labels), labels)
            with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
                frame.iloc[positions].reset_index(drop=True).to_csv(fh, index=False)

        return self._run_export("table", path, scope, write)

    def _points_kwargs(self, name: str) -> dict:
        layer = self.layer
        return {
            "name": name,
            "scale": layer.scale,
            "translate": layer.translate,
            "rotate": layer.rotate,
            "shear": layer.shear,
        }

    def send_voxels_to_points(self, scope: str | None = None):
        """Add the voxels of the scope's objects as a Points layer (one point per voxel)."""
        target = self._export_target(scope)
        if target is None:
            return None
        idx, labels = target
        counts = np.asarray(idx.counts)[np.searchsorted(np.asarray(idx.labels), labels)]
        total = int(counts.sum())
        if total > self.max_points:
            self.show_message(
                f"{total:,} voxels is too many points for napari (limit {self.max_points:,}): "
                "export a coordinates CSV instead.",
                error=True,
            )
            return None
        coords = np.concatenate([idx.coords(L) for L in labels])
        ids = np.repeat(labels, counts)
        name = f"label {labels[0]} voxels" if labels.size == 1 else f"{labels.size} objects voxels"
        kwargs = self._points_kwargs(name)
        # each voxel in its object's colour (the colormap itself: get_color would hide
        # unselected labels while "show selected only" is on)
        colours = np.asarray(self.layer.colormap.map(ids), dtype=np.float32)
        kwargs.update(features={"label": ids}, size=1, border_width=0, face_color=colours)
        out = self.viewer.add_points(coords, **kwargs)
        self.show_message(f"Added {total:,} voxels as Points layer '{out.name}'.")
        return out

    def send_centroids_to_points(self, scope: str | None = None):
        """Add the centroids of the scope's objects as a Points layer (with their stats)."""
        target = self._export_target(scope)
        if target is None:
            return None
        idx, labels = target
        positions = np.searchsorted(np.asarray(idx.labels), labels)
        centroids = np.asarray(idx.centroids)[positions]
        name = f"label {labels[0]} centroid" if labels.size == 1 else f"{labels.size} centroids"
        kwargs = self._points_kwargs(name)
        features = self.model.frame.iloc[positions].reset_index(drop=True)
        kwargs.update(
            features=features,
            size=max(2.0, float(self.zoom_min_extent) / 2),
            face_color="yellow",
            border_color="black",
        )
        out = self.viewer.add_points(centroids, **kwargs)
        self.show_message(f"Added {labels.size:,} centroids as Points layer '{out.name}'.")
        return out
