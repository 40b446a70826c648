"""PNG slices decoded by libpng (through imagecodecs) straight into the stack.

The slices of a folder after the first have the first one's shape and dtype; for those
that are plain PNGs (grey 8/16-bit, RGB or RGBA 8-bit, not interlaced, no ``tRNS``,
``eXIf`` or animation chunks) :func:`decode_png_into` reads the file once and lets
libpng decode it into the stack's own memory. Against Pillow's reader that saves the
second pass over the file that checking every CRC takes there (:func:`verify_png`),
and libpng inflates faster: ``docs/benchmarks/read_stack.md`` has the figures.

The values are those of ``np.asarray(Image.open(path))`` (16-bit in native byte
order); the checks are as strict: libpng checks the CRC of every critical chunk and
the zlib stream, :func:`png_layout` the CRC of every other chunk (libpng would only
warn). Anything else (palette, grey + alpha, 1-bit, 16-bit RGB, transparency, EXIF
or XMP metadata that may hold an orientation, a size or dtype unlike ``out``) returns
None: the caller reads it with Pillow as before.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ImageReadError
from ._read import _reason, read_slice_bytes

__all__ = ["decode_png_into", "png_layout"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (colour type, bit depth) -> channels (0: a 2D array), dtype
_LAYOUTS = {(0, 8): (0, np.uint8), (0, 16): (0, np.uint16),
            (2, 8): (3, np.uint8), (6, 8): (4, np.uint8)}
# chunks after which libpng's pixels would differ from Pillow's (or need EXIF rotation)
_PILLOW_ONLY = {b"tRNS", b"eXIf", b"acTL"}
# text chunks whose keyword Pillow reads an EXIF orientation from
_TEXT = {b"tEXt", b"zTXt", b"iTXt"}
_ORIENTATION_KEYWORDS = (b"Raw profile type exif\0", b"XML:com.adobe.xmp\0")
_CHUNK = struct.Struct(">I4s")


def png_layout(data: bytes) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype ``data`` decodes to if the libpng path can decode it exactly as
    Pillow does, else None. Walks every chunk and checks the CRC of all but IDAT
    (libpng checks those while decoding); a wrong CRC raises ``ValueError``.

    >>> import io, numpy as np; from PIL import Image
    >>> b = io.BytesIO(); Image.fromarray(np.zeros((2, 3), np.uint16)).save(b, "PNG")
    >>> png_layout(b.getvalue())
    ((2, 3), dtype('uint16'))
    """
    if not data.startswith(SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour_type, _, _, interlace = struct.unpack_from(">IIBBBBB",
                                                                             data, 16)
    layout = _LAYOUTS.get((colour_type, depth))
    if layout is None or interlace != 0 or width == 0 or height == 0:
        return None
    pos, end = 8, len(data)
    while True:
        if pos + 12 > end:
            return None  # truncated before IEND: Pillow says how
        length, kind = _CHUNK.unpack_from(data, pos)
        stop = pos + 12 + length
        if stop > end:
            return None
        if kind in _PILLOW_ONLY or (kind in _TEXT and data.startswith(
                _ORIENTATION_KEYWORDS, pos + 8)):
            return None
        if kind != b"IDAT":
            (crc,) = struct.unpack_from(">I", data, stop - 4)
            if zlib.crc32(data[pos + 4:stop - 4]) != crc:
                raise ValueError(f"broken PNG chunk {kind.decode('latin-1')!r} (CRC error)")
        if kind == b"IEND":
            break
        pos = stop
    channels, dtype = layout
    shape = (height, width, channels) if channels else (height, width)
    return shape, np.dtype(dtype)


def decode_png_into(path: Path, out: np.ndarray) -> np.ndarray | None:
    """Decode the PNG file ``path`` into ``out`` (C-contiguous) with libpng and return
    ``out``; None (``out`` untouched) if the file is not one the fast path decodes
    exactly as Pillow (see the module docstring) or does not have ``out``'s shape and
    dtype. A corrupt file raises :class:`~labelprep.errors.ImageReadError`.

    >>> import numpy as np, tempfile, pathlib; from PIL import Image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "z0.png"
    >>> Image.fromarray(np.array([[0, 7]], np.uint8)).save(p)
    >>> decode_png_into(p, np.empty((1, 2), np.uint8)).tolist()
    [[0, 7]]
    """
    if not out.flags.c_contiguous:
        return None
    try:
        import imagecodecs
    except ImportError:  # pragma: no cover - a dependency; Pillow reads it then
        return None
    try:
        data = read_slice_bytes(path, out.nbytes)  # None: a big file, Pillow streams it
        if data is None:
            return None
        layout = png_layout(data)
        if layout is None or layout != (out.shape, out.dtype):
            return None
        imagecodecs.png_decode(data, out=out)
    except (OSError, ValueError, imagecodecs.PngError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ImageReadError(path, f"not a readable image: {_reason(exc)}") from exc
    return out
