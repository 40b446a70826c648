"""The plugin as napari users get it: built with ``python -m build``, installed from the
wheel into a fresh venv, found by npe2; and ``labelprep demo --screenshot`` writing only
where it is asked to."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "labelprep"
VERSION = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(),
                    re.MULTILINE).group(1)


def _package_files() -> list[str]:
    """The package's source files, relative to src/ ("labelprep/index.py", ...)."""
    return sorted(
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """The sdist and the wheel that ``python -m build`` makes of this checkout (the wheel
    is built from the sdist, so a file missing from the sdist fails the wheel too)."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


@pytest.mark.slow
def test_wheel_holds_the_manifest_license_and_package(dists):
    wheel, _ = dists
    assert wheel.name == f"napari_labelprep-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        # the manifest as a real file with the root manifest's content (not a symlink)
        assert zf.read("labelprep/napari.yaml") == (ROOT / "napari.yaml").read_bytes()
        dist_info = f"napari_labelprep-{VERSION}.dist-info"
        assert zf.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    missing = [name for name in _package_files() if name not in names]
    assert not missing, missing
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "License-File: LICENSE" in metadata
    assert "Classifier: Framework :: napari" in metadata
    assert "Project-URL: Bug Tracker, " in metadata
    assert "napari-labelprep = labelprep:napari.yaml" in entry_points
    assert "labelprep = labelprep.cli:main" in entry_points
    assert not any(name.startswith(("tests/", "docs/")) for name in names)


@pytest.mark.slow
def test_sdist_holds_the_manifest_license_and_package(dists):
    _, sdist = dists
    top = f"napari_labelprep-{VERSION}"
    with tarfile.open(sdist) as tf:
        names = set(tf.getnames())
        assert tf.extractfile(f"{top}/napari.yaml").read() == (
            ROOT / "napari.yaml"
        ).read_bytes()
        assert tf.extractfile(f"{top}/LICENSE").read() == (ROOT / "LICENSE").read_bytes()
    for name in ("pyproject.toml", "README.md", "napari.yaml", "LICENSE"):
        assert f"{top}/{name}" in names, name
    missing = [name for name in _package_files() if f"{top}/src/{name}" not in names]
    assert not missing, missing


FRESH_VENV_CHECK = textwrap.dedent(
    """
    import json
    from importlib.metadata import version
    from pathlib import Path

    import numpy as np
    import npe2
    import labelprep

    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-labelprep")
    widgets = {}
    for contribution in manifest.contributions.widgets:
        widgets[contribution.display_name] = contribution.get_callable().__name__
    samples = {}
    for contribution in manifest.contributions.sample_data:
        layers = contribution.get_callable()()
        samples[contribution.key] = [[np.shape(data), kind] for data, _, kind in layers]
    print(json.dumps({
        "file": labelprep.__file__,
        "manifest_file": (Path(labelprep.__file__).parent / "napari.yaml").is_file(),
        "manifest_symlink": (Path(labelprep.__file__).parent / "napari.yaml").is_symlink(),
        "version": labelprep.__version__,
        "dist_version": version("napari-labelprep"),
        "widgets": widgets,
        "samples": samples,
        "menus": sorted(manifest.contributions.menus),
    }))
    """
)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_is_found_by_npe2(dists, tmp_path):
    """The wheel alone (``--no-deps``) in a new venv; its dependencies come from this
    venv's site-packages through a plain path line in a .pth file, which does not run
    the .pth files in that folder, so the editable labelprep of this venv stays out."""
    import json

    wheel, _ = dists
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    fresh_site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    dev_site = sysconfig.get_paths()["purelib"]
    (fresh_site / "_labelprep_dev_dependencies.pth").write_text(dev_site + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["QT_QPA_PLATFORM"] = env.get("QT_QPA_PLATFORM", "offscreen")
    result = subprocess.run(
        [str(python), "-c", FRESH_VENV_CHECK], capture_output=True, text=True,
        timeout=300, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # the installed wheel, not this checkout's editable install
    assert Path(found["file"]).is_relative_to(fresh_site), found["file"]
    assert found["version"] == found["dist_version"] == VERSION
    assert found["manifest_file"] and not found["manifest_symlink"]
    assert found["widgets"] == {
        "Voxel index": "VoxelIndexWidget", "RLE masks": "RLEWidget",
        "Presize preview": "PresizeWidget", "Patch sampling": "PatchSamplingWidget",
    }
    assert set(found["samples"]) == {"cells3d", "photo2d"}
    for layers in found["samples"].values():
        assert [kind for _, kind in layers] == ["image", "labels"]
    assert found["menus"] == ["napari/layers/measure"]


def test_demo_screenshot_is_written_where_asked_only(tmp_path):
    """``labelprep demo --screenshot shots/demo.png`` from another folder: the picture is
    under that folder, nothing else is left there nor in the repository root."""
    exe = shutil.which("labelprep", path=os.path.dirname(sys.executable)) or shutil.which(
        "labelprep"
    )
    assert exe, "the labelprep console script is not installed"
    cwd = tmp_path / "work"
    cwd.mkdir()
    root_before = set(os.listdir(ROOT))
    result = subprocess.run(
        [exe, "demo", "--sample", "photo2d", "--screenshot", "shots/demo.png"],
        capture_output=True, text=True, timeout=180, cwd=cwd,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shot = cwd / "shots" / "demo.png"
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    left = sorted(p.relative_to(cwd).as_posix() for p in cwd.rglob("*"))
    assert left == ["shots", "shots/demo.png"], left
    new_in_root = set(os.listdir(ROOT)) - root_before - {".pytest_cache", ".hypothesis"}
    assert not new_in_root, new_in_root
