"""Review mode of the Voxel index dock in a real viewer: queue, Next / Previous, marks
saved and reloaded, key bindings, shift-click multi-selection, slices kept or chosen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

from labelprep._napari.index_review import KEYS
from labelprep._napari.index_widget import VoxelIndexWidget

from .test_index_widget import click, make_widget, wait_idle


def planes_of(labels, L):
    return np.bincount(np.argwhere(labels == L)[:, 0], minlength=labels.shape[0])


def test_next_previous_follow_the_table_order_and_slice_to_the_biggest_plane(
        viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # biggest first
    ids, counts = np.unique(labels[labels != 0], return_counts=True)
    size = dict(zip(ids.tolist(), counts.tolist()))
    seen = [widget.next_object() for _ in range(4)]
    assert seen == widget.model.display_labels()[:4].tolist()
    assert [size[L] for L in seen] == np.sort(counts)[::-1][:4].tolist()  # ties any order
    assert widget.selected_labels == (seen[-1],) and layer.selected_label == seen[-1]
    assert widget.current_row_label() == seen[-1]
    # the slice shown is the plane where the object has most voxels
    assert int(viewer.dims.point[0]) == int(np.argmax(planes_of(labels, seen[-1])))
    assert widget.previous_object() == seen[-2]
    widget.set_size_range(int(np.median(counts)), None)  # the filter narrows the queue
    queue = widget.review_queue()
    assert set(queue.tolist()) == set(ids[counts >= np.median(counts)].tolist())
    assert "0 of" in widget.review_panel.summary_label.text()


def test_marks_go_to_features_and_table_and_reload_from_csv(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    first = widget.next_object()
    widget.review_panel.mark_buttons["fix"].click()  # marks, then goes to the next
    second = widget.focus_label
    assert second != first
    widget.mark(second, "ok")
    features = layer.features.set_index("label")
    assert features.loc[first, "review"] == "fix" and features.loc[second, "review"] == "ok"
    row = widget.model.row_of_label(first)
    column = widget.model.columns.index("review")
    assert widget.model.index(row, column).data() == "fix"
    assert widget.review_panel.summary_label.text().startswith(f"2 of {len(widget.index)} reviewed")
    with pytest.raises(ValueError, match="mark must be one of"):
        widget.mark(first, "maybe")
    out = tmp_path / "review.csv"
    assert widget.save_marks(out) == out
    saved = pd.read_csv(out)
    assert dict(zip(saved["label"], saved["review"])) == {first: "fix", second: "ok"}
    # the next day: a new dock on the same layer resumes the review
    widget.close()
    again = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(again)
    again.build_index()
    wait_idle(qtbot, again)
    assert again.load_marks(out) == 2
    assert again.state.marks == {first: "fix", second: "ok"}
    assert layer.features.set_index("label").loc[first, "review"] == "fix"
    bad = tmp_path / "bad.csv"
    bad.write_text("label,review\n3,perhaps\n")
    assert again.load_marks(bad) is None
    assert "line 2" in again.message_label.text() and "perhaps" in again.message_label.text()
    bad.write_text("id,mark\n3,ok\n")
    assert again.load_marks(bad) is None and "no column 'label'" in again.message_label.text()


def test_key_bindings_step_and_mark(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    for key in KEYS.values():
        assert key in widget.keys_label.text() if hasattr(widget, "keys_label") else True
        assert key in widget.review_panel.keys_label.text()
    keymap = {str(k): f for k, f in viewer.keymap.items()}
    step = keymap[next(k for k in keymap if k.replace("+", "-").lower() == "alt-n")]
    step(viewer)
    first = widget.focus_label
    assert first == widget.model.label_at(0)
    mark_ok = keymap[next(k for k in keymap if k.replace("+", "-").lower() == "alt-o")]
    mark_ok(viewer)
    assert widget.state.marks == {first: "ok"} and widget.focus_label == widget.model.label_at(1)


def test_shift_click_adds_and_removes_in_2d_and_3d(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    z = labels.shape[0] // 2
    ids = [L for L in np.unique(labels[z]) if L]
    a, b = ids[0], ids[1]
    ya, xa = np.argwhere(labels[z] == a)[0]
    yb, xb = np.argwhere(labels[z] == b)[0]
    viewer.dims.set_point(0, z)
    click(layer, (z, ya, xa), dims_displayed=(1, 2))
    assert widget.selected_labels == (a,)
    assert int(viewer.dims.point[0]) == z  # a click keeps the slice
    click(layer, (z, yb, xb), dims_displayed=(1, 2), modifiers=["Shift"])
    assert widget.selected_labels == (a, b)
    rows = sorted(i.row() for i in widget.table.selectionModel().selectedRows())
    assert sorted(widget.model.label_at(r) for r in rows) == sorted([a, b])
    assert widget.export_labels("selected").tolist() == sorted([a, b])
    click(layer, (z, ya, xa), dims_displayed=(1, 2), modifiers=["Shift"])
    assert widget.selected_labels == (b,)
    # 3D: the ray through the volume finds the first object along the view direction
    viewer.dims.ndisplay = 3
    zz, yy, xx = np.argwhere(labels == a)[0]
    value = layer.get_value((zz, yy, xx), view_direction=[1, 0, 0], dims_displayed=[0, 1, 2],
                            world=True)
    click(layer, (zz, yy, xx), dims_displayed=(0, 1, 2), view_direction=[1, 0, 0],
          modifiers=["Shift"])
    assert widget.selected_labels == (b, int(value))


def test_nothing_selected_exports_nothing(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    assert widget.selected_labels == ()
    assert layer.selected_label == 1 and 1 in widget.index  # napari's default label
    out = tmp_path / "coords.csv"
    assert widget.export_coords_csv(out, scope="selected") is None
    assert not out.exists()
    assert "no object is selected" in widget.message_label.text()


def test_table_csv_follows_the_sort_order(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    out = tmp_path / "table.csv"
    widget.export_table_csv(out, scope="all")
    wait_idle(qtbot, widget)
    df = pd.read_csv(out)
    assert df["label"].tolist() == widget.model.display_labels().tolist()
    assert df["voxels"].is_monotonic_decreasing


def test_flagged_queue_holds_only_flagged_objects(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    widget.review_panel.queue_combo.setCurrentIndex(1)  # flagged only: computes the flags
    wait_idle(qtbot, widget)
    flags = widget.index.flags(labels)
    flagged = flags["label"][flags.select_dtypes(bool).any(axis=1)].to_numpy()
    assert sorted(widget.review_queue().tolist()) == sorted(flagged.tolist())
    if flagged.size:
        assert widget.next_object() in set(flagged.tolist())


def test_foreign_features_columns_survive_build_and_marks(viewer, qtbot, small):
    _, labels = small
    layer = viewer.add_labels(labels, name="cells labels")
    ids = np.unique(labels[labels != 0])
    layer.features = pd.DataFrame({"label": ids[::-1], "cluster": np.arange(ids.size)[::-1]})
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.build_index()
    wait_idle(qtbot, widget)
    features = layer.features.set_index("label")
    assert (features.loc[ids, "cluster"].to_numpy() == np.arange(ids.size)).all()
    assert "voxels" in features and "review" in features
    widget.mark(int(ids[3]), "bad")
    widget.build_index()  # rebuilding updates our columns only
    wait_idle(qtbot, widget)
    features = layer.features.set_index("label")
    assert features.loc[ids[3], "cluster"] == 3 and features.loc[ids[3], "review"] == "bad"


def test_canvas_keeps_half_the_width_at_1280x800(viewer, qtbot, small):
    from labelprep._napari._compat import qt_window
    from labelprep._napari.patches_widget import PatchSamplingWidget
    from labelprep._napari.presize_widget import PresizeWidget
    from labelprep._napari.rle_widget import RLEWidget

    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    window = qt_window(viewer)
    window.resize(1280, 800)
    qtbot.wait(200)
    canvas = window.centralWidget()  # napari's QtViewer: the canvas and the dims sliders
    assert window.width() == 1280
    assert canvas.width() >= 640, f"canvas {canvas.width()} px of a 1280 px window"
    for dock in (RLEWidget, PresizeWidget, PatchSamplingWidget):  # tabbed or stacked
        viewer.window.add_dock_widget(dock(viewer), area="right")
    qtbot.wait(200)
    screen = window.screen().availableGeometry()
    assert window.frameGeometry().width() <= screen.width()
    assert window.frameGeometry().height() <= screen.height()
