"""The libdeflate fast path for TIFF slices (labelprep.io._tiff): the values of
tifffile's page.asarray(), and tifffile for every file it does not decode cleanly."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tifffile

from labelprep import io
from labelprep.io import _tiff
from labelprep.io._stack import read_slice

# every test with both ways of inflating the strips (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("inflater")


@pytest.fixture
def opened(monkeypatch):
    """Count the files tifffile opens."""
    calls = []
    real = tifffile.TiffFile

    class Counted(real):
        def __init__(self, *args, **kw):
            calls.append(args[0])
            super().__init__(*args, **kw)

    monkeypatch.setattr(tifffile, "TiffFile", Counted)
    return calls


def values(rng, dtype, shape=(23, 31)):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def write(path, arr, **kw):
    tifffile.imwrite(path, arr, **kw)
    return path


def fast(path, like):
    """decode_tiff_into(path, a fresh array like ``like``), or None."""
    out = np.full(like.shape, 1, like.dtype)
    return _tiff.decode_tiff_into(path, out)


@pytest.mark.parametrize("dtype", ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "f2", "f4", "f8"])
@pytest.mark.parametrize("compression", [None, "zlib", 32946])
def test_same_values_as_tifffile_straight_into_out(tmp_path, rng, dtype, compression):
    arr = values(rng, dtype)
    p = write(tmp_path / "a.tif", arr, compression=compression)
    out = np.empty(arr.shape, arr.dtype)
    assert _tiff.decode_tiff_into(p, out) is out
    np.testing.assert_array_equal(out, tifffile.imread(p))
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("dtype", ["u1", "u2", "u4", "i2", "i4"])
@pytest.mark.parametrize("compression", ["zlib", 32946])
def test_horizontal_predictor(tmp_path, rng, dtype, compression):
    arr = values(rng, dtype)
    p = write(tmp_path / "a.tif", arr, compression=compression, predictor=True)
    assert tifffile.TiffFile(p).pages.first.predictor == 2
    np.testing.assert_array_equal(fast(p, arr), arr)


@pytest.mark.parametrize("rows", [1, 5, 22, 23, 100])
def test_strips_of_any_height_including_a_short_last_one(tmp_path, rng, rows):
    arr = values(rng, "u4")
    p = write(tmp_path / "a.tif", arr, compression="zlib", rowsperstrip=rows)
    assert len(tifffile.TiffFile(p).pages.first.dataoffsets) == -(-23 // rows)
    np.testing.assert_array_equal(fast(p, arr), arr)
    p = write(tmp_path / "raw.tif", arr, rowsperstrip=rows)
    np.testing.assert_array_equal(fast(p, arr), arr)


@pytest.mark.parametrize("samples", [3, 4])
@pytest.mark.parametrize("predictor", [False, True])
def test_interleaved_colour(tmp_path, rng, samples, predictor):
    arr = values(rng, "u1", (23, 31, samples))
    p = write(tmp_path / "rgb.tif", arr, photometric="rgb", compression="zlib",
              predictor=predictor, rowsperstrip=4)
    np.testing.assert_array_equal(fast(p, arr), arr)
    arr16 = values(rng, "u2", (23, 31, 3))
    p = write(tmp_path / "rgb16.tif", arr16, photometric="rgb", predictor=predictor,
              compression=32946)
    np.testing.assert_array_equal(fast(p, arr16), arr16)


def test_metadata_tags_do_not_change_pixels(tmp_path, rng):
    arr = values(rng, "u2")
    p = write(tmp_path / "a.tif", arr, compression="zlib", resolution=(2.0, 2.0),
              description="labels", software="tool", metadata=None,
              extratags=[(274, "H", 1, 6, True), (305, "s", 0, "x" * 40, True)])
    np.testing.assert_array_equal(fast(p, arr), arr)
    p = write(tmp_path / "ij.tif", arr, imagej=True, compression="zlib")
    np.testing.assert_array_equal(fast(p, arr), tifffile.imread(p))


def test_tifffile_reads_what_the_fast_path_does_not(tmp_path, rng, opened):
    arr = values(rng, "u2")
    rgb = values(rng, "u1", (23, 31, 3))
    cases = {
        "pages": (np.stack([arr, arr]), {}, arr),
        "big_endian": (arr, {"byteorder": ">"}, arr),
        "bigtiff": (arr, {"bigtiff": True}, arr),
        "tiled": (arr, {"tile": (16, 16)}, arr),
        "separate": (rgb, {"photometric": "rgb", "planarconfig": "separate"}, rgb),
        "unknown_tag": (arr, {"extratags": [(65000, "s", 0, "private", True)]}, arr),
        "lzw": (arr, {"compression": "lzw"}, arr),
        "float_predictor": (arr.astype("f4"), {"predictor": 3, "compression": "zlib"},
                            arr.astype("f4")),
    }
    for name, (data, kw, like) in cases.items():
        p = write(tmp_path / f"{name}.tif", data, metadata=None, **kw)
        assert fast(p, like) is None, name
        # read_slice (the folder reader's) goes on to tifffile, with its values
        expected = tifffile.imread(p)
        opened.clear()
        np.testing.assert_array_equal(read_slice(p, np.empty(like.shape, like.dtype)),
                                      expected)
        assert opened == [p], name
    # a shape or dtype unlike out, a non-contiguous or byte-swapped out
    p = write(tmp_path / "plain.tif", arr, compression="zlib")
    assert fast(p, np.empty((23, 30), "u2")) is None
    assert fast(p, np.empty((23, 31), "i2")) is None
    assert fast(p, np.empty((23, 31), "u4")) is None
    assert _tiff.decode_tiff_into(p, np.empty((23, 62), "u2")[:, ::2]) is None
    assert _tiff.decode_tiff_into(p, np.empty((23, 31), ">u2")) is None
    assert _tiff.decode_tiff_into(p, np.empty((23, 31), "u2")) is not None
    # a file much bigger than its pixels (huge metadata) is streamed by tifffile
    p = write(tmp_path / "huge.tif", arr, description="x" * (3 << 20))
    assert fast(p, arr) is None


def strip(p):
    page = tifffile.TiffFile(p).pages.first
    return page.dataoffsets[0], page.databytecounts[0]


def test_corrupt_strips_are_left_to_tifffile_which_refuses_them(tmp_path, rng, opened):
    arr = values(rng, "u4", (64, 64))
    p = write(tmp_path / "good.tif", arr, compression="zlib")
    good = p.read_bytes()
    offset, count = strip(p)
    opened.clear()
    broken = {
        "flipped": good[:offset + count // 2] + bytes([good[offset + count // 2] ^ 0x5A])
        + good[offset + count // 2 + 1:],
        "adler": good[:offset + count - 1] + bytes([good[offset + count - 1] ^ 1])
        + good[offset + count:],
        "truncated": good[:offset + count // 2],
    }
    out = np.empty(arr.shape, arr.dtype)
    for name, data in broken.items():
        q = tmp_path / f"{name}.tif"
        q.write_bytes(data)
        assert _tiff.decode_tiff_into(q, out) is None, name
        with pytest.raises(io.ImageReadError, match=f"{name}.tif.*not a readable TIFF"):
            read_slice(q, out)
    assert opened == [tmp_path / f"{name}.tif" for name in broken]


def test_a_stream_not_exactly_its_strip_is_left_to_tifffile(tmp_path, rng):
    import zlib

    arr = values(rng, "u2", (16, 16))
    p = write(tmp_path / "a.tif", arr, compression="zlib", rowsperstrip=16)
    data = bytearray(p.read_bytes())
    offset, count = strip(p)
    # a stream of half the strip's pixels, padded to the strip's byte count
    short = zlib.compress(arr[:8].tobytes(), 9)
    assert len(short) <= count
    data[offset:offset + count] = short + bytes(count - len(short))
    p.write_bytes(bytes(data))
    assert fast(p, arr) is None
    # ... one longer than the strip
    long = zlib.compress(np.concatenate([arr, arr]).tobytes(), 9)
    q = write(tmp_path / "b.tif", arr, rowsperstrip=16)
    raw = q.read_bytes()
    offset, count = strip(q)
    entry = raw.find(struct.pack("<HHI", 279, 4, 1))
    head = bytearray(raw[:offset] + long + raw[offset + count:])
    head[entry + 8:entry + 12] = struct.pack("<I", len(long))
    comp = head.find(struct.pack("<HHI", 259, 3, 1))
    head[comp + 8:comp + 10] = struct.pack("<H", 8)
    assert 0 < comp < entry < offset  # the IFD is before the strip
    q.write_bytes(bytes(head))
    assert fast(q, arr) is None


def test_strip_outside_the_file(tmp_path, rng):
    arr = values(rng, "u1", (8, 8))
    p = write(tmp_path / "a.tif", arr, rowsperstrip=8)
    data = bytearray(p.read_bytes())
    entry = data.find(struct.pack("<HHI", 273, 4, 1))
    data[entry + 8:entry + 12] = struct.pack("<I", len(data) - 10)
    p.write_bytes(bytes(data))
    assert fast(p, arr) is None


def test_jpeg_tiff_labels_still_refused(tmp_path, rng):
    arr = values(rng, "u1", (16, 16, 3))
    p = write(tmp_path / "j.tif", arr, photometric="rgb", compression="jpeg")
    assert fast(p, arr) is None
    with pytest.raises(io.ImageReadError, match="JPEG-compressed TIFF cannot hold labels"):
        read_slice(p, np.empty_like(arr))


def test_folder_read_parallel_equal_to_serial_one_tifffile_open(tmp_path, rng, opened):
    stack = rng.integers(0, 1 << 20, (12, 40, 50), dtype=np.uint32)
    folder = tmp_path / "slices"
    folder.mkdir()
    for z, plane in enumerate(stack):
        write(folder / f"z{z}.tif", plane, compression="zlib", predictor=z % 2 == 0,
              rowsperstrip=7)
    got = io.read_label_stack(folder, workers=2)
    np.testing.assert_array_equal(got.labels, stack)
    assert got.labels.dtype == np.uint32
    assert opened == [folder / "z0.tif"]  # the first slice, by read_image's checks
    np.testing.assert_array_equal(io.read_label_stack(folder, workers=1).labels, stack)


def patched(path, code, kind, value, new_code=None):
    """``path`` with the inline value of its (code, kind, count 1) IFD entry replaced."""
    data = bytearray(path.read_bytes())
    entry = data.find(struct.pack("<HHI", code, kind, 1))
    assert entry > 0
    data[entry + 8:entry + 12] = struct.pack("<H" if kind == 3 else "<I", value).ljust(4, b"\0")
    if new_code is not None:
        data[entry:entry + 2] = struct.pack("<H", new_code)
    path.write_bytes(bytes(data))
    return path


def test_layouts_decoded_otherwise_are_left_to_tifffile(tmp_path, rng):
    """Bit order, float differencing, an uncompressed strip shorter than its rows, and
    fewer strips than the rows need: tifffile reads each (or refuses it) its own way."""
    arr = values(rng, "u1", (23, 31))
    floats = values(rng, "f4")
    cases = {
        "fillorder": patched(write(tmp_path / "fillorder.tif", arr, metadata=None,
                                   extratags=[(65000, "H", 1, 2, True)]),
                             65000, 3, 2, new_code=266),
        "float_delta": patched(write(tmp_path / "float_delta.tif", floats,
                                     compression="zlib", predictor=3), 317, 3, 2),
        "short_strip": patched(write(tmp_path / "short_strip.tif", arr, rowsperstrip=23),
                               279, 4, 23 * 31 - 31),
        # 4 strips of 6, 6, 6, 5 rows said to be of 5 rows: rows 20-22 in no strip
        "ycbcr": patched(write(tmp_path / "ycbcr.tif", values(rng, "u1", (24, 32, 3)),
                               photometric="rgb"), 262, 3, 6),
        "few_strips": patched(write(tmp_path / "few_strips.tif", arr, rowsperstrip=6),
                              278, 4, 5),
    }
    for name, p in cases.items():
        like = {"float_delta": floats, "ycbcr": np.empty((24, 32, 3), "u1")}.get(name, arr)
        assert fast(p, like) is None, name
        try:
            expected = tifffile.imread(p)
        except Exception:  # noqa: BLE001 - tifffile refuses it: so does read_slice
            with pytest.raises(io.ImageReadError, match=p.name):
                read_slice(p, np.empty_like(like))
            continue
        np.testing.assert_array_equal(read_slice(p, np.empty_like(like)), expected)


def test_no_bit_flip_in_a_strip_gives_silently_wrong_pixels(tmp_path, rng):
    """libtiff returns wrong pixels for about a quarter of such files; the fast path
    leaves every one to tifffile (or, if it decodes one, decodes it right)."""
    arr = rng.integers(0, 5000, (96, 80), dtype=np.uint32)
    good = write(tmp_path / "good.tif", arr, compression="zlib", rowsperstrip=24).read_bytes()
    page = tifffile.TiffFile(tmp_path / "good.tif").pages.first
    out = np.empty_like(arr)
    left = 0
    for k in range(60):
        s = k % len(page.dataoffsets)
        pos = page.dataoffsets[s] + int(rng.integers(page.databytecounts[s]))
        data = bytearray(good)
        data[pos] ^= 1 << int(rng.integers(8))
        p = tmp_path / f"flip{k}.tif"
        p.write_bytes(bytes(data))
        got = _tiff.decode_tiff_into(p, out)
        if got is None:
            left += 1
        else:
            np.testing.assert_array_equal(got, arr)
    assert left > 50


def hand_tiff(path, tags, pixels: bytes):
    """A little-endian TIFF written by hand: ``pixels`` at offset 8, then one IFD of
    ``tags`` ((code, type, values); type 2 values are bytes), values out of line after it."""
    codes = {3: "H", 4: "I"}
    head = bytearray(b"II*\0" + struct.pack("<I", 8 + len(pixels)) + pixels)
    ifd = len(head)
    extra_at = ifd + 2 + 12 * len(tags) + 4
    entries, extra = b"", b""
    for code, kind, vals in tags:
        raw = vals if kind == 2 else struct.pack(f"<{len(vals)}{codes[kind]}", *vals)
        if len(raw) <= 4:
            field = raw.ljust(4, b"\0")
        else:
            field, extra = struct.pack("<I", extra_at + len(extra)), extra + raw
        entries += struct.pack("<HHI", code, kind, len(vals)) + field
    path.write_bytes(bytes(head) + struct.pack("<H", len(tags)) + entries + bytes(4) + extra)
    return path


def grey_tags(width, length, bits, offsets, counts, rows, extra=None):
    tags = {256: (3, [width]), 257: (3, [length]), 258: (3, [bits]), 259: (3, [1]),
            262: (3, [1]), 273: (4, offsets), 277: (3, [1]), 278: (3, [rows]),
            279: (4, counts), **(extra or {})}
    return [(code, kind, vals) for code, (kind, vals) in sorted(tags.items())]


def test_hand_made_layouts_tifffile_reads_its_own_way(tmp_path):
    """Found by review: each returned pixels unlike tifffile's before these checks."""
    pixels = bytes(range(1, 9))
    # a strip at offset 0 is a missing strip to tifffile (zeros), not the file's header
    missing = hand_tiff(tmp_path / "missing.tif", grey_tags(4, 2, 8, [8, 0], [4, 4], 1),
                        pixels)
    assert tifffile.imread(missing).tolist() == [[1, 2, 3, 4], [0, 0, 0, 0]]
    assert fast(missing, np.empty((2, 4), np.uint8)) is None
    # 32-bit without SampleFormat from IndicaLabsImageWriter: float32 to tifffile
    floats = (np.arange(6, dtype=np.float32) + 0.5).tobytes()
    indica = hand_tiff(tmp_path / "indica.tif", grey_tags(
        3, 2, 32, [8], [24], 2, {305: (2, b"IndicaLabsImageWriter\0")}), floats)
    assert tifffile.imread(indica).dtype == np.float32
    assert fast(indica, np.empty((2, 3), np.uint32)) is None
    # photometric RGB with one sample: page.asarray() gives (2, 4, 1)
    rgb1 = hand_tiff(tmp_path / "rgb1.tif", grey_tags(4, 2, 8, [8], [8], 2, {262: (3, [2])}),
                     pixels)
    assert fast(rgb1, np.empty((2, 4), np.uint8)) is None
    # the same bytes as a plain grey TIFF do take the fast path
    plain = hand_tiff(tmp_path / "plain.tif", grey_tags(4, 2, 8, [8], [8], 2), pixels)
    assert fast(plain, np.empty((2, 4), np.uint8)).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    # tifffile parses .ndpi (and other suffixes) its own way: only .tif/.tiff are decoded
    ndpi = tmp_path / "plain.ndpi"
    ndpi.write_bytes(plain.read_bytes())
    assert fast(ndpi, np.empty((2, 4), np.uint8)) is None


