"""A folder of colour-coded label slices in the Voxel index dock, in a real viewer: it
loads as ids shown in their original colours, and a click selects the object."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from labelprep._napari.index_widget import VoxelIndexWidget

from .test_index_widget import click, wait_idle


def test_colour_folder_loads_in_original_colours_and_a_click_selects(viewer, qtbot, small,
                                                                    tmp_path):
    _, ids = small
    rng = np.random.default_rng(5)
    palette = rng.integers(1, 256, size=(int(ids.max()) + 1, 3), dtype=np.uint8)
    palette[0] = 0  # black background
    rgb = palette[ids]  # (z, y, x, 3): what a connected-components tool writes
    folder = tmp_path / "slices"
    folder.mkdir()
    for z, plane in enumerate(rgb):
        Image.fromarray(plane).save(folder / f"z{z}.png")
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.load_stack(str(folder))
    wait_idle(qtbot, widget)
    layer = widget.layer
    assert layer is not None and layer.data.dtype == np.uint32, widget.message_label.text()
    assert "colours -> ids" in widget.message_label.text()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"z{z}.png" for z in range(len(rgb)))
    # each id shows the colour its object had in the files
    colours = np.asarray(layer.colormap.map(layer.data.reshape(-1)[::97]))[:, :3]
    expected = rgb.reshape(-1, 3)[::97] / 255.0
    fg = layer.data.reshape(-1)[::97] != 0
    np.testing.assert_allclose(colours[fg], expected[fg], atol=1e-6)
    widget.build_index()
    wait_idle(qtbot, widget)
    assert "colour" in widget.model.columns
    z = ids.shape[0] // 2
    y, x = np.argwhere(layer.data[z] != 0)[0]
    viewer.dims.set_point(0, z)
    click(layer, (z, y, x), dims_displayed=(1, 2))
    L = int(layer.data[z, y, x])
    assert widget.selected_labels == (L,) and layer.selected_label == L
    row = widget.model.frame.set_index("label").loc[L]
    assert row["colour"] == "#" + bytes(rgb[z, y, x]).hex()


@pytest.mark.parametrize("n", [3, 1000, 70_000])  # cyclic up to napari's limit, then direct
def test_original_colours_map_each_id_to_its_row(n):
    from labelprep._napari.index_loading import original_colours

    colours = np.random.default_rng(n).integers(0, 256, size=(n + 1, 3), dtype=np.uint8)
    cmap = original_colours(colours)
    ids = np.unique(np.r_[0, 1, n, np.random.default_rng(1).integers(1, n + 1, 500)])
    got = np.asarray(cmap.map(ids))
    np.testing.assert_allclose(got[ids > 0, :3], colours[ids[ids > 0]] / 255.0, atol=1e-6)
    assert (got[ids == 0] == 0).all()  # the background is transparent
