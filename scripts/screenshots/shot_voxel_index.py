"""docs/images/voxel-index.png: the Voxel index dock with one object selected on cells3d."""

from qtpy.QtCore import Qt

from labelprep._napari._compat import qt_window

OUTPUT = "docs/images/voxel-index.png"
PLUGIN = "napari-labelprep"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "cells3d")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Voxel index")
    qt_window(viewer).resizeDocks([dock], [560], Qt.Orientation.Horizontal)
    widget.build_index()
    wait_until(lambda: not widget.busy and widget.index is not None, 120)
    # biggest objects first, then pick one from the table as a user would
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    row = 2
    widget.table.selectRow(row)
    wait_until(lambda: widget.current_row_label() == widget.model.label_at(row), 10)
    viewer.layers["cells labels"].opacity = 0.7
    widget.table.scrollToTop()  # show the two bigger objects above the selected row too
