"""Opening stacks lazily (dask), for stacks bigger than memory.

Chunk reads that fail later, inside a computation (a truncated or corrupt zarr chunk,
a broken TIFF strip), raise :class:`~labelprep.errors.ImageReadError` naming the store
and the chunk, like every other read of this project.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ImageReadError
from ._files import TIFF_SUFFIXES
from ._read import _read_npy, _reason
from ._stack import _slice_reader

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


def _lazy_slices(path: Path, chunks):
    import dask
    import dask.array as da

    slices, first, read = _slice_reader(path)
    planes = [
        da.from_delayed(dask.delayed(read, pure=True)(p), shape=first.shape, dtype=first.dtype)
        for p in slices
    ]
    stack = da.stack(planes)
    return stack if chunks is None or chunks == "auto" else stack.rechunk(chunks)


def open_lazy(path: PathLike, chunks="auto"):
    """Open a stack lazily as a dask array: nothing is read until it is computed.

    Supported: a zarr directory (v2 or v3) holding one array, or a group with
    OME-Zarr (NGFF) ``multiscales`` metadata, of which the *highest-resolution* level
    (the first dataset) is opened; a TIFF (tifffile's zarr interface: tiles, strips
    or pages are read on demand); a ``.npy`` (memory-mapped); a folder of 2D slices
    (one chunk per slice, read on demand).

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
        return _lazy_slices(path, chunks)
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
