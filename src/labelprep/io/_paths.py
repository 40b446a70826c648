"""Output-path checks: the one place that decides where this project may write.

Two checks, both made before any work starts and again at each write:

- :func:`check_output_file` for a single output file (``--out objects.npz``,
  ``--csv table.csv``): the extension is one the command writes, the folder exists, the
  path is not a folder, and its real path (symlinks resolved) is not a source file nor
  inside a source tree.
- :class:`OutputTree` for a destination folder that a batch fills (presize's ``dst``, a
  folder of decoded masks): every file written and every folder created resolves
  (symlinks followed) to a place inside the destination's real folder and outside
  every source tree; anything else is refused, per file, with the reason.

Refusals are :class:`~labelprep.errors.OutputPathError` (a ``ValueError``): the
commands report them as usage errors (exit 2) up front, or as that file's failure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import OutputPathError, _shown

PathLike = str | os.PathLike


def real(path: PathLike) -> Path:
    """``path`` with every symlink resolved, whether or not it exists."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _source_reals(sources: Iterable[PathLike]) -> list[Path]:
    return [real(s) for s in sources]


def _inside_source(target: Path, sources: Sequence[Path]) -> Path | None:
    for s in sources:
        if _within(target, s):
            return s
    return None


def check_output_file(
    path: PathLike,
    *,
    suffixes: Sequence[str] | None = None,
    sources: Iterable[PathLike] = (),
    what: str = "output",
    create_folder: bool = False,
) -> Path:
    """Check a single output file path before any work; return it as a ``Path``.

    Parameters
    ----------
    path : path
        The file to be written (it may exist: it is then replaced atomically).
    suffixes : sequence of str, optional
        Allowed endings, case-insensitive (e.g. ``(".npz",)`` or ``(".rle.json",)``).
    sources : paths
        Input files and folders: the output must not be one of them, nor inside one
        (symlinks resolved, so a link into the sources is refused too).
    what : str
        How the message names the path, e.g. ``"--csv"``.
    create_folder : bool
        Whether a missing parent folder is acceptable (the caller creates it). By
        default it must exist.

    Raises
    ------
    OutputPathError
        Naming ``what``, the path and the reason.

    Examples
    --------
    >>> check_output_file("objects.txt", suffixes=(".npz",), what="--out")
    Traceback (most recent call last):
    ...
    labelprep.errors.OutputPathError: --out objects.txt: must end with .npz
    """
    p = Path(path)
    shown = _shown(p)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise OutputPathError(f"{what} {shown!r}: not a file name")
    if suffixes is not None and not p.name.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise OutputPathError(f"{what} {shown}: must end with {' or '.join(suffixes)}")
    if p.is_dir():
        raise OutputPathError(f"{what} {shown}: is a folder, not a file")
    parent = p.parent
    if not parent.is_dir():
        if parent.exists():
            raise OutputPathError(f"{what} {shown}: {_shown(parent)} is not a folder")
        if not create_folder:
            raise OutputPathError(f"{what} {shown}: folder {_shown(parent)} does not exist")
        ancestor = parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise OutputPathError(f"{what} {shown}: {_shown(ancestor)} is not a folder")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {shown}: folder {_shown(parent)} is not writable")
    target = real(p)
    source = _inside_source(target, _source_reals(sources))
    if source is not None:
        raise OutputPathError(
            f"{what} {shown}: would write {'over' if target == source else 'inside'} the "
            f"input {_shown(source)}"
        )
    return p


class OutputTree:
    """A destination folder that a batch writes into, guarded file by file.

    ``root`` is the destination as the user named it (it may not exist yet);
    ``sources`` are the input trees and files. :meth:`prepare` checks one output path
    (and creates its missing folders, each checked as it is made) and returns it; it
    raises :class:`OutputPathError` if the file, or any folder on the way, resolves to
    a place outside the destination's real folder or inside a source (a symlink planted
    in the destination, a folder shared with the sources...).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> tree = OutputTree(base / "dst", sources=[base / "src"])
    >>> tree.prepare(base / "dst" / "a" / "b.png").parent.is_dir()
    True
    """

    def __init__(self, root: PathLike, sources: Iterable[PathLike] = ()):
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.sources = _source_reals(sources)
        self.real_root = real(self.root)
        source = _inside_source(self.real_root, self.sources)
        if source is not None:
            raise OutputPathError(
                f"output folder {_shown(self.root)} is inside the input {_shown(source)}"
            )
        for s in self.sources:
            if _within(s, self.real_root):
                raise OutputPathError(
                    f"output folder {_shown(self.root)} contains the input {_shown(s)}"
                )

    def _check(self, p: Path, kind: str) -> None:
        target = real(p)
        if not _within(target, self.real_root):
            raise OutputPathError(
                f"refusing to write {_shown(p)}: this {kind} leads outside "
                f"{_shown(self.root)} (to {_shown(target)}, through a symlink)"
            )
        source = _inside_source(target, self.sources)
        if source is not None:
            raise OutputPathError(
                f"refusing to write {_shown(p)}: this {kind} leads into the input "
                f"{_shown(source)} (to {_shown(target)})"
            )

    def prepare(self, path: PathLike) -> Path:
        """Check ``path`` (inside the root), create its missing folders; return it."""
        p = Path(os.path.abspath(os.fspath(path)))
        if not _within(p, self.root):
            raise OutputPathError(f"refusing to write {_shown(p)}: not inside {_shown(self.root)}")
        if not self.root.is_dir():
            # other writers may create it at the same moment: mkdir, then look
            with contextlib.suppress(FileExistsError):
                self.root.mkdir(parents=True, exist_ok=True)
            if not self.root.is_dir():
                raise OutputPathError(f"output folder {_shown(self.root)} is not a folder")
        # each folder from the root down, created one at a time and checked once made
        chain = [p.parent, *p.parent.parents]
        for folder in reversed(chain[: chain.index(self.root) + 1] if self.root in chain else []):
            if not folder.is_dir():
                # another writer may create it at the same moment: mkdir, then look
                with contextlib.suppress(FileExistsError):
                    folder.mkdir()
                if not folder.is_dir():  # a file, or a dangling symlink, is in the way
                    raise OutputPathError(
                        f"refusing to write {_shown(p)}: {_shown(folder)} is not a folder"
                    )
            self._check(folder, "folder")
        if p.is_dir():
            raise OutputPathError(f"refusing to write {_shown(p)}: it is a folder")
        self._check(p, "file")
        return p

    def check(self, path: PathLike) -> Path:
        """Check ``path`` without creating anything (for planning a run); return it."""
        p = Path(os.path.abspath(os.fspath(path)))
        if not _within(p, self.root):
            raise OutputPathError(f"refusing to write {_shown(p)}: not inside {_shown(self.root)}")
        for folder in [p.parent, *p.parent.parents]:
            if folder.exists() or folder.is_symlink():
                self._check(folder, "folder")
            if folder == self.root:
                break
        if p.exists() or p.is_symlink():
            self._check(p, "file")
        return p


def check_collisions(pairs: Iterable[tuple[PathLike, PathLike]]) -> None:
    """Refuse two inputs written to one output: ``pairs`` are (input, output).

    Raises
    ------
    OutputPathError
        Naming both inputs and the output they share.
    """
    seen: dict[str, PathLike] = {}
    for src, dst in pairs:
        key = os.path.normcase(os.path.abspath(os.fspath(dst)))
        if key in seen:
            raise OutputPathError(
                f"{_shown(seen[key])} and {_shown(src)} would both be written to {_shown(dst)}"
            )
        seen[key] = src
