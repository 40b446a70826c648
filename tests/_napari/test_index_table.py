"""The object table model: sort, size filter and lookups, and the all-time-points table
whose lookups stay on one time point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

from labelprep._napari.index_table import ObjectTableModel


def table(t, labels, voxels):
    return pd.DataFrame({"t": np.full(len(labels), t, np.int64),
                         "label": np.asarray(labels, np.int64),
                         "voxels": np.asarray(voxels, np.int64)})


@pytest.fixture
def frames():
    return [table(0, [1, 2, 5], [10, 20, 30]), table(1, [2, 3], [40, 5]),
            table(2, [1, 7, 9], [8, 60, 70])]


def test_one_table_lookups_sort_and_filter(qtbot, frames):
    model = ObjectTableModel()
    model.set_table(frames[0])
    assert model.time is None and model.rowCount() == 3
    assert [model.row_of_label(L) for L in (1, 2, 5, 4)] == [0, 1, 2, -1]
    model.sort(model.columns.index("voxels"), Qt.SortOrder.DescendingOrder)
    assert model.display_labels().tolist() == [5, 2, 1] and model.row_of_label(5) == 0
    model.set_size_range(15, None)
    assert model.visible_labels().tolist() == [2, 5] and model.row_of_label(1) == -1


def test_all_time_points_table_shows_every_row_and_looks_up_one_time_point(qtbot, frames):
    model = ObjectTableModel()
    model.set_table(pd.concat(frames, ignore_index=True), time=1)
    assert model.rowCount() == 8 and model.time == 1
    assert [model.time_at(r) for r in range(8)] == [0, 0, 0, 1, 1, 2, 2, 2]
    # lookups are those of time point 1: label 2 is its row, label 1 is not in it
    assert model.row_of_label(2) == 3 and model.row_of_label(3) == 4
    assert model.row_of_label(1) == -1 and model.row_of_label(9) == -1
    assert model.frame["label"].tolist() == [2, 3] and len(model.full_frame) == 8
    assert model.display_labels().tolist() == [2, 3]
    model.set_cell(3, "voxels", 99)  # time point 1's label 3, not another's
    assert model.full_frame["voxels"].tolist() == [10, 20, 30, 40, 99, 8, 60, 70]
    assert model.frame["voxels"].tolist() == [40, 99]
    model.sort(model.columns.index("voxels"), Qt.SortOrder.DescendingOrder)
    assert [(model.time_at(r), model.label_at(r)) for r in range(3)] == [(1, 3), (2, 9),
                                                                         (2, 7)]
    assert model.display_labels().tolist() == [3, 2] and model.row_of_label(3) == 0
    model.set_size_range(None, 35)
    assert model.rowCount() == 4 and model.visible_labels().tolist() == []


def test_all_time_points_table_needs_t_in_order(qtbot, frames):
    model = ObjectTableModel()
    with pytest.raises(ValueError, match="'t' column"):
        model.set_table(frames[0].drop(columns="t"), time=0)
    with pytest.raises(ValueError, match="in 't' order"):
        model.set_table(pd.concat(frames[::-1], ignore_index=True), time=0)
    model.set_table(pd.concat(frames, ignore_index=True), time=5)  # a time with no rows
    assert model.rowCount() == 8 and model.frame.empty and model.row_of_label(1) == -1
