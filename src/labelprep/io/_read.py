"""Reading one image file: every decode error, truncation or CRC failure is an error.

Pillow formats are opened, fully decoded (no partial pixels from a truncated or
corrupt stream) and, for PNG, every chunk's CRC checked; TIFFs through tifffile, with
the declared size checked against the memory this machine has before anything is
allocated; ``.npy`` through NumPy. Whatever goes wrong becomes one
:class:`~labelprep.errors.ImageReadError` naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import ImageReadError
from ._files import TIFF_SUFFIXES
from ._limits import check_fits

PathLike = str | os.PathLike


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "too big for this machine's memory"
    if isinstance(exc, (IndexError, KeyError)):  # a parser walked off its structure
        return f"its structure is broken ({type(exc).__name__}: {exc})"
    text = str(exc) or type(exc).__name__
    return f"{text} ({type(exc).__name__})" if type(exc).__name__ not in text else text


def read_slice_bytes(path: PathLike, pixel_bytes: int) -> bytes | None:
    """The bytes of a slice file whose pixels take ``pixel_bytes``, for a fast path to
    decode; None if the file holds more than a plain slice could (2x its pixels + 1 MiB:
    huge metadata, other pages), which its reader (Pillow, tifffile) should stream.
    Reads exactly what the file holds: ``f.read(limit + 1)`` would allocate the whole
    limit each time, which costs more than reading a small compressed slice.

    >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> _ = p.write_bytes(b"abc"); read_slice_bytes(p, 3)
    b'abc'
    """
    limit = 2 * pixel_bytes + (1 << 20)
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size > limit:
            return None
        data = f.read()  # sized from fstat; a file grown since is caught below
    return data if len(data) <= limit else None


@contextlib.contextmanager
def open_pil(path: PathLike) -> Iterator:
    """Open an image with Pillow; any failure (also inside the block) is an
    :class:`ImageReadError` naming ``path``. Decompression bombs are refused."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            yield im
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for broken files
        raise ImageReadError(path, f"not a readable image: {_reason(exc)}") from exc


