"""Edits of the Voxel index dock in a real viewer: each edit changes the layer in place,
keeps the index equal to a fresh build, and is one step of napari's own undo / redo."""

from __future__ import annotations

import numpy as np
import pytest

from labelprep import LabelIndex

from .test_index_widget import make_widget


def assert_index_matches(widget, layer):
    fresh = LabelIndex.build(layer.data)
    idx = widget.index
    np.testing.assert_array_equal(idx.labels, fresh.labels)
    np.testing.assert_array_equal(idx.counts, fresh.counts)
    np.testing.assert_array_equal(idx.voxel_indices, fresh.voxel_indices)
    np.testing.assert_array_equal(idx.bboxes, fresh.bboxes)
    assert not widget.stale
    assert widget.model.rowCount() == len(fresh)


def two_objects(labels):
    ids, counts = np.unique(labels[labels != 0], return_counts=True)
    order = ids[np.argsort(counts)[::-1]]
    return int(order[3]), int(order[4])


@pytest.mark.parametrize("edit", ["delete", "merge", "split", "relabel", "remove_small"])
def test_each_edit_then_napari_undo_and_redo(viewer, qtbot, small, edit):
    _, labels = small
    data = labels.copy()
    a, b = two_objects(data)
    if edit == "split":  # make a two-piece object: a copy of b's voxels far from b
        zz, yy, xx = np.nonzero(data == b)
        data[data == a] = 0
        data[zz[:5], yy[:5], 0] = b  # a sliver at the image border, not touching b
        data[:, :, 1] = np.where(data[:, :, 1] == b, 0, data[:, :, 1])
    widget, layer = make_widget(viewer, qtbot, data)
    before = layer.data.copy()
    widget.state.set_selection([a, b] if edit in ("merge", "delete") else [b])
    result = {
        "delete": lambda: widget.delete_selected(),
        "merge": lambda: widget.merge_selected(),
        "split": lambda: widget.split_selected(),
        "relabel": lambda: widget.relabel_selected(999),
        "remove_small": lambda: widget.remove_small(60),
    }[edit]()
    assert result is not None and result.voxels > 0, widget.message_label.text()
    after = layer.data.copy()
    expected = before.copy()
    if edit == "delete":
        expected[np.isin(before, [a, b])] = 0
        np.testing.assert_array_equal(after, expected)
    elif edit == "merge":
        expected[np.isin(before, [a, b])] = min(a, b)
        np.testing.assert_array_equal(after, expected)
    elif edit == "relabel":
        expected[before == b] = 999
        np.testing.assert_array_equal(after, expected)
    elif edit == "remove_small":
        ids, counts = np.unique(before[before != 0], return_counts=True)
        expected[np.isin(before, ids[counts < 60])] = 0
        np.testing.assert_array_equal(after, expected)
    else:  # split: the new piece got a new label, the rest unchanged
        assert len(result.added) == 1
        assert set(np.unique(after[before == b]).tolist()) == {b, result.added[0]}
    assert_index_matches(widget, layer)
    layer.undo()  # napari's own Ctrl+Z
    np.testing.assert_array_equal(layer.data, before)
    assert_index_matches(widget, layer)
    layer.redo()
    np.testing.assert_array_equal(layer.data, after)
    assert_index_matches(widget, layer)
    layer.undo()
    assert_index_matches(widget, layer)


def test_edits_need_a_selection_and_a_fresh_index(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    assert widget.delete_selected() is None
    assert "Select an object" in widget.message_label.text()
    a, b = two_objects(labels)
    widget.state.set_selection([a])
    assert widget.merge_selected() is None and "2 objects" in widget.message_label.text()
    z, y, x = np.argwhere(labels == 0)[0]
    layer.paint((z, y, x), 77, refresh=True)  # a brush stroke: the index is stale
    assert widget.stale and widget.edit_session is None
    assert widget.delete_selected() is None and "stale" in widget.message_label.text()
    assert not widget.edit_panel.delete_button.isEnabled()


def test_a_paint_stroke_after_an_edit_is_not_taken_for_it(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    a, _ = two_objects(labels)
    widget.state.set_selection([a])
    widget.delete_selected()
    assert_index_matches(widget, layer)
    z, y, x = np.argwhere(layer.data == 0)[0]
    layer.paint((z, y, x), 77, refresh=True)
    assert widget.stale
    layer.undo()  # undoes the stroke, not our edit: still stale until rebuilt
    assert widget.stale


def test_real_key_presses_edit_and_undo(viewer, qtbot, small):
    """Alt+D deletes the selection and Ctrl+Z undoes it, as typed on the canvas."""
    from qtpy.QtCore import Qt

    from labelprep._napari._compat import canvas_widget

    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    a, _ = two_objects(labels)
    widget.select_label(a)
    before = layer.data.copy()
    canvas = canvas_widget(viewer)
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: a not in widget.index, timeout=5000)
    assert not (layer.data == a).any()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: a in widget.index, timeout=5000)
    np.testing.assert_array_equal(layer.data, before)
    assert_index_matches(widget, layer)
    queue = widget.review_queue().tolist()
    qtbot.keyClick(canvas, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)  # review: Next
    assert widget.focus_label == queue[queue.index(a) + 1]


def test_relabel_and_remove_small_have_key_bindings(viewer, qtbot, small):
    _, labels = small
    widget, layer = make_widget(viewer, qtbot, labels)
    keymap = {str(k).replace("+", "-").lower(): f for k, f in viewer.keymap.items()}
    a, _ = two_objects(labels)
    widget.select_label(a)
    widget.edit_panel.relabel_value.setValue(901)
    keymap["alt-l"](viewer)
    assert 901 in widget.index and a not in widget.index
    assert (layer.data == 901).sum() == (labels == a).sum()
    ids, counts = np.unique(layer.data[layer.data != 0], return_counts=True)
    widget.edit_panel.min_voxels.setValue(int(np.median(counts)))
    keymap["alt-r"](viewer)
    assert widget.index.counts.min() >= int(np.median(counts))
    assert_index_matches(widget, layer)
