"""napari internals are touched in one module only, and its fallbacks work here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import labelprep
from labelprep._napari import _compat

SRC = Path(labelprep.__file__).parent
# private attributes of napari / Qt objects this project once used, and the pattern of
# any "<napari object>._name" access
PRIVATE = re.compile(r"\b(?:layer|viewer|window|event|layers|dims|camera|canvas|qt_viewer)"
                     r"\._[a-z]\w*|_type_string|_undo_history|_redo_history|_qt_window"
                     r"|napari\.utils\._test_utils|_qt_viewer")


def test_no_private_napari_attribute_outside_the_compat_module():
    found = []
    for path in SRC.rglob("*.py"):
        if path.name == "_compat.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if PRIVATE.search(line):
                found.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert not found, "private napari API outside _napari/_compat.py:\n" + "\n".join(found)


def test_history_lengths_follow_undo_and_redo(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.zeros((8, 8), dtype=np.uint8))
    assert _compat.history_lengths(layer) == (0, 0)
    layer.paint((2, 2), 3, refresh=True)
    assert _compat.history_lengths(layer) == (1, 0)
    layer.undo()
    assert _compat.history_lengths(layer) == (0, 1)
    assert _compat.history_lengths(object()) is None


def test_qt_window_is_the_main_window(make_napari_viewer):
    from qtpy.QtWidgets import QMainWindow

    viewer = make_napari_viewer()
    assert isinstance(_compat.qt_window(viewer), QMainWindow)


def test_canvas_widget_is_the_canvas(make_napari_viewer):
    from qtpy.QtWidgets import QWidget

    viewer = make_napari_viewer(show=True)
    canvas = _compat.canvas_widget(viewer)
    assert isinstance(canvas, QWidget) and canvas.width() > 0
