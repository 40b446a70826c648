"""Reading images and labelled stacks from disk, with errors that name the file.

One place for file reading, shared by every feature, the CLI and the widgets:

- :func:`read_image` reads one 2D (or 3D) image: TIFF (tifffile), PNG/JPEG/BMP/... (Pillow,
  EXIF orientation applied), or ``.npy``.
- :func:`read_image_pooled` is :func:`read_image` for readers that keep many decoded
  images and drop them in turn: JPEG/PNG are decoded straight into buffers recycled
  through a :class:`BufferPool` (no Pillow image memory, no copies).
- :func:`read_stack` reads a labelled stack: a (multi-page) TIFF, a folder of 2D slices
  (natural sort order), or a ``.npy`` (memory-mapped, not loaded).
- :func:`list_images` lists the image files under a folder, recursively, sorted.
- :func:`open_lazy` opens a stack lazily as a dask array (nothing read until computed):
  a zarr array or group, an OME-Zarr image (highest resolution), a (large) TIFF, a
  ``.npy`` or a folder of 2D slices. For stacks bigger than memory.

Unreadable or corrupt files raise :class:`ImageReadError` (a ``ValueError``) whose message
names the file and the reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ._progress import ProgressCallback, report

__all__ = [
    "atomic_path",
    "atomic_open",
    "BufferPool",
    "decode_into",
    "IMAGE_SUFFIXES",
    "TIFF_SUFFIXES",
    "ImageReadError",
    "is_zarr_path",
    "images_by_stem",
    "list_images",
    "natural_key",
    "open_lazy",
    "read_image",
    "read_image_pooled",
    "read_stack",
]

TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES + (".npy",)

PathLike = str | os.PathLike


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Write a file all at once: yield a temporary path beside ``path``, then rename it.

    On normal exit the temporary file replaces ``path`` with :func:`os.replace` (atomic on
    the same file system), so readers see the old file or the new one, never half of
    one. On any exception the temporary file is removed and ``path`` is left untouched.
    ``suffix`` lets libraries that choose a format by extension (Pillow, tifffile) see
    the right one, e.g. ``atomic_path("a.png", suffix=".png")``.

    Examples
    --------
    >>> with atomic_path("table.csv") as tmp:          # doctest: +SKIP
    ...     df.to_csv(tmp)
    """
    path = Path(path)
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb", **kwargs) -> Iterator:
    """``open(path, mode)`` that replaces ``path`` only if the ``with`` block succeeds."""
    if not any(c in mode for c in "wx"):
        raise ValueError(f"atomic_open is for writing; got mode {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode.replace("x", "w"), **kwargs) as f:
        yield f


class ImageReadError(ValueError):
    """A file could not be read as an image; the message names the file and why."""

    def __init__(self, path: PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")


def natural_key(path: PathLike) -> list:
    """Sort key where 'slice2' < 'slice10' (digits compared as numbers)."""
    parts = re.split(r"(\d+)", Path(path).name)
    return [int(p) if p.isdigit() else p.lower() for p in parts]


def list_images(folder: PathLike, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files under ``folder`` (recursively), as sorted paths.

    Hidden files and folders (starting with '.') are skipped, as are files whose suffix
    (case-insensitive) is not in ``suffixes``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    wanted = tuple(s.lower() for s in suffixes)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(wanted):
                found.append(Path(dirpath) / name)
    rel = {p: p.relative_to(root) for p in found}
    return sorted(found, key=lambda p: [natural_key(part) for part in rel[p].parts])


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


def _pil_array(im) -> np.ndarray:
    """The pixels of an opened Pillow image as read_image returns them (EXIF applied)."""
    from PIL import ImageOps

    ImageOps.exif_transpose(im, in_place=True)  # no copy when upright
    if im.mode == "P":
        # palette images are label images: keep the indices, not the colours
        return np.asarray(im)
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im).astype(np.uint16, copy=False)
    if im.mode not in ("1", "L", "RGB", "RGBA", "I", "F", "LA"):
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    return np.asarray(im)


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return _pil_array(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"not a readable image ({exc})") from exc


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        return tifffile.imread(path)
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError) as exc:
        raise ImageReadError(path, f"not a readable TIFF ({exc})") from exc


def _read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ImageReadError(path, f"not a readable .npy array ({exc})") from exc


def read_image(path: PathLike) -> np.ndarray:
    """Read one image file into a NumPy array.

    TIFF via tifffile, ``.npy`` via NumPy, other formats via Pillow with the EXIF
    orientation applied (so a mask stays aligned with its photo). Palette images keep
    their indices (label ids), 16-bit greyscale stays 16-bit.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageReadError
        If the file is corrupt or not an image; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return _read_tiff(path)
    if suffix == ".npy":
        return _read_npy(path)
    return _read_pil(path)


class BufferPool:
    """Decode buffers handed back for reuse by :func:`read_image_pooled`.

    A reader that keeps many decoded images and drops them in turn (the patch sampler's
    cache) gives each dropped image back with :meth:`release`; the next image of the
    same size is decoded into that memory. This saves allocating (and the kernel
    zeroing) a fresh buffer per image, and Pillow's own image memory and its copy to
    NumPy. Thread-safe. At most ``max_free`` released buffers are kept.
    """

    def __init__(self, max_free: int = 4):
        self.max_free = int(max_free)
        self._free: list[np.ndarray] = []
        self._ours: dict[int, object] = {}  # id(buffer) -> weakref(buffer)
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A writable C-contiguous buffer of ``shape`` and ``dtype`` (reused if one is free)."""
        dtype = np.dtype(dtype)
        with self._lock:
            for k, buf in enumerate(self._free):
                if buf.shape == shape and buf.dtype == dtype:
                    return self._free.pop(k)
        buf = np.empty(shape, dtype)
        with self._lock:
            self._ours = {k: r for k, r in self._ours.items() if r() is not None}
            self._ours[id(buf)] = weakref.ref(buf)
        return buf

    def release(self, array: np.ndarray | None) -> None:
        """Give back a whole image from :func:`read_image_pooled` (anything else, a crop
        or other part of one included, is ignored).

        The caller must hold no other reference to it (nor views of it): its memory
        is overwritten by a later read.
        """
        if array is None:
            return
        buf = array if array.base is None else array.base
        if not isinstance(buf, np.ndarray):
            return  # e.g. an array over bytes: not from the pool
        whole = (  # the buffer itself, or the RGB view of an RGBX buffer
            array.ctypes.data == buf.ctypes.data
            and array.shape[:2] == buf.shape[:2]
            and array.strides[:2] == buf.strides[:2]
        )
        if not whole:
            return
        with self._lock:
            ref = self._ours.get(id(buf))
            if ref is None or ref() is not buf or any(b is buf for b in self._free):
                return
            self._free.append(buf)
            del self._free[: -self.max_free or len(self._free)]


#: Pillow modes decoded straight into a NumPy buffer: (buffer channels, dtype); RGB is
#: stored by Pillow with 4 bytes per pixel, hence an RGBX buffer and a 3-channel view.
_POOLED_MODES = {"L": (1, np.uint8), "P": (1, np.uint8), "RGB": (4, np.uint8),
                 "RGBA": (4, np.uint8), "I;16": (1, np.uint16)}


def decode_into(im, pool: BufferPool | None = None) -> np.ndarray | None:
    """Load an opened Pillow image by decoding it straight into a NumPy array.

    For a JPEG or PNG of mode L, P, RGB, RGBA or I;16 (not animated), not loaded yet,
    Pillow decodes into a buffer (from ``pool``, else a new one) instead of its own
    memory, and the pixels are returned without a copy (RGB as the first 3 channels of
    an RGBX buffer), with the values of ``np.asarray(im)``: EXIF orientation is *not*
    applied. ``im`` stays usable (it is loaded, on that buffer). Returns None for
    other images, left as they were (or loaded the usual way).

    This leans on Pillow internals (``Image.core.map_buffer``, and ``load()`` decoding
    into an image core of the right mode and size that is already set): if a Pillow
    version decodes elsewhere, that is detected and None returned, so callers fall back
    to the usual copy; ``tests/test_io.py`` checks the values against ``read_image``.
    """
    from PIL import Image

    layout = _POOLED_MODES.get(im.mode)
    if (
        layout is None
        or im.format not in ("JPEG", "PNG")
        or getattr(im, "is_animated", False)
        or not getattr(im, "tile", None)  # already loaded (load() empties tile)
        or (im.mode == "I;16" and sys.byteorder != "little")
    ):
        return None
    channels, dtype = layout
    w, h = im.size
    shape = (h, w, channels) if channels > 1 else (h, w)
    buf = pool.take(shape, dtype) if pool is not None else np.empty(shape, dtype)
    core = Image.core.map_buffer(buf, im.size, "raw", 0, (im.mode, buf.strides[0], 1))
    im.im = core
    try:
        im.load()
    except BaseException:
        if pool is not None:
            pool.release(buf)
        raise
    if im.im is not core:  # the plugin decoded into memory of its own
        if pool is not None:
            pool.release(buf)
        return None
    return buf[..., :3] if im.mode == "RGB" else buf[...]


def read_image_pooled(path: PathLike, pool: BufferPool) -> np.ndarray:
    """:func:`read_image`, but JPEG/PNG decode straight into a buffer from ``pool``.

    Same values, shape and dtype as ``read_image(path)`` (EXIF orientation applied), as
    a read-only array that may be a strided view (RGB: the first 3 channels of an RGBX
    buffer, so a third more memory than a packed RGB array). Pillow decodes into the
    buffer itself: no Pillow image memory and no copy to NumPy (:func:`decode_into`).
    Give the array back with ``pool.release(array)`` once nothing uses it. Other
    formats, other modes, animations and rotated (EXIF) images are read as
    :func:`read_image` reads them.
    """
    path = Path(path)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        return read_image(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            out = decode_into(im, pool)
            if out is not None and im.getexif().get(0x0112, 1) != 1:
                # to be rotated: the usual way (a copy), then give the buffer back
                rotated = _pil_array(im)
                pool.release(out)
                return rotated
            if out is None:
                return _pil_array(im)
            out.flags.writeable = False  # as read_image's arrays
            return out
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"not a readable image ({exc})") from exc


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
            raise ValueError(
                f"slice {p.name} has shape {plane.shape} and dtype {plane.dtype}, but "
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


# ============================================================================ lazy
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
    import dask.array as da

    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("reading zarr needs zarr: pip install 'napari-labelprep[dask]'") from exc
    try:
        node = zarr.open(os.fspath(path), mode="r")
    except Exception as exc:  # zarr raises many kinds of errors for broken metadata
        raise ImageReadError(path, f"not a readable zarr store ({exc})") from exc
    arr = _zarr_array(node, path)
    return da.from_zarr(arr, chunks=chunks)


def _lazy_tiff(path: Path, chunks):
    import dask.array as da
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
    return da.from_zarr(arr, chunks=chunks)


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
