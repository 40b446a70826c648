"""A dock widget that honestly says its feature is not available yet."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget


class PlaceholderWidget(QWidget):
    feature = "This feature"

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        layout = QVBoxLayout(self)
        label = QLabel(f"<b>{self.feature}</b><br>not yet available in this version.")
        label.setWordWrap(True)
        layout.addWidget(label)
        layout.addStretch(1)
