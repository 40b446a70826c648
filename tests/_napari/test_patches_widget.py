"""The "Patch sampling" dock widget, driven through its attributes under Xvfb."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from qtpy.QtCore import Qt

from labelprep import patches
from labelprep._commands.demo import PLUGIN
from labelprep._napari.patches_widget import NO_MASK, PatchSamplingWidget

from .conftest import assert_not_blank


def _widget(viewer, sample):
    viewer.open_sample(PLUGIN, sample)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch sampling")
    assert isinstance(widget, PatchSamplingWidget)
    return widget


def _set(widget, size, n, mode="uniform", seed=0, border="valid (full patches only)"):
    spins = widget.size_spins[3 - len(size) :]
    for spin, value in zip(spins, size):
        spin.setValue(value)
    widget.n_spin.setValue(n)
    widget.mode_combo.setCurrentText(mode)
    widget.seed_spin.setValue(seed)
    widget.border_combo.setCurrentText(border)


def _click_sample(qtbot, widget):
    widget.origins = None
    qtbot.mouseClick(widget.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.worker is None and widget.origins is not None, timeout=20000)
    return widget.origins


def _boxes(layer):
    """(first corner, size) of every rectangle of a Shapes layer, in pixel units."""
    out = []
    for verts in layer.data:
        lo, hi = verts.min(axis=0), verts.max(axis=0)
        out.append((lo[-2:] + 0.5, hi[-2:] - lo[-2:], verts[:, :-2]))
    return out


def test_photo2d_boxes_coverage_and_class_table(viewer, qtbot):
    widget = _widget(viewer, "photo2d")
    assert widget.image_combo.currentText() == "photo"
    assert widget.mask_combo.currentText() == "photo mask"
    assert widget.size_spins[0].isHidden()  # 2D: no z size
    _set(widget, (48, 40), 150, mode="class_balanced", seed=3)
    origins = _click_sample(qtbot, widget)

    rgb = viewer.layers["photo"].data
    mask = viewer.layers["photo mask"].data
    with patches.PatchSampler([rgb], [mask], (48, 40), cache_size=1, replace_every=150,
                              mode="class_balanced", seed=3, prefetch=False) as s:
        expected = s.sample_origins(150)
    np.testing.assert_array_equal(origins, expected)

    shapes = viewer.layers["photo patches"]
    assert shapes.nshapes == 150
    for (corner, size, _), origin in zip(_boxes(shapes), origins):
        np.testing.assert_allclose(corner, origin[1:])
        np.testing.assert_allclose(size, (48, 40))
    assert shapes.features["centre_class"].tolist() == patches.centre_values(
        mask, origins[:, 1:], (48, 40)).tolist()

    cov = viewer.layers["photo patch coverage"]
    assert cov.blending == "additive"
    np.testing.assert_array_equal(cov.data, patches.coverage(mask.shape, origins[:, 1:],
                                                             (48, 40)))
    assert cov.data.sum() == 150 * 48 * 40

    assert widget.table.rowCount() == 4
    assert [widget.table.item(r, 0).text() for r in range(4)] == ["0", "1", "2", "3"]
    assert [widget.table.item(r, 1).text() for r in range(4)] == ["25.0"] * 4
    drawn = [float(widget.table.item(r, 2).text()) for r in range(4)]
    assert sum(drawn) == pytest.approx(100, abs=0.5)
    assert all(10 < d < 40 for d in drawn)
    assert "150 patches" in widget.message.text()
    assert_not_blank(viewer.screenshot(canvas_only=True))


def test_same_seed_same_boxes_other_seed_differs(viewer, qtbot):
    widget = _widget(viewer, "photo2d")
    _set(widget, (32, 32), 60, mode="foreground", seed=5)
    a = _click_sample(qtbot, widget)
    boxes_a = [v.copy() for v in viewer.layers["photo patches"].data]
    b = _click_sample(qtbot, widget)
    boxes_b = [v.copy() for v in viewer.layers["photo patches"].data]
    np.testing.assert_array_equal(a, b)
    assert len(boxes_a) == len(boxes_b) == 60
    for u, v in zip(boxes_a, boxes_b):
        np.testing.assert_array_equal(u, v)
    # the layers are replaced, not piled up
    assert [ly.name for ly in viewer.layers].count("photo patches") == 1
    assert [ly.name for ly in viewer.layers].count("photo patch coverage") == 1
    widget.seed_spin.setValue(6)
    c = _click_sample(qtbot, widget)
    assert not np.array_equal(a, c)
    mask = viewer.layers["photo mask"].data
    assert (patches.centre_values(mask, c[:, 1:], (32, 32)) != 0).all()


def test_export_origins_csv(viewer, qtbot, tmp_path):
    widget = _widget(viewer, "photo2d")
    _set(widget, (20, 30), 25, seed=1, border="pad with zeros")
    origins = _click_sample(qtbot, widget)
    widget.export_path = tmp_path / "sub" / "origins.csv"
    assert widget.export_button.isEnabled()
    qtbot.mouseClick(widget.export_button, Qt.MouseButton.LeftButton)
    with open(widget.export_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 25
    assert list(rows[0]) == ["patch", "source", "y", "x", "size_y", "size_x", "centre_class"]
    got = np.array([[int(r["y"]), int(r["x"])] for r in rows])
    np.testing.assert_array_equal(got, origins[:, 1:])
    assert {r["source"] for r in rows} == {"photo"}
    assert rows[3]["size_y"] == "20" and rows[3]["size_x"] == "30"
    assert "wrote 25 patch origins" in widget.message.text()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["origins.csv"]


def test_cells3d_rectangles_on_every_spanned_slice(viewer, qtbot):
    widget = _widget(viewer, "cells3d")
    assert widget.image_combo.currentText() == "cells image"
    assert widget.mask_combo.currentText() == "cells labels"
    assert not widget.size_spins[0].isHidden()
    _set(widget, (8, 32, 32), 40, mode="foreground", seed=2)
    origins = _click_sample(qtbot, widget)
    assert origins.shape == (40, 4)
    labels = viewer.layers["cells labels"].data
    assert (patches.centre_values(labels, origins[:, 1:], (8, 32, 32)) != 0).all()

    shapes = viewer.layers["cells image patches"]
    assert shapes.ndim == 3
    assert shapes.nshapes == 40 * 8
    patch_of = shapes.features["patch"].to_numpy()
    for _k, ((corner, size, z), p) in enumerate(zip(_boxes(shapes), patch_of)):
        z0, y0, x0 = origins[p, 1:]
        assert np.all(z == z[0]) and z0 <= z[0, 0] < z0 + 8
        np.testing.assert_allclose(corner, (y0, x0))
        np.testing.assert_allclose(size, (32, 32))
    cov = viewer.layers["cells image patch coverage"].data
    assert cov.shape == labels.shape
    assert cov.sum() == 40 * 8 * 32 * 32
    # hundreds of cell ids: the table shows the first ones and sums up the rest
    last = widget.table.rowCount() - 1
    assert widget.table.item(last, 0).text().endswith("more")
    viewer.dims.set_point(0, int(origins[0, 1]) + 4)
    assert_not_blank(viewer.screenshot(canvas_only=True))


@pytest.mark.parametrize(
    "setup,message",
    [
        ({"mode": "foreground", "mask": NO_MASK}, "needs a mask"),
        ({"size": (900, 900)}, "smaller than the patch"),
        ({"mode": "class_balanced", "weights": "a=b"}, "class weights must look like"),
        ({"mode": "class_balanced", "weights": "7=1"}, "no class with a weight > 0"),
        ({"mode": "class_balanced", "weights": "1=-1"}, "class_weights must be >= 0"),
    ],
)
def test_bad_input_shows_a_message_not_a_traceback(viewer, qtbot, setup, message):
    widget = _widget(viewer, "photo2d")
    _set(widget, setup.get("size", (32, 32)), 20, mode=setup.get("mode", "uniform"))
    if "mask" in setup:
        widget.mask_combo.setCurrentText(setup["mask"])
    widget.weights_edit.setText(setup.get("weights", ""))
    n_layers = len(viewer.layers)
    qtbot.mouseClick(widget.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10000)
    assert message in widget.message.text()
    assert len(viewer.layers) == n_layers
    assert widget.sample_button.isEnabled()


def test_no_image_layer_and_export_before_sampling(viewer, qtbot, tmp_path):
    widget = PatchSamplingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    qtbot.mouseClick(widget.sample_button, Qt.MouseButton.LeftButton)
    assert "add an image layer" in widget.message.text()
    assert widget.export_origins(tmp_path / "x.csv") is None
    assert "press Sample first" in widget.message.text()
    # layers added later show up in the pickers
    viewer.open_sample(PLUGIN, "photo2d")
    assert widget.image_combo.currentText() == "photo"
    assert widget.mask_combo.currentText() == "photo mask"


def test_many_boxes_are_capped_but_coverage_uses_all(viewer, qtbot, monkeypatch):
    from labelprep._napari import patches_widget

    monkeypatch.setattr(patches_widget, "MAX_RECTANGLES", 100)
    widget = _widget(viewer, "cells3d")
    _set(widget, (8, 16, 16), 30, seed=0)  # 240 slice rectangles > 100: centre slices
    origins = _click_sample(qtbot, widget)
    shapes = viewer.layers["cells image patches"]
    assert shapes.nshapes == 30
    for (_, _, z), origin in zip(_boxes(shapes), origins):
        assert z[0, 0] == origin[1] + 4
    assert "centre slice only" in widget.message.text()
    _set(widget, (8, 16, 16), 150, seed=0)  # 150 patches > 100: only the first 100
    origins = _click_sample(qtbot, widget)
    assert viewer.layers["cells image patches"].nshapes == 100
    assert "Only the first 100 boxes" in widget.message.text()
    assert viewer.layers["cells image patch coverage"].data.sum() == 150 * 8 * 16 * 16


def test_controls_follow_the_model_and_write_to_it(viewer, qtbot):
    widget = _widget(viewer, "photo2d")
    model = widget.model
    assert not widget.export_button.isEnabled() and not widget.weights_edit.isEnabled()
    model.update(n=7, mode="class_balanced", patch_size=(3, 40, 41), weights_text="1=2",
                 seed=9, border="pad with zeros")
    assert widget.n_spin.value() == 7 and widget.seed_spin.value() == 9
    assert [s.value() for s in widget.size_spins] == [3, 40, 41]
    assert widget.mode_combo.currentText() == "class_balanced"
    assert widget.weights_edit.isEnabled() and widget.weights_edit.text() == "1=2"
    assert widget.border_combo.currentText() == "pad with zeros"
    _set(widget, (20, 30), 11, mode="foreground", seed=4)
    assert (model.patch_size[1:], model.n, model.mode, model.seed) == ((20, 30), 11,
                                                                       "foreground", 4)
    assert not widget.weights_edit.isEnabled()
    origins = _click_sample(qtbot, widget)
    assert model.origins is origins and widget.export_button.isEnabled()
    assert widget.table.rowCount() == len(model.table_rows) > 0
    model.clear_result()
    assert widget.origins is None and not widget.export_button.isEnabled()
    assert widget.table.rowCount() == 0
