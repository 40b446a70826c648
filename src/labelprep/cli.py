"""The ``labelprep`` command line: ``demo``, ``index``, ``rle``, ``presize``, ``patches``,
``qa``, ``measure``, ``export``.

Each subcommand lives in ``labelprep._commands.<name>`` as a pair of functions,
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code), so this file only
wires them together and imports nothing heavy until a subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

SUBCOMMANDS = {
    "demo": "open napari with the sample data and all four Label Prep widgets docked",
    "index": "build a per-label voxel index of a labelled stack (TIFF, folder of slices, .npy)",
    "rle": "encode masks to multi-class RLE JSON, or decode RLE JSON back to images",
    "presize": "downscale an image dataset (and its masks) once, in parallel",
    "patches": "sample random patches (and mask crops) from a folder of images",
    "qa": "flag objects for review (tiny, huge, border, single slice, low fill, fragmented): "
          "CSV and a summary",
    "measure": "measure every object (area, centroid, bbox, intensity statistics...) as CSV",
    "export": "export objects as per-object crops or COCO instance annotations, or read COCO",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelprep",
        description="Prepare labelled image datasets fast (napari-labelprep).",
    )
    parser.add_argument("--version", action="version", version=f"labelprep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"labelprep._commands.{name}")
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labelprep`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
