import importlib
from importlib.metadata import distribution
from pathlib import Path

import npe2
import pytest

import labelprep


def test_manifest_validates_and_names_match_distribution():
    manifest = npe2.PluginManifest.from_distribution("napari-labelprep")
    assert manifest.name == distribution("napari-labelprep").metadata["Name"]
    widget_names = {w.display_name for w in manifest.contributions.widgets}
    assert widget_names == {"Voxel index", "RLE masks", "Presize preview", "Patch sampling"}
    assert {s.key for s in manifest.contributions.sample_data} == {"cells3d", "photo2d"}
    for command in manifest.contributions.commands:
        assert command.id.startswith("napari-labelprep.")


ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def manifest():
    return npe2.PluginManifest.from_distribution("napari-labelprep")


def test_root_manifest_file_validates(manifest):
    from_file = npe2.PluginManifest.from_file(ROOT / "napari.yaml")
    assert from_file.model_dump() == manifest.model_dump()
    # the categories are napari's (npe2.manifest.schema.Category), Measurement and Dataset
    # among them
    assert {str(c) for c in manifest.categories} >= {"Measurement", "Dataset"}


def test_every_command_resolves_to_a_callable(manifest):
    for command in manifest.contributions.commands:
        module_name, _, attr = command.python_name.partition(":")
        target = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        assert callable(target), command.python_name


def test_every_contribution_points_at_a_declared_command(manifest):
    contributions = manifest.contributions
    ids = {command.id for command in contributions.commands}
    assert len(ids) == len(contributions.commands), "duplicate command id"
    pointers = {
        "widget": [w.command for w in contributions.widgets],
        "reader": [r.command for r in contributions.readers],
        "writer": [w.command for w in contributions.writers],
        "sample": [s.command for s in contributions.sample_data],
        "menu": [item.command for items in contributions.menus.values() for item in items],
    }
    for kind, commands in pointers.items():
        assert commands, f"no {kind} contribution"
        for command in commands:
            assert command in ids, (kind, command)
    # nothing declared and left unused
    used = {command for commands in pointers.values() for command in commands}
    assert ids == used, ids - used


def test_menus_are_napari_contributable_layer_menus(manifest):
    from napari._app_model.constants import MenuId  # napari's own list, to compare only

    contributable = {str(m) for m in MenuId.contributables()}
    assert manifest.contributions.menus, "no menu contribution"
    for menu_id in manifest.contributions.menus:
        assert menu_id in contributable, menu_id
        assert menu_id.startswith("napari/layers/")


def test_plugin_manager_resolves_every_contribution(manifest):
    """Through npe2's plugin manager, as napari does: widgets, samples, readers, writer."""
    pm = npe2.PluginManager.instance()
    pm.discover()
    assert pm.get_manifest("napari-labelprep").model_dump() == manifest.model_dump()
    assert {w.display_name for w in pm.iter_widgets()} >= {"Voxel index", "RLE masks"}
    for widget in pm.get_manifest("napari-labelprep").contributions.widgets:
        assert callable(widget.get_callable())
    for sample in pm.get_manifest("napari-labelprep").contributions.sample_data:
        assert callable(sample.get_callable())
    readers = {r.command for r in pm.iter_compatible_readers(["x.rle.json"])}
    assert "napari-labelprep.get_rle_reader" in readers
    writers = list(pm.iter_compatible_writers(["labels"]))
    assert any(w.command == "napari-labelprep.write_labels_rle" for w in writers)


def test_package_manifest_is_the_root_manifest():
    package_manifest = Path(labelprep.__file__).parent / "napari.yaml"
    root_manifest = Path(__file__).parents[1] / "napari.yaml"
    assert package_manifest.read_text() == root_manifest.read_text()


def test_core_does_not_import_qt_or_napari():
    import subprocess
    import sys

    code = (
        "import sys, labelprep, labelprep.samples, labelprep.cli;"
        "bad = [m for m in ('napari', 'qtpy', 'magicgui', 'PyQt5', 'PyQt6', 'PySide6')"
        " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
