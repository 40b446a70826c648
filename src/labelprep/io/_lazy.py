"""Opening stacks lazily (dask), for stacks bigger than memory.

Chunk reads that fail later, inside a computation (a truncated or corrupt zarr chunk,
a broken TIFF strip), raise :class:`~labelprep.errors.ImageReadError` naming the store
and the chunk, like every other read of this project.

A folder of colour-coded slices (RGB/RGBA) opens as uint32 ids (see
:func:`~labelprep.io.colours_to_labels`). The ids must be stack-wide and reproducible,
so opening such a folder makes one first pass over every file, in parallel, to collect
the colours (that reads each file once and keeps only a 16 MB table, not the stack);
each slice is then decoded again when dask computes it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._progress import ProgressCallback
from ..errors import ImageReadError
from ._colour import ColourCoder, _workers
from ._files import TIFF_SUFFIXES
from ._label_formats import PaletteGuard
from ._parallel import parallel, scratch
from ._read import _read_npy, _reason
from ._stack import LabelStack, check_like, first_slice, list_slices, read_slice

PathLike = str | os.PathLike


class _CheckedArray:
    """An array-like over a zarr array whose failed reads name the store and region."""

    def __init__(self, arr, path: Path):
        self._arr = arr
        self._path = path
        self.shape = tuple(arr.shape)
        self.dtype = arr.dtype
        self.ndim = len(self.shape)
        self.chunks = tuple(arr.chunks)
        self._token = ("labelprep-zarr", os.fspath(path), str(getattr(arr, "path", "")),
                       self.shape, str(self.dtype), self.chunks)

    def __dask_tokenize__(self):
        return self._token

    def __getitem__(self, key):
        try:
            return self._arr[key]
        except Exception as exc:  # noqa: BLE001 - codecs raise many kinds
            where = ", ".join(
                f"{k.start or 0}:{k.stop}" if isinstance(k, slice) else str(k)
                for k in (key if isinstance(key, tuple) else (key,))
            )
            raise ImageReadError(
                self._path, f"chunk at [{where}] cannot be read: {_reason(exc)}"
            ) from exc


def _from_zarr(arr, path: Path, chunks):
    import dask.array as da

    checked = _CheckedArray(arr, path)
    if chunks is None:
        chunks = checked.chunks
    return da.from_array(checked, chunks=chunks, asarray=False, fancy=False)


def is_zarr_path(path: PathLike) -> bool:
    """True if ``path`` is a directory holding zarr (v2 or v3) metadata (never raises)."""
    try:
        p = Path(path)
        return p.is_dir() and any(
            (p / name).is_file() for name in ("zarr.json", ".zarray", ".zgroup", ".zattrs")
        )
    except OSError:
        return False


def _multiscale_path(attrs: dict) -> str | None:
    """Path of the highest-resolution dataset of an OME-Zarr (NGFF) image, or None.

    NGFF <= 0.4 keeps ``multiscales`` in the group attributes, 0.5 under ``ome``.
    ``datasets`` are ordered from highest to lowest resolution.
    """
    multiscales = attrs.get("multiscales")
    if multiscales is None and isinstance(attrs.get("ome"), dict):
        multiscales = attrs["ome"].get("multiscales")
    try:
        return str(multiscales[0]["datasets"][0]["path"])
    except (TypeError, KeyError, IndexError):
        return None


def _zarr_array(node, path: Path):
    """The array to open in a zarr node: itself, an OME-Zarr's level 0, or the only array."""
    import zarr

    if isinstance(node, zarr.Array):
        return node
    attrs = dict(node.attrs)
    if "labelprep_index_version" in attrs:
        raise ImageReadError(
            path, "this is a labelprep voxel index, not a stack: open it with "
            "labelprep.chunked.open_index"
        )
    level = _multiscale_path(attrs)
    if level is not None:
        try:
            return _zarr_array(node[level], path)
        except KeyError:
            raise ImageReadError(
                path, f"OME-Zarr multiscale dataset {level!r} is missing"
            ) from None
    names = sorted(node.array_keys())
    if len(names) == 1:
        return node[names[0]]
    groups = sorted(node.group_keys())
    if not names:
        hint = f" (it holds groups {', '.join(groups)}: open one of them)" if groups else ""
        raise ImageReadError(path, f"zarr group holds no array{hint}")
    raise ImageReadError(
        path, f"zarr group holds several arrays ({', '.join(names)}) and no OME-Zarr "
        f"multiscales metadata: open one of them, e.g. {path / names[0]}"
    )


def _lazy_zarr(path: Path, chunks):

    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("reading zarr needs zarr: pip install 'napari-labelprep[dask]'") from exc
    try:
        node = zarr.open(os.fspath(path), mode="r")
    except Exception as exc:  # zarr raises many kinds of errors for broken metadata
        raise ImageReadError(path, f"not a readable zarr store ({exc})") from exc
    arr = _zarr_array(node, path)
    return _from_zarr(arr, path, chunks)


def _lazy_tiff(path: Path, chunks):
    import tifffile
    import zarr

    try:
        store = tifffile.imread(path, aszarr=True)
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError,
            NotImplementedError) as exc:
        raise ImageReadError(path, f"not a readable TIFF ({exc})") from exc
    try:
        node = zarr.open(store, mode="r")
        arr = _zarr_array(node, path)
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(path, f"TIFF cannot be read lazily ({exc})") from exc
    return _from_zarr(arr, path, chunks)


