"""Time-lapse Labels layers in the Voxel index dock, in a real viewer: every time point
indexed, the dock on the one shown, the table's t column, the slider followed."""

from __future__ import annotations

import numpy as np
import pytest

from labelprep import LabelIndex
from labelprep._napari.index_widget import VoxelIndexWidget

from .test_index_widget import wait_idle


@pytest.fixture
def movie():
    from labelprep.samples import cells_3d

    frames = [cells_3d(shape=(12, 64, 64), n_cells=20, seed=s)[1] for s in (1, 2, 3)]
    return np.stack(frames)  # (t, z, y, x)


def make(viewer, qtbot, movie, **kwargs):
    layer = viewer.add_labels(movie.copy(), name="movie", axis_labels=("t", "z", "y", "x"),
                              **kwargs)
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.layer is layer and "time" not in widget.message_label.text()
    widget.build_index()
    wait_idle(qtbot, widget)
    assert widget.timelapse is not None, widget.message_label.text()
    return widget, layer


def test_each_time_point_indexed_and_the_dock_follows_the_slider(viewer, qtbot, movie):
    widget, layer = make(viewer, qtbot, movie)
    assert len(widget.timelapse.frames) == 3
    t = int(viewer.dims.current_step[0])  # napari starts in the middle
    assert widget.frame_t == t
    fresh = LabelIndex.build(movie[t])
    np.testing.assert_array_equal(widget.index.labels, fresh.labels)
    assert widget.model.columns[0] == "t" and set(widget.model.frame["t"]) == {t}
    viewer.dims.set_current_step(0, 2)
    assert widget.frame_t == 2
    np.testing.assert_array_equal(widget.index.counts, LabelIndex.build(movie[2]).counts)
    assert set(widget.model.frame["t"]) == {2}


def test_select_object_moves_the_time_slider_and_slices(viewer, qtbot, movie):
    widget, layer = make(viewer, qtbot, movie)
    ids, counts = np.unique(movie[1][movie[1] != 0], return_counts=True)
    L = int(ids[np.argmax(counts)])
    assert widget.select_object(1, L)
    assert int(viewer.dims.current_step[0]) == 1 and widget.frame_t == 1
    planes = np.bincount(np.argwhere(movie[1] == L)[:, 0])
    assert int(viewer.dims.current_step[1]) == int(np.argmax(planes))
    assert layer.selected_label == L
    assert not widget.select_object(7, L) and "not in 0..2" in widget.message_label.text()


def test_measure_and_edit_one_time_point(viewer, qtbot, movie):
    widget, layer = make(viewer, qtbot, movie, scale=(1, 2.0, 1.0, 1.0))
    viewer.dims.set_current_step(0, 0)
    assert widget.frame_t == 0
    assert widget.measure_panel.spacing_edit.text() == "2, 1, 1"
    widget.measure_panel.set_properties(["area"])
    widget.measure_objects()
    wait_idle(qtbot, widget)
    want = LabelIndex.build(movie[0]).measure(spacing=(2.0, 1.0, 1.0), properties=["area"])
    np.testing.assert_allclose(widget.model.frame["area"], want["area"])
    L = int(widget.index.labels[3])
    before = layer.data.copy()
    widget.state.set_selection([L])
    result = widget.delete_selected()
    assert result is not None and result.voxels == int((before[0] == L).sum())
    expected = before.copy()
    expected[0][before[0] == L] = 0
    np.testing.assert_array_equal(layer.data, expected)  # only time point 0 changed
    np.testing.assert_array_equal(widget.index.labels, LabelIndex.build(layer.data[0]).labels)
    layer.undo()
    np.testing.assert_array_equal(layer.data, before)
    assert L in widget.index and not widget.stale


def test_time_axis_elsewhere_is_refused_with_what_to_do(viewer, qtbot, movie):
    layer = viewer.add_labels(np.moveaxis(movie, 0, 1), name="m",
                              axis_labels=("z", "t", "y", "x"))
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.layer is layer
    assert widget.build_index() is None
    assert "put time first" in widget.message_label.text()


def click_row(qtbot, widget, row):
    from qtpy.QtCore import Qt

    table = widget.table
    index = widget.model.index(row, 1)
    table.scrollTo(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualRect(index).center())


