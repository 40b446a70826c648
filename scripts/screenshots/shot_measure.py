"""docs/images/measure.png: the Voxel index dock's Measure box on cells3d: intensity
statistics of the grey-level image per object, in the table and the layer's features."""

from _stage import PLUGIN, voxel_index_dock
from qtpy.QtCore import Qt

OUTPUT = "docs/images/measure.png"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "cells3d")
    layer = viewer.layers["cells labels"]
    layer.scale = (2.0, 0.5, 0.5)
    viewer.layers["cells image"].scale = (2.0, 0.5, 0.5)
    widget = voxel_index_dock(viewer, wait_until, 520)
    widget.measure_panel.set_properties(["area", "intensity_mean", "intensity_max",
                                         "intensity_std"])
    widget.measure_objects()
    wait_until(lambda: not widget.busy and "intensity_mean" in widget.model.columns, 120)
    widget.table.sortByColumn(widget.model.columns.index("intensity_mean"),
                              Qt.SortOrder.DescendingOrder)
    widget.select_label(widget.model.label_at(0))
    widget.scroll_to(widget.measure_panel)
