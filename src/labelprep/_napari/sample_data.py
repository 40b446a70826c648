"""napari sample data contributions (File > Open Sample > Label Prep)."""

from __future__ import annotations

from labelprep import samples


def cells_3d() -> list[tuple]:
    """The synthetic 3D cell stack: grey-level image plus its labels."""
    image, labels = samples.cells_3d()
    return [
        (image, {"name": "cells image", "colormap": "gray"}, "image"),
        (labels, {"name": "cells labels", "opacity": 0.5}, "labels"),
    ]


def photo_2d() -> list[tuple]:
    """The synthetic 2D RGB photo plus its multi-class mask."""
    rgb, mask = samples.photo_2d()
    return [
        (rgb, {"name": "photo", "rgb": True}, "image"),
        (mask, {"name": "photo mask", "opacity": 0.5}, "labels"),
    ]
