"""The Voxel index dock's plain sub-widgets: Labels (load), Index (build) and Export.

Each is a ``QGroupBox`` of controls with no logic of its own; the dock wires them to
its model (:mod:`.index_model`) and actions. The objects table, review and edits panels
live in :mod:`.index_objects`, :mod:`.index_review` and :mod:`.index_edits`.
"""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from ._common import LayerComboBox

__all__ = ["SCOPES", "ExportPanel", "IndexPanel", "LoadPanel"]

SCOPES = ("selected", "shown", "all")
_SCOPE_TEXT = {
    "selected": "Selected objects",
    "shown": "Objects shown in table",
    "all": "All objects",
}


def _row(*widgets, stretch_first: bool = True) -> QHBoxLayout:
    row = QHBoxLayout()
    for i, w in enumerate(widgets):
        if isinstance(w, str):
            w = QLabel(w)
        row.addWidget(w, 1 if (i == 0 and stretch_first) else 0)
    return row


class LoadPanel(QGroupBox):
    """The Labels layer to index, or a stack (and optional image) to read from disk."""

    def __init__(self, viewer, parent=None):
        super().__init__("Labels", parent)
        form = QFormLayout(self)
        # Labels first (the usual choice), then images (listed to explain why not); a
        # newly added Labels layer (e.g. just loaded) becomes the target.
        self.layer_combo = LayerComboBox(viewer, ("labels", "image"), follow_inserted=True)
        self.layer_combo.setToolTip("The Labels layer to index (kept in sync with the layer list)")
        form.addRow("Layer", self.layer_combo)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("labelled stack: .tif, .npy or folder of slices")
        self.open_button = QPushButton("Open...")
        self.open_dir_button = QPushButton("Folder...")
        form.addRow("Stack", _row(self.path_edit, self.open_button, self.open_dir_button))
        self.image_edit = QLineEdit()
        self.image_edit.setPlaceholderText("optional grey-level image shown underneath")
        self.image_button = QPushButton("Open...")
        form.addRow("Image", _row(self.image_edit, self.image_button))
        self.load_button = QPushButton("Load from disk")
        form.addRow(self.load_button)


class IndexPanel(QGroupBox):
    """Build / rebuild the index, its progress and a status line."""

    def __init__(self, message_label, parent=None):
        super().__init__("Index", parent)
        box = QVBoxLayout(self)
        self.build_button = QPushButton("Build index")
        self.build_button.setToolTip("Index every object of the layer (runs in the background)")
        self.auto_rebuild_check = QCheckBox("rebuild after edits")
        self.auto_rebuild_check.setToolTip(
            "Rebuild the index after each paint stroke instead of only marking it stale"
        )
        box.addLayout(_row(self.build_button, self.auto_rebuild_check))
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.progress_bar.setTextVisible(True)
        box.addWidget(self.progress_bar)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        box.addWidget(self.status_label)
        box.addWidget(message_label)


class ExportPanel(QGroupBox):
    """Export scope and the export buttons."""

    def __init__(self, parent=None):
        super().__init__("Export", parent)
        box = QVBoxLayout(self)
        self.export_scope = QComboBox()
        for scope in SCOPES:
            self.export_scope.addItem(_SCOPE_TEXT[scope], scope)
        box.addWidget(self.export_scope)
        self.export_coords_button = QPushButton("Coords")
        self.export_coords_button.setToolTip("CSV, one row per voxel: label, z, y, x")
        self.export_npz_button = QPushButton("Index")
        self.export_npz_button.setToolTip(
            "The index of these objects as .npz (open it again in napari)")
        self.export_table_button = QPushButton("Table")
        self.export_table_button.setToolTip(
            "CSV, one row per object, in the table's sort order: label, voxels, bbox, centroid, "
            "review mark")
        box.addLayout(_row(self.export_coords_button, self.export_npz_button,
                           self.export_table_button, stretch_first=False))
        self.points_button = QPushButton("Voxel points")
        self.points_button.setToolTip("The voxels as a Points layer, in their objects' colours")
        self.centroids_button = QPushButton("Centroid points")
        self.centroids_button.setToolTip("The centroids as a Points layer, with the table")
        box.addLayout(_row(self.points_button, self.centroids_button, stretch_first=False))
        self.crops_button = QPushButton("Crops...")
        self.crops_button.setToolTip(
            "Per object: image and mask crops over its bbox, with a crops.csv manifest (the "
            "image: the Image layer of this shape)")
        self.coco_button = QPushButton("COCO...")
        self.coco_button.setToolTip("COCO instance annotations (RLE), one image per slice in 3D")
        self.objects_layer_button = QPushButton("To layer")
        self.objects_layer_button.setToolTip("These objects as a new Labels layer")
        box.addLayout(_row(self.crops_button, self.coco_button, self.objects_layer_button,
                           stretch_first=False))

    @property
    def buttons(self) -> tuple:
        return (self.export_coords_button, self.export_npz_button, self.export_table_button,
                self.points_button, self.centroids_button, self.crops_button,
                self.coco_button, self.objects_layer_button)
