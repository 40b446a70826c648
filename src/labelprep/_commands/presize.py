"""``labelprep presize``: downscale an image dataset (and its masks) once, in parallel.

Example::

    labelprep presize photos/ photos_160/ --size 160 --masks masks/ --masks-out masks_160/

mirrors ``photos/`` into ``photos_160/`` with every image's shorter side at 160 (aspect
kept, never enlarged), and the masks into ``masks_160/`` with exactly the same shapes.
Re-running skips outputs that are already up to date. Exit code: 0 when every file was
written or skipped, 1 when some files failed (listed on stderr), 2 on usage errors
(e.g. DST inside SRC).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Masks pair with images by relative folder and stem: the mask of SRC/a/b.jpg is\n"
        "MASKDIR/a/b.<any image extension>. Exit codes: 0 ok, 1 some files failed, 2 usage error."
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="folder of images (recursive)")
    parser.add_argument("dst", type=Path, metavar="DST",
                        help="output folder (created; must not be SRC or inside it)")
    parser.add_argument("--size", type=int, nargs="+", required=True, metavar="N",
                        help="target shorter side (one number), or target height and width "
                             "(two numbers; each output side is then >= its target)")
    parser.add_argument("--masks", type=Path, metavar="MASKDIR",
                        help="folder of masks with the same relative paths and stems")
    parser.add_argument("--masks-out", type=Path, metavar="MASKDST",
                        help="output folder for the masks (required with --masks)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="parallel workers (default: all cores; 1 = one at a time)")
    parser.add_argument("--executor", choices=("auto", "threads", "processes"), default="auto",
                        help="how the workers run: threads (Pillow formats: JPEG, PNG, ...; no "
                             "start-up cost), processes (TIFF, .npy), or auto (default: "
                             "threads when every file is a Pillow format)")
    parser.add_argument("--method", choices=("nearest", "mode"), default="nearest",
                        help="mask downscaling: nearest (centre pixel, default) or mode "
                             "(majority label per block)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo outputs that are already up to date")
    parser.add_argument("--upscale", action="store_true",
                        help="also enlarge images smaller than the target")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a dask.distributed cluster (scheduler address, e.g. "
                             "tcp://host:8786) instead of local processes")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _usage_error(message: str) -> int:
    print(f"labelprep presize: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from labelprep import presize
    from labelprep._progress import tqdm_progress

    if len(args.size) not in (1, 2):
        return _usage_error(f"--size takes one or two numbers, got {len(args.size)}")
    size = args.size[0] if len(args.size) == 1 else (args.size[0], args.size[1])
    if args.masks_out is not None and args.masks is None:
        return _usage_error("--masks-out needs --masks")
    if args.masks is not None and args.masks_out is None:
        return _usage_error("--masks needs --masks-out (where to write the presized masks)")
    # tqdm's monitor thread would make a process pool (TIFF/.npy) use forkserver (fork is
    # unsafe with threads), which costs a second of start-up; the bar does not need it
    import tqdm.std

    tqdm.std.tqdm.monitor_interval = 0
    try:
        with tqdm_progress("presize", unit="img", disable=args.quiet) as progress:
            rep = presize.folder(
                args.src, args.dst, size,
                masks=args.masks, masks_out=args.masks_out, workers=args.workers,
                overwrite=args.overwrite, method=args.method, upscale=args.upscale,
                progress=progress, scheduler=args.scheduler, executor=args.executor,
            )
    except (ValueError, TypeError) as exc:
        return _usage_error(str(exc))
    except ImportError as exc:
        return _usage_error(str(exc))
    except OSError as exc:  # e.g. the scheduler cannot be reached, dst cannot be created
        print(f"labelprep presize: {exc}", file=sys.stderr)
        return 1
    if rep.total == 0:
        print(f"no image files found in {args.src}", file=sys.stderr)
    print(rep.summary())
    if rep.missing_masks:
        shown = ", ".join(str(p) for p in rep.missing_masks[:5])
        more = f" and {len(rep.missing_masks) - 5} more" if len(rep.missing_masks) > 5 else ""
        print(f"images without a mask (presized alone): {shown}{more}", file=sys.stderr)
    for path, reason in rep.failed:
        print(f"FAILED {path}: {reason}", file=sys.stderr)
    return 1 if rep.failed else 0
