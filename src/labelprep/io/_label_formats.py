"""Files that cannot hold labels: lossy compression, or colours Pillow would narrow.

A label image must come back with exactly the values it was saved with: one changed
pixel is a new object, or a voxel moved to another one. JPEG and lossy WebP invent new
colours and values at object borders (a 64 x 64 image of 64 random colours saved as
lossy WebP at quality 90 decodes to about 4000 colours); a PNG with 16 bits per RGB
channel is read by Pillow with 8, which would merge colours that differ only in their
low byte. For labels these are refused, naming the file and the reason, before any
pixel is decoded.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path

from ..errors import ImageReadError

__all__ = ["DEEP_RGB_TIFF_REASON", "JPEG_REASON", "LOSSY_TIFF_COMPRESSIONS", "RGB16_REASON",
           "WEBP_REASON", "check_label_format", "check_tiff_compression", "is_jpeg_name",
           "webp_is_lossy", "PaletteGuard", "pil_palette", "tiff_palette"]

JPEG_REASON = ("JPEG cannot hold labels: its lossy compression invents new colours and "
               "values at object borders; save the labels as PNG or TIFF")
WEBP_REASON = ("lossy WebP cannot hold labels: its compression invents new colours and "
               "values at object borders; save the labels as PNG, TIFF or lossless WebP")
RGB16_REASON = ("a PNG with 16 bits per colour channel cannot be read as colour-coded "
                "labels: Pillow reads 8 bits per channel, which would merge colours that "
                "differ only in their low byte; save the colours with 8 bits per channel, "
                "or the ids as a 16- or 32-bit grey image")
DEEP_RGB_TIFF_REASON = ("an RGB TIFF with {dtype} samples cannot be read as colour-coded "
                        "labels: colours are read with 8 bits per channel; save them so, "
                        "or the ids as a 16- or 32-bit grey image")
LOSSY_TIFF_REASON = ("{name}-compressed TIFF cannot hold labels: that compression is "
                     "lossy, or may be, and a changed value is a new object; save the "
                     "labels with zlib, LZW, zstd or no compression")
#: TIFF compressions that are lossy, or may be (JPEG 2000, JPEG XL, WebP, LERC have
#: lossless modes the file does not tell apart without decoding): refused for labels
LOSSY_TIFF_COMPRESSIONS = frozenset({
    6, 7, 99, 33007, 34892,  # OJPEG, JPEG, JPEG_99, ALT_JPEG, JPEG_LOSSY
    22610, 34934,  # JPEG XR (NDPI, standard)
    33003, 33004, 33005, 34712,  # JPEG 2000
    34887,  # LERC
    34927, 50001,  # WebP
    50002, 52546,  # JPEG XL
})
_JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")
_CHUNK = struct.Struct("<4sI")


def is_jpeg_name(path: Path) -> bool:
    """Whether the file name says JPEG (checked before the file is opened)."""
    return path.suffix.lower() in _JPEG_SUFFIXES


def webp_is_lossy(path: Path) -> bool:
    """Whether a WebP file holds any lossy (``VP8``) bitstream: a still image's, or a
    frame's of an animation (lossless ones are ``VP8L``). Walks the RIFF chunks' headers.

    >>> import tempfile, pathlib, numpy as np; from PIL import Image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.webp"
    >>> Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(p, lossless=True)
    >>> webp_is_lossy(p)
    False
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
            return False  # not a WebP: Pillow says what it is

        def walk(end: int) -> bool:
            pos = f.tell()
            while pos + 8 <= end:
                f.seek(pos)
                header = f.read(8)
                if len(header) < 8:
                    return False
                kind, size = _CHUNK.unpack(header)
                if kind == b"VP8 ":
                    return True
                if kind == b"ANMF":  # a frame: 16 bytes of its header, then its chunks
                    f.seek(pos + 8 + 16)
                    if walk(min(end, pos + 8 + size)):
                        return True
                pos += 8 + size + (size & 1)
            return False

        f.seek(0, 2)
        file_end = f.tell()
        f.seek(12)
        return walk(file_end)


