"""The "RLE masks" dock widget."""

from __future__ import annotations

from ._placeholder import PlaceholderWidget


class RLEWidget(PlaceholderWidget):
    feature = "RLE masks"