def test_the_table_lists_every_time_point_and_a_row_moves_the_slider(viewer, qtbot, movie):
    widget, layer = make(viewer, qtbot, movie)
    panel, model = widget.objects_panel, widget.model
    assert panel.all_times_check.isVisible() and panel.all_times()
    t0 = widget.frame_t
    sizes = [len(LabelIndex.build(f)) for f in movie]
    assert len(model.full_frame) == model.rowCount() == sum(sizes)
    assert model.full_frame["t"].tolist() == sum(([t] * n for t, n in enumerate(sizes)), [])
    assert set(model.frame["t"]) == {t0} and "(all time points)" in panel.count_label.text()
    # a row of time point 2, clicked: the slider moves there, the object is selected
    ids, counts = np.unique(movie[2][movie[2] != 0], return_counts=True)
    L = int(ids[np.argmax(counts)])
    row = next(r for r in range(model.rowCount())
               if model.time_at(r) == 2 and model.label_at(r) == L)
    click_row(qtbot, widget, row)
    qtbot.waitUntil(lambda: widget.frame_t == 2, timeout=5000)
    assert int(viewer.dims.current_step[0]) == 2
    qtbot.waitUntil(lambda: widget.selected_labels == (L,), timeout=5000)
    assert layer.selected_label == L
    planes = np.bincount(np.argwhere(movie[2] == L)[:, 0])
    assert int(viewer.dims.current_step[1]) == int(np.argmax(planes))
    current = widget.table.currentIndex().row()
    assert (model.time_at(current), model.label_at(current)) == (2, L)
    np.testing.assert_array_equal(widget.index.labels, LabelIndex.build(movie[2]).labels)
    # a row of the shown time point selects without moving
    M = int(model.frame["label"].iloc[0])
    click_row(qtbot, widget, model.row_of_label(M))
    qtbot.waitUntil(lambda: widget.selected_labels == (M,), timeout=5000)
    assert widget.frame_t == 2
    # off: the shown time point only
    panel.all_times_check.setChecked(False)
    assert model.time is None and model.rowCount() == sizes[2]
    assert "(all time points)" not in panel.count_label.text()


def test_each_time_point_keeps_its_marks_and_measurements(viewer, qtbot, movie):
    widget, layer = make(viewer, qtbot, movie)
    viewer.dims.set_current_step(0, 0)
    widget.measure_panel.set_properties(["area"])
    widget.measure_objects()
    wait_idle(qtbot, widget)
    L = int(widget.index.labels[2])
    widget.mark(L, "bad")
    viewer.dims.set_current_step(0, 1)
    assert widget.frame_t == 1 and widget.state.marks == {}  # time point 1's marks
    full = widget.model.full_frame
    t0 = full[full["t"] == 0]
    want = LabelIndex.build(movie[0]).measure(properties=["area"])
    np.testing.assert_allclose(t0["area"], want["area"])  # kept in the table
    assert t0.loc[t0["label"] == L, "review"].tolist() == ["bad"]
    assert full.loc[full["t"] == 1, "area"].isna().all()  # time point 1 not measured
    viewer.dims.set_current_step(0, 0)
    assert widget.state.marks == {L: "bad"}
    np.testing.assert_allclose(widget.model.frame["area"], want["area"])


def test_a_time_points_rows_are_the_same_shown_or_not(viewer, qtbot, movie):
    """The rows of a time point are composed the same way (t, measurements, review) when
    it is the shown one and when another is shown."""
    import pandas as pd

    widget, layer = make(viewer, qtbot, movie)
    viewer.dims.set_current_step(0, 0)
    widget.measure_panel.set_properties(["area"])
    widget.measure_objects()
    wait_idle(qtbot, widget)
    widget.mark(int(widget.index.labels[1]), "fix")
    full = widget.model.full_frame
    shown = full[full["t"] == 0].reset_index(drop=True)
    assert {"t", "area", "review"} <= set(shown.columns)
    assert (shown["review"] == "fix").sum() == 1
    viewer.dims.set_current_step(0, 1)
    assert widget.frame_t == 1
    full = widget.model.full_frame
    other = full[full["t"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(other[shown.columns], shown)


def test_colour_column_follows_label_in_a_time_lapse_as_in_the_cli(viewer, qtbot, movie):
    from labelprep._napari.index_loading import COLOURS_KEY

    top = int(movie.max())
    colours = np.zeros((top + 1, 3), np.uint8)
    colours[1:, 0] = np.arange(1, top + 1)  # id i: (i, 0, 0)
    widget, _ = make(viewer, qtbot, movie, metadata={COLOURS_KEY: colours})
    columns = list(widget.model.columns)
    assert columns[:3] == ["t", "label", "colour"], columns
    row = widget.model.frame.iloc[0]
    assert row["colour"] == f"#{int(row['label']):02x}0000"
