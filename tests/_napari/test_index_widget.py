"""The "Voxel index" dock in a real viewer: load, build, click/table/typed selection, export."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from napari.utils.interactions import (
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)
from qtpy.QtCore import QItemSelectionModel, Qt

from labelprep import LabelIndex
from labelprep._napari._compat import camera
from labelprep._napari.index_widget import VoxelIndexWidget

from .conftest import mouse_event

TIMEOUT = 30_000  # ms


# ---------------------------------------------------------------- helpers
def wait_idle(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT)


def make_widget(viewer, qtbot, labels, image=None, build=True, **layer_kwargs):
    if image is not None:
        viewer.add_image(image, name="cells image", **layer_kwargs)
    layer = viewer.add_labels(np.array(labels), name="cells labels", **layer_kwargs)
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Voxel index")
    assert widget.layer is layer
    if build:
        widget.build_index()
        wait_idle(qtbot, widget)
        assert widget.index is not None, widget.message_label.text()
    return widget, layer


def click(layer, position, *, dims_displayed, view_direction=None, drag_to=None,
          modifiers=()):
    """Simulate press (+ optional drag) + release on ``layer`` like napari's own tests."""
    common = {"view_direction": view_direction, "dims_displayed": list(dims_displayed),
              "modifiers": list(modifiers)}
    press = mouse_event(
        type="mouse_press", position=tuple(position), pos=np.zeros(2), **common
    )
    mouse_press_callbacks(layer, press)
    if drag_to is not None:
        move = mouse_event(
            type="mouse_move",
            is_dragging=True,
            position=tuple(position),
            pos=np.asarray(drag_to, float),
            **common,
        )
        mouse_move_callbacks(layer, move)
    release = mouse_event(
        type="mouse_release",
        position=tuple(position),
        pos=np.zeros(2) if drag_to is None else np.asarray(drag_to, float),
        **common,
    )
    mouse_release_callbacks(layer, release)


def bbox_centre(labels, label):
    coords = np.argwhere(labels == label)
    return (coords.min(0) + coords.max(0)) / 2.0


def pick_object(labels, rank=10):
    """A mid-sized object (the ``rank``-th largest): big enough to click, not the biggest."""
    ids, counts = np.unique(labels[labels != 0], return_counts=True)
    return int(ids[np.argsort(counts)[::-1][rank]])


# ----------------------------------------------------------- layers / build
def test_layer_combo_follows_viewer_layers(viewer, qtbot, small):
    image, labels = small
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.layer is None and widget.layer_combo.count() == 0
    assert not widget.build_button.isEnabled()
    viewer.add_image(image, name="img")
    a = viewer.add_labels(labels, name="a")
    assert widget.layer is a
    b = viewer.add_labels(labels.copy(), name="b")
    assert widget.layer is b  # a newly added Labels layer becomes the target
    names = [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]
    assert names == ["a", "b", "img (image)"]
    widget.layer_combo.setCurrentIndex(0)
    assert widget.layer is a
    viewer.layers.remove(a)
    assert widget.layer is b
    b.name = "renamed"
    assert widget.layer_combo.currentText() == "renamed"


def test_build_on_cells3d_sample(viewer, qtbot, cells):
    image, labels = cells
    widget, layer = make_widget(viewer, qtbot, labels, image)
    ids, counts = np.unique(labels[labels != 0], return_counts=True)
    idx = widget.index
    np.testing.assert_array_equal(idx.labels, ids)
    assert widget.model.rowCount() == ids.size
    assert f"{ids.size:,}" in widget.status_label.text()
    assert f"{counts.sum():,}" in widget.status_label.text()
    assert "built in" in widget.status_label.text()
    assert not widget.progress_bar.isVisibleTo(widget)
    # table: explicit label column, voxels, bbox, centroid
    assert widget.model.columns[:2] == ["label", "voxels"]
    assert {"z_start", "x_stop", "centroid_y"} <= set(widget.model.columns)
    assert widget.model.label_at(0) == ids[0]
    # layer features with napari's "index" column, so hovering shows the stats
    feats = layer.features
    np.testing.assert_array_equal(feats["index"].to_numpy(), ids)
    np.testing.assert_array_equal(feats["label"].to_numpy(), ids)
    L = pick_object(labels)
    z, y, x = np.argwhere(labels == L)[0]
    viewer.dims.set_point(0, z)  # the status reads the displayed slice
    status = layer.get_status((z, y, x), world=True)
    text = status["coordinates"] if isinstance(status, dict) else status
    assert f"voxels: {counts[ids == L][0]}" in text


