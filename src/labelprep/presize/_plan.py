"""Planning a folder run: the folders checked, every image paired with its mask and
destination, as a list of jobs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import OutputPathError
from ..io import FolderScan, OutputTree, images_by_stem, list_images, source_trees
from ._job import _Job
from ._shape import PathLike


def check_folders(
    src: PathLike,
    dst: PathLike,
    masks: PathLike | None = None,
    masks_out: PathLike | None = None,
) -> tuple[Path, Path, Path | None, Path | None]:
    """Validate the folders of a :func:`folder` run; return them resolved.

    ``src`` (and ``masks``) must exist; ``masks_out`` is required with ``masks`` and
    differs from ``dst``; an output folder (``dst``, ``masks_out``) must not be an input
    folder (``src``, ``masks``), nor lie inside one, nor contain one (an output could
    then overwrite a source). Nothing is created. Used by :func:`folder` and the
    napari widget, so both refuse the same things with the same message.

    Symlinked folders under ``src`` and ``masks`` are inputs too: an output folder must
    not lie in, or contain, any folder they lead to.

    Raises
    ------
    ValueError
        Naming the bad argument and why.
    """
    return _check_folders(src, dst, masks, masks_out)[0]


def _check_folders(src, dst, masks, masks_out):
    """:func:`check_folders`, plus the guarded destination trees (dst's, masks_out's)
    and the scans of src and masks (for :func:`_plan`: no second walk)."""
    src_p = _resolve_dir(src, "src", must_exist=True)
    dst_p = _resolve_dir(dst, "dst", must_exist=False)
    masks_p = masks_out_p = None
    if masks is not None and str(masks) != "":
        masks_p = _resolve_dir(masks, "masks", must_exist=True)
        if masks_out is None or str(masks_out) == "":
            raise ValueError("masks_out is required when masks is given")
        masks_out_p = _resolve_dir(masks_out, "masks_out", must_exist=False)
        if masks_out_p == dst_p:
            raise ValueError("masks_out must differ from dst")
    elif masks_out is not None and str(masks_out) != "":
        raise ValueError("masks_out was given without masks")
    # outputs and inputs must not nest either way: an output could land on a source
    for out_name, out in (("dst", dst_p), ("masks_out", masks_out_p)):
        for in_name, inp in (("src", src_p), ("masks", masks_p)):
            if out is None or inp is None:
                continue
            if _inside(out, inp):
                raise ValueError(f"{out_name} {out} must not be {in_name} or inside it ({inp})")
            if _inside(inp, out):
                raise ValueError(f"{out_name} {out} must not contain {in_name} ({inp})")
    # each input folder is walked once: its real trees here, its images in _plan
    scans = (FolderScan(src_p), FolderScan(masks_p) if masks_p is not None else None)
    inputs = [t for scan in scans if scan is not None for t in source_trees(scan)]
    tree = OutputTree(dst_p, inputs)  # OutputPathError (a ValueError) if a link nests them
    mask_tree = OutputTree(masks_out_p, inputs) if masks_out_p is not None else None
    return (src_p, dst_p, masks_p, masks_out_p), (tree, mask_tree), scans


def _resolve_dir(path: PathLike, name: str, must_exist: bool) -> Path:
    if path is None or str(path) == "":
        raise ValueError(f"{name} must be a folder path, got {path!r}")
    p = Path(path).expanduser().resolve()
    if must_exist and not p.is_dir():
        raise ValueError(f"{name} is not an existing folder: {p}")
    if not must_exist and p.exists() and not p.is_dir():
        raise ValueError(f"{name} exists and is not a folder: {p}")
    return p


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _plan(
    src: Path, dst: Path, masks: Path | None, masks_out: Path | None, size, upscale, method,
    trees: tuple[OutputTree, OutputTree | None],
    scans: tuple[FolderScan | None, FolderScan | None] = (None, None),
) -> tuple[list[_Job], list[Path]]:
    exclude = [dst] + ([masks, masks_out] if masks is not None else [])
    src_scan, masks_scan = scans
    images = [p for p in list_images(src_scan or src)
              if not any(_inside(p, e) for e in exclude)]
    candidates = {}
    if masks is not None:
        skip = [dst, masks_out] + ([] if _inside(masks, src) else [src])
        candidates = images_by_stem(masks_scan or masks, skip)
    jobs, missing = [], []
    used: dict[Path, list[int]] = {}
    ambiguous: dict[int, str] = {}
    for p in images:
        rel = p.relative_to(src)
        mask_src = mask_dst = None
        if masks is not None:
            found = candidates.get((rel.parent.as_posix(), p.stem), [])
            if len(found) > 1:
                names = ", ".join(sorted(f.name for f in found))
                ambiguous[len(jobs)] = f"ambiguous: several masks for this image ({names})"
            elif found:
                mask_src = found[0]
                mrel = mask_src.relative_to(masks)
                if mrel.suffix.lower() in (".jpg", ".jpeg"):
                    mrel = mrel.with_suffix(".png")  # masks are always written losslessly
                mask_dst = masks_out / mrel  # type: ignore[operator]
                used.setdefault(mask_src, []).append(len(jobs))
            else:
                missing.append(rel)
        error = None
        try:  # a symlink planted in a destination must not lead a write into the sources
            trees[0].check(dst / rel)
            if mask_dst is not None:
                trees[1].check(mask_dst)  # type: ignore[union-attr]
        except OutputPathError as exc:
            error = str(exc)
        jobs.append(_Job(rel, p, dst / rel, mask_src, mask_dst, size, upscale, method,
                         error=error, tree=trees[0], mask_tree=trees[1]))
    for mask_src, idx in used.items():
        if len(idx) > 1:
            names = ", ".join(str(jobs[i].rel) for i in idx)
            for i in idx:
                ambiguous[i] = f"ambiguous: images {names} would share the mask {mask_src.name}"
    for i, reason in ambiguous.items():
        jobs[i] = dataclasses.replace(jobs[i], error=jobs[i].error or reason)
    return jobs, missing
