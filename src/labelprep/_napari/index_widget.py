"""The "Voxel index" dock widget."""

from __future__ import annotations

from ._placeholder import PlaceholderWidget


class VoxelIndexWidget(PlaceholderWidget):
    feature = "Voxel index"
