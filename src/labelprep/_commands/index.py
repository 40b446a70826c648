"""``labelprep index``: build a per-label voxel index of a labelled stack.

::

    labelprep index STACK [--out objects.npz|objects.zarr] [--csv objects.csv]
                          [--coords-csv coords.csv] [--background 0|R,G,B] [--lazy]

STACK is a TIFF, a folder of 2D slices, a ``.npy`` file, or a zarr / OME-Zarr folder.
Colour-coded labels (RGB/RGBA slices or an RGB TIFF: one colour per object) are read as
uint32 ids, one per colour (:func:`labelprep.io.read_label_stack`); ``--background
R,G,B`` names their background colour (default black), the table gets a ``colour``
column ("#rrggbb") and the summary says how many colours became ids.
Zarr input (or ``--lazy``) is read lazily and indexed chunk by chunk
(:mod:`labelprep.chunked`), and ``--out objects.zarr`` writes the on-disk index without
holding every voxel index in memory. Progress bars show the read and the build; a
one-line summary ("N objects, M voxels, T s") ends the run. Exit code 0 on success, 2 for
unreadable or unsuitable input, 1 if an output cannot be written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import fail
from ._stack import add_background_argument, add_colour_column, read_labels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", type=Path, metavar="STACK",
                        help="labelled stack: a TIFF, a folder of 2D slices, a .npy file, or a "
                             "zarr / OME-Zarr folder (read lazily)")
    parser.add_argument("--out", type=Path, metavar="NPZ|ZARR",
                        help="save the index to this .npz file (LabelIndex.save), or, for a "
                             "path ending in .zarr, build it straight into an on-disk index")
    parser.add_argument("--csv", type=Path, metavar="CSV",
                        help="write the object table (label, voxels, bbox, centroid) as CSV")
    parser.add_argument("--coords-csv", type=Path, metavar="CSV",
                        help="write every voxel as a CSV row 'label,z,y,x' (large!)")
    add_background_argument(parser)
    parser.add_argument("--lazy", action="store_true",
                        help="read the stack lazily (dask) and index it chunk by chunk, even "
                             "for a TIFF, .npy or folder: for stacks bigger than memory")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _fail(message: str, code: int) -> int:
    return fail("index", message, code)


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path checked before the read and the build (OutputPathError)."""
    from .. import io

    sources = [args.stack]
    if args.out is not None:
        io.check_output_file(args.out, suffixes=(".npz", ".zarr"), sources=sources,
                             what="--out")
    for name in ("csv", "coords_csv"):
        path = getattr(args, name)
        if path is not None:
            io.check_output_file(path, suffixes=(".csv",), sources=sources,
                                 what="--" + name.replace("_", "-"))
    named = [(f"--{n.replace('_', '-')}", getattr(args, n)) for n in ("out", "csv", "coords_csv")]
    io.check_collisions((what, p) for what, p in named if p is not None)


def run(args: argparse.Namespace) -> int:
    from .. import io
    from .._progress import tqdm_progress
    from ..errors import OutputPathError
    from ..index import LabelIndex

    try:
        _check_outputs(args)
    except OutputPathError as exc:
        return _fail(str(exc), 2)
    zarr_out = args.out is not None and args.out.suffix.lower() == ".zarr"
    lazy = args.lazy or zarr_out or io.is_zarr_path(args.stack) or (
        args.stack.suffix.lower() == ".zarr"
    )
    t0 = time.perf_counter()
    try:
        if lazy:
            with tqdm_progress("colours", unit="slice",
                               disable=args.quiet or not args.stack.is_dir()) as cb:
                stack, colours, background = read_labels(args.stack, args.background,
                                                         lazy=True, progress=cb)
            _warn_if_intensities(stack)
            t1 = time.perf_counter()
            with tqdm_progress("index", unit="chunk", disable=args.quiet) as cb:
                if zarr_out:
                    from ..chunked import build_to_zarr

                    try:
                        idx = build_to_zarr(stack, args.out, background=background,
                                            progress=cb, overwrite=True)
                    except OSError as exc:  # zarr's stores do not name the file
                        # the abandoned write leaves zarr's pending tasks to be collected
                        # at exit, which asyncio would log as errors: the one line is enough
                        import logging

                        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
                        return _fail(f"cannot write {args.out}: "
                                     f"{exc.strerror or exc}", 1)
                else:
                    idx = LabelIndex.build(stack, background=background, progress=cb)
        else:
            with tqdm_progress("read", unit="slice", disable=args.quiet) as cb:
                stack, colours, background = read_labels(args.stack, args.background,
                                                         progress=cb)
            _warn_if_intensities(stack)
            t1 = time.perf_counter()
            with tqdm_progress("index", unit="voxel", disable=args.quiet) as cb:
                idx = LabelIndex.build(stack, background=background, progress=cb)
    except ImportError as exc:
        return _fail(f"{exc} (install napari-labelprep[dask] for zarr and lazy stacks)", 2)
    except (io.ImageReadError, FileNotFoundError, ValueError, TypeError, MemoryError) as exc:
        return _fail(str(exc) if not isinstance(exc, MemoryError) else
                     "the stack does not fit in memory: use --lazy", 2)
    except OSError as exc:  # a zarr index that could not be written (full disk, ...)
        return _fail(_os_reason(exc), 1)
    t2 = time.perf_counter()

    outputs = []
    try:
        if args.out is not None:
            if not zarr_out:  # a .zarr index was written by build_to_zarr already
                idx.save(args.out)
            outputs.append(str(args.out))
        if args.csv is not None:
            table = idx.table()
            add_colour_column(table, colours)  # ids are 0..n: their colours by row
            with io.atomic_open(args.csv, "w", newline="") as f:
                table.to_csv(f, index=False)
            outputs.append(str(args.csv))
        if args.coords_csv is not None:
            with tqdm_progress("coords", unit="voxel", disable=args.quiet) as cb:
                idx.write_coords_csv(args.coords_csv, progress=cb)
            outputs.append(str(args.coords_csv))
    except OSError as exc:
        return _fail(_os_reason(exc), 1)

    prefix = "" if colours is None else f"{len(colours) - 1} colours -> ids, "
    print(
        f"{prefix}{len(idx)} objects, {int(idx.counts.sum())} voxels, {t2 - t0:.2f} s "
        f"(read {t1 - t0:.2f} s, index {t2 - t1:.2f} s)"
    )
    if outputs:
        from ..errors import _shown

        print(_shown("wrote " + ", ".join(outputs)))
    return 0


def _warn_if_intensities(stack) -> None:
    from ..errors import _shown
    from ..io import intensity_warning

    text = intensity_warning(stack)
    if text is not None:
        print(_shown(f"labelprep index: warning: {text}"), file=sys.stderr)


def _os_reason(exc: OSError) -> str:
    """One line for a failed write, whatever layer raised it."""
    text = str(exc)
    if exc.errno is not None and exc.filename is not None and str(exc.filename) not in text:
        text = f"cannot write {exc.filename}: {exc.strerror}"
    return text
