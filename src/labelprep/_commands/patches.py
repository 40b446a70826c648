"""``labelprep patches``: sample random patches (and mask crops) into one ``.npz`` file.

Example::

    labelprep patches photos/ --masks masks/ --size 64 --n 10000 --mode class_balanced \\
        --out patches.npz

The ``.npz`` holds ``images`` (n, *size[, C]), ``masks`` (n, *size) when masks were
given, ``origins`` (n, 1 + ndim: source index and first corner), ``sources`` (the image
paths, indexed by ``origins[:, 0]``), ``mask_sources``, and the settings used.

Exit codes: 0 done; 1 the patches were written but some files were left out (each named
on stderr with the reason: an unreadable file, or with ``--skip-bad`` any image or mask
that cannot be used); 2 bad arguments or inputs, nothing written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _class_weights(text: str) -> dict[int, float]:
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {int(k): float(v) for k, v in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CLASS=WEIGHT[,CLASS=WEIGHT...], e.g. 0=1,1=2, got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", type=Path, metavar="SRC",
                        help="a folder of images (searched recursively) or one image file")
    parser.add_argument("--masks", type=Path, metavar="MASKDIR",
                        help="folder of masks with the same relative paths and stems as the "
                             "images (any image extension), or one mask file")
    parser.add_argument("--mask-suffix", default="", metavar="TEXT",
                        help="text after the image stem in mask names, e.g. _mask")
    parser.add_argument("--size", type=int, nargs="+", default=[64], metavar="N",
                        help="patch size: one number (square 2D), or 2 (Y X) or 3 (Z Y X) "
                             "numbers (default 64)")
    parser.add_argument("--n", type=int, default=1000, help="number of patches (default 1000)")
    parser.add_argument("--out", type=Path, default=Path("patches.npz"), metavar="NPZ",
                        help="output file (default patches.npz), written atomically")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--mode", choices=("uniform", "foreground", "class_balanced"),
                        default="uniform", help="where patches are centred (default uniform)")
    parser.add_argument("--class-weights", type=_class_weights, metavar="C=W,...",
                        help="class weights for --mode class_balanced, e.g. 0=0,1=1,2=3")
    parser.add_argument("--cache-size", type=int, default=16,
                        help="decoded images kept in memory (default 16)")
    parser.add_argument("--replace-every", type=int, default=32,
                        help="swap one cached image every this many patches (default 32)")
    parser.add_argument("--border", choices=("valid", "pad"), default="valid",
                        help="valid: only full patches (default); pad: pad where needed")
    parser.add_argument("--pad-mode", choices=("constant", "reflect"), default="constant",
                        help="padding for --border pad: zeros (default) or mirror")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="patches per batch, for the distinct-images statistic (default 32)")
    parser.add_argument("--workers", type=int, default=None,
                        help="image loading threads (default min(2, cores))")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out any image whose image or mask cannot be read or used "
                             "(corrupt, wrong shape, smaller than the patch...) in one pass "
                             "instead of stopping; each is listed at the end, exit code 1")
    parser.add_argument("--compress", action="store_true", help="write a compressed .npz")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _scans(args: argparse.Namespace):
    """One walk of SRC and of --masks when they are folders (else None), for both the
    output check (their real trees, symlinks followed) and the listing."""
    from labelprep.io import FolderScan

    return tuple(FolderScan(p) if p is not None and p.is_dir() else None
                 for p in (args.src, args.masks))


def _sources(args: argparse.Namespace, scans=(None, None)):
    from labelprep.io import list_images
    from labelprep.patches import match_masks

    src = args.src
    if src.is_dir():
        images = list_images(scans[0] or src)
        if not images:
            raise ValueError(f"no image files found in {src}")
    elif src.is_file():
        images = [src]
    else:
        raise FileNotFoundError(f"no such file or folder: {src}")
    masks = None
    if args.masks is not None:
        if args.masks.is_file():
            if len(images) != 1:
                raise ValueError(f"--masks {args.masks} is one file but SRC has {len(images)} "
                                 f"images; give a mask folder")
            masks = [args.masks]
        else:
            root = src if src.is_dir() else src.parent
            masks = match_masks(images, root, scans[1] or args.masks, args.mask_suffix)
    return images, masks


def _write_npz(out: Path, arrays: dict, compress: bool) -> None:
    import numpy as np

    from labelprep.io import atomic_open

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "wb") as f:
        (np.savez_compressed if compress else np.savez)(f, **arrays)


def run(args: argparse.Namespace) -> int:
    from labelprep import io
    from labelprep.errors import ImageReadError, OutputPathError, _shown

    def fail(message: str) -> int:
        print(f"labelprep patches: error: {message}", file=sys.stderr)
        return 2

    if args.n < 1:
        return fail(f"--n must be >= 1, got {args.n}")
    if args.batch_size < 1:
        return fail(f"--batch-size must be >= 1, got {args.batch_size}")
    size = args.size * 2 if len(args.size) == 1 else args.size
    if len(size) not in (2, 3):
        return fail(f"--size takes 1, 2 or 3 numbers, got {len(args.size)}")
    scans = _scans(args)
    # the inputs and every real folder a symlink under them leads to
    inputs = [t for p, scan in zip((args.src, args.masks), scans) if p is not None
              for t in io.source_trees(scan or p)]
    try:
        io.check_output_file(args.out, suffixes=(".npz",), what="--out", create_folder=True,
                             sources=inputs)
    except OutputPathError as exc:
        return fail(str(exc))
    failures: list[str] = []
    skipped: dict[str, str] = {}  # --skip-bad: filled by _draw, even when it fails
    try:
        images, masks = _sources(args, scans)
        if args.skip_bad:  # one pass: the sampler leaves out the bad sources itself
            arrays, stats, sources, elapsed = _draw(args, images, masks, size, skipped)
        else:
            while True:  # a file that cannot be read is left out, and the draw starts again
                try:
                    arrays, stats, sources, elapsed = _draw(args, images, masks, size)
                    break
                except ImageReadError as exc:
                    bad = Path(exc.path)
                    keep = [i for i, (im, m) in enumerate(zip(images, masks or images))
                            if bad not in (Path(im), Path(m))]
                    if len(keep) == len(images):
                        raise
                    failures.append(f"{exc.path}: {exc.reason}")
                    print(_shown(f"labelprep patches: {exc}; drawing without it"), file=sys.stderr)
                    images = [images[i] for i in keep]
                    masks = None if masks is None else [masks[i] for i in keep]
                    if not images:
                        return fail("no readable image left")
        _write_npz(args.out, arrays, args.compress)
    except (ValueError, TypeError, OSError, ImageReadError) as exc:
        _print_skipped(skipped)
        return fail(str(exc))

    n = args.n
    shape = "x".join(map(str, size))
    extra = arrays["images"].shape[1 + len(size):]
    channels = f", {extra[0]} channels" if extra else ""
    print(_shown(f"wrote {args.out}: {n} patches of {shape}{channels} ({arrays['images'].dtype}) "
                 f"from {len(sources) - len(skipped)} image(s)"
                 f"{' with masks' if masks is not None else ''}"))
    _print_stats(args, stats, elapsed, arrays, masks, size)
    if skipped:
        _print_skipped(skipped)
        return 1
    if failures:
        print(f"labelprep patches: {len(failures)} file(s) could not be read and were left out:",
              file=sys.stderr)
        for line in failures:
            print(_shown(f"  {line}"), file=sys.stderr)
        return 1
    return 0


def _print_skipped(skipped: dict[str, str]) -> None:
    from labelprep.errors import _shown

    if not skipped:
        return
    print(f"labelprep patches: {len(skipped)} file(s) could not be read or used and were "
          f"skipped (--skip-bad):", file=sys.stderr)
    for name, reason in skipped.items():
        print(_shown(f"  {name}: {reason}"), file=sys.stderr)


def _draw(args: argparse.Namespace, images, masks, size, skipped: dict | None = None):
    """Sample ``args.n`` patches; returns (arrays for the .npz, stats, sources, seconds).

    With a ``skipped`` dict, bad sources are left out (``on_error="skip"``) and recorded
    in it (also when the draw fails because every source was bad); the sampler's
    warnings are not shown, the command lists the files at the end.
    """
    import warnings

    import numpy as np

    from labelprep._progress import report, tqdm_progress
    from labelprep.errors import SkippedFileWarning
    from labelprep.patches import PatchSampler

    t0 = time.perf_counter()
    parts = []
    with PatchSampler(
        images, masks, tuple(size), cache_size=args.cache_size,
        replace_every=args.replace_every, mode=args.mode, seed=args.seed,
        border=args.border, pad_mode=args.pad_mode, class_weights=args.class_weights,
        workers=args.workers, on_error="raise" if skipped is None else "skip",
    ) as sampler, tqdm_progress("patches", unit="patch", disable=args.quiet) as progress, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        done = 0
        report(progress, 0, args.n)
        try:
            while done < args.n:
                batch = sampler.sample(min(args.batch_size, args.n - done))
                parts.append(batch)
                done += len(batch)
                report(progress, done, args.n)
        finally:
            if skipped is not None:
                skipped.update(sampler.skipped)
        stats = sampler.stats
        sources = sampler.sources
    elapsed = time.perf_counter() - t0
    arrays = {
        "images": np.concatenate([b.images for b in parts]),
        "origins": np.concatenate([b.origins for b in parts]),
        "sources": np.array(sources),
        "patch_size": np.array(size),
        "seed": np.array(args.seed),
        "mode": np.array(args.mode),
        "border": np.array(args.border),
        "pad_mode": np.array(args.pad_mode),
    }
    if masks is not None:
        arrays["masks"] = np.concatenate([b.masks for b in parts])
        arrays["mask_sources"] = np.array([str(m) for m in masks])
    return arrays, stats, sources, elapsed


def _print_stats(args, stats, elapsed, arrays, masks, size) -> None:
    import numpy as np

    n = args.n
    print(f"mean distinct images per batch of {args.batch_size}: "
          f"{stats.mean_distinct_per_batch:.1f}")
    print(f"images loaded: {stats.images_loaded} ({stats.images_seen} distinct), "
          f"waited on loading {stats.wait_seconds:.2f} s, total {elapsed:.2f} s "
          f"({n / max(elapsed, 1e-9):.0f} patches/s)")
    if stats.fallback_patches:
        print(f"note: {stats.fallback_patches} patches were drawn uniformly because no cached "
              f"mask had a suitable class")
    if masks is not None:
        centre = tuple(p // 2 for p in size)
        classes, counts = np.unique(arrays["masks"][(slice(None), *centre)], return_counts=True)
        shown = ", ".join(f"{c}: {100 * k / n:.1f}%" for c, k in list(zip(classes, counts))[:12])
        more = f", ... ({len(classes)} classes)" if len(classes) > 12 else ""
        print(f"patch centre classes: {shown}{more}")
