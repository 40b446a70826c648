"""``labelprep qa``: review flags for every object of a labelled stack.

::

    labelprep qa STACK [--csv flags.csv] [--flagged-only] [--background 0|R,G,B]
                       [--connectivity 1] [--tiny N] [--huge N] [--spread 3]
                       [--low-fill 0.1]

STACK is a TIFF, a folder of 2D slices or a ``.npy`` file; colour-coded labels become
ids as for ``labelprep index`` (``--background R,G,B`` names their background colour;
the CSV gets index's ``colour`` column, "#rrggbb" after ``label``).
The stack is indexed (:class:`labelprep.LabelIndex`) and flagged
(:func:`labelprep.qa.flags`: tiny, huge, touches_border, single_slice, low_fill,
fragmented); ``--csv`` writes one row per object (or per flagged object). A one-line
summary ends the run, e.g. "212 of 15,034 objects flagged: 120 tiny (< 9 voxels), ...".
Exit code 0 on success, 2 for unreadable or unsuitable input or arguments, 1 if the CSV
cannot be written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import fail
from ._stack import add_background_argument, add_colour_column, read_labels


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text}")
    return value


def _voxels(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a voxel count, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a voxel count >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", type=Path, metavar="STACK",
                        help="labelled stack: a TIFF, a folder of 2D slices or a .npy file")
    parser.add_argument("--csv", type=Path, metavar="CSV",
                        help="write the flags table (label, the six flags, voxels, fill, "
                             "components; a colour column for colour-coded labels) as CSV")
    parser.add_argument("--flagged-only", action="store_true",
                        help="write only the objects with at least one flag")
    add_background_argument(parser)
    parser.add_argument("--connectivity", type=int, default=1, metavar="K",
                        help="neighbours that connect voxels for 'fragmented': 1 (faces, "
                             "default) .. ndim (corners)")
    parser.add_argument("--tiny", type=_voxels, metavar="N",
                        help="objects of fewer voxels are tiny (default: from the size "
                             "distribution, --spread robust SDs below the median log size)")
    parser.add_argument("--huge", type=_voxels, metavar="N",
                        help="objects of more voxels are huge (default: --spread robust SDs "
                             "above the median log size)")
    parser.add_argument("--spread", type=_positive, default=3.0, metavar="K",
                        help="robust standard deviations for the default --tiny/--huge "
                             "(default 3)")
    parser.add_argument("--low-fill", type=_fraction, default=0.1, metavar="F",
                        help="objects filling less than this fraction of their bounding box "
                             "are low_fill (default 0.1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def summary(table) -> str:
    """'212 of 15,034 objects flagged: 120 tiny (< 9 voxels), ...' for a flags table."""
    from ..qa import FLAG_COLUMNS

    th = table.attrs.get("thresholds", {})

    def voxels(key: str) -> str:
        value = th.get(key, float("nan"))
        return f"{value:.2g}" if value < 10 else f"{value:,.0f}"

    flagged = int(table[list(FLAG_COLUMNS)].any(axis=1).sum()) if len(table) else 0
    words = {
        "tiny": f"tiny (< {voxels('tiny')} voxels)",
        "huge": f"huge (> {voxels('huge')} voxels)",
        "touches_border": "touch the border",
        "single_slice": "in a single slice",
        "low_fill": f"low fill (< {th.get('low_fill', float('nan')):g} of the bbox)",
        "fragmented": f"fragmented (connectivity {th.get('connectivity', 1)})",
    }
    parts = [f"{int(table[c].sum()):,} {words[c]}" for c in FLAG_COLUMNS]
    return f"{flagged:,} of {len(table):,} objects flagged: " + ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from .. import io
    from .._progress import tqdm_progress
    from ..index import LabelIndex
    from ..qa import FLAG_COLUMNS, flags

    t0 = time.perf_counter()
    try:
        if args.csv is not None:
            io.check_output_file(args.csv, suffixes=(".csv",), sources=[args.stack],
                                 what="--csv")
        with tqdm_progress("read", unit="slice", disable=args.quiet) as cb:
            stack, colours, background = read_labels(args.stack, args.background,
                                                     progress=cb)
        with tqdm_progress("index", unit="voxel", disable=args.quiet) as cb:
            idx = LabelIndex.build(stack, background=background, progress=cb)
        table = flags(idx, tiny=args.tiny, huge=args.huge, spread=args.spread,
                      low_fill=args.low_fill, connectivity=args.connectivity)
        add_colour_column(table, colours)
    except (OSError, ValueError, TypeError) as exc:
        return fail("qa", str(exc), 2)
    t1 = time.perf_counter()

    if args.csv is not None:
        out = table[table[list(FLAG_COLUMNS)].any(axis=1)] if args.flagged_only else table
        try:
            with io.atomic_open(args.csv, "w", newline="") as f:
                out.to_csv(f, index=False)
        except OSError as exc:
            return fail("qa", str(exc), 1)
    print(f"{summary(table)} ({t1 - t0:.2f} s)")
    if args.csv is not None:
        print(f"wrote {args.csv}")
    return 0
