"""The manifest's Layers > Measure commands, run as napari runs them, in a real viewer.

Each command is run by triggering its item in the window's *Layers > Measure* menu
(``viewer.window.layers_menu``), so napari's app-model injects the arguments from its own
providers (the current viewer, the active layer), exactly as when a user clicks it.
"""

from __future__ import annotations

import napari
import npe2
import numpy as np
import pytest
from app_model.expressions import parse_expression

from labelprep import LabelIndex
from labelprep._napari._compat import dock_widgets
from labelprep._napari.menu_commands import MEASURE_PROPERTIES
from labelprep.measure import measure

PLUGIN = "napari-labelprep"
MENU = "napari/layers/measure"
COMMANDS = {  # command id: the title napari shows (the manifest's, plus the plugin's name)
    "napari-labelprep.index_objects": "Index objects (Voxel index dock) (Label Prep)",
    "napari-labelprep.measure_objects": "Measure objects into layer features (Label Prep)",
}
TIMEOUT = 20_000


def _labels():
    rng = np.random.default_rng(0)
    stack = np.zeros((12, 40, 48), dtype=np.uint16)
    for label in range(1, 31):
        z, y, x = rng.integers(0, 9), rng.integers(0, 34), rng.integers(0, 42)
        stack[z:z + 3, y:y + 6, x:x + 6] = label
    return stack


def _measure_menu_actions(viewer) -> dict:
    """The items of the window's Layers > Measure menu, by their text."""
    (measure_menu,) = [
        action.menu() for action in viewer.window.layers_menu.actions()
        if action.menu() is not None and action.text().replace("&", "") == "Measure"
    ]
    return {action.text(): action for action in measure_menu.actions()}


def _click(viewer, command_id, qtbot) -> None:
    _measure_menu_actions(viewer)[COMMANDS[command_id]].trigger()
    qtbot.wait(10)


def _dock(viewer, name):
    found = [w for title, w in dock_widgets(viewer.window).items() if name in title]
    return found[0] if found else None


@pytest.fixture
def labels_viewer(viewer):
    viewer.add_image(np.zeros((12, 40, 48), dtype=np.float32), name="image")
    layer = viewer.add_labels(_labels(), name="objects", scale=(2.0, 0.5, 0.5))
    viewer.layers.selection.active = layer
    return viewer, layer


def test_menu_lists_both_commands_enabled_only_for_labels(labels_viewer):
    viewer, _ = labels_viewer
    actions = _measure_menu_actions(viewer)
    for title in COMMANDS.values():
        assert title in actions, sorted(actions)
    manifest = npe2.PluginManifest.from_distribution(PLUGIN)
    assert [item.command for item in manifest.contributions.menus[MENU]] == list(COMMANDS)
    enablement = {c.id: c.enablement for c in manifest.contributions.commands}
    for command_id in COMMANDS:
        expression = parse_expression(enablement[command_id])
        assert expression.eval({"active_layer_type": "labels"})
        assert not expression.eval({"active_layer_type": "image"})
        assert not expression.eval({"active_layer_type": None})


def test_measure_objects_fills_the_features_of_the_active_layer(labels_viewer, qtbot):
    viewer, layer = labels_viewer
    _click(viewer, "napari-labelprep.measure_objects", qtbot)
    expected = measure(LabelIndex.build(layer.data), spacing=(2.0, 0.5, 0.5),
                       properties=MEASURE_PROPERTIES)
    assert list(layer.features["label"]) == list(np.unique(layer.data)[1:])
    np.testing.assert_array_equal(layer.features["index"], layer.features["label"])
    for column in expected.columns:
        np.testing.assert_allclose(layer.features[column], expected[column], err_msg=column)
    assert len(layer.features) == 30
    # area is physical: voxels x prod(scale)
    first = int(layer.features["label"].iloc[0])
    voxels = np.count_nonzero(layer.data == first)
    assert layer.features["area"].iloc[0] == pytest.approx(voxels * 2.0 * 0.5 * 0.5)
    # napari's features table is docked beside (napari >= 0.6 has one)
    from packaging.version import Version

    if Version(napari.__version__) >= Version("0.6"):
        assert _dock(viewer, "Features table") is not None


def test_index_objects_docks_the_voxel_index_on_the_active_layer(labels_viewer, qtbot):
    viewer, layer = labels_viewer
    _click(viewer, "napari-labelprep.index_objects", qtbot)
    widget = _dock(viewer, "Voxel index")
    assert widget is not None
    assert widget.layer is layer
    qtbot.waitUntil(lambda: not widget.busy and widget.index is not None, timeout=TIMEOUT)
    np.testing.assert_array_equal(widget.index.labels, np.unique(layer.data)[1:])
    # run again on the current index: the same dock, nothing rebuilt
    index = widget.index
    _click(viewer, "napari-labelprep.index_objects", qtbot)
    assert _dock(viewer, "Voxel index") is widget
    assert widget.index is index and not widget.busy


@pytest.mark.parametrize("command_id", list(COMMANDS))
def test_commands_refuse_a_non_labels_layer(labels_viewer, command_id, monkeypatch, qtbot):
    from labelprep._napari import menu_commands

    viewer, layer = labels_viewer
    viewer.layers.selection.active = viewer.layers["image"]
    features_before = layer.features.copy()
    warned = []
    monkeypatch.setattr(menu_commands, "show_warning", warned.append)
    _click(viewer, command_id, qtbot)
    assert len(warned) == 1 and "needs a selected Labels layer" in warned[0], warned
    assert "'image' is not a Labels layer" in warned[0]
    assert layer.features.equals(features_before)
    assert _dock(viewer, "Voxel index") is None


def test_measure_objects_keeps_other_plugins_feature_columns(labels_viewer, qtbot):
    viewer, layer = labels_viewer
    ids = np.unique(layer.data)[1:]
    layer.features = {"label": ids[::-1], "cluster": np.arange(ids.size)[::-1]}
    _click(viewer, "napari-labelprep.measure_objects", qtbot)
    features = layer.features.set_index("label")
    np.testing.assert_array_equal(features.loc[ids, "cluster"], np.arange(ids.size))
    assert "area" in features