def test_build_keeps_viewer_responsive_and_shows_progress(viewer, qtbot, cells):
    _, labels = cells
    widget, _ = make_widget(viewer, qtbot, labels, build=False)
    seen = []
    widget.progress_bar.valueChanged.connect(seen.append)
    worker = widget.build_index()
    assert worker is not None and widget.busy
    assert widget.progress_bar.isVisibleTo(widget)
    assert not widget.build_button.isEnabled()
    wait_idle(qtbot, widget)
    assert widget.index is not None and len(widget.index) > 0
    assert seen, "the progress bar never moved"


# ----------------------------------------------------------------- select
def assert_selected(widget, viewer, layer, labels, L, scale=(1, 1, 1), translate=(0, 0, 0)):
    assert layer.selected_label == L
    assert layer.show_selected_label
    assert widget.current_row_label() == L
    rows = widget.table.selectionModel().selectedRows()
    assert [widget.model.label_at(r.row()) for r in rows] == [L]
    centre = bbox_centre(labels, L) * np.asarray(scale) + np.asarray(translate)
    cam = np.asarray(camera(viewer).center)
    if viewer.dims.ndisplay == 2:
        np.testing.assert_allclose(cam[-2:], centre[-2:], atol=1e-6)
        # the slice cuts the object
        z = round((viewer.dims.point[0] - translate[0]) / scale[0])
        assert np.any(labels[z] == L)
    else:
        np.testing.assert_allclose(cam, centre, atol=1e-6)