def verify_png(path: PathLike) -> None:
    """Check every chunk's CRC of a PNG file (Pillow's ``verify``); raise if one fails.

    Pillow's decoder skips the CRCs of the pixel data, so a flipped byte there can
    decode to wrong pixels without an error.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"corrupt PNG: {_reason(exc)}") from exc


def load_pil(im, path: PathLike) -> None:
    """Decode an opened Pillow image completely, strictly (PNG: CRCs checked too)."""
    from PIL import ImageFile

    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone allowed partial pixels: not here
        raise ImageReadError(path, "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; refusing "
                                   "to read images that may be truncated")
    try:
        im.load()
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"not a readable image: {_reason(exc)}") from exc
    if im.format == "PNG" and not getattr(im, "_labelprep_crc_checked", False):
        verify_png(path)
        im._labelprep_crc_checked = True


def pil_orientation(im, path: PathLike, decode: bool = True) -> int:
    """EXIF orientation (1..8) of an opened image; 1 when absent or unparsable.

    For formats whose EXIF may follow the pixels (PNG), the image is decoded first,
    strictly, so that a decode error is never mistaken for broken EXIF; with
    ``decode=False`` (a header-only look, e.g. for shapes) only the EXIF found before
    the pixels is read.
    """
    from PIL import Image

    pending = bool(getattr(im, "tile", None)) and im.format not in ("JPEG", "MPO")
    if pending and decode:
        load_pil(im, path)
        pending = False
    try:
        if pending:
            data = im.info.get("exif")
            if not data:
                return 1
            exif = Image.Exif()
            exif.load(data)
        else:
            exif = im.getexif()
        value = int(exif.get(0x0112, 1))
    except Exception:  # noqa: BLE001 - broken EXIF metadata must not fail the image
        return 1
    return value if value in range(1, 9) else 1


def pil_to_array(im) -> np.ndarray:
    """The pixels of a loaded Pillow image as this project reads them.

    Palette images keep their indices (label ids), 16-bit greyscale stays uint16, 1-bit
    images are bool with values 0/1, other modes become L, LA, RGB, RGBA, I or F.
    """
    if im.mode == "P":
        return np.asarray(im)
    if im.mode == "1":
        # np.asarray of mode "1" can hold bytes 0/255 behind a bool dtype: compare instead
        return np.asarray(im.convert("L")) != 0
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im).astype(np.uint16, copy=False)
    if im.mode not in ("L", "RGB", "RGBA", "I", "F", "LA"):
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    return np.asarray(im)


def _pil_array(im, path: PathLike) -> np.ndarray:
    """Pixels of an opened image, decoded strictly, EXIF orientation applied."""
    from PIL import ImageOps

    load_pil(im, path)
    ImageOps.exif_transpose(im, in_place=True)  # no copy when upright
    return pil_to_array(im)


def _read_pil(path: Path) -> np.ndarray:
    with open_pil(path) as im:
        return _pil_array(im, path)


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            check_fits(int(np.prod(series.shape, dtype=np.int64)) * series.dtype.itemsize,
                       path, f"a {series.dtype} array of shape {tuple(series.shape)}")
            return tif.asarray()
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile, zlib, imagecodecs errors
        raise ImageReadError(path, f"not a readable TIFF: {_reason(exc)}") from exc


def _read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"not a readable .npy array: {_reason(exc)}") from exc
    if not isinstance(arr, np.ndarray) or arr.dtype.hasobject:
        raise ImageReadError(path, "not a plain .npy array")
    expected = arr.nbytes + arr.offset if isinstance(arr, np.memmap) else arr.nbytes
    if path.stat().st_size < expected:
        raise ImageReadError(path, "truncated .npy file")
    if mmap:
        return arr
    check_fits(arr.nbytes, path, f"a {arr.dtype} array of shape {arr.shape}")
    try:
        return np.array(arr)
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"not a readable .npy array: {_reason(exc)}") from exc


def read_image(path: PathLike) -> np.ndarray:
    """Read one image file into a NumPy array.

    TIFF via tifffile, ``.npy`` via NumPy, other formats via Pillow with the EXIF
    orientation applied (so a mask stays aligned with its photo). Palette images keep
    their indices (label ids), 16-bit greyscale stays 16-bit, 1-bit images are bool.
    Every decode error, truncation or CRC failure is an error: no partial pixels.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageReadError
        If the file is corrupt, truncated, not an image, or declares more pixels than
        this machine's memory holds; the message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.npy"
    >>> np.save(p, np.eye(2, dtype=np.uint8))
    >>> read_image(p)
    array([[1, 0],
           [0, 1]], dtype=uint8)
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
def image_size(path: PathLike) -> tuple[int, int]:
    """(height, width) of an image file, EXIF orientation applied, from its header only
    (no pixel is decoded). Raises :class:`ImageReadError` naming the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.npy"
    >>> np.save(p, np.zeros((3, 5), np.uint8))
    >>> image_size(p)
    (3, 5)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                shape = tuple(tif.series[0].shape)
        except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds
            raise ImageReadError(path, f"not a readable TIFF: {_reason(exc)}") from exc
    elif suffix == ".npy":
        shape = _read_npy(path, mmap=True).shape
    else:
        with open_pil(path) as im:
            h, w = im.height, im.width
            return (w, h) if pil_orientation(im, path, decode=False) in (5, 6, 7, 8) else (h, w)
    if len(shape) < 2:
        raise ImageReadError(path, f"not an image: shape {shape}")
    return int(shape[0]), int(shape[1])


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
    with open_pil(path) as im:
        out = decode_into(im, pool)
        if out is None:
            return _pil_array(im, path)
        try:
            load_pil(im, path)  # decoded already: checks the PNG CRCs
            rotated = pil_orientation(im, path) != 1
        except BaseException:
            pool.release(out)
            raise
        if rotated:  # the usual way (a copy), then give the buffer back
            arr = _pil_array(im, path)
            pool.release(out)
            return arr
        out.flags.writeable = False  # as read_image's arrays
        return out
