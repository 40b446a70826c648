"""The "Presize preview" dock widget."""

from __future__ import annotations

from ._placeholder import PlaceholderWidget


class PresizeWidget(PlaceholderWidget):
    feature = "Presize preview"
