"""docs/images/review.png: reviewing the cells3d sample in the Voxel index dock: the
queue sorted by size, a few objects marked, two shift-clicked objects selected for an
edit, the Review and Edit panels visible."""

from qtpy.QtCore import Qt

from labelprep._napari._compat import qt_window

OUTPUT = "docs/images/review.png"
PLUGIN = "napari-labelprep"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "cells3d")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Voxel index")
    qt_window(viewer).resizeDocks([dock], [420], Qt.Orientation.Horizontal)
    widget.build_index()
    wait_until(lambda: not widget.busy and widget.index is not None, 120)
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    for mark in ("ok", "ok", "fix", "ok", "bad"):
        widget.mark(widget.next_object(), mark)
    label = widget.next_object()
    neighbour = widget.model.label_at(widget.model.row_of_label(label) + 1)
    widget.state.toggle(neighbour)  # as a shift-click does
    layer = viewer.layers["cells labels"]
    layer.show_selected_label = False
    widget.review_panel.next_button.setFocus()
    # scroll the dock body so that Review and Edit show
    widget._scroll_area.ensureWidgetVisible(widget.edit_panel)
