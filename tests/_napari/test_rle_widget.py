"""The "RLE masks" dock in a real viewer: encode, save, decode, round-trip check, errors."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from qtpy.QtCore import Qt, QTimer

from labelprep import rle
from labelprep._napari.rle_widget import RLEWidget, first_difference

from .conftest import assert_not_blank

PLUGIN = "napari-labelprep"
TIMEOUT = 30_000  # ms


def wait_idle(qtbot, widget):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)


def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.LeftButton)


@pytest.fixture
def photo_widget(viewer, qtbot):
    """The dock as napari creates it, with the 2D photo sample open."""
    viewer.open_sample(PLUGIN, "photo2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "RLE masks")
    assert isinstance(widget, RLEWidget)
    return widget


@pytest.fixture
def cells_widget(viewer, qtbot):
    viewer.open_sample(PLUGIN, "cells3d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "RLE masks")
    return widget


def test_encode_2d_photo_mask_shows_the_numbers(photo_widget, qtbot, photo, viewer):
    widget = photo_widget
    _, mask = photo
    assert widget.layer is viewer.layers["photo mask"]
    assert widget.layer_combo.currentText() == "photo mask"
    assert not widget.save_button.isEnabled() and not widget.decode_last_button.isEnabled()
    click(qtbot, widget.encode_button)
    wait_idle(qtbot, widget)
    expected = rle.encode(mask)
    assert widget.last.rle == expected
    runs = len(expected["counts"])
    assert widget.runs_label.text() == f"{runs:,}"
    json_bytes = len(json.dumps(expected, separators=(",", ":")))
    compact_bytes = len(json.dumps(rle.compact(expected), separators=(",", ":")))
    assert (widget.last.json_bytes, widget.last.compact_bytes) == (json_bytes, compact_bytes)
    assert widget.json_label.text().endswith("KB")
    assert f"{mask.nbytes / compact_bytes:.1f}x (compact)" in widget.ratio_label.text()
    assert widget.time_label.text().endswith(" ms")
    assert widget.save_button.isEnabled() and widget.decode_last_button.isEnabled()
    assert_not_blank(viewer.screenshot(canvas_only=False))


def test_layer_combo_follows_the_viewer(viewer, qtbot):
    widget = RLEWidget(viewer)
    viewer.window.add_dock_widget(widget, name="RLE masks")
    assert widget.layer is None and not widget.encode_button.isEnabled()
    a = viewer.add_labels(np.zeros((4, 4), np.uint8), name="a")
    assert widget.layer is a
    b = viewer.add_labels(np.ones((4, 4), np.uint8), name="b")
    viewer.add_image(np.zeros((4, 4), np.float32), name="img")
    items = [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]
    assert items == ["a", "b", "img (image)"]
    viewer.layers.selection.active = b
    assert widget.layer is b and widget.layer_combo.currentText() == "b"
    viewer.layers.selection.active = viewer.layers["img"]  # images are not followed
    assert widget.layer is b
    b.name = "renamed"
    assert widget.layer_combo.currentText() == "renamed"
    widget.layer_combo.setCurrentIndex(0)
    assert widget.layer is a
    viewer.layers.remove(a)
    assert widget.layer is b
    with pytest.raises(ValueError, match="not in the viewer"):
        widget.set_layer(a)
    widget.cleanup()


def test_save_then_decode_file_into_a_new_layer(photo_widget, qtbot, photo, viewer, tmp_path):
    widget = photo_widget
    _, mask = photo
    click(qtbot, widget.encode_button)
    wait_idle(qtbot, widget)
    for compact in (False, True):
        widget.compact_check.setChecked(compact)
        widget.save(tmp_path / f"saved{int(compact)}")  # the dialog's result, set directly
        wait_idle(qtbot, widget)
        path = tmp_path / f"saved{int(compact)}.rle.json"
        assert path.exists(), widget.message_label.text()
        assert isinstance(rle.load(path)["counts"], str) is compact
        widget.path_edit.setText(str(path))
        n = len(viewer.layers)
        click(qtbot, widget.decode_file_button)
        wait_idle(qtbot, widget)
        assert len(viewer.layers) == n + 1
        layer = viewer.layers[f"saved{int(compact)}"]
        assert type(layer).__name__ == "Labels"
        np.testing.assert_array_equal(layer.data, mask)


def test_3d_cells_decode_last_and_round_trip_check(cells_widget, qtbot, cells, viewer):
    widget = cells_widget
    _, labels = cells
    source = viewer.layers["cells labels"]
    assert widget.layer is source
    click(qtbot, widget.encode_button)
    wait_idle(qtbot, widget)
    assert widget.last.shape == labels.shape and widget.last.dtype == "int32"
    click(qtbot, widget.decode_last_button)
    wait_idle(qtbot, widget)
    decoded = viewer.layers["cells labels decoded"]
    assert decoded.data.ndim == 3 and decoded.data.dtype == np.int32
    np.testing.assert_array_equal(decoded.data, labels)
    assert widget.layer is source  # a new layer does not steal the target

    widget.set_layer(source)
    click(qtbot, widget.check_button)
    wait_idle(qtbot, widget)
    assert widget.check_result.startswith("identical"), widget.check_result
    assert "identical" in widget.check_label.text()

    # paint one voxel: the check now points at it
    z, y, x = 10, 100, 120
    old = int(source.data[z, y, x])
    source.data[z, y, x] = 777
    source.refresh()
    click(qtbot, widget.check_button)
    wait_idle(qtbot, widget)
    assert widget.check_result.startswith(f"differs at (10, 100, 120): layer 777, decoded {old}")
    assert "1 voxel differ" in widget.check_result
    source.data[z, y, x] = old


def test_round_trip_check_without_encoding_first(photo_widget, qtbot):
    widget = photo_widget
    click(qtbot, widget.check_button)
    wait_idle(qtbot, widget)
    assert widget.check_result.startswith("identical")
    assert widget.last is not None and widget.runs_label.text() != "-"


def test_first_difference():
    a = np.zeros((2, 3), np.uint8)
    b = a.copy()
    assert first_difference(a, b).startswith("identical (6 voxels")
    b[1, 2] = 4
    b[1, 0] = 9
    assert first_difference(a, b) == "differs at (1, 0): layer 0, decoded 9 (2 voxels differ)"
    assert first_difference(a, b[:1]).startswith("shapes differ")


def test_corrupt_file_and_missing_path_show_a_message(viewer, qtbot, tmp_path):
    widget = RLEWidget(viewer)
    viewer.window.add_dock_widget(widget, name="RLE masks")
    bad = tmp_path / "corrupt.rle.json"
    bad.write_text('{"size": [3, 3], "values": [1, 2], "counts": [4, 4]}')
    widget.path_edit.setText(str(bad))
    click(qtbot, widget.decode_file_button)
    wait_idle(qtbot, widget)
    text = widget.message_label.text()
    assert "corrupt.rle.json" in text and "sum to 8" in text
    assert "color: #e0504d" in widget.message_label.styleSheet()
    assert len(viewer.layers) == 0
    broken = tmp_path / "broken.rle.json"
    broken.write_text("{oops")
    widget.decode_file(broken)
    wait_idle(qtbot, widget)
    assert "not a valid JSON" in widget.message_label.text()
    widget.decode_file(tmp_path / "missing.rle.json")
    wait_idle(qtbot, widget)
    assert "no such file" in widget.message_label.text()
    widget.path_edit.setText("")
    click(qtbot, widget.decode_file_button)
    assert "Choose an .rle.json file" in widget.message_label.text()
    assert widget.worker is None and len(viewer.layers) == 0


def test_non_integer_and_rgb_layers_are_refused_with_a_message(photo_widget, qtbot, viewer):
    widget = photo_widget
    viewer.add_image(np.random.default_rng(0).random((8, 8)).astype(np.float32), name="float")
    widget.set_layer(viewer.layers["float"])
    click(qtbot, widget.encode_button)
    assert widget.worker is None
    assert "holds float32 data, not integer labels" in widget.message_label.text()
    widget.set_layer(viewer.layers["photo"])
    click(qtbot, widget.check_button)
    assert "RGB image" in widget.message_label.text()
    assert widget.last is None
    # an integer Image layer (e.g. a mask opened as an image) encodes fine
    viewer.add_image(np.arange(16, dtype=np.uint16).reshape(4, 4) // 5, name="int image")
    widget.set_layer(viewer.layers["int image"])
    click(qtbot, widget.encode_button)
    wait_idle(qtbot, widget)
    assert widget.last.runs == len(rle.encode(viewer.layers["int image"].data)["counts"])


def test_worker_reports_progress_and_the_ui_stays_responsive(photo_widget, qtbot, monkeypatch):
    """A slow encode (our own core, slowed down) runs off the GUI thread with a progress bar."""
    widget = photo_widget
    real_encode = rle.encode
    threads = []

    def slow_encode(mask, *, compact=False, progress=None):
        if progress is None:  # the widget's numba warm-up on a tiny array
            return real_encode(mask, compact=compact)
        threads.append(threading.current_thread())
        for i in range(10):
            time.sleep(0.03)
            progress(i + 1, 10)
        return real_encode(mask, compact=compact)

    monkeypatch.setattr(rle, "encode", slow_encode)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(widget.progress_bar.value()))
    timer.start(10)
    click(qtbot, widget.encode_button)
    assert widget.worker is not None and widget.progress_bar.isVisible()
    assert not widget.encode_button.isEnabled() and not widget.check_button.isEnabled()
    click_while_busy = widget.encode()
    assert click_while_busy is None and "Busy" in widget.message_label.text()
    wait_idle(qtbot, widget)
    timer.stop()
    assert threads and threads[0] is not threading.main_thread()
    assert len(ticks) >= 3  # the event loop kept running during the 0.3 s of work
    assert max(ticks) >= 5  # and saw the progress bar advance
    assert not widget.progress_bar.isVisible() and widget.encode_button.isEnabled()
    assert widget.last is not None


def test_save_and_decode_last_need_an_encoding(viewer, qtbot, tmp_path):
    widget = RLEWidget(viewer)
    viewer.window.add_dock_widget(widget, name="RLE masks")
    assert widget.save(tmp_path / "x") is None
    assert "encode a layer first" in widget.message_label.text()
    assert widget.decode_last() is None
    assert not list(tmp_path.iterdir())


def test_statistics_follow_the_layer_shown(photo_widget, qtbot, photo, viewer):
    widget = photo_widget
    _, mask = photo
    click(qtbot, widget.encode_button)
    wait_idle(qtbot, widget)
    runs = f"{len(rle.encode(mask)['counts']):,}"
    assert widget.runs_label.text() == runs
    other = viewer.add_labels(np.zeros((8, 8), np.uint8), name="empty")
    widget.set_layer(other)
    assert widget.runs_label.text() == "-"  # not the photo mask's numbers
    widget.set_layer(viewer.layers["photo mask"])
    assert widget.runs_label.text() == runs
