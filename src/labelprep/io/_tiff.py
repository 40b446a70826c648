"""TIFF slices decoded straight into the stack, without tifffile's per-file Python.

The slices of a folder after the first have the first one's shape and dtype. For those
that are plain one-page strip TIFFs (classic TIFF in native byte order; uncompressed or
deflate, predictor none or horizontal for integers; one sample, or interleaved samples;
no tiles, sub-IFDs or tags beyond the :data:`_HARMLESS` metadata), :func:`decode_tiff_into`
reads the file once, walks its one IFD with :mod:`struct` and inflates its strips with
libdeflate (the codec tifffile itself uses, which checks each stream's Adler-32) into
the stack's own memory, all strips in one call without the GIL (:mod:`._inflate`).
tifffile's ``TiffFile`` parses every tag in Python under the GIL, which is most of the
time a small slice takes and keeps a second core idle: ``docs/benchmarks/read_stack.md``
has the figures.

The values are those of tifffile's ``page.asarray()``. The fast path has no error of its
own: a file it does not decode cleanly, end to end (an unlisted tag, a strip outside the
file, a stream that is corrupt or not exactly its strip's size), returns None, and the
caller reads it with tifffile, which decides what it is and reports any error. libtiff
(``imagecodecs.tiff_decode``) decodes about as fast but does not check the deflate
streams: it returns wrong pixels for a corrupt strip.
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import numpy as np

from ._files import TIFF_SUFFIXES
from ._inflate import inflate_strips
from ._read import read_slice_bytes

__all__ = ["decode_tiff_into"]

_NATIVE = b"II*\0" if sys.byteorder == "little" else b"MM\0*"
_ORDER = "<" if sys.byteorder == "little" else ">"
_COUNT = struct.Struct(_ORDER + "H")
_OFFSET = struct.Struct(_ORDER + "I")
_ENTRY = struct.Struct(_ORDER + "HHI4s")
_SHORT, _LONG = 3, 4
_UNCOMPRESSED, _DEFLATE = 1, (8, 32946)
# (SampleFormat, BitsPerSample) -> dtype, as tifffile maps them
_DTYPES = {(1, 8): "u1", (1, 16): "u2", (1, 32): "u4", (1, 64): "u8",
           (2, 8): "i1", (2, 16): "i2", (2, 32): "i4", (2, 64): "i8",
           (3, 16): "f2", (3, 32): "f4", (3, 64): "f8"}
# grey (white or black is zero), RGB; not palette (3: tifffile reads those, and the
# folder reader compares their ColorMaps), YCbCr, whose chroma is subsampled unless a tag
# says otherwise, CMYK, Lab, ...
_PHOTOMETRIC = {0, 1, 2}
# tags the fast path reads
_LAYOUT = {256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 339}
# tags that do not change what page.asarray() returns (metadata); any other tag, e.g.
# tiles (322-325), SubIFDs (330), ImageDepth (32997), JPEG tables (347), vendor
# formats (STK, LSM, ...), leaves the file to tifffile
_HARMLESS = {
    254, 255,  # (New)SubfileType
    263, 264, 265,  # Threshholding, CellWidth, CellLength
    269, 270, 271, 272,  # DocumentName, ImageDescription, Make, Model
    274,  # Orientation (page.asarray() does not apply it)
    280, 281, 282, 283, 285, 286, 287, 296, 297,  # Min/MaxSampleValue, resolution, ...
    305, 306, 315, 316,  # Software, DateTime, Artist, HostComputer
    318, 319, 320, 338,  # WhitePoint, PrimaryChromaticities, ColorMap, ExtraSamples
    340, 341,  # SMin/SMaxSampleValue
    700, 33432, 34377, 34665, 34853,  # XMP, Copyright, Photoshop, Exif and GPS IFDs
    33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113,  # GeoTIFF, GDAL
    50838, 50839,  # ImageJ metadata
}


def _value_bytes(data: bytes, raw: bytes, size: int) -> bytes | None:
    """The ``size`` bytes of an IFD entry's value: inline in ``raw`` or at the offset
    ``raw`` holds; None if that is outside the file."""
    if size <= 4:
        return raw[:size]
    (offset,) = _OFFSET.unpack(raw)
    return data[offset:offset + size] if offset + size <= len(data) else None


def _values(data: bytes, entry: tuple[int, int, bytes]) -> list[int] | None:
    """The SHORT or LONG values of an IFD entry, else None."""
    kind, count, raw = entry
    if kind not in (_SHORT, _LONG) or count == 0:
        return None
    code = "H" if kind == _SHORT else "I"
    value = _value_bytes(data, raw, count * (2 if kind == _SHORT else 4))
    return None if value is None else list(struct.unpack(f"{_ORDER}{count}{code}", value))


def _ascii(data: bytes, entries, code: int) -> bytes:
    """An ASCII tag's bytes, e.g. Software (305) (b"" if absent or unreadable)."""
    kind, count, raw = entries.get(code, (2, 0, b""))
    return (_value_bytes(data, raw, count) or b"") if kind == 2 else b""


def _imagej_images(data: bytes, entries) -> int:
    """The number of images an ImageJ description (270) says the file holds (1 if none):
    ImageJ writes big stacks as one IFD followed by all the images' data."""
    found = re.match(rb"ImageJ=.*?\bimages=(\d+)", _ascii(data, entries, 270), re.DOTALL)
    return int(found.group(1)) if found else 1


