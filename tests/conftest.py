"""Shared fixtures: the synthetic data of ``labelprep.samples``, cached per session."""

from __future__ import annotations

import numpy as np
import pytest

from labelprep import samples


@pytest.fixture(scope="session")
def cells():
    """(image, labels) of the default 3D sample stack; read-only to catch mutation."""
    image, labels = samples.cells_3d()
    image.setflags(write=False)
    labels.setflags(write=False)
    return image, labels


@pytest.fixture(scope="session")
def photo():
    """(rgb, mask) of the default 2D sample photo; read-only to catch mutation."""
    rgb, mask = samples.photo_2d()
    rgb.setflags(write=False)
    mask.setflags(write=False)
    return rgb, mask


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def walked(monkeypatch):
    """The roots of every folder walk of ``labelprep.io`` (``_files._walk``), in order."""
    from labelprep.io import _files

    roots = []
    real_walk = _files._walk

    def counting_walk(root):
        roots.append(root)
        return real_walk(root)

    monkeypatch.setattr(_files, "_walk", counting_walk)
    return roots


@pytest.fixture(params=["native", "strip by strip"])
def inflater(request, monkeypatch):
    """Run a test with the TIFF strips inflated by libdeflate through ctypes, all of a
    file's strips in one call (``io._inflate``), then by imagecodecs strip by strip."""
    from labelprep.io import _inflate

    if request.param == "native":
        if _inflate.native_inflater() is None:  # pragma: no cover - Linux wheels ship it
            pytest.skip("no libdeflate found")
    else:
        monkeypatch.setattr(_inflate, "_loaded", [None])
    return request.param
