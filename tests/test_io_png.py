"""The libpng fast path for PNG slices (labelprep.io._png): the same values as Pillow,
the same strictness, and Pillow for everything it does not decode exactly alike."""

from __future__ import annotations

import io as _bytes_io
import struct
import zlib

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from labelprep import io
from labelprep.io import _png

LAYOUTS = {  # Pillow mode -> (channels, dtype)
    "L": (0, np.uint8), "I;16": (0, np.uint16), "RGB": (3, np.uint8), "RGBA": (4, np.uint8)}


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` with a chunk inserted before the first IDAT."""
    at = data.find(b"IDAT") - 4
    return data[:at] + chunk(kind, body) + data[at:]


def pixels(rng, mode, shape=(23, 31)):
    channels, dtype = LAYOUTS[mode]
    top = 65535 if dtype == np.uint16 else 255
    full = (*shape, channels) if channels else shape
    return rng.integers(0, top + 1, full, dtype=np.int64).astype(dtype)


def save(path, arr, **kw):
    Image.fromarray(arr).save(path, **kw)
    return path


@pytest.fixture
def decodes(monkeypatch):
    """Count libpng decodes."""
    calls = []
    real = imagecodecs.png_decode

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(imagecodecs, "png_decode", counted)
    return calls


@pytest.mark.parametrize("mode", list(LAYOUTS))
def test_same_values_as_pillow_straight_into_out(tmp_path, rng, mode, decodes):
    arr = pixels(rng, mode)
    p = save(tmp_path / "a.png", arr)
    out = np.empty(arr.shape, arr.dtype)
    assert _png.decode_png_into(p, out) is out
    assert decodes == [1]
    with Image.open(p) as im:
        np.testing.assert_array_equal(out, np.asarray(im))
    np.testing.assert_array_equal(out, io.read_image(p))


def test_gamma_and_text_chunks_do_not_change_pixels(tmp_path, rng):
    arr = pixels(rng, "RGB")
    data = save(tmp_path / "a.png", arr).read_bytes()
    data = with_chunk(with_chunk(data, b"gAMA", struct.pack(">I", 45455)), b"tEXt", b"k\0v")
    (tmp_path / "b.png").write_bytes(data)
    out = np.empty(arr.shape, arr.dtype)
    assert _png.decode_png_into(tmp_path / "b.png", out) is out
    np.testing.assert_array_equal(out, arr)


def test_pillow_reads_what_libpng_would_decode_differently(tmp_path, rng, decodes):
    grey, rgb = pixels(rng, "L"), pixels(rng, "RGB")
    cases = {
        "palette": (Image.fromarray(grey).convert("P"), (23, 31), np.uint8),
        "grey_alpha": (Image.fromarray(np.stack([grey, grey], -1), "LA"), (23, 31, 2),
                       np.uint8),
        "one_bit": (Image.fromarray(grey > 100), (23, 31), np.uint8),
    }
    for name, (im, shape, dtype) in cases.items():
        im.save(tmp_path / f"{name}.png")
        assert _png.decode_png_into(tmp_path / f"{name}.png", np.empty(shape, dtype)) is None
    # transparency (libpng would add an alpha channel), EXIF (orientation), animation
    plain = save(tmp_path / "rgb.png", rgb).read_bytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    save(tmp_path / "exif.png", rgb, exif=exif.tobytes())
    save(tmp_path / "trns.png", rgb, transparency=(1, 2, 3))
    (tmp_path / "actl.png").write_bytes(with_chunk(plain, b"acTL", bytes(8)))
    # EXIF or XMP in text chunks (ImageMagick writes them): Pillow reads orientation there
    raw_exif = b"Raw profile type exif\0\0" + zlib.compress(b"x")
    (tmp_path / "rawexif.png").write_bytes(with_chunk(plain, b"zTXt", raw_exif))
    (tmp_path / "xmp.png").write_bytes(with_chunk(plain, b"iTXt",
                                                  b"XML:com.adobe.xmp\0\0\0\0\0<x/>"))
    for name in ("exif", "trns", "actl", "rawexif", "xmp"):
        assert _png.decode_png_into(tmp_path / f"{name}.png", np.empty_like(rgb)) is None
    # a shape, dtype or layout unlike out, a non-contiguous out, an interlaced file
    p = tmp_path / "rgb.png"
    assert _png.decode_png_into(p, np.empty((23, 30, 3), np.uint8)) is None
    assert _png.decode_png_into(p, np.empty((23, 31, 4), np.uint8)) is None
    assert _png.decode_png_into(p, np.empty((23, 31, 3), np.uint16)) is None
    assert _png.decode_png_into(p, np.empty((23, 31, 4), np.uint8)[..., :3]) is None
    ihdr = plain.find(b"IHDR")
    interlaced = bytearray(plain[:ihdr + 4 + 13 + 4])
    interlaced[ihdr + 4 + 12] = 1
    interlaced[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(
        interlaced[ihdr:ihdr + 17])))
    assert _png.png_layout(bytes(interlaced) + plain[ihdr + 21:]) is None
    assert decodes == []
    assert _png.png_layout(b"GIF89a" + bytes(40)) is None


def test_corrupt_files_are_refused_naming_the_file(tmp_path, rng):
    arr = pixels(rng, "I;16")
    good = save(tmp_path / "good.png", arr).read_bytes()
    out = np.empty(arr.shape, arr.dtype)
    idat = good.find(b"IDAT")
    (length,) = struct.unpack(">I", good[idat - 4:idat])
    broken = {
        # the IDAT chunk's CRC (libpng checks it), a flipped byte in the pixels
        "idat_crc": good[:idat + 4 + length] + bytes([good[idat + 4 + length] ^ 1])
        + good[idat + 5 + length:],
        "idat_byte": good[:idat + 40] + bytes([good[idat + 40] ^ 4]) + good[idat + 41:],
        # an ancillary chunk's CRC: libpng would only warn; Pillow's verify refuses
        "text_crc": with_chunk(good, b"tEXt", b"k\0v").replace(b"k\0v", b"k\0w", 1),
    }
    for name, data in broken.items():
        p = tmp_path / f"{name}.png"
        p.write_bytes(data)
        with pytest.raises(io.ImageReadError, match=f"{name}.png"):
            _png.decode_png_into(p, out)
    # truncated: left to Pillow, which names the file as well
    (tmp_path / "short.png").write_bytes(good[: len(good) // 2])
    assert _png.decode_png_into(tmp_path / "short.png", out) is None
    with pytest.raises(FileNotFoundError):
        _png.decode_png_into(tmp_path / "missing.png", out)


def test_folder_read_uses_libpng_after_the_first_slice(tmp_path, rng, decodes):
    planes = rng.integers(0, 60000, (9, 20, 30), dtype=np.uint16)
    folder = tmp_path / "s"
    folder.mkdir()
    for z, plane in enumerate(planes):
        save(folder / f"z{z}.png", plane)
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: Pillow turns it, as for any image
    save(folder / "z4.png", planes[4][::-1, ::-1].copy(), exif=exif.tobytes())
    stack = io.read_label_stack(folder, workers=2)
    np.testing.assert_array_equal(stack.labels, planes)
    assert len(decodes) == 7  # all but the first (Pillow: the checks) and z4 (EXIF)
    lazy = io.open_lazy_labels(folder)
    np.testing.assert_array_equal(np.asarray(lazy.labels), planes)


def test_a_huge_file_for_its_pixels_goes_to_pillow(tmp_path, rng, decodes):
    arr = pixels(rng, "L", (4, 5))
    data = save(tmp_path / "a.png", arr).read_bytes()
    (tmp_path / "b.png").write_bytes(with_chunk(data, b"zTXt", bytes(2 << 20)))
    out = np.empty(arr.shape, arr.dtype)
    assert _png.decode_png_into(tmp_path / "b.png", out) is None and decodes == []
    np.testing.assert_array_equal(io.read_image(tmp_path / "b.png"), arr)


def test_layout_of_bytes_in_memory():
    b = _bytes_io.BytesIO()
    Image.fromarray(np.zeros((2, 3, 4), np.uint8)).save(b, "PNG")
    assert _png.png_layout(b.getvalue()) == ((2, 3, 4), np.dtype(np.uint8))
