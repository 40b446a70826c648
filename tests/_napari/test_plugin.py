"""The plugin as a whole in a real viewer: docks, samples, screenshots, the demo."""

from __future__ import annotations

import numpy as np
import pytest

from labelprep._commands.demo import PLUGIN, WIDGETS, open_demo
from labelprep._napari._compat import dock_widgets

from .conftest import assert_not_blank


@pytest.mark.parametrize("widget_name", WIDGETS)
@pytest.mark.parametrize("sample", ["cells3d", "photo2d"])
def test_each_widget_docks_with_each_sample(viewer, qtbot, widget_name, sample):
    layers = viewer.open_sample(PLUGIN, sample)
    assert [type(layer).__name__ for layer in layers] == ["Image", "Labels"]
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, widget_name)
    assert widget in dock_widgets(viewer.window).values()
    shot = viewer.screenshot(canvas_only=True)
    assert_not_blank(shot)


def test_sample_layers_hold_the_generated_data(viewer):
    from labelprep import samples

    image, labels = samples.cells_3d()
    viewer.open_sample(PLUGIN, "cells3d")
    np.testing.assert_array_equal(viewer.layers["cells image"].data, image)
    np.testing.assert_array_equal(viewer.layers["cells labels"].data, labels)


def test_demo_docks_all_four_widgets(viewer, qtbot):
    open_demo(viewer, "cells3d")
    docked = set(dock_widgets(viewer.window).keys())
    for name in WIDGETS:
        assert any(name in title for title in docked), (name, docked)
    assert viewer.layers["cells labels"].data.ndim == 3
    assert_not_blank(viewer.screenshot(canvas_only=False))


def test_readme_run_command_opens_the_demo(tmp_path):
    """`labelprep demo` (the README's run command) as a real process, under the test's X
    display: it must open the viewer with the sample and the docks and save a real picture."""
    import os
    import shutil
    import subprocess
    import sys

    from PIL import Image

    exe = shutil.which("labelprep", path=os.path.dirname(sys.executable)) or shutil.which(
        "labelprep"
    )
    assert exe, "the labelprep console script is not installed"
    out = tmp_path / "demo.png"
    result = subprocess.run(
        [exe, "demo", "--screenshot", str(out)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shot = np.asarray(Image.open(out))
    assert shot.shape[0] >= 600 and shot.shape[1] >= 900  # the whole window, not a canvas
    assert_not_blank(shot)