def test_click_selects_in_2d(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels)
    z, y, x = np.argwhere(labels == L)[len(np.argwhere(labels == L)) // 2]
    viewer.dims.set_point(0, z)
    before_zoom = camera(viewer).zoom
    click(layer, (z, y, x), dims_displayed=(1, 2))
    assert_selected(widget, viewer, layer, labels, L)
    assert camera(viewer).zoom > before_zoom  # zoomed in on the object
    # clicking the background selects nothing new
    bz, by, bx = np.argwhere(labels == 0)[0]
    viewer.dims.set_point(0, bz)
    click(layer, (bz, by, bx), dims_displayed=(1, 2))
    assert layer.selected_label == L


def test_click_selects_in_2d_with_scale_and_translate(viewer, qtbot, small):
    _, labels = small
    scale, translate = (3.0, 0.5, 0.5), (10.0, -4.0, 7.0)
    widget, layer = make_widget(viewer, qtbot, labels, scale=scale, translate=translate)
    L = pick_object(labels, rank=3)
    vox = np.argwhere(labels == L)[0]
    world = vox * np.asarray(scale) + np.asarray(translate)
    viewer.dims.set_point(0, world[0])
    click(layer, world, dims_displayed=(1, 2))
    assert_selected(widget, viewer, layer, labels, L, scale, translate)


def test_click_selects_on_a_2d_layer(viewer, qtbot, small):
    _, labels = small
    plane = np.ascontiguousarray(labels[12])
    widget, layer = make_widget(viewer, qtbot, plane)
    ids, counts = np.unique(plane[plane != 0], return_counts=True)
    L = int(ids[np.argmax(counts)])
    y, x = np.argwhere(plane == L)[0]
    click(layer, (y, x), dims_displayed=(0, 1))
    assert layer.selected_label == L and widget.current_row_label() == L
    np.testing.assert_allclose(camera(viewer).center[-2:], bbox_centre(plane, L))
    assert widget.model.columns == [
        "label",
        "voxels",
        "y_start",
        "y_stop",
        "x_start",
        "x_stop",
        "centroid_y",
        "centroid_x",
        "review",
    ]


def first_hit_along_z(labels, view_direction):
    """{(y, x): label first met by a ray along z in ``view_direction``} for thick runs."""
    step = 1 if view_direction[0] > 0 else -1
    hits = {}
    for y in range(0, labels.shape[1], 3):
        for x in range(0, labels.shape[2], 3):
            col = labels[:, y, x][::step]
            nz = np.flatnonzero(col)
            if nz.size and nz[0] + 2 < col.size and col[nz[0] + 1] == col[nz[0]] == col[nz[0] + 2]:
                hits[(y, x)] = int(col[nz[0]])
    return hits


def test_click_selects_in_3d(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    viewer.dims.ndisplay = 3
    dims_displayed = tuple(viewer.dims.displayed)
    view = camera(viewer).calculate_nd_view_direction(3, dims_displayed)
    hits = first_hit_along_z(labels, view)
    (y, x), L = next(iter(sorted(hits.items(), key=lambda kv: -np.sum(labels == kv[1]))))
    click(layer, (labels.shape[0] / 2, y, x), dims_displayed=dims_displayed, view_direction=view)
    assert_selected(widget, viewer, layer, labels, L)
    # a table row in 3D centres the camera on the object in all three axes
    M = widget.model.label_at(0)
    widget.table.selectRow(0)
    assert_selected(widget, viewer, layer, labels, M)


def test_drag_pans_without_selecting(viewer, qtbot, small):
    _, labels = small
    _, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels)
    z, y, x = np.argwhere(labels == L)[0]
    viewer.dims.set_point(0, z)
    click(layer, (z, y, x), dims_displayed=(1, 2), drag_to=(40, 25))
    assert layer.selected_label != L


def test_click_in_paint_mode_paints_not_selects(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels)
    z, y, x = np.argwhere(labels == L)[0]
    viewer.dims.set_point(0, z)
    layer.mode = "paint"
    layer.selected_label = 999
    centre = tuple(camera(viewer).center)
    click(layer, (z, y, x), dims_displayed=(1, 2))
    assert layer.selected_label == 999
    assert tuple(camera(viewer).center) == centre
    assert widget.stale  # the click painted


def test_select_via_table_row(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # biggest first
    row = 4
    L = widget.model.label_at(row)
    ids, counts = np.unique(labels[labels != 0], return_counts=True)
    assert counts[ids == L][0] == np.sort(counts)[::-1][row]
    index = widget.model.index(row, 1)
    rect = widget.table.visualRect(index)
    qtbot.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert_selected(widget, viewer, layer, labels, L)
    # keyboard: the next row
    qtbot.keyClick(widget.table, Qt.Key.Key_Down)
    assert layer.selected_label == widget.model.label_at(row + 1)


def test_select_via_typed_id(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels, rank=7)
    widget.label_edit.setText(str(L))
    qtbot.keyClick(widget.label_edit, Qt.Key.Key_Return)
    assert_selected(widget, viewer, layer, labels, L)
    # unknown id and garbage: a message, the selection stays
    widget.label_edit.setText("123456")
    qtbot.mouseClick(widget.go_button, Qt.MouseButton.LeftButton)
    assert (
        "123456" in widget.message_label.text()
        and "not in the index" in widget.message_label.text()
    )
    widget.label_edit.setText("abc")
    qtbot.mouseClick(widget.go_button, Qt.MouseButton.LeftButton)
    assert "not a label id" in widget.message_label.text()
    assert layer.selected_label == L


def test_layer_selection_drives_table(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels, rank=5)
    layer.mode = "pick"
    layer.selected_label = L  # as napari's pick tool or the layer controls do
    assert_selected(widget, viewer, layer, labels, L)
    # while painting, the table follows but the view does not jump
    M = pick_object(labels, rank=6)
    layer.mode = "paint"
    centre = tuple(camera(viewer).center)
    layer.selected_label = M
    assert widget.current_row_label() == M
    assert tuple(camera(viewer).center) == centre


def test_selection_reads_only_the_index_summary(viewer, qtbot, small, monkeypatch):
    """Selecting uses bbox/centroid and a binary search in the object's voxel list:
    no per-voxel coordinates, no rebuilt stack (the benchmark shows it does not grow
    with the stack size)."""
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels)

    def forbidden(*args, **kwargs):
        raise AssertionError("selection must not expand coordinates or rebuild the stack")

    for name in ("coords", "where", "to_labels", "to_dict", "table"):
        monkeypatch.setattr(LabelIndex, name, forbidden)
    assert widget.select_label(L)
    assert layer.selected_label == L
    assert widget.current_row_label() == L


def test_selecting_does_not_mark_the_index_stale(viewer, qtbot, small):
    _, labels = small
    widget, _ = make_widget(viewer, qtbot, labels)
    for rank in (1, 2, 3):
        widget.select_label(pick_object(labels, rank))
    widget.show_selected_check.setChecked(False)
    viewer.dims.ndisplay = 3
    widget.select_label(pick_object(labels, 4))
    assert not widget.stale


# ------------------------------------------------------------ sort / filter
def test_sort_and_size_filter(viewer, qtbot, small):
    _, labels = small
    widget, _ = make_widget(viewer, qtbot, labels)
    ids, counts = np.unique(labels[labels != 0], return_counts=True)
    widget.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    shown = [widget.model.label_at(r) for r in range(widget.model.rowCount())]
    assert [counts[ids == s][0] for s in shown] == sorted(counts)
    lo, hi = int(np.percentile(counts, 25)), int(np.percentile(counts, 75))
    widget.set_size_range(lo, hi)
    keep = ids[(counts >= lo) & (counts <= hi)]
    assert widget.model.rowCount() == keep.size
    assert sorted(widget.model.visible_labels().tolist()) == keep.tolist()
    assert f"{keep.size:,} of {ids.size:,}" in widget.count_label.text()
    # a filtered-out object can still be selected (typed), it just has no row
    small_one = int(ids[np.argmin(counts)])
    assert small_one not in keep
    assert widget.select_label(small_one)
    assert widget.model.row_of_label(small_one) == -1
    assert widget.table.selectionModel().selectedRows() == []
    # the spin boxes drive the same filter
    widget.min_size.setValue(0)
    widget.max_size.setValue(0)
    assert widget.model.rowCount() == ids.size


def test_sorting_keeps_the_selected_row(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels, rank=8)
    widget.select_label(L)
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert widget.current_row_label() == L
    assert layer.selected_label == L


# ----------------------------------------------------------------- export
def select_rows(widget, labels_to_select):
    sel = widget.table.selectionModel()
    sel.clearSelection()
    for L in labels_to_select:
        row = widget.model.row_of_label(L)
        sel.select(
            widget.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )


def expected_coords(labels, chosen):
    rows = [
        np.column_stack([np.full((labels == L).sum(), L), np.argwhere(labels == L)])
        for L in sorted(chosen)
    ]
    return np.concatenate(rows)


def test_export_coords_csv_selected_and_all(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, _ = make_widget(viewer, qtbot, labels)
    chosen = [pick_object(labels, 2), pick_object(labels, 9)]
    select_rows(widget, chosen)
    assert sorted(widget.export_labels("selected").tolist()) == sorted(chosen)
    out = tmp_path / "sel.csv"
    widget.export_coords_csv(out, scope="selected")
    wait_idle(qtbot, widget)
    df = pd.read_csv(out)
    assert list(df.columns) == ["label", "z", "y", "x"]
    np.testing.assert_array_equal(df.to_numpy(), expected_coords(labels, chosen))
    out_all = tmp_path / "all.csv"
    widget.export_coords_csv(out_all, scope="all")
    wait_idle(qtbot, widget)
    df = pd.read_csv(out_all)
    np.testing.assert_array_equal(
        df.to_numpy(), expected_coords(labels, np.unique(labels[labels != 0]))
    )
    assert "Wrote coordinates" in widget.message_label.text()


def test_export_npz_round_trip(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, _ = make_widget(viewer, qtbot, labels)
    L = pick_object(labels, 1)
    widget.select_label(L)
    out = tmp_path / "one.npz"
    widget.export_npz(out, scope="selected")
    wait_idle(qtbot, widget)
    sub = LabelIndex.load(out)
    assert sub.labels.tolist() == [L]
    np.testing.assert_array_equal(sub.coords(L), np.argwhere(labels == L))
    out_all = tmp_path / "all.npz"
    widget.export_npz(out_all, scope="all")
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(LabelIndex.load(out_all).to_labels(), labels)


def test_export_table_csv_shown_rows(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, _ = make_widget(viewer, qtbot, labels)
    ids, counts = np.unique(labels[labels != 0], return_counts=True)
    lo = int(np.median(counts))
    widget.set_size_range(lo, None)
    out = tmp_path / "table.csv"
    widget.export_table_csv(out, scope="shown")
    wait_idle(qtbot, widget)
    df = pd.read_csv(out)
    full = widget.index.table()
    expected = full[full["voxels"] >= lo].reset_index(drop=True)
    assert list(df.columns) == [*full.columns, "review"]  # the review marks: none yet
    assert df["review"].isna().all()
    pd.testing.assert_frame_equal(df.drop(columns="review"), expected, check_dtype=False)
    np.testing.assert_array_equal(df["label"], ids[counts >= lo])


def test_send_voxels_and_centroids_to_points(viewer, qtbot, small):
    _, labels = small
    scale = (2.0, 1.0, 1.0)
    widget, layer = make_widget(viewer, qtbot, labels, scale=scale)
    chosen = [pick_object(labels, 3), pick_object(labels, 4)]
    select_rows(widget, chosen)
    pts = widget.send_voxels_to_points("selected")
    np.testing.assert_array_equal(pts.data, expected_coords(labels, chosen)[:, 1:])
    np.testing.assert_array_equal(pts.scale, scale)
    np.testing.assert_array_equal(pts.features["label"], expected_coords(labels, chosen)[:, 0])
    first = pts.features["label"].to_numpy() == chosen[0]
    np.testing.assert_allclose(
        pts.face_color[first][0], layer.colormap.map(chosen[0]).ravel(), atol=1e-6
    )
    assert pts.face_color[:, 3].min() > 0  # visible, even with "show selected only"
    cen = widget.send_centroids_to_points("all")
    ids = np.unique(labels[labels != 0])
    assert len(cen.data) == ids.size
    k = int(np.searchsorted(ids, chosen[0]))
    np.testing.assert_allclose(cen.data[k], np.argwhere(labels == chosen[0]).mean(0))
    np.testing.assert_array_equal(cen.features["label"], ids)


def test_failed_exports_write_nothing(viewer, qtbot, small, tmp_path):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels, build=False)
    out = tmp_path / "x.csv"
    assert widget.export_coords_csv(out) is None  # no index yet
    assert "Build the index" in widget.message_label.text()
    widget.build_index()
    wait_idle(qtbot, widget)
    layer.selected_label = 0
    widget.table.selectionModel().clearSelection()
    assert widget.export_npz(tmp_path / "x.npz", scope="selected") is None  # nothing selected
    assert "select an object" in widget.message_label.text()
    missing = tmp_path / "no" / "such" / "dir" / "x.csv"
    assert widget.export_table_csv(missing, scope="all") is None
    assert "does not exist" in widget.message_label.text()
    # a write that fails half-way leaves no file and no temp file behind
    (tmp_path / "ro").mkdir()
    target = tmp_path / "ro" / "t.csv"
    target.mkdir()  # a folder where the file should go: os.replace fails
    widget.export_table_csv(target, scope="all")
    wait_idle(qtbot, widget)
    assert "failed" in widget.message_label.text()
    assert [p.name for p in (tmp_path / "ro").iterdir()] == ["t.csv"]
    assert list(tmp_path.glob("x.*")) == []


# ------------------------------------------------------------------ stale
def test_painting_marks_the_index_stale_and_rebuild_fixes_it(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    assert not widget.stale and "stale" not in widget.build_button.text().lower()
    new = int(labels.max()) + 5
    z, y, x = np.argwhere(labels == 0)[0]
    layer.paint((z, y, x), new, refresh=True)
    assert widget.stale
    assert "stale" in widget.build_button.text().lower()
    assert "stale" in widget.status_label.text().lower()
    assert "background-color" in widget.build_button.styleSheet()
    assert new not in widget.index
    widget.build_index()
    wait_idle(qtbot, widget)
    assert not widget.stale and new in widget.index
    assert widget.index.size(new) == int((layer.data == new).sum())


def test_painting_during_a_build_is_reported_not_a_crash(viewer, qtbot, small, monkeypatch):
    """The stack painted on between the build's two passes: the dock says so (no
    traceback, no index built from a half-old, half-new stack)."""
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels, build=False)
    real_build = LabelIndex.build

    def build_while_painting(data, background=0, progress=None, **kwargs):
        def paint_between_passes(done, total):
            if done >= data.size and not paint_between_passes.painted:
                paint_between_passes.painted = True
                data[data == 0] = int(data.max()) + 1  # as a paint stroke would
            if progress is not None:
                progress(done, total)

        paint_between_passes.painted = False
        return real_build(data, background=background, progress=paint_between_passes,
                          **kwargs)

    monkeypatch.setattr(LabelIndex, "build", staticmethod(build_while_painting))
    widget.build_index()
    wait_idle(qtbot, widget)
    text = widget.message_label.text()
    assert "labels changed while the index was being built" in text
    assert "Unexpected" not in text
    assert widget.index is None


def test_undo_and_redo_mark_stale(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    z, y, x = np.argwhere(labels == 0)[0]
    layer.paint((z, y, x), 77, refresh=True)
    widget.build_index()
    wait_idle(qtbot, widget)
    assert not widget.stale and 77 in widget.index
    widget.select_label(77)  # selection refreshes emit set_data: not an edit
    viewer.dims.set_point(0, 3)
    assert not widget.stale
    layer.undo()
    assert widget.stale
    widget.build_index()
    wait_idle(qtbot, widget)
    assert 77 not in widget.index
    layer.redo()
    assert widget.stale


def test_data_setitem_and_data_replacement_mark_stale(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    L = pick_object(labels)
    layer.data_setitem(tuple(np.argwhere(labels == L)[:3].T), 0)
    assert widget.stale
    widget.build_index()
    wait_idle(qtbot, widget)
    assert not widget.stale and widget.index.size(L) == (labels == L).sum() - 3
    layer.data = labels[:, ::-1].copy()
    assert widget.stale


def test_auto_rebuild_after_paint(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    widget.auto_rebuild_check.setChecked(True)
    new = int(labels.max()) + 7
    z, y, x = np.argwhere(labels == 0)[0]
    layer.paint((z, y, x), new, refresh=True)
    qtbot.waitUntil(
        lambda: widget.index is not None and new in widget.index and not widget.busy,
        timeout=TIMEOUT,
    )
    assert not widget.stale


# -------------------------------------------------------------- load / bad input
def test_load_tiff_with_image(viewer, qtbot, small, tmp_path):
    import tifffile

    image, labels = small
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    tifffile.imwrite(tmp_path / "image.tif", image)
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.path_edit.setText(str(tmp_path / "labels.tif"))
    widget.image_edit.setText(str(tmp_path / "image.tif"))
    qtbot.mouseClick(widget.load_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, widget)
    assert [ly.name for ly in viewer.layers] == ["image", "labels"]  # each its file's name
    np.testing.assert_array_equal(viewer.layers["labels"].data, labels)
    np.testing.assert_array_equal(viewer.layers["image"].data, image)
    assert widget.layer is viewer.layers["labels"]
    widget.build_index()
    wait_idle(qtbot, widget)
    assert len(widget.index) == np.unique(labels[labels != 0]).size


def test_load_folder_of_slices_and_npy(viewer, qtbot, small, tmp_path):
    import tifffile

    _, labels = small
    folder = tmp_path / "slices"
    folder.mkdir()
    for z, plane in enumerate(labels):
        tifffile.imwrite(folder / f"z{z}.tif", plane.astype(np.uint16))
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.load_stack(folder)
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(widget.layer.data, labels)
    np.save(tmp_path / "stack.npy", labels)
    widget.load_stack(tmp_path / "stack.npy")
    wait_idle(qtbot, widget)
    assert widget.layer.name == "stack"
    assert not widget.layer.editable  # memory-mapped read-only: no painting
    np.testing.assert_array_equal(widget.layer.data, labels)
    widget.build_index()
    wait_idle(qtbot, widget)
    assert widget.index is not None


def test_bad_files_give_a_message_and_no_layer(viewer, qtbot, tmp_path):
    import tifffile

    (tmp_path / "notes.txt").write_bytes(b"hello")
    (tmp_path / "broken.tif").write_bytes(b"not a tiff at all")
    tifffile.imwrite(
        tmp_path / "grey.tif", np.random.default_rng(0).random((4, 16, 16), dtype=np.float32),
        photometric="minisblack",
    )
    from napari.utils.notifications import notification_manager

    before = sorted(p.name for p in tmp_path.iterdir())
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    for name, expect in [
        ("notes.txt", "cannot read"),
        ("broken.tif", "cannot read"),
        ("missing.tif", "no such file"),
        ("grey.tif", "not integer labels"),  # a grey-level image given as labels
    ]:
        n_notes = len(notification_manager.records)
        widget.load_stack(tmp_path / name)
        wait_idle(qtbot, widget)
        notes = notification_manager.records[n_notes:]
        assert [str(n.severity) for n in notes] == ["error"], notes  # a notification, no traceback
        assert notes[0].message == widget.message_label.text()
        assert expect in widget.message_label.text().lower(), (name, widget.message_label.text())
        assert name in widget.message_label.text()
    assert widget.load_stack("") is None  # no path: a message, nothing started
    assert "choose a labelled stack" in widget.message_label.text().lower()
    assert len(viewer.layers) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_unindexable_layers_are_refused(viewer, qtbot, small):
    _, labels = small
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(
        np.random.default_rng(0).random((8, 32, 32)).astype(np.float32), name="float img"
    )
    assert widget.layer.name == "float img"
    assert widget.build_index() is None
    assert "not integer labels" in widget.message_label.text()
    viewer.layers.clear()
    viewer.add_image(labels, name="ids as image")
    assert widget.build_index() is None
    assert "Convert to Labels" in widget.message_label.text()
    viewer.layers.clear()
    viewer.add_labels(np.stack([labels[:4], labels[4:8]])[None], name="5d")
    assert widget.build_index() is None
    assert "5 dimensions" in widget.message_label.text()
    assert widget.index is None and not widget.busy
    # time series (issue 18): indexed per time point, not as one stack
    viewer.layers.clear()
    viewer.add_labels(labels[:5], name="2d+t", axis_labels=("t", "y", "x"))
    widget.build_index()
    wait_idle(qtbot, widget)
    assert len(widget.timelapse.frames) == 5 and widget.index.ndim == 2


def test_reader_layer_is_used_without_rebuilding(viewer, qtbot, small, tmp_path):
    _, labels = small
    idx = LabelIndex.build(labels)
    idx.save(tmp_path / "objects.npz")
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.open(tmp_path / "objects.npz", plugin="napari-labelprep")
    assert widget.index is not None and not widget.busy
    assert "objects.npz" in widget.status_label.text()
    L = pick_object(labels, 2)
    assert widget.select_label(L)
    assert_selected(widget, viewer, widget.layer, labels, L)


def test_reader_index_is_not_used_after_edits(viewer, qtbot, small, tmp_path):
    _, labels = small
    LabelIndex.build(labels).save(tmp_path / "objects.npz")
    [layer] = viewer.open(tmp_path / "objects.npz", plugin="napari-labelprep")
    layer.paint((3, 5, 5), 99)  # edited before the dock is opened
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.layer is layer and widget.index is None
    assert "Build index" in widget.status_label.text()


def test_lazy_dask_layer_is_indexed_as_is(viewer, qtbot, small):
    da = pytest.importorskip("dask.array")
    _, labels = small
    layer = viewer.add_labels(da.from_array(labels, chunks=(8, 48, 48)), name="lazy")
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.build_index()
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(widget.index.labels, np.unique(labels[labels != 0]))
    L = pick_object(labels, 2)
    assert widget.select_label(L) and layer.selected_label == L


def test_the_layer_cannot_be_painted_while_the_build_reads_it(viewer, qtbot, small, monkeypatch):
    """Issue #16.9: the build reads the layer's own array, so the dock keeps the layer out
    of its painting modes until the build ends (a count-preserving stroke between the
    passes could not be detected), without clearing the layer's undo history."""
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels, build=False)
    z, y, x = np.argwhere(labels == 0)[0]
    layer.paint((z, y, x), 77, refresh=True)
    layer.mode = "paint"
    real_build = LabelIndex.build
    seen = []

    def build_and_try_to_paint(data, background=0, progress=None, **kwargs):
        time.sleep(0.5)  # meanwhile the user picks the fill tool (below): refused
        seen.append(str(layer.mode))
        return real_build(data, background=background, progress=progress, **kwargs)

    monkeypatch.setattr(LabelIndex, "build", staticmethod(build_and_try_to_paint))
    widget.build_index()
    assert str(layer.mode) == "pan_zoom"  # locked before the build started
    layer.mode = "fill"
    qtbot.waitUntil(lambda: str(layer.mode) == "pan_zoom", timeout=5000)
    assert "Painting is paused" in widget.message_label.text()
    wait_idle(qtbot, widget)
    assert seen == ["pan_zoom"]
    assert str(layer.mode) == "paint"  # given back
    assert widget.index is not None and 77 in widget.index
    layer.undo()  # the history survived the build
    assert layer.data[z, y, x] == 0


def test_a_stack_of_intensities_is_indexed_with_a_warning(viewer, qtbot):
    ramp = (np.add.outer(np.arange(40), np.arange(50))[None] * 20 + np.arange(6)[:, None, None])
    widget, layer = make_widget(viewer, qtbot, ramp.astype(np.uint16))
    assert widget.index is not None and len(widget.index) > 100  # not refused
    assert widget.intensity_warning is not None
    assert "intensity image" in widget.message_label.text()


def test_an_export_never_replaces_the_file_the_layer_was_read_from(viewer, qtbot, small, tmp_path):
    """Issue #16.1 in the dock: an export path checked against the layer's source file."""
    import tifffile

    _, labels = small
    src = tmp_path / "labels.tif"
    tifffile.imwrite(src, labels)
    before = src.read_bytes()
    assert viewer.open(src, layer_type="labels")[0].source.path  # the dock takes it
    widget = VoxelIndexWidget(viewer)
    qtbot.addWidget(widget)
    widget.build_index()
    wait_idle(qtbot, widget)
    assert widget.export_table_csv(src, scope="all") is None
    assert "would write over the input" in widget.message_label.text()
    assert src.read_bytes() == before
    assert widget.export_table_csv(tmp_path / "table.csv", scope="all") is not None
    wait_idle(qtbot, widget)
    assert (tmp_path / "table.csv").read_text().startswith("label,")
