from importlib.metadata import distribution
from pathlib import Path

import npe2

import labelprep


def test_manifest_validates_and_names_match_distribution():
    manifest = npe2.PluginManifest.from_distribution("napari-labelprep")
    assert manifest.name == distribution("napari-labelprep").metadata["Name"]
    widget_names = {w.display_name for w in manifest.contributions.widgets}
    assert widget_names == {"Voxel index", "RLE masks", "Presize preview", "Patch sampling"}
    assert {s.key for s in manifest.contributions.sample_data} == {"cells3d", "photo2d"}
    for command in manifest.contributions.commands:
        assert command.id.startswith("napari-labelprep.")
        # every python_name must import
        module, _, attr = command.python_name.partition(":")
        __import__(module)


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
