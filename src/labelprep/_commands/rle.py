"""``labelprep rle``: encode masks to multi-class RLE JSON, decode them back, inspect them.

::

    labelprep rle encode masks/ --out rle/ --compact     # every image under masks/
    labelprep rle encode mask.png                        # -> mask.rle.json next to it
    labelprep rle decode rle/*.rle.json --out decoded/ --format png
    labelprep rle decode mask.rle.json --out mask.tif
    labelprep rle info mask.rle.json

Exit codes: 0 all files done, 1 some files failed (each failure is printed with its
file name and the others are still processed), 2 usage errors (no input, bad ``--out``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = {".tif": "tif", ".tiff": "tif", ".png": "png", ".npy": "npy"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    enc = sub.add_parser(
        "encode",
        help="encode mask images (TIFF, PNG, .npy; 2D or stacks) to *.rle.json",
        description="Encode label masks to multi-class RLE JSON files (*.rle.json).",
    )
    enc.add_argument("masks", nargs="+", type=Path, metavar="MASK",
                     help="mask files, or folders whose images are all encoded")
    enc.add_argument("--out", "-o", type=Path, metavar="DIR_OR_FILE",
                     help="output folder, or an output .rle.json file for a single mask "
                          "(default: next to each mask)")
    enc.add_argument("--compact", action="store_true",
                     help="store counts and values as COCO-style strings (smaller files)")
    enc.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")

    dec = sub.add_parser(
        "decode",
        help="decode *.rle.json files to images (.tif, .png or .npy)",
        description="Decode multi-class RLE JSON files back to mask images.",
    )
    dec.add_argument("files", nargs="+", type=Path, metavar="FILE",
                     help="*.rle.json files, or folders holding them")
    dec.add_argument("--out", "-o", type=Path, metavar="DIR_OR_FILE",
                     help="output folder, or an output file (.tif/.png/.npy) for a single "
                          "input (default: next to each input)")
    dec.add_argument("--format", choices=("tif", "png", "npy"), default=None,
                     help="image format when writing to a folder (default: tif)")
    dec.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")

    info = sub.add_parser("info", help="print size, dtype, runs and labels of *.rle.json files",
                          description="Describe multi-class RLE JSON files.")
    info.add_argument("files", nargs="+", type=Path, metavar="FILE")


def run(args: argparse.Namespace) -> int:
    return {"encode": _encode, "decode": _decode, "info": _info}[args.action](args)


# ----------------------------------------------------------------------------- helpers

def _error(message: str) -> None:
    from labelprep.errors import _shown

    print(f"labelprep rle: {_shown(message)}", file=sys.stderr)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".rle.json", ".json"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _expand(
    paths: list[Path], pattern: str | None
) -> tuple[list[tuple[Path, Path]], list[str], list[Path]]:
    """(file, base folder) pairs from files and folders; the errors for missing ones;
    and the sources: the input files and the real folders listing them reads (symlinks
    followed), from the same walk of each folder."""
    from labelprep.io import FolderScan, list_images, source_trees

    found: list[tuple[Path, Path]] = []
    errors = []
    sources: list[Path] = []
    for p in paths:
        if p.is_dir():
            scan = FolderScan(p)
            files = list_images(scan) if pattern is None else list_images(scan, (pattern,))
            if not files:
                errors.append(f"{p}: folder holds no matching files")
            found.extend((f, p) for f in files)
            sources.extend(source_trees(scan))
        elif p.is_file():
            found.append((p, p.parent))
            sources.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
            sources.append(p)
    return found, errors, sources


class _Plan:
    """Where each input goes, checked before any work (io's output-path checks)."""

    def __init__(self, outputs: list[Path], tree=None):
        self.outputs = outputs
        self.tree = tree  # an io.OutputTree when writing into an --out folder

    def prepare(self, dst: Path) -> Path:
        if self.tree is not None:
            return self.tree.prepare(dst)
        return dst


def _plan_outputs(
    inputs: list[tuple[Path, Path]], out: Path | None, single_suffixes: tuple[str, ...],
    make_name, sources: list[Path],
) -> _Plan:
    """Output path of each input; raises OutputPathError (a usage error) up front.

    ``out`` is a file when it ends in one of ``single_suffixes``, a folder when it is one
    or has no suffix; any other name (``x.jpg``) is refused. No two inputs may share an
    output, and no output may be an input file or land in an input folder.
    """
    from labelprep import io
    from labelprep.errors import OutputPathError

    input_files = [src for src, _ in inputs]
    if out is None:
        outs = [src.parent / make_name(src) for src in input_files]
        for dst in outs:
            io.check_output_file(dst, sources=input_files, what="output")
        io.check_collisions(zip(input_files, outs))
        return _Plan(outs)
    if not out.is_dir() and out.suffix:
        io.check_output_file(out, suffixes=single_suffixes, sources=sources, what="--out")
        if len(inputs) != 1:
            raise OutputPathError(
                f"--out {out} is a file but there are {len(inputs)} inputs; give a folder")
        return _Plan([out])
    tree = io.OutputTree(out, sources)
    outs = []
    for src, base in inputs:
        rel = src.relative_to(base).parent if src.is_relative_to(base) else Path()
        outs.append(tree.check(out / rel / make_name(src)))
    io.check_collisions(zip(input_files, outs))
    return _Plan(outs, tree)


def write_mask(path: Path, mask, fmt: str) -> None:
    """Write a decoded mask as TIFF, PNG (2D, up to 16 bits) or .npy, atomically."""
    import numpy as np

    from labelprep.io import atomic_open

    if fmt == "png" and (mask.ndim != 2 or mask.dtype not in (np.bool_, np.uint8, np.uint16)):
        raise ValueError(
            f"PNG holds 2D uint8/uint16 masks, this one is {mask.ndim}D {mask.dtype}; "
            "write .tif or .npy instead"
        )
    with atomic_open(path, "wb") as f:
        if fmt == "png":
            from PIL import Image

            a = np.ascontiguousarray(mask)
            img = (Image.fromarray(a.astype(np.uint8) * 255).convert("1")
                   if a.dtype == np.bool_ else Image.fromarray(a))
            img.save(f, format="PNG")
        elif fmt == "npy":
            np.save(f, mask, allow_pickle=False)
        else:
            import tifffile

            a = mask.astype(np.uint8) if mask.dtype == np.bool_ else mask
            tifffile.imwrite(f, np.ascontiguousarray(a), compression="zlib")


def _clear_stale(plan: _Plan, quiet: bool) -> None:
    from labelprep.io import remove_stale_temporaries

    if plan.tree is None:
        return
    removed = remove_stale_temporaries([plan.tree.root])
    if removed and not quiet:
        print(f"removed {len(removed)} temporary files left by an interrupted run",
              file=sys.stderr)


def _progress(n: int, desc: str, quiet: bool):
    from labelprep._progress import tqdm_progress

    return tqdm_progress(desc, unit="file", disable=quiet or n < 2)


# ----------------------------------------------------------------------------- actions

def _say(text: str) -> None:
    from labelprep.errors import _shown

    print(_shown(text))


#: What one bad input can raise: it fails alone, the batch goes on.
def _file_errors():
    from labelprep.errors import ImageReadError

    return (ImageReadError, ValueError, TypeError, OSError, MemoryError, RecursionError)


def _encode(args: argparse.Namespace) -> int:
    import json

    from labelprep import rle
    from labelprep.errors import OutputPathError
    from labelprep.io import read_image

    inputs, errors, sources = _expand(args.masks, None)
    for e in errors:
        _error(e)
    if not inputs:
        _error("no mask to encode")
        return 2
    try:
        plan = _plan_outputs(inputs, args.out, (".json",),
                             lambda src: _stem(src) + rle.SUFFIX, sources)
    except OutputPathError as exc:
        _error(str(exc))
        return 2
    _clear_stale(plan, args.quiet)
    failures: list[str] = []
    raw_bytes = json_bytes = runs = 0
    with _progress(len(inputs), "encoding", args.quiet) as progress:
        for i, ((src, _), dst) in enumerate(zip(inputs, plan.outputs)):
            try:
                mask = read_image(src)
                r = rle.encode(mask, compact=args.compact)
                rle.save(plan.prepare(dst), r)
            except _file_errors() as exc:
                failures.append(f"{src}: {exc}")
                _error(failures[-1])
            else:
                raw_bytes += mask.nbytes
                json_bytes += len(json.dumps(r, separators=(",", ":")))
                runs += rle.num_runs(r)
                if len(inputs) == 1 and not args.quiet:
                    _say(f"{src} -> {dst}: {mask.ndim}D {mask.dtype} {list(mask.shape)}, "
                         f"{rle.num_runs(r)} runs")
            progress(i + 1, len(inputs))
    done = len(inputs) - len(failures)
    if not args.quiet and done:
        ratio = raw_bytes / json_bytes if json_bytes else float("nan")
        print(f"encoded {done} of {len(inputs)} masks: {runs} runs, {json_bytes} bytes of "
              f"JSON for {raw_bytes} bytes of pixels ({ratio:.1f}x smaller)")
    _list_failures(failures, len(inputs))
    return 1 if failures or errors else 0


def _list_failures(failures: list[str], total: int) -> None:
    if failures and total > 1:
        _error(f"{len(failures)} of {total} files failed:")
        for line in failures:
            _error(f"  {line}")


def _decode(args: argparse.Namespace) -> int:
    from labelprep import rle
    from labelprep.errors import OutputPathError

    inputs, errors, sources = _expand(args.files, ".json")
    for e in errors:
        _error(e)
    if not inputs:
        _error("no RLE file to decode")
        return 2
    fmt = args.format or "tif"
    if args.out is not None and args.out.name.lower().endswith(tuple(FORMATS)) and not (
        args.out.is_dir()
    ):
        fmt_out = FORMATS[Path(args.out.name.lower()).suffix]
        if args.format and args.format != fmt_out:
            _error(f"--format {args.format} contradicts --out {args.out}")
            return 2
        fmt = fmt_out
    try:
        plan = _plan_outputs(inputs, args.out, tuple(FORMATS),
                             lambda src: f"{_stem(src)}.{fmt}", sources)
    except OutputPathError as exc:
        _error(str(exc))
        return 2
    _clear_stale(plan, args.quiet)
    failures: list[str] = []
    with _progress(len(inputs), "decoding", args.quiet) as progress:
        for i, ((src, _), dst) in enumerate(zip(inputs, plan.outputs)):
            try:
                mask = rle.decode(rle.load(src))
                write_mask(plan.prepare(dst), mask, fmt)
            except _file_errors() as exc:
                failures.append(f"{src}: {exc}")
                _error(failures[-1])
            else:
                if len(inputs) == 1 and not args.quiet:
                    _say(f"{src} -> {dst}: {mask.ndim}D {mask.dtype} {list(mask.shape)}")
            progress(i + 1, len(inputs))
    if not args.quiet and len(inputs) > 1:
        print(f"decoded {len(inputs) - len(failures)} of {len(inputs)} files")
    _list_failures(failures, len(inputs))
    return 1 if failures or errors else 0


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    from labelprep import rle

    failed = 0
    for path in args.files:
        try:
            r = rle.load(path)
            shape, dtype, values, counts = rle._parse(r)
        except _file_errors() as exc:
            failed += 1
            _error(str(exc))
            continue
        labels = np.unique(values[counts > 0])
        shown = ", ".join(str(v) for v in labels[:20].tolist())
        more = f", ... ({labels.size} labels)" if labels.size > 20 else ""
        form = "compact" if isinstance(r["counts"], str) else "lists"
        _say(f"{path}: size {list(shape)}, dtype {dtype.name}, {counts.size} runs ({form}), "
              f"labels {shown}{more}; {path.stat().st_size} bytes on disk for "
              f"{int(np.prod(shape)) * dtype.itemsize} bytes of pixels")
    return 1 if failed else 0
