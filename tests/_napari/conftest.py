"""GUI test helpers. These tests need a real X display (pytest-xvfb starts Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest


def assert_not_blank(shot: np.ndarray) -> None:
    """A screenshot shows something: many colours and real contrast, not a flat canvas."""
    assert shot.ndim == 3 and shot.shape[2] in (3, 4), shot.shape
    rgb = shot[..., :3].reshape(-1, 3)
    assert rgb.std() > 10, "screenshot is (almost) uniform"
    assert np.unique(rgb[:: max(1, rgb.shape[0] // 20000)], axis=0).shape[0] > 50


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer(show=True)


@pytest.fixture
def small():
    """A small 3D stack: fast GUI tests; objects with known ids."""
    from labelprep.samples import cells_3d

    image, labels = cells_3d(shape=(24, 96, 96), n_cells=60, seed=3)
    return image, labels
