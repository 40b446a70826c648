"""The one place that touches napari internals, each with why and the public fallback.

Every other module uses napari's public API only (``tests/_napari/test_compat.py``
greps ``src/`` for private attributes outside this file).
"""

from __future__ import annotations

__all__ = ["canvas_widget", "history_lengths", "qt_window"]


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
