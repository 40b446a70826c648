"""``labelprep export``: per-object crops, COCO annotations, and COCO back to label images.

::

    labelprep export crops labels.tif --image raw.tif --out crops/ --pad 4
    labelprep export crops labels.tif --out crops/ --size 16 64 64 --format npz
    labelprep export coco masks/ --images images/ --out ann.json [--classes classes/]
    labelprep export read-coco ann.json --out decoded/ [--format png]

Exit codes: 0 done; 1 a failure while writing (or, for read-coco, some images failed:
each is named, the others are still written); 2 bad arguments or inputs, found before
anything is written (missing or unreadable files, an output inside an input...).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path, PurePosixPath


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    crops = sub.add_parser(
        "crops", help="write each object's image and mask crop, with a crops.csv manifest",
        description="Crop every object of a labelled stack (and its image) into DIR: "
                    "DIR/images, DIR/masks and DIR/crops.csv.")
    crops.add_argument("stack", type=Path, metavar="STACK",
                       help="labelled stack or image (TIFF, .npy, folder of slices, PNG)")
    crops.add_argument("--image", type=Path, metavar="IMG",
                       help="intensity image of the same shape (optionally RGB)")
    crops.add_argument("--out", "-o", type=Path, required=True, metavar="DIR",
                       help="output folder (created; not an input folder nor the folder "
                            "holding an input)")
    crops.add_argument("--pad", type=int, nargs="+", default=[0], metavar="N",
                       help="margin around each bounding box: one number or one per axis")
    crops.add_argument("--size", type=int, nargs="+", metavar="N",
                       help="fixed crop size centred on each object instead (zero-padded "
                            "outside the stack): one number or one per axis")
    crops.add_argument("--format", choices=("tif", "npz", "png"), default="tif",
                       help="file format (default tif; png for 2D only)")
    crops.add_argument("--mask", choices=("binary", "labels"), default="binary",
                       help="binary: 1 on the object (default); labels: the label crop")
    crops.add_argument("--objects", type=int, nargs="+", metavar="LABEL",
                       help="only these labels (default: all)")
    crops.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    coco = sub.add_parser(
        "coco", help="write COCO instance annotations (RLE) of 2D instance label images",
        description="COCO instances JSON from a folder of 2D instance label images "
                    "(paired with their images by relative folder and stem) or a stack.")
    coco.add_argument("masks", type=Path, metavar="MASKS",
                      help="folder of instance label images, or a stack (one image a slice)")
    coco.add_argument("--images", type=Path, metavar="IMAGES",
                      help="folder of the images (file_name = path relative to it)")
    coco.add_argument("--out", "-o", type=Path, required=True, metavar="JSON",
                      help="output .json file, written atomically")
    coco.add_argument("--classes", type=Path, metavar="CLASSMASKS",
                      help="class masks (folder paired like the images, or a stack): each "
                           "object gets the most frequent class under it")
    coco.add_argument("--polygons", action="store_true",
                      help="polygons (scikit-image contours, holes filled) instead of RLE")
    coco.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    read = sub.add_parser(
        "read-coco", help="decode COCO annotations to instance label images and class masks",
        description="Write DIR/labels/<image> and DIR/classes/<image> for each image of a "
                    "COCO file (label k = the image's k-th annotation).")
    read.add_argument("json", type=Path, metavar="JSON", help="COCO instances file")
    read.add_argument("--out", "-o", type=Path, required=True, metavar="DIR",
                      help="output folder (created)")
    read.add_argument("--format", choices=("tif", "png", "npy"), default="tif",
                      help="image format (default tif)")
    read.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    return {"crops": _crops, "coco": _coco, "read-coco": _read_coco}[args.action](args)


# ----------------------------------------------------------------------------- helpers

def _error(message: str) -> None:
    print(f"labelprep export: error: {message}", file=sys.stderr)


def _read(path: Path, labels: bool = True):
    """A stack or one image; ``labels=False`` for intensity images (RGB kept as RGB)."""
    from .. import io

    if path.is_dir() or path.suffix.lower() in (*io.TIFF_SUFFIXES, ".npy"):
        return io.read_stack(path, labels=labels)
    return io.read_image(path)


def _output_folder(out: Path, sources: list[Path]):
    """An ``io.OutputTree`` for ``out``, refusing also the folder holding an input file
    (its images/, masks/... subfolders could be the user's own)."""
    from .. import io

    if out.exists() and not out.is_dir():
        raise io.OutputPathError(f"--out {out} exists and is not a folder")
    for s in sources:
        if s.is_file() and io.real(s.parent) == io.real(out):
            raise io.OutputPathError(f"--out {out} is the folder holding the input {s}; "
                                     "give a new or separate folder")
    tree = io.OutputTree(out, sources=sources)
    if out.is_dir():
        io.remove_stale_temporaries([out])
    return tree


def _per_axis(values: list[int] | None):
    if values is None:
        return None
    return values[0] if len(values) == 1 else tuple(values)


# ----------------------------------------------------------------------------- actions

def _crops(args: argparse.Namespace) -> int:
    from .. import export
    from .._progress import tqdm_progress
    from ..index import LabelIndex

    sources = [p for p in (args.stack, args.image) if p is not None]
    for p in sources:
        if not p.exists():
            _error(f"no such file or folder: {p}")
            return 2
    t0 = time.perf_counter()
    try:
        tree = _output_folder(args.out, sources)
        labels = _read(args.stack)
        image = _read(args.image, labels=False) if args.image is not None else None
        index = LabelIndex.build(labels)
        for sub in ("images/x", "masks/x", "crops.csv"):
            tree.check(args.out / sub)
    except (ValueError, TypeError, OSError) as exc:
        _error(str(exc))
        return 2
    try:
        with tqdm_progress("crops", unit="object", disable=args.quiet) as cb:
            manifest = export.crops(
                labels, index, image, out=args.out, pad=_per_axis(args.pad),
                size=_per_axis(args.size), objects=args.objects, format=args.format,
                mask=args.mask, progress=cb)
    except (ValueError, TypeError) as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        _error(str(exc))
        return 1
    n = len(index) if args.objects is None else len(set(args.objects))
    print(f"wrote {n} crops of {args.stack} to {args.out} in {time.perf_counter() - t0:.2f} s "
          f"(manifest {manifest})")
    return 0


def _coco(args: argparse.Namespace) -> int:
    from .. import export, io
    from .._progress import tqdm_progress

    sources = [p for p in (args.masks, args.images, args.classes) if p is not None]
    for p in sources:
        if not p.exists():
            _error(f"no such file or folder: {p}")
            return 2
    if args.images is not None and not args.images.is_dir():
        _error(f"--images {args.images} is not a folder")
        return 2
    try:
        # one walk of each input folder, for the output check (the inputs and every real
        # folder a symlink under them leads to) and for export.coco's listings
        scans = {p: io.FolderScan(p) for p in sources if p.is_dir()}
        trees = [t for p in sources for t in io.source_trees(scans.get(p, p))]
        io.check_output_file(args.out, suffixes=(".json",), sources=trees, what="--out")
    except (ValueError, NotADirectoryError) as exc:
        _error(str(exc))
        return 2
    t0 = time.perf_counter()
    try:
        with tqdm_progress("coco", unit="image", disable=args.quiet) as cb:
            data = export.coco(scans.get(args.masks, args.masks),
                               scans.get(args.images, args.images), out=args.out,
                               categories=scans.get(args.classes, args.classes),
                               polygons=args.polygons, progress=cb)
    except (ValueError, TypeError, ImportError, FileNotFoundError, NotADirectoryError) as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        _error(str(exc))
        return 1
    print(f"wrote {args.out}: {len(data['images'])} images, {len(data['annotations'])} "
          f"annotations, {len(data['categories'])} categories in "
          f"{time.perf_counter() - t0:.2f} s")
    return 0


def _output_name(info: dict) -> PurePosixPath:
    """The image's file_name as a safe relative path (no root, no '..'), suffix dropped."""
    parts = [p for p in PurePosixPath(str(info.get("file_name", "")).replace("\\", "/")).parts
             if p not in ("", ".", "..", "/")]
    if not parts:
        return PurePosixPath(f"image_{info['id']}")
    return PurePosixPath(*parts).with_suffix("")


def _read_coco(args: argparse.Namespace) -> int:
    from .. import export, io
    from .._progress import tqdm_progress
    from .rle import write_mask

    if not args.json.is_file():
        _error(f"no such file: {args.json}")
        return 2
    try:
        tree = _output_folder(args.out, [args.json])
        entries = export.read_coco(args.json)
        plan = []
        for info, labels, classes in entries:
            rel = _output_name(info)
            for kind, arr in (("labels", labels), ("classes", classes)):
                dst = args.out / kind / f"{rel}.{args.format}"
                tree.check(dst)
                plan.append((info.get("file_name", info["id"]), dst, arr))
        io.check_collisions((src, dst) for src, dst, _ in plan)
    except (ValueError, ImportError, OSError) as exc:
        _error(str(exc))
        return 2
    failed: set[int] = set()  # images (two files each: labels, classes)
    with tqdm_progress("read-coco", unit="image", disable=args.quiet) as cb:
        for k, (src, dst, arr) in enumerate(plan):
            try:
                write_mask(tree.prepare(dst), arr, args.format)
            except (ValueError, OSError) as exc:
                failed.add(k // 2)
                _error(f"{src}: {exc}")
            cb(k // 2 + 1, len(entries))
    print(f"wrote labels and classes of {len(entries) - len(failed)} of {len(entries)} "
          f"images to {args.out}")
    return 1 if failed else 0