def _ifd(data: bytes) -> dict[int, tuple[int, int, bytes]] | None:
    """The entries of the only IFD of a classic native-order TIFF, else None."""
    if len(data) < 8 or not data.startswith(_NATIVE):
        return None  # BigTIFF, other byte order, not a TIFF
    (start,) = _OFFSET.unpack_from(data, 4)
    if start < 8 or start + 2 > len(data):
        return None
    (n,) = _COUNT.unpack_from(data, start)
    end = start + 2 + 12 * n
    if end + 4 > len(data) or _OFFSET.unpack_from(data, end)[0] != 0:
        return None  # truncated, or more pages than one
    entries = {}
    for pos in range(start + 2, end, 12):
        code, kind, count, raw = _ENTRY.unpack_from(data, pos)
        if code in entries or (code not in _LAYOUT and code not in _HARMLESS):
            return None
        entries[code] = (kind, count, raw)
    return entries


def _layout(data: bytes, entries) -> tuple | None:
    """(shape, dtype, compression, predictor, rows per strip, offsets, byte counts)."""
    def one(code: int, default: int | None = None) -> int | None:
        if code not in entries:
            return default
        v = _values(data, entries[code])
        return v[0] if v is not None and len(v) == 1 else None

    spp = one(277, 1)
    fields = {"width": one(256), "length": one(257), "compression": one(259, 1),
              "predictor": one(317, 1), "fillorder": one(266, 1), "planar": one(284, 1),
              "photometric": one(262)}
    bits = _values(data, entries[258]) if 258 in entries else [1]
    formats = _values(data, entries[339]) if 339 in entries else [1]
    offsets = _values(data, entries[273]) if 273 in entries else None
    counts = _values(data, entries[279]) if 279 in entries else None
    if (None in fields.values() or not spp or bits is None or formats is None
            or offsets is None or counts is None):
        return None
    width, length = fields["width"], fields["length"]
    if (len(set(bits)) != 1 or len(bits) not in (1, spp) or len(set(formats)) != 1
            or len(formats) not in (1, spp) or fields["fillorder"] != 1
            or (spp > 1 and fields["planar"] != 1) or width == 0 or length == 0
            or fields["photometric"] not in _PHOTOMETRIC
            or (fields["photometric"] == 2 and spp < 3)):  # page.shape (l, w, 1) then
        return None
    if 339 not in entries and bits[0] == 32 and _ascii(data, entries, 305).startswith(
            b"IndicaLabsImageWriter"):
        return None  # tifffile reads its 32-bit data as float
    if _imagej_images(data, entries) > 1:
        return None  # tifffile reads all the images (then the slice is refused)
    dtype = _DTYPES.get((formats[0], bits[0]))
    compression, predictor = fields["compression"], fields["predictor"]
    if (dtype is None or compression not in (_UNCOMPRESSED, *_DEFLATE)
            or predictor not in (1, 2) or (predictor == 2 and dtype[0] == "f")):
        return None
    rows = min(one(278, 2**32 - 1) or 0, length)
    if rows == 0 or len(offsets) != -(-length // rows) or len(counts) != len(offsets):
        return None
    shape = (length, width, spp) if spp > 1 else (length, width)
    return shape, np.dtype(dtype), compression, predictor, rows, offsets, counts


def decode_tiff_into(path: Path, out: np.ndarray) -> np.ndarray | None:
    """Decode the one-page TIFF ``path`` into ``out`` (C-contiguous, native order) and
    return ``out``; None if the fast path does not decode it exactly as tifffile (see the
    module docstring), cleanly, to ``out``'s shape and dtype: then ``out``'s contents
    are undefined and the caller reads the file with tifffile.

    >>> import numpy as np, tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "z0.tif"
    >>> tifffile.imwrite(p, np.array([[0, 7]], np.uint32), compression="zlib")
    >>> decode_tiff_into(p, np.empty((1, 2), np.uint32)).tolist()
    [[0, 7]]
    """
    if (not out.flags.c_contiguous or not out.dtype.isnative
            or Path(path).suffix.lower() not in TIFF_SUFFIXES):
        return None  # tifffile parses some formats (.ndpi, ...) by their suffix
    try:
        import imagecodecs

        data = read_slice_bytes(path, out.nbytes)  # None: a big file, tifffile streams it
        if data is None:
            return None
        entries = _ifd(data)
        layout = entries and _layout(data, entries)
        if not layout or layout[:2] != (out.shape, out.dtype):
            return None
        shape, _, compression, predictor, rows, offsets, counts = layout
        strip_bytes = rows * (out.nbytes // shape[0])
        flat = out.reshape(-1).view(np.uint8)
        # a strip at offset 0 or of 0 bytes is missing (tifffile: zeros): refused, here
        # for raw strips and by inflate_strips for deflate ones
        if compression != _UNCOMPRESSED:
            if not inflate_strips(data, offsets, counts, flat, strip_bytes):
                return None
        else:
            for i, (offset, count) in enumerate(zip(offsets, counts)):
                start = i * strip_bytes
                size = min(strip_bytes, out.nbytes - start)
                if offset == 0 or count < size or offset + count > len(data):
                    return None
                flat[start:start + size] = np.frombuffer(data, np.uint8, size, offset)
        if predictor == 2:
            imagecodecs.delta_decode(out, axis=-1 if out.ndim == 2 else -2, out=out)
    except Exception:  # noqa: BLE001 - anything unclean: tifffile reads and reports it
        return None
    return out
