"""The Voxel index dock's Qt-free model: selection, queue, marks, features merge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelprep import LabelIndex
from labelprep._napari.index_model import IndexDockModel, merge_features


@pytest.fixture
def model():
    m = IndexDockModel()
    m.set_index(LabelIndex.build(np.array([[1, 0, 2], [3, 3, 0], [0, 5, 5]])))
    return m


def test_selection_keeps_order_drops_unknown_and_toggles(model):
    seen = []
    model.selection_changed.connect(seen.append)
    model.set_selection([3, 9, 1, 3])
    assert model.selected == (3, 1) and seen == [(3, 1)]
    model.toggle(5)
    model.toggle(3)
    assert model.selected == (1, 5)
    model.set_selection([1, 5])  # unchanged: no signal
    assert len(seen) == 3


def test_queue_steps_and_ends(model):
    model.set_queue([5, 1, 3])
    assert model.next_in_queue() == 5 and model.previous_in_queue() == 3
    assert model.next_in_queue(5) == 1 and model.next_in_queue(3) is None
    assert model.previous_in_queue(5) is None and model.next_in_queue(2) == 5


def test_marks_summary_and_errors(model):
    model.set_queue([1, 2, 3])
    model.mark(1, "ok")
    model.mark(5, "bad")  # not in the queue: not counted
    assert model.review_summary() == "1 of 3 reviewed (1 ok, 0 fix, 0 bad)"
    model.mark(1, None)
    assert 1 not in model.marks
    with pytest.raises(ValueError, match="mark must be one of"):
        model.mark(2, "maybe")
    with pytest.raises(KeyError, match="label 7"):
        model.mark(7, "ok")
    assert model.set_marks({2: "fix", 8: "ok"}) == [8] and model.marks == {2: "fix"}


def test_a_new_index_keeps_marks_and_selection_of_labels_still_there(model):
    model.mark(1, "ok")
    model.mark(2, "bad")
    model.set_selection([1, 2])
    model.set_index(LabelIndex.build(np.array([[1, 0, 0]])))
    assert model.marks == {1: "ok"} and model.selected == (1,)


def test_stale_drops_the_edit_session(model):
    labels = np.array([[1, 0, 2], [3, 3, 0], [0, 5, 5]])
    model.set_index(LabelIndex.build(labels))
    session = model.session(labels)
    assert model.session(labels) is session
    model.mark_stale()
    assert model.edit_session is None
    with pytest.raises(ValueError, match="stale"):
        model.session(labels)


def test_merge_features_keeps_foreign_columns_matched_by_label():
    current = pd.DataFrame({"label": [3, 1, 2], "cluster": [30, 10, 20],
                            "voxels": [0, 0, 0], "index": [3, 1, 2]})
    ours = pd.DataFrame({"label": [1, 2, 4], "voxels": [5, 6, 7], "index": [1, 2, 4]})
    merged = merge_features(current, ours, ["voxels", "index"])
    assert merged["label"].tolist() == [1, 2, 4]
    assert merged["voxels"].tolist() == [5, 6, 7]
    assert merged["cluster"].tolist()[:2] == [10, 20] and np.isnan(merged["cluster"][2])
    assert list(merged.columns) == ["label", "voxels", "index", "cluster"]
    assert merge_features(pd.DataFrame(), ours, []) is not None
