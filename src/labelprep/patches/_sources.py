"""The images and masks given to a sampler: lists, folders or arrays, masks matched by name."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import list_images
from ._options import PathLike


def match_masks(
    images: Sequence[PathLike],
    image_root: PathLike,
    mask_root: PathLike,
    suffix: str = "",
) -> list[Path]:
    """The mask file of every image: same relative folder and stem under ``mask_root``.

    ``image_root/a/b/img7.jpg`` is paired with ``mask_root/a/b/img7{suffix}.*`` (any
    image extension, e.g. ``.png``). Raises FileNotFoundError listing images without a
    mask, or ValueError when a stem matches several mask files.

    ``mask_root`` may be an :class:`~labelprep.io.FolderScan` of the mask folder (a
    caller that walked it already, e.g. for its source trees, does not walk it again).

    >>> match_masks(["data/img/x.jpg"], "data/img", "data/masks")  # doctest: +SKIP
    [PosixPath('data/masks/x.png')]
    """
    from ..io import FolderScan, images_by_stem

    scan = mask_root if isinstance(mask_root, FolderScan) else None
    image_root = Path(image_root)
    mask_root = scan.root if scan is not None else Path(mask_root)
    if not mask_root.is_dir():
        raise NotADirectoryError(f"mask folder not found: {mask_root}")
    candidates = images_by_stem(scan or mask_root)
    out, missing = [], []
    for path in images:
        path = Path(path)
        try:
            rel = path.relative_to(image_root)
        except ValueError:
            rel = Path(path.name)
        folder = mask_root / rel.parent
        found = candidates.get((rel.parent.as_posix(), rel.stem + suffix), [])
        if not found:
            missing.append(str(rel))
        elif len(found) > 1:
            names = ", ".join(f.name for f in found)
            raise ValueError(f"image {path} matches several masks in {folder}: {names}")
        else:
            out.append(found[0])
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(
            f"no mask named <stem>{suffix}.<ext> in {mask_root} for {len(missing)} image(s): "
            f"{', '.join(missing[:5])}{more}"
        )
    return out


def _is_pathlike(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _as_sources(x: Any, what: str) -> list:
    """A list of paths or arrays from a list, a folder, a single path or a single array."""
    if _is_pathlike(x):
        path = Path(x)
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise ValueError(f"{what}: no image files found in folder {path}")
            return found
        if not path.is_file():
            raise FileNotFoundError(f"{what}: no such file or folder: {path}")
        return [path]
    if isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "__array__")):
        return [x]
    if not isinstance(x, Sequence):
        raise TypeError(
            f"{what} must be a list of paths or arrays, a folder or one array, "
            f"got {type(x).__name__}"
        )
    out = []
    for i, item in enumerate(x):
        if _is_pathlike(item):
            if not Path(item).is_file():
                raise FileNotFoundError(f"{what}[{i}]: no such file: {item}")
            out.append(Path(item))
        elif hasattr(item, "shape") and hasattr(item, "__array__"):
            out.append(item)
        else:
            raise TypeError(
                f"{what}[{i}] must be a path or an array, got {type(item).__name__}"
            )
    return out


def _name(source: Any, i: int, what: str) -> str:
    return str(source) if isinstance(source, Path) else f"{what}[{i}] (array)"
