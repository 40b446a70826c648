"""The "Presize preview" dock: previews on layers, label loss, folder runs, bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from qtpy.QtCore import Qt

from labelprep import presize
from labelprep._commands.demo import PLUGIN
from labelprep._napari.presize_widget import PresizeWidget, parse_size
from labelprep.presize import _run as presize_run

from .conftest import assert_not_blank

TIMEOUT = 30_000


@pytest.fixture
def widget(viewer, qtbot):
    w = PresizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Presize preview")
    return w


def click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def wait_idle(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT)


def test_parse_size():
    assert parse_size("160") == 160
    assert parse_size(" 120 160 ") == (120, 160)
    assert parse_size("120x160") == (120, 160)
    for bad in ("", "abc", "0", "1 2 3", "-5"):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)


def test_preview_overlays_the_photo_and_its_mask(viewer, widget, qtbot):
    viewer.open_sample(PLUGIN, "photo2d")
    assert widget.image_combo.currentText() == "photo"
    assert widget.mask_combo.currentText() == "photo mask"
    widget.size_edit.setText("120")
    click(qtbot, widget.preview_button)
    wait_idle(qtbot, widget)
    rgb = viewer.layers["photo"].data
    mask = viewer.layers["photo mask"].data
    img_layer, mask_layer = widget.image_result, widget.mask_result
    assert img_layer.name == "photo presized" and mask_layer.name == "photo mask presized"
    assert img_layer.rgb and img_layer.data.shape == (120, 160, 3)
    np.testing.assert_array_equal(img_layer.data, presize.image(rgb, 120))
    np.testing.assert_array_equal(mask_layer.data, presize.mask(mask, 120))
    # factor 4: scale 4, and output pixel i (sampling input centre 4i + 1.5) sits there
    np.testing.assert_allclose(img_layer.scale, [4, 4])
    np.testing.assert_allclose(img_layer.translate, [1.5, 1.5])
    np.testing.assert_allclose(mask_layer.scale, img_layer.scale)
    np.testing.assert_allclose(mask_layer.translate, img_layer.translate)
    for i, j in [(0, 0), (10, 37), (119, 159)]:
        world = img_layer.data_to_world((i, j))
        np.testing.assert_allclose(viewer.layers["photo"].world_to_data(world),
                                   (4 * i + 1.5, 4 * j + 1.5))
    # both cover exactly the original's area (pixel edges, not centres)
    def edges(layer):
        centres = np.asarray(layer.extent.world)
        return centres + np.array([-1, 1])[:, None] * np.asarray(layer.scale) / 2

    np.testing.assert_allclose(edges(img_layer), edges(viewer.layers["photo"]))
    np.testing.assert_allclose(edges(mask_layer), [[-0.5, -0.5], [479.5, 639.5]])
    assert "120 x 160" in widget.shape_label.text() and "480 x 640" in widget.shape_label.text()
    assert "Label loss: none" in widget.loss_label.text()
    assert widget.lost_labels.size == 0
    assert_not_blank(viewer.screenshot(canvas_only=True))
    # a second preview updates the same layers instead of piling up new ones
    widget.size_edit.setText("60")
    widget.method_combo.setCurrentText("mode")
    click(qtbot, widget.preview_button)
    wait_idle(qtbot, widget)
    assert len(viewer.layers) == 4
    assert widget.image_result.data.shape == (60, 80, 3)
    np.testing.assert_array_equal(widget.mask_result.data, presize.mask(mask, 60, "mode"))
    np.testing.assert_allclose(widget.image_result.scale, [8, 8])
    assert widget.image_combo.findText("photo presized") == -1  # results are not inputs


def test_preview_reports_label_loss(viewer, widget, qtbot, photo):
    rgb, mask = photo
    labels = mask.astype(np.int32)
    labels[5, 5] = 70_000  # one-pixel objects vanish at 1/8
    labels[300, 600] = 9
    viewer.add_image(rgb, name="img", rgb=True)
    viewer.add_labels(labels, name="lab")
    widget.image_combo.setCurrentText("img")
    widget.mask_combo.setCurrentText("lab")
    widget.size_edit.setText("60")
    click(qtbot, widget.preview_button)
    wait_idle(qtbot, widget)
    assert widget.lost_labels.tolist() == [9, 70_000]
    assert "2 of 6 labels vanish: 9, 70000" in widget.loss_label.text()
    assert widget.mask_result.data.dtype == np.int32


def test_preview_without_mask_and_greyscale(viewer, widget, qtbot, photo):
    rgb, _ = photo
    grey = viewer.add_image(rgb[..., 1].astype(np.uint16) * 200, name="grey",
                            scale=(0.5, 2.0), translate=(10.0, -5.0))
    widget.mask_combo.setCurrentText("(no mask)")
    widget.size_edit.setText("120")
    click(qtbot, widget.preview_button)
    wait_idle(qtbot, widget)
    result = widget.image_result
    assert result.data.dtype == np.uint16 and result.data.shape == (120, 160)
    # the layer's own scale and translate are honoured: output pixel (i, j) lies over
    # input position (4i + 1.5, 4j + 1.5) of the original
    for i, j in [(0, 0), (7, 99), (119, 159)]:
        np.testing.assert_allclose(grey.world_to_data(result.data_to_world((i, j))),
                                   (4 * i + 1.5, 4 * j + 1.5))
    assert widget.mask_result is None
    assert "no mask" in widget.loss_label.text()


def test_preview_bad_input_shows_a_message_and_adds_nothing(viewer, widget, qtbot, photo):
    viewer.open_sample(PLUGIN, "cells3d")  # 3D stack
    n = len(viewer.layers)
    assert widget.preview() is None
    assert "3D" in widget.message_label.text()
    # a Labels layer as "image"
    assert widget.preview(image_layer=viewer.layers["cells labels"]) is None
    assert "Image layer" in widget.message_label.text()
    # a mask of another shape
    rgb, _ = photo
    viewer.add_image(rgb, name="img", rgb=True)
    viewer.add_labels(np.zeros((10, 10), np.uint8), name="small")
    assert widget.preview(viewer.layers["img"], viewer.layers["small"]) is None
    assert "shape" in widget.message_label.text()
    # a bad size
    widget.size_edit.setText("big")
    widget.mask_combo.setCurrentText("(no mask)")
    assert widget.preview(viewer.layers["img"]) is None
    assert "size" in widget.message_label.text()
    assert len(viewer.layers) == n + 2 and widget.image_result is None


@pytest.fixture
def folders(tmp_path, photo):
    rgb, m = photo
    src, masks = tmp_path / "src", tmp_path / "masks"
    (src / "sub").mkdir(parents=True)
    (masks / "sub").mkdir(parents=True)
    for i, name in enumerate(["a", "b", "sub/c"]):
        Image.fromarray(np.roll(rgb, 40 * i, axis=1)).save(src / f"{name}.jpg", quality=90)
        Image.fromarray(np.roll(m, 40 * i, axis=1)).save(masks / f"{name}.png")
    return src, masks


def fill_folder_form(widget, tmp_path, src, masks=None, workers=1):
    widget.src_edit.setText(str(src))
    widget.dst_edit.setText(str(tmp_path / "out"))
    if masks is not None:
        widget.masks_edit.setText(str(masks))
        widget.masks_out_edit.setText(str(tmp_path / "mout"))
    widget.workers_spin.setValue(workers)


def test_folder_run_writes_and_reports(viewer, widget, qtbot, tmp_path, folders):
    src, masks = folders
    fill_folder_form(widget, tmp_path, src, masks)
    widget.size_edit.setText("100")
    click(qtbot, widget.run_button)
    assert widget.folder_worker is not None and not widget.run_button.isEnabled()
    wait_idle(qtbot, widget)
    rep = widget.report
    assert rep is not None and rep.written == 3 and rep.failed == []
    assert "3 written, 0 skipped, 0 failed" in widget.report_label.text()
    assert widget.progress_bar.maximum() == 3 and widget.progress_bar.value() == 3
    assert widget.run_button.isEnabled()
    with Image.open(tmp_path / "out" / "sub" / "c.jpg") as im:
        assert im.size == (133, 100)
    assert np.asarray(Image.open(tmp_path / "mout" / "sub" / "c.png")).shape == (100, 133)
    # again: everything is up to date
    click(qtbot, widget.run_button)
    wait_idle(qtbot, widget)
    assert widget.report.skipped == 3 and "3 skipped" in widget.report_label.text()


def test_folder_run_lists_failures(viewer, widget, qtbot, tmp_path, folders):
    src, _ = folders
    (src / "broken.jpg").write_bytes(b"not an image")
    fill_folder_form(widget, tmp_path, src)
    widget.run_folder()
    wait_idle(qtbot, widget)
    assert widget.report.written == 3 and len(widget.report.failed) == 1
    assert not widget.failures_text.isHidden()
    assert "broken.jpg" in widget.failures_text.toPlainText()
    assert "failed" in widget.message_label.text()


@pytest.mark.parametrize("case", ["inside", "same", "empty", "masks_out_missing"])
def test_folder_bad_paths_refused_nothing_written(viewer, widget, qtbot, tmp_path, folders, case):
    src, masks = folders
    before = sorted(p.name for p in src.rglob("*"))
    fill_folder_form(widget, tmp_path, src)
    if case == "inside":
        widget.dst_edit.setText(str(src / "small"))
    elif case == "same":
        widget.dst_edit.setText(str(src))
    elif case == "empty":
        widget.dst_edit.setText("")
    else:
        widget.masks_edit.setText(str(masks))
    click(qtbot, widget.run_button)
    assert widget.folder_worker is None
    text = widget.message_label.text()
    assert {"inside": "inside", "same": "inside", "empty": "destination",
            "masks_out_missing": "masks_out"}[case] in text
    assert sorted(p.name for p in src.rglob("*")) == before
    assert not (tmp_path / "out").exists()


def test_folder_run_with_worker_processes_from_the_gui(viewer, widget, qtbot, tmp_path, folders):
    # worker processes started from napari's threads (forkserver, not fork)
    src, masks = folders
    fill_folder_form(widget, tmp_path, src, masks, workers=2)
    widget.method_combo.setCurrentText("mode")
    widget.run_folder()
    wait_idle(qtbot, widget)
    assert widget.report.written == 3 and widget.report.failed == []


def test_folder_run_can_be_cancelled(viewer, widget, qtbot, tmp_path, photo, monkeypatch):
    rgb, _ = photo
    src = tmp_path / "many"
    src.mkdir()
    small = rgb[::4, ::4].copy()
    for i in range(30):
        Image.fromarray(small).save(src / f"{i:02d}.png")
    slow, calls = presize_run._run_job, []

    def slow_job(job):
        calls.append(job)
        time.sleep(0.05)
        return slow(job)

    monkeypatch.setattr(presize_run, "_run_job", slow_job)
    fill_folder_form(widget, tmp_path, src, workers=1)
    widget.size_edit.setText("40")
    widget.run_folder()
    qtbot.waitUntil(lambda: widget.progress_bar.value() >= 2, timeout=TIMEOUT)
    click(qtbot, widget.cancel_button)
    wait_idle(qtbot, widget)
    assert "Cancelled" in widget.message_label.text()
    assert 2 <= len(calls) < 30  # the slowed job ran: the run really was cut short
    written = [p for p in (tmp_path / "out").iterdir() if p.name != presize.JOURNAL_NAME]
    assert 2 <= len(written) < 30
    assert not [p for p in written if p.name.startswith(".")]  # no temp files
    for p in written:
        with Image.open(p) as im:
            im.load()  # complete files


def test_widget_docks_from_the_manifest(viewer, qtbot):
    viewer.open_sample(PLUGIN, "photo2d")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Presize preview")
    assert isinstance(w, PresizeWidget)
    w.preview()
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT)
    assert w.image_result is not None


def test_the_form_and_the_model_stay_in_step(viewer, widget):
    model = widget.model
    widget.size_edit.setText("70")
    widget.method_combo.setCurrentText("mode")
    widget.overwrite_check.setChecked(True)
    widget.src_edit.setText("/data/in")
    assert (model.size_text, model.method, model.overwrite, model.src) == (
        "70", "mode", True, "/data/in")
    model.set(size_text="90 120", method="nearest", upscale=True, workers=1, dst="/data/out")
    assert widget.size_edit.text() == "90 120" and widget.method_combo.currentText() == "nearest"
    assert widget.upscale_check.isChecked() and widget.workers_spin.value() == 1
    assert widget.dst_edit.text() == "/data/out"
    assert widget.shape_label.text() == "Output: -" and widget.report is None
