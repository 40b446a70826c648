"""Take the documentation screenshots from the real napari viewer.

Each ``scripts/screenshots/shot_<name>.py`` defines ``OUTPUT`` (a path relative to the
repository root) and ``stage(viewer, wait_until)``, which loads data, docks widgets and
clicks buttons; this runner then saves a screenshot of the whole window. Run it under
a display (Xvfb works; the Qt "offscreen" platform cannot render OpenGL)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/make_screenshots.py [NAME ...]
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "scripts" / "screenshots"
sys.path.insert(0, str(SHOTS))  # the shots' shared staging (_stage.py)
WINDOW_SIZE = (1500, 950)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Process Qt events until ``condition()`` is true (raise TimeoutError after ``timeout`` s)."""
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        QApplication.processEvents()
        time.sleep(0.01)


def load_shot(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def take(path: Path) -> Path:
    import napari
    from qtpy.QtWidgets import QApplication

    module = load_shot(path)
    viewer = napari.Viewer(title="napari-labelprep")
    try:
        from labelprep._napari._compat import qt_window

        qt_window(viewer).resize(*WINDOW_SIZE)
        module.stage(viewer, wait_until)
        for _ in range(20):
            QApplication.processEvents()
            time.sleep(0.02)
        out = ROOT / module.OUTPUT
        out.parent.mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(out), canvas_only=False)
        return out
    finally:
        viewer.close()


def main(names: list[str]) -> int:
    paths = sorted(SHOTS.glob("shot_*.py"))
    if names:
        paths = [p for p in paths if p.stem.removeprefix("shot_") in names]
        if not paths:
            print(f"no screenshot named {names}", file=sys.stderr)
            return 2
    for path in paths:
        print(f"{path.stem}: {take(path).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
