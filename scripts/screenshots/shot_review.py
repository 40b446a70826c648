"""docs/images/review.png: reviewing the cells3d sample in the Voxel index dock: the
queue sorted by size, a few objects marked, two shift-clicked objects selected for an
edit, the Review and Edit panels visible."""

from _stage import PLUGIN, voxel_index_dock
from qtpy.QtCore import Qt

OUTPUT = "docs/images/review.png"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "cells3d")
    widget = voxel_index_dock(viewer, wait_until, 420)
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
    widget.scroll_to(widget.edit_panel)
