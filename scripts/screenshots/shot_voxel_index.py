"""docs/images/voxel-index.png: the Voxel index dock with one object selected on cells3d."""

from _stage import PLUGIN, voxel_index_dock
from qtpy.QtCore import Qt

OUTPUT = "docs/images/voxel-index.png"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "cells3d")
    widget = voxel_index_dock(viewer, wait_until, 560)
    # biggest objects first, then pick one from the table as a user would
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    row = 2
    widget.table.selectRow(row)
    wait_until(lambda: widget.current_row_label() == widget.model.label_at(row), 10)
    viewer.layers["cells labels"].opacity = 0.7
    widget.table.scrollToTop()  # show the two bigger objects above the selected row too
