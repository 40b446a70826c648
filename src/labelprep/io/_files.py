"""Finding input files: image listings, natural order, pairing by stem.

Folders are walked with symlinked sub-folders followed (each real folder once, so a
link loop ends), and :func:`source_trees` gives the real folders a listing covered: an
output check refuses to write inside any of them. A :class:`FolderScan` walks a folder
once for both questions.
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
    """Sort key where 'slice2' < 'slice10' (digits compared as numbers); names equal
    as numbers ('z1', 'z01') are ordered by the name itself, never by the file system.

    >>> sorted(["z10.png", "z2.png", "z02.png"], key=natural_key)
    ['z02.png', 'z2.png', 'z10.png']
    """
    name = Path(path).name
    parts = re.split(r"([0-9]+)", name)  # ASCII digits: int() of every one of them
    return [[int(p) if i % 2 else p.lower() for i, p in enumerate(parts)], name]


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


class FolderScan:
    """One walk of a folder tree, for everything a command needs from it.

    A command that lists a folder's images and also guards its outputs against the
    folder's real trees (:func:`list_images` and :func:`source_trees`, or
    :func:`images_by_stem`) scans once and passes the scan to each of them instead of
    the path: the tree is walked once (symlinked sub-folders followed, each real folder
    once, hidden entries skipped), and both answers come from the same walk.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b10.png", "b2.png", "notes.txt"):
    ...     _ = (root / name).write_bytes(b"")
    >>> scan = FolderScan(root)
    >>> [p.name for p in list_images(scan)]
    ['b2.png', 'b10.png']
    >>> source_trees(scan) == [root.resolve()]
    True

    Raises
    ------
    NotADirectoryError
        If ``folder`` is not a folder.
    """

    def __init__(self, folder: PathLike):
        root = Path(folder)
        if not root.is_dir():
            raise NotADirectoryError(f"not a folder: {root}")
        self.root = root
        self._folders: list[tuple[Path, list[str]]] = []  # walk order
        reals: dict[Path, None] = {}  # walk order, each once
        for dirpath, _dirs, files, real in _walk(root):
            self._folders.append((dirpath, files))
            reals[real] = None
        # keep the outermost folders only
        out: list[Path] = []
        for r in sorted(reals, key=lambda p: len(p.parts)):
            if not any(r == o or o in r.parents for o in out):
                out.append(r)
        self._trees = out

    @property
    def trees(self) -> list[Path]:
        """The real folders the walk read (:func:`source_trees`)."""
        return list(self._trees)

    def images(self, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
        """The image files found (:func:`list_images`)."""
        wanted = tuple(s.lower() for s in suffixes)
        found = [dirpath / name for dirpath, files in self._folders
                 for name in files if name.lower().endswith(wanted)]
        root = self.root
        rel = {p: p.relative_to(root) for p in found}
        return sorted(found, key=lambda p: [natural_key(part) for part in rel[p].parts])


def list_images(
    folder: PathLike | FolderScan, suffixes: Sequence[str] = IMAGE_SUFFIXES
) -> list[Path]:
    """Image files under ``folder`` (recursively), as sorted paths.

    Hidden files and folders (starting with '.') are skipped, as are files whose suffix
    (case-insensitive) is not in ``suffixes``. Symlinked sub-folders are followed, each
    real folder once (a link loop is listed once, not forever). ``folder`` may be a
    :class:`FolderScan` of it, to walk it only once for several questions.
    """
    scan = folder if isinstance(folder, FolderScan) else FolderScan(folder)
    return scan.images(suffixes)


def source_trees(folder: PathLike | FolderScan) -> list[Path]:
    """The real folders that a listing of ``folder`` reads: itself and every folder a
    symlink under it leads to (outside it too). Outputs must land in none of them.
    ``folder`` may be a :class:`FolderScan` of it (no second walk)."""
    if isinstance(folder, FolderScan):
        return folder.trees
    root = Path(folder)
    if not root.is_dir():
        return [Path(os.path.realpath(root))]
    return FolderScan(root).trees


def images_by_stem(
    folder: PathLike | FolderScan, exclude: Sequence[PathLike] = ()
) -> dict[tuple[str, str], list[Path]]:
    """Image files under ``folder`` keyed by (relative parent as posix, stem): for pairing.

    This is how a mask is found for an image (``img/a/b/x.jpg`` pairs with
    ``masks/a/b/x.*``, any image extension): look up ``(rel.parent.as_posix(), rel.stem)``.
    Several files under one key (``x.png`` and ``x.tif``) make the pairing ambiguous: the
    caller decides what to do. Files inside any ``exclude`` folder are left out.
    ``folder`` may be a :class:`FolderScan` of it (no second walk).
    """
    root = folder.root if isinstance(folder, FolderScan) else Path(folder)
    skip = [Path(e) for e in exclude]
    by_stem: dict[tuple[str, str], list[Path]] = {}
    for p in list_images(folder):
        if any(p == e or e in p.parents for e in skip):
            continue
        rel = p.relative_to(root)
        by_stem.setdefault((rel.parent.as_posix(), p.stem), []).append(p)
    return by_stem
