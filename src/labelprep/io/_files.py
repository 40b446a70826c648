"""Finding input files: image listings, natural order, pairing by stem.

Folders are walked with symlinked sub-folders followed (each real folder once, so a
link loop ends), and :func:`source_trees` gives the real folders a listing covered: an
output check refuses to write inside any of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

PathLike = str | os.PathLike

TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES + (".npy",)


def natural_key(path: PathLike) -> list:
    """Sort key where 'slice2' < 'slice10' (digits compared as numbers).

    >>> sorted(["z10.png", "z2.png"], key=natural_key)
    ['z2.png', 'z10.png']
    """
    parts = re.split(r"(\d+)", Path(path).name)
    return [int(p) if p.isdigit() else p.lower() for p in parts]


def _walk(root: Path):
    """``os.walk`` that follows symlinked folders, visiting each real folder once.

    Yields (folder as reached from ``root``, sub-folder names, file names, real folder).
    Hidden entries (starting with '.') are skipped.
    """
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:  # a link loop, or two links to one folder: list it once
            continue
        seen.add(key)
        dirs, files = [], []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():  # follows symlinks
                    dirs.append(entry.name)
                elif entry.is_file():
                    files.append(entry.name)
            except OSError:
                continue
        yield folder, dirs, files, Path(os.path.realpath(folder))
        stack.extend(folder / d for d in reversed(dirs))


def list_images(folder: PathLike, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files under ``folder`` (recursively), as sorted paths.

    Hidden files and folders (starting with '.') are skipped, as are files whose suffix
    (case-insensitive) is not in ``suffixes``. Symlinked sub-folders are followed, each
    real folder once (a link loop is listed once, not forever).
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    wanted = tuple(s.lower() for s in suffixes)
    found = []
    for dirpath, _dirs, files, _real in _walk(root):
        found.extend(dirpath / name for name in files if name.lower().endswith(wanted))
    rel = {p: p.relative_to(root) for p in found}
    return sorted(found, key=lambda p: [natural_key(part) for part in rel[p].parts])


def source_trees(folder: PathLike) -> list[Path]:
    """The real folders that a listing of ``folder`` reads: itself and every folder a
    symlink under it leads to (outside it too). Outputs must land in none of them."""
    root = Path(folder)
    if not root.is_dir():
        return [Path(os.path.realpath(root))]
    reals = {real for _p, _d, _f, real in _walk(root)}
    # keep the outermost folders only
    out = []
    for r in sorted(reals, key=lambda p: len(p.parts)):
        if not any(r == o or o in r.parents for o in out):
            out.append(r)
    return out


def images_by_stem(
    folder: PathLike, exclude: Sequence[PathLike] = ()
) -> dict[tuple[str, str], list[Path]]:
    """Image files under ``folder`` keyed by (relative parent as posix, stem): for pairing.

    This is how a mask is found for an image (``img/a/b/x.jpg`` pairs with
    ``masks/a/b/x.*``, any image extension): look up ``(rel.parent.as_posix(), rel.stem)``.
    Several files under one key (``x.png`` and ``x.tif``) make the pairing ambiguous: the
    caller decides what to do. Files inside any ``exclude`` folder are left out.
    """
    root = Path(folder)
    skip = [Path(e) for e in exclude]
    by_stem: dict[tuple[str, str], list[Path]] = {}
    for p in list_images(root):
        if any(p == e or e in p.parents for e in skip):
            continue
        rel = p.relative_to(root)
        by_stem.setdefault((rel.parent.as_posix(), p.stem), []).append(p)
    return by_stem
