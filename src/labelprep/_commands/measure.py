"""``labelprep measure``: per-object measurements of a labelled stack, as CSV.

::

    labelprep measure STACK [--image IMG] [--spacing 0.5 0.2 0.2] [--time-axis 0]
                            [--properties area centroid intensity_mean ...]
                            [--background 0|R,G,B] --csv objects.csv

STACK (and IMG, an intensity image of the stack's shape, optionally with a last axis of
channels) is a TIFF, a folder of 2D slices or a ``.npy``. Colour-coded labels become ids
as for ``labelprep index`` (``--background R,G,B`` names their background colour), and
the CSV gets index's ``colour`` column ("#rrggbb", right after ``label``). The stack is
indexed (:class:`labelprep.LabelIndex`; with ``--time-axis`` one index per time
point) and measured (:func:`labelprep.measure.measure`, scikit-image's
``regionprops_table`` names and meaning of ``spacing``: area and centroids physical,
bboxes in voxels). The CSV is checked before anything is read and written atomically.
Exit code 0 on success, 2 for unreadable or unsuitable input or arguments, 1 if the CSV
cannot be written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import fail
from ._stack import add_background_argument, add_colour_column, read_labels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..measure import PROPERTIES

    parser.add_argument("stack", type=Path, metavar="STACK",
                        help="labelled stack: a TIFF, a folder of 2D slices or a .npy file")
    parser.add_argument("--csv", type=Path, metavar="CSV", required=True,
                        help="write one row per object (per time point and object with "
                             "--time-axis; a colour column for colour-coded labels)")
    parser.add_argument("--image", type=Path, metavar="IMG",
                        help="intensity image of the stack's shape (channels last, if any)")
    parser.add_argument("--spacing", type=float, nargs="+", metavar="S",
                        help="voxel size per axis (z y x; without the time axis): area and "
                             "centroids in these units")
    parser.add_argument("--properties", nargs="+", metavar="NAME", choices=PROPERTIES,
                        help="what to measure (default: area, centroid, bbox, and the "
                             "intensity mean, min, max, sum and std with --image)")
    parser.add_argument("--time-axis", type=int, metavar="AXIS",
                        help="the stack's time axis: each time point indexed on its own, a "
                             "leading 't' column")
    add_background_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _fail(message: str, code: int) -> int:
    return fail("measure", message, code)


def run(args: argparse.Namespace) -> int:
    from .. import io
    from .._progress import tqdm_progress
    from ..errors import _shown
    from ..index import LabelIndex

    sources = [args.stack] + ([args.image] if args.image is not None else [])
    try:
        io.check_output_file(args.csv, suffixes=(".csv",), sources=sources, what="--csv")
    except io.OutputPathError as exc:
        return _fail(str(exc), 2)
    t0 = time.perf_counter()
    try:
        with tqdm_progress("read", unit="slice", disable=args.quiet) as cb:
            stack, colours, background = read_labels(args.stack, args.background,
                                                     progress=cb)
            image = None if args.image is None else io.read_stack(args.image, labels=False)
        warning = io.intensity_warning(stack)
        if warning is not None:
            print(_shown(f"labelprep measure: warning: {warning}"), file=sys.stderr)
        with tqdm_progress("index", unit="voxel", disable=args.quiet) as cb:
            idx = LabelIndex.build(stack, background=background, progress=cb,
                                   time_axis=args.time_axis)
        table = idx.measure(image, args.spacing, args.properties)
        add_colour_column(table, colours)
    except (io.ImageReadError, FileNotFoundError, ValueError, TypeError) as exc:
        return _fail(str(exc), 2)
    except MemoryError:
        return _fail("the stack does not fit in memory", 2)
    seconds = time.perf_counter() - t0
    try:
        with io.atomic_open(args.csv, "w", newline="") as f:
            table.to_csv(f, index=False)
    except OSError as exc:
        return _fail(str(exc), 1)
    columns = [c for c in table.columns if c not in ("t", "label", "colour")]
    spacing = (", spacing " + " x ".join(f"{s:g}" for s in args.spacing)) if args.spacing else ""
    print(_shown(f"measured {len(table):,} objects ({len(columns)} columns{spacing}) in "
                 f"{seconds:.2f} s; wrote {args.csv}"))
    return 0