def test_an_imagej_slice_holding_two_images_behind_one_ifd_is_refused(tmp_path, rng):
    """ImageJ saves big stacks as one IFD followed by every image's data; tifffile reads
    them all. Reading the first image only would drop the rest without a word."""
    folder = tmp_path / "ij"
    folder.mkdir()
    planes = rng.integers(0, 9, (3, 8, 6)).astype(np.uint16)
    for z, plane in enumerate(planes):
        tifffile.imwrite(folder / f"z{z}.tif", plane)
    p = folder / "z1.tif"
    tifffile.imwrite(p, planes[:2], imagej=True)
    data = bytearray(p.read_bytes())
    with tifffile.TiffFile(p) as tif:
        start = tif.pages.first.offset
    (n,) = struct.unpack_from("<H", data, start)
    struct.pack_into("<I", data, start + 2 + 12 * n, 0)  # no second IFD
    p.write_bytes(bytes(data))
    with tifffile.TiffFile(p) as tif:
        assert len(tif.pages) == 1 and tif.series[0].shape == (2, 8, 6)
    assert _tiff.decode_tiff_into(p, np.empty((8, 6), np.uint16)) is None
    for workers in (1, 2):
        with pytest.raises(io.ImageReadError, match=r"z1\.tif.*shape \(2, 8, 6\)"):
            io.read_label_stack(folder, workers=workers)


def test_a_tiff_of_garbage_after_its_header_says_its_structure_is_broken(tmp_path, rng):
    folder = tmp_path / "g"
    folder.mkdir()
    plane = rng.integers(0, 9, (8, 6)).astype(np.uint16)
    for z in range(3):
        tifffile.imwrite(folder / f"z{z}.tif", plane)
    noise = np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (folder / "z1.tif").write_bytes(b"II*\x00" + noise)
    with pytest.raises(io.ImageReadError,
                       match=r"z1\.tif: not a readable TIFF: its structure is broken"):
        io.read_label_stack(folder)
