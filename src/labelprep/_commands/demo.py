"""``labelprep demo``: napari with the sample data and all four widgets docked."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

WIDGETS = ("Voxel index", "RLE masks", "Presize preview", "Patch sampling")
PLUGIN = "napari-labelprep"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sample",
        choices=("cells3d", "photo2d"),
        default="cells3d",
        help="sample to open: the 3D labelled cell stack (default) or the 2D photo with a mask",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="save a screenshot of the whole window to PNG and quit (for docs and checks)",
    )


def open_demo(viewer, sample: str = "cells3d") -> None:
    """Load ``sample`` into ``viewer`` and dock the four Label Prep widgets (tabified)."""
    viewer.open_sample(PLUGIN, sample)
    from qtpy.QtWidgets import QApplication

    first = None
    for name in WIDGETS:
        dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=first is not None)
        first = first or dock
    QApplication.processEvents()  # let Qt finish tabifying, then bring the first tab up
    first.raise_()


def run(args: argparse.Namespace) -> int:
    import napari

    viewer = napari.Viewer(title="napari-labelprep demo")
    open_demo(viewer, args.sample)
    if args.screenshot is not None:
        from qtpy.QtWidgets import QApplication

        from labelprep._napari._compat import qt_window

        qt_window(viewer).resize(1400, 900)
        QApplication.processEvents()
        from PIL import Image

        from labelprep import io

        try:
            io.check_output_file(args.screenshot, suffixes=(".png",), what="--screenshot",
                                 create_folder=True)
        except io.OutputPathError as exc:
            print(f"labelprep demo: error: {exc}", file=sys.stderr)
            viewer.close()
            return 2
        pixels = viewer.screenshot(canvas_only=False)  # an array: written through io below
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        with io.atomic_open(args.screenshot, "wb") as f:
            Image.fromarray(pixels).save(f, format="PNG")
        print(f"saved {args.screenshot}")
        viewer.close()
        return 0
    napari.run()
    return 0
