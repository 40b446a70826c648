"""DockWidget: a dock's scrolled body never clips its controls; it widens to them."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout

from labelprep._napari._common import DockWidget
from labelprep._napari.rle_widget import RLEWidget

from .test_index_widget import wait_idle


class _Dock(DockWidget):
    def __init__(self, viewer):
        super().__init__(viewer)
        body = QVBoxLayout(self.scroll_body())
        self.label = QLabel("short")
        body.addWidget(self.label)


def _body_width(widget) -> int:
    return widget._scroll_area.widget().minimumSizeHint().width()


def test_a_longer_text_widens_the_dock_instead_of_being_clipped(viewer, qtbot):
    widget = _Dock(viewer)
    dock = viewer.window.add_dock_widget(widget, name="test dock")
    qtbot.waitUntil(lambda: dock.isVisible(), timeout=5000)
    before = widget.width()
    widget.label.setText("a much longer text than the dock was made for " * 3)
    qtbot.waitUntil(lambda: widget.width() >= _body_width(widget), timeout=5000)
    assert widget.width() > before


def test_rle_dock_shows_its_statistics_unclipped(viewer, qtbot):
    viewer.open_sample("napari-labelprep", "photo2d")
    widget = RLEWidget(viewer)
    viewer.window.add_dock_widget(widget, name="RLE masks")
    widget.encode()
    wait_idle(qtbot, widget)
    assert "raw" in widget.ratio_label.text()
    qtbot.wait(50)
    assert widget.width() >= _body_width(widget)
    widget.round_trip_check()
    wait_idle(qtbot, widget)
    qtbot.wait(50)
    assert "identical" in widget.check_label.text()
    assert widget.width() >= _body_width(widget)