def check_label_format(path: Path, im) -> None:
    """Refuse an opened Pillow image that cannot hold labels (JPEG, lossy WebP, an
    animation, a PNG with 16 bits per colour channel), raising :class:`ImageReadError`
    naming ``path``."""
    if im.format in ("JPEG", "MPO"):
        raise ImageReadError(path, JPEG_REASON)
    if im.format == "WEBP" and webp_is_lossy(path):
        raise ImageReadError(path, WEBP_REASON)
    if getattr(im, "is_animated", False):
        raise ImageReadError(path, f"an animated {im.format} ({im.n_frames} frames) cannot "
                             "be a label slice: only its first frame would be read; save "
                             "each frame as its own slice")
    if im.format == "PNG" and im.mode in ("RGB", "RGBA") and any(
            ";16" in str(tile[3]) for tile in im.tile):  # (codec, extents, offset, rawmode)
        raise ImageReadError(path, RGB16_REASON)


def check_tiff_compression(path: Path, compression) -> None:
    """Refuse a TIFF page whose compression (a ``tifffile.COMPRESSION`` or its code) is,
    or may be, lossy (:data:`LOSSY_TIFF_COMPRESSIONS`), naming ``path``."""
    if int(compression) in LOSSY_TIFF_COMPRESSIONS:
        name = getattr(compression, "name", None) or f"compression {int(compression)}"
        raise ImageReadError(path, LOSSY_TIFF_REASON.format(name=name))


class PaletteGuard:
    """Every slice of a stack has the palette of the first one, or none as it has none.

    Palette slices keep their indices as the ids, so an index must mean one colour in
    every slice: tools that save each slice with its own palette (optimisers, per-slice
    quantisation, GIF writers) give the same object different ids, or make it background.
    ``check(path, palette)`` is called with each slice's palette (RGB bytes, or None for
    a slice without one); the first call sets the reference. Thread-safe.

    >>> guard = PaletteGuard()
    >>> guard.check(Path("z0.png"), bytes([0, 0, 0, 255, 0, 0]))
    >>> guard.check(Path("z1.png"), bytes([0, 0, 0, 255, 0, 0, 0, 255, 0]))  # a longer one
    >>> guard.check(Path("z2.png"), bytes([0, 0, 0, 0, 255, 0]))
    Traceback (most recent call last):
    ...
    labelprep.errors.ImageReadError: cannot read z2.png: its palette differs from z0.png's ...
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: tuple[Path, bytes | None] | None = None

    def __getstate__(self):  # for a dask scheduler that pickles tasks: not the lock
        return self._first

    def __setstate__(self, first) -> None:
        self._lock, self._first = threading.Lock(), first

    def check(self, path: Path, palette: bytes | None) -> None:
        with self._lock:
            if self._first is None:
                self._first = (path, palette)
                return
        first_path, first = self._first
        if (palette is None) != (first is None):
            what = "a palette image" if palette is not None else "not a palette image"
            raise ImageReadError(path, f"{what}, unlike {first_path.name}: its values would "
                                 "mean other things than the other slices' (palette indices "
                                 "or grey values)")
        if palette is None or first is None:
            return
        n = min(len(palette), len(first)) // 3 * 3
        if palette[:n] != first[:n]:
            k = next(i for i in range(0, n, 3) if palette[i:i + 3] != first[i:i + 3])
            raise ImageReadError(
                path, f"its palette differs from {first_path.name}'s (index {k // 3} is "
                f"{tuple(palette[k:k + 3])} here, {tuple(first[k:k + 3])} there): the same "
                "index, one id, would be two colours; save the slices with one palette, "
                "as RGB or as grey ids")


def pil_palette(im) -> bytes | None:
    """The RGB palette of an opened Pillow image in mode P, else None."""
    if im.mode != "P":
        return None
    return bytes(im.getpalette("RGB") or b"")


def tiff_palette(page) -> bytes | None:
    """The RGB palette of a palette-colour TIFF page (its ColorMap, as 8-bit), else None."""
    import numpy as np

    colormap = page.colormap if int(page.photometric) == 3 else None
    if colormap is None:
        return None
    cmap = np.asarray(colormap)
    if cmap.max(initial=0) > 255:
        cmap = cmap >> 8
    return cmap.T.astype(np.uint8).tobytes()