class _SliceReader:
    """One slice for dask, checked against the first; colour slices become ids."""

    def __init__(self, first: np.ndarray, first_path: Path, coder: ColourCoder | None,
                 guard: PaletteGuard):
        self.first, self.first_path, self.coder, self.guard = first, first_path, coder, guard
        self._token = ("labelprep-slice", os.fspath(first_path), first.shape, str(first.dtype),
                       None if coder is None else coder.colours.tobytes())

    def __dask_tokenize__(self):
        return self._token

    def __call__(self, p: Path) -> np.ndarray:
        into = np.empty(self.first.shape, self.first.dtype)  # PNG: decoded into it
        arr = read_slice(p, into, labels=True, guard=self.guard)
        check_like(p, arr, self.first, self.first_path)
        if self.coder is None:
            return arr
        out = np.empty(arr.shape[:2], np.uint32)
        self.coder.pack(arr, out)
        try:
            self.coder.remap(out)
        except ValueError as exc:
            raise ImageReadError(p, str(exc)) from None
        return out


def _lazy_slices(path: Path, chunks, progress=None, background=None, workers=None
                 ) -> LabelStack:
    import dask
    import dask.array as da

    slices = list_slices(path, labels=True)
    guard = PaletteGuard()
    first, colour = first_slice(slices, labels=True, guard=guard)
    coder = None
    if colour:  # first pass: every slice's colours, for stack-wide ids
        coder = ColourCoder(first.shape[-1], (0, 0, 0) if background is None else background)
        plane = first.shape[:2]

        def collect(i: int) -> None:
            arr = first if i == 0 else read_slice(slices[i], scratch(first.shape))
            check_like(slices[i], arr, first, slices[0])
            coder.pack(arr, scratch(plane, np.uint32))

        parallel(collect, len(slices), _workers(workers), progress)
        coder.finish()
    read = _SliceReader(first, slices[0], coder, guard)
    shape = first.shape[:2] if colour else first.shape
    dtype = np.uint32 if colour else first.dtype
    planes = [
        da.from_delayed(dask.delayed(read, pure=True)(p), shape=shape, dtype=dtype)
        for p in slices
    ]
    stack = da.stack(planes)
    stack = stack if chunks is None or chunks == "auto" else stack.rechunk(chunks)
    return LabelStack(stack, None if coder is None else coder.colours, path)


def open_lazy_labels(
    path: PathLike,
    chunks="auto",
    progress: ProgressCallback | None = None,
    *,
    background: Sequence[int] | None = None,
    workers: int | None = None,
) -> LabelStack:
    """:func:`open_lazy` for labels, with the colours of a colour-coded folder.

    A folder of RGB/RGBA slices opens as uint32 ids exactly as
    :func:`read_label_stack` reads it (same ids, same ``colours``), after a first
    pass over every file that collects the colours (``progress(done, total)`` per
    slice, ``workers`` threads). Anything else is ``open_lazy(path, chunks)`` with
    ``colours=None``. A colour-coded TIFF is refused: read it with
    :func:`read_label_stack`.

    Examples
    --------
    >>> s = open_lazy_labels("colour_slices/")        # doctest: +SKIP
    >>> s.labels.dtype, s.colours.shape               # doctest: +SKIP
    (dtype('uint32'), (152034, 3))
    """
    path = Path(path)
    if path.is_dir() and not (is_zarr_path(path) or path.suffix.lower() == ".zarr"):
        return _lazy_slices(path, chunks, progress, background, workers)
    if path.is_file() and path.suffix.lower() in TIFF_SUFFIXES:
        _refuse_colour_tiff(path)
    return LabelStack(open_lazy(path, chunks), None, path)


def _refuse_colour_tiff(path: Path) -> None:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            colour = tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"not a readable TIFF ({exc})") from exc
    if colour:
        raise ImageReadError(path, "a colour-coded (RGB) TIFF cannot be read lazily: read it "
                                   "whole (without --lazy), or save it as a folder of slices")


def open_lazy(path: PathLike, chunks="auto"):
    """Open a stack lazily as a dask array: nothing is read until it is computed.

    Supported: a zarr directory (v2 or v3) holding one array, or a group with
    OME-Zarr (NGFF) ``multiscales`` metadata, of which the *highest-resolution* level
    (the first dataset) is opened; a TIFF (tifffile's zarr interface: tiles, strips
    or pages are read on demand); a ``.npy`` (memory-mapped); a folder of 2D slices
    (one chunk per slice, read on demand; colour-coded RGB/RGBA slices become uint32
    ids after a first pass over the files, see :func:`open_lazy_labels`; JPEG slices
    are refused, as for every label read).

    Parameters
    ----------
    path : str or Path
    chunks : "auto", None, int or tuple
        dask chunking. ``"auto"`` (default): multiples of the storage chunks (zarr
        chunks, TIFF tiles or pages) of about dask's ``array.chunk-size`` (128 MiB by
        default), so that a TIFF of thousands of pages is not thousands of tasks.
        ``None`` keeps the storage chunks.

    Returns
    -------
    dask.array.Array

    Raises
    ------
    FileNotFoundError, ImageReadError, ValueError
        Missing path; unreadable or unsupported file or store (the message names
        it); a folder with no slices or slices of mixed shape.

    Examples
    --------
    >>> stack = open_lazy("labels.zarr")            # doctest: +SKIP
    >>> from labelprep import LabelIndex
    >>> idx = LabelIndex.build(stack)               # doctest: +SKIP
    """
    import dask.array as da

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        if is_zarr_path(path) or path.suffix.lower() == ".zarr":
            return _lazy_zarr(path, chunks)
        return _lazy_slices(path, chunks).labels
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return _lazy_tiff(path, chunks)
    if suffix == ".npy":
        arr = _read_npy(path, mmap=True)
        return da.from_array(arr, chunks=chunks if chunks is not None else "auto")
    raise ImageReadError(
        path, "unsupported stack format for lazy reading (expected a zarr or OME-Zarr "
        "folder, .tif/.tiff, .npy or a folder of slices)"
    )
