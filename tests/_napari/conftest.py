"""GUI test helpers. These tests need a real X display (pytest-xvfb starts Xvfb)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest


@dataclass
class MouseEvent:
    """A stand-in for the vispy mouse event napari hands to layer mouse callbacks
    (napari's own test helper is private): pass it to the public
    ``napari.utils.interactions.mouse_*_callbacks``."""

    type: str
    is_dragging: bool = False
    button: int | None = None
    modifiers: list = field(default_factory=list)
    position: tuple = (0, 0)  # world coordinates
    pos: np.ndarray = field(default_factory=lambda: np.zeros(2))  # canvas coordinates
    view_direction: list | None = None
    up_direction: list | None = None
    dims_displayed: list = field(default_factory=lambda: [0, 1])
    delta: tuple | None = None
    native: object = None
    handled: bool = False


class EventProxy:
    """What the viewer hands a drag callback: a proxy whose ``__wrapped__`` napari's
    ``mouse_*_callbacks`` re-point at each new event of the drag, so the generator's
    ``event`` follows the mouse (napari's own proxy class is private)."""

    def __init__(self, event):
        object.__setattr__(self, "__wrapped__", event)

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)

    def __setattr__(self, name, value):
        if name == "__wrapped__":
            object.__setattr__(self, name, value)
        else:
            setattr(self.__wrapped__, name, value)


def mouse_event(**kwargs) -> EventProxy:
    """A :class:`MouseEvent` as a layer's mouse callbacks receive it."""
    return EventProxy(MouseEvent(**kwargs))


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
