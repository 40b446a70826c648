"""The one place that touches napari internals, each with why and the public fallback.

Every other module uses napari's public API only (``tests/_napari/test_compat.py``
greps ``src/`` for private attributes outside this file).
"""

from __future__ import annotations

import numpy as np

__all__ = ["camera", "canvas_widget", "dock_widgets", "history_lengths", "qt_window",
           "viewbox_size"]


def camera(viewer):
    """The viewer's camera: ``viewer.scene.camera`` (napari >= 0.9), else the public
    ``viewer.camera`` of napari 0.5-0.8."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def viewbox_size(viewer) -> np.ndarray:
    """Size in canvas pixels of one view box (one grid cell when the grid is on):
    public ``viewer.canvas.viewbox_size`` in napari >= 0.9, private before."""
    canvas = getattr(viewer, "canvas", None)
    if canvas is not None and hasattr(canvas, "viewbox_size"):  # napari >= 0.9
        return np.asarray(canvas.viewbox_size(viewer.layers), dtype=float)
    if hasattr(viewer, "_get_viewbox_size"):  # napari 0.6 .. 0.8
        return np.asarray(viewer._get_viewbox_size(), dtype=float)
    size = np.asarray(viewer._canvas_size, dtype=float)  # napari 0.5
    if viewer.grid.enabled:
        size = size / np.asarray(viewer.grid.actual_shape(len(viewer.layers)), dtype=float)
    return size


def dock_widgets(window) -> dict:
    """{title: inner widget} of the docked widgets: public ``window.dock_widgets`` in
    napari >= 0.6.2, built from the private ``_dock_widgets`` before."""
    if hasattr(type(window), "dock_widgets"):
        return dict(window.dock_widgets)
    return {name: dock.widget() for name, dock in window._dock_widgets.items()}


def history_lengths(layer) -> tuple[int, int] | None:
    """(undo, redo) history lengths of a Labels layer, or None where unavailable.

    napari emits no event for undo / redo (only ``set_data``, which every slice change
    also emits) and has no public history API, so the lengths of the private deques
    tell an undo from a refresh. None (an unknown napari) disables that check: edits
    are then marked stale after an undo instead of followed.
    """
    try:
        return len(layer._undo_history), len(layer._redo_history)
    except (AttributeError, TypeError):
        return None


def qt_window(viewer):
    """The viewer's ``QMainWindow``: public ``viewer.window.qt_window`` where it exists
    (none does in napari 0.5-0.9), else the private ``_qt_window``."""
    window = viewer.window
    return getattr(window, "qt_window", None) or window._qt_window


def canvas_widget(viewer):
    """The Qt widget of the viewer's canvas (where napari's key bindings are handled):
    no public accessor in napari 0.5-0.9, so the private QtViewer's ``canvas.native``.
    For tests and screenshots only."""
    window = viewer.window
    qt_viewer = getattr(window, "_qt_viewer", None)
    return qt_viewer.canvas.native
