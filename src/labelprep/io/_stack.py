"""Reading a labelled stack: a TIFF, a ``.npy`` or a folder of 2D slices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._progress import ProgressCallback, report
from ..errors import ImageReadError
from ._files import IMAGE_SUFFIXES, TIFF_SUFFIXES, natural_key
from ._limits import check_fits
from ._read import _read_npy, _read_tiff, read_image

PathLike = str | os.PathLike


def _slice_reader(path: Path):
    """The slices of a folder stack: (sorted paths, first plane, checked reader of a slice).

    Slices are the image files directly in ``path``, in natural order; every slice must
    be 2D with the first one's shape and dtype, which the returned reader checks.
    """
    slices = sorted(
        (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
         and not p.name.startswith(".")),
        key=natural_key,
    )
    if not slices:
        raise ValueError(f"no image slices found in folder {path}")
    first = read_image(slices[0])
    if first.ndim != 2:
        raise ImageReadError(slices[0], f"expected a 2D slice, got shape {first.shape}")

    def read_slice(p: Path) -> np.ndarray:
        plane = read_image(p)
        if plane.shape != first.shape or plane.dtype != first.dtype:
            raise ImageReadError(
                p, f"slice has shape {plane.shape} and dtype {plane.dtype}, but "
                f"{slices[0].name} has shape {first.shape} and dtype {first.dtype}"
            )
        return plane

    return slices, first, read_slice


def read_stack(path: PathLike, progress: ProgressCallback | None = None) -> np.ndarray:
    """Read a labelled stack: a TIFF, a folder of 2D slices, or a ``.npy`` file.

    A folder's slices (any of :data:`IMAGE_SUFFIXES`, directly inside it) are sorted
    naturally ('z2' before 'z10') and must all have the same shape and dtype. ``.npy``
    files are memory-mapped read-only rather than loaded. ``progress(done, total)`` is
    called per slice for folders.

    Raises
    ------
    FileNotFoundError, ImageReadError, ValueError
        Missing path; unreadable file; slices of mixed shape/dtype or an empty folder.
    """
    path = Path(path)
    if path.is_dir():
        slices, first, read_slice = _slice_reader(path)
        check_fits(len(slices) * first.nbytes, path,
                   f"{len(slices)} slices of shape {first.shape} ({first.dtype})")
        stack = np.empty((len(slices), *first.shape), dtype=first.dtype)
        stack[0] = first
        report(progress, 1, len(slices))
        for i, p in enumerate(slices[1:], start=1):
            stack[i] = read_slice(p)
            report(progress, i + 1, len(slices))
        return stack
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        out = _read_npy(path, mmap=True)
    elif suffix in TIFF_SUFFIXES:
        out = _read_tiff(path)
    else:
        raise ImageReadError(
            path, "unsupported stack format (expected .tif/.tiff, .npy or a folder of slices)"
        )
    report(progress, 1, 1)
    return out


