"""The "Patch sampling" dock widget."""

from __future__ import annotations

from ._placeholder import PlaceholderWidget


class PatchSamplingWidget(PlaceholderWidget):
    feature = "Patch sampling"
