"""Staging shared by the screenshot scripts (``make_screenshots.py`` puts this folder on
``sys.path``)."""

from qtpy.QtCore import Qt

from labelprep._commands.demo import PLUGIN
from labelprep._napari._compat import qt_window


def voxel_index_dock(viewer, wait_until, width: int = 560, layer=None):
    """The Voxel index dock, ``width`` px wide, with ``layer`` (default: the one it
    picks) indexed; returns its widget once the build is done."""
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Voxel index")
    qt_window(viewer).resizeDocks([dock], [width], Qt.Orientation.Horizontal)
    if layer is not None:
        widget.set_layer(layer)
    widget.build_index()
    wait_until(lambda: not widget.busy and widget.index is not None, 120)
    return widget
