"""docs/images/export.png: three objects sent to their own Labels layer from the Voxel
index dock (its Export box: Crops..., COCO..., Objects to layer) on cells3d."""

from _stage import PLUGIN, voxel_index_dock
from qtpy.QtCore import Qt

OUTPUT = "docs/images/export.png"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "cells3d")
    widget = voxel_index_dock(viewer, wait_until, 560)
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    widget.table.selectRow(0)
    for row in (0, 1, 2):
        widget.table.selectionModel().select(
            widget.table.model().index(row, 0),
            widget.table.selectionModel().SelectionFlag.Select
            | widget.table.selectionModel().SelectionFlag.Rows)
    wait_until(lambda: len(widget.export_labels("selected")) == 3, 10)
    widget.export_scope.setCurrentIndex(widget.export_scope.findData("selected"))
    widget.objects_to_layer("selected")
    viewer.layers["cells labels"].visible = False
    widget.crops_button.setFocus()
