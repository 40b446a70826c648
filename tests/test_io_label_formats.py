"""Files that cannot hold labels (io._label_formats): lossy WebP and PNGs with 16 bits per
colour channel are refused for labels, naming the file, in every reader of label stacks;
lossless WebP and 16-bit grey PNGs keep their values."""

from __future__ import annotations

import os
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image

from labelprep import io
from labelprep.io._label_formats import webp_is_lossy


def colours(rng, shape=(3, 24, 32), n=12) -> np.ndarray:
    """Blocks of n random colours (not black) on black, shared across slices."""
    palette = rng.integers(1, 256, (n + 1, 3), dtype=np.uint8)
    palette[0] = 0
    ids = rng.integers(0, n + 1, (shape[0], shape[1] // 4, shape[2] // 4))
    return palette[ids.repeat(4, axis=1).repeat(4, axis=2)]


def save(folder, planes, suffix=".png", **kwargs):
    folder.mkdir()
    for z, plane in enumerate(planes):
        Image.fromarray(plane).save(folder / f"z{z}{suffix}", **kwargs)
    return folder


READERS = {
    "read_label_stack": lambda f: io.read_label_stack(f, workers=2).labels,
    "read_stack": io.read_stack,
    "open_lazy": lambda f: np.asarray(io.open_lazy(f)),
}


def test_lossy_webp_would_invent_colours(rng):
    """Why lossy WebP is refused: it does decode to colours that were never there."""
    rgb = colours(rng)[0]
    import io as bytes_io

    buf = bytes_io.BytesIO()
    Image.fromarray(rgb).save(buf, "WEBP", quality=90)
    decoded = np.asarray(Image.open(buf))
    assert len(np.unique(decoded.reshape(-1, 3), axis=0)) > len(np.unique(rgb.reshape(-1, 3),
                                                                          axis=0))


@pytest.mark.parametrize("reader", READERS)
def test_lossy_webp_slices_refused_naming_the_file(tmp_path, rng, reader):
    rgb = colours(rng)
    folder = save(tmp_path / "webp", rgb, ".webp", quality=90)
    with pytest.raises(io.ImageReadError, match=r"z0\.webp.*lossy WebP"):
        READERS[reader](folder)


def test_one_lossy_webp_among_lossless_slices_is_named(tmp_path, rng):
    rgb = colours(rng, shape=(4, 24, 32))
    folder = save(tmp_path / "mixed", rgb, ".webp", lossless=True)
    Image.fromarray(rgb[2]).save(folder / "z2.webp", quality=95)
    for workers in (1, 2):
        with pytest.raises(io.ImageReadError, match=r"z2\.webp.*lossy WebP"):
            io.read_label_stack(folder, workers=workers)


def test_lossless_webp_slices_read_with_their_colours(tmp_path, rng):
    rgb = colours(rng)
    webp = io.read_label_stack(save(tmp_path / "webp", rgb, ".webp", lossless=True))
    png = io.read_label_stack(save(tmp_path / "png", rgb))
    np.testing.assert_array_equal(webp.labels, png.labels)
    np.testing.assert_array_equal(webp.colours, png.colours)


@pytest.mark.parametrize("alpha", [False, True])
def test_webp_is_lossy_reads_the_bitstream_kind(tmp_path, rng, alpha):
    plane = colours(rng)[0]
    if alpha:  # RGBA: an extended (VP8X) file with an ALPH chunk before the bitstream
        plane = np.dstack([plane, np.full(plane.shape[:2], 200, np.uint8)])
    Image.fromarray(plane).save(tmp_path / "lossy.webp", quality=90)
    Image.fromarray(plane).save(tmp_path / "lossless.webp", lossless=True)
    assert webp_is_lossy(tmp_path / "lossy.webp")
    assert not webp_is_lossy(tmp_path / "lossless.webp")


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_is_lossy_looks_inside_animation_frames(tmp_path, rng, lossless):
    frames = [Image.fromarray(p) for p in colours(rng)]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], lossless=lossless,
                   quality=90)
    assert b"ANMF" in path.read_bytes()
    assert webp_is_lossy(path) is (not lossless)


def test_webp_is_lossy_on_other_or_truncated_bytes(tmp_path, rng):
    (tmp_path / "a.webp").write_bytes(b"not a webp at all")
    assert not webp_is_lossy(tmp_path / "a.webp")
    Image.fromarray(colours(rng)[0]).save(tmp_path / "b.webp", quality=90)
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "c.webp").write_bytes((tmp_path / "b.webp").read_bytes()[:14])
    assert not webp_is_lossy(folder / "c.webp")  # no whole chunk header: Pillow reports it
    with pytest.raises(io.ImageReadError, match=r"c\.webp"):
        io.read_label_stack(folder)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("reader", READERS)
def test_png_with_16_bits_per_colour_channel_refused(tmp_path, rng, channels, reader):
    folder = tmp_path / "rgb16"
    folder.mkdir()
    for z in range(2):
        # colours that differ only in their low byte: Pillow's 8 bits would merge them
        plane = np.full((8, 8, channels), 0x1200, np.uint16)
        plane[:4, :, 0] += 1
        (folder / f"z{z}.png").write_bytes(imagecodecs.png_encode(plane))
    with pytest.raises(io.ImageReadError, match=r"z0\.png.*16 bits per colour channel"):
        READERS[reader](folder)


def test_16_bit_colour_slice_among_8_bit_ones_is_named(tmp_path, rng):
    folder = save(tmp_path / "mixed", colours(rng))
    plane = colours(rng)[0].astype(np.uint16) << 8
    (folder / "z1.png").write_bytes(imagecodecs.png_encode(plane))
    with pytest.raises(io.ImageReadError, match=r"z1\.png.*16 bits per colour channel"):
        io.read_label_stack(folder, workers=2)


def test_16_bit_grey_png_keeps_its_values(tmp_path, rng):
    planes = rng.integers(0, 65535, (3, 16, 16), dtype=np.uint16)
    folder = save(tmp_path / "grey16", planes)
    np.testing.assert_array_equal(io.read_stack(folder), planes)


def test_image_stacks_are_not_checked_as_labels(tmp_path):
    """Not labels: an image stack of 16-bit RGB PNGs fails as before (2D slices only),
    not with the labels' reason."""
    folder = tmp_path / "img"
    folder.mkdir()
    (folder / "z0.png").write_bytes(imagecodecs.png_encode(np.zeros((4, 4, 3), np.uint16)))
    with pytest.raises(io.ImageReadError, match="expected a 2D slice"):
        io.read_stack(folder, labels=False)


@pytest.mark.parametrize("plane, shown", [
    (np.zeros((4, 4, 2), np.uint8), r"shape \(4, 4, 2\) \(uint8, grey \+ alpha\)"),
    (np.zeros((4, 4, 3), np.uint16), r"shape \(4, 4, 3\) \(uint16\)"),
])
def test_a_first_slice_of_another_kind_says_what_it_is(tmp_path, plane, shown):
    folder = tmp_path / "odd"
    folder.mkdir()
    if plane.shape[-1] == 2:
        Image.fromarray(plane, "LA").save(folder / "z0.png")
    else:
        tifffile.imwrite(folder / "z0.tif", plane, photometric="rgb")
    with pytest.raises(io.ImageReadError,
                       match=r"z0\.\w+.*expected a 2D slice or 8-bit RGB/RGBA colours, got "
                       + shown):
        io.read_label_stack(folder)


@pytest.mark.parametrize("kind", ["GIF", "PNG"])
def test_animated_slices_refused_naming_the_file(tmp_path, rng, kind):
    """Only the first frame would be read: the others' objects lost without a word."""
    planes = colours(rng)
    suffix = ".gif" if kind == "GIF" else ".png"
    folder = save(tmp_path / "anim", planes, suffix)
    frames = [Image.fromarray(p) for p in planes[:2]]
    frames[0].save(folder / f"z1{suffix}", save_all=True, append_images=frames[1:])
    with pytest.raises(io.ImageReadError, match=rf"z1\{suffix}.*animated {kind} \(2 frames\)"):
        io.read_label_stack(folder)


LOSSY_TIFF = [c for c, codec in (("jpeg2000", "JPEG2K"), ("jpegxl", "JPEGXL"), ("webp", "WEBP"))
              if getattr(getattr(imagecodecs, codec, None), "available", False)]


@pytest.mark.skipif(not LOSSY_TIFF, reason="no lossy TIFF codec in this imagecodecs")
@pytest.mark.parametrize("compression", LOSSY_TIFF)
def test_tiffs_with_lossy_compression_refused(tmp_path, rng, compression):
    planes = colours(rng)
    folder = tmp_path / compression
    folder.mkdir()
    for z, plane in enumerate(planes):
        tifffile.imwrite(folder / f"z{z}.tif", plane, photometric="rgb",
                         compression=compression)
    for read in (io.read_label_stack, io.open_lazy_labels):
        with pytest.raises(io.ImageReadError, match=r"z0\.tif.*compressed TIFF cannot hold"):
            read(folder)
    tifffile.imwrite(tmp_path / "stack.tif", planes, photometric="rgb",
                     compression=compression)
    with pytest.raises(io.ImageReadError, match=r"stack\.tif.*compressed TIFF cannot hold"):
        io.read_label_stack(tmp_path / "stack.tif")
    assert io.read_stack(tmp_path / "stack.tif", labels=False).shape == planes.shape  # images


def test_an_rgb_tiff_stack_of_16_bit_samples_is_refused(tmp_path):
    """Not colour-coded (8 bits per channel), and no label stack either: it would be
    indexed channel by channel."""
    tifffile.imwrite(tmp_path / "rgb16.tif", np.zeros((2, 4, 4, 3), np.uint16),
                     photometric="rgb")
    with pytest.raises(io.ImageReadError, match=r"rgb16\.tif.*RGB TIFF with uint16 samples"):
        io.read_label_stack(tmp_path / "rgb16.tif")
    # tifffile writes a (4, y, x) array as one planar RGBA page: still the labels it was
    labels = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    tifffile.imwrite(tmp_path / "four.tif", labels)
    np.testing.assert_array_equal(io.read_label_stack(tmp_path / "four.tif").labels, labels)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_broken_symlink_among_slices_is_named_not_skipped(tmp_path, rng, lazy):
    """Skipping it would shift every later slice in z."""
    folder = save(tmp_path / "s", rng.integers(0, 5, (3, 4, 4), dtype=np.uint8))
    os.symlink(tmp_path / "elsewhere" / "z9.png", folder / "z1b.png")
    with pytest.raises(io.ImageReadError, match=r"z1b\.png.*symbolic link.*does not exist"):
        io.open_lazy_labels(folder) if lazy else io.read_label_stack(folder)


def test_names_equal_as_numbers_sort_by_name_and_odd_digits_do_not_crash():
    names = ["z01.png", "z1.png", "z1\u00b22.png", "z10.png"]
    for order in (names, names[::-1]):
        assert sorted(order, key=io.natural_key) == ["z01.png", "z1.png", "z1\u00b22.png",
                                                     "z10.png"]


# ----------------------------------------------------------------------------- palettes
PALETTE = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]


def palette_folder(folder, indices, palettes):
    """Palette PNG slices: ``indices[z]`` with ``palettes[z]`` (None: a grey slice)."""
    folder.mkdir()
    for z, (plane, palette) in enumerate(zip(indices, palettes, strict=True)):
        im = Image.fromarray(plane)
        if palette is not None:
            im = im.convert("P")
            im.putpalette(palette)
        im.save(folder / f"z{z}.png")
    return folder


PALETTE_READERS = {
    "eager, 1 thread": lambda f: io.read_label_stack(f, workers=1).labels,
    "eager, 2 threads": lambda f: io.read_label_stack(f, workers=2).labels,
    "lazy": lambda f: np.asarray(io.open_lazy_labels(f).labels),
}


@pytest.mark.parametrize("reader", PALETTE_READERS)
def test_slices_with_one_palette_keep_their_indices(tmp_path, rng, reader):
    indices = rng.integers(0, 4, (3, 8, 8), dtype=np.uint8)
    longer = PALETTE + [9, 9, 9]  # the same colours, one more entry
    folder = palette_folder(tmp_path / "p", indices, [PALETTE, longer, PALETTE])
    np.testing.assert_array_equal(PALETTE_READERS[reader](folder), indices)


@pytest.mark.parametrize("reader", PALETTE_READERS)
def test_slices_with_their_own_palettes_are_refused(tmp_path, rng, reader):
    """Per-slice palettes: index 1 is red in one slice and green in the next, so one id
    would be two objects (or an object would become background)."""
    indices = rng.integers(0, 4, (3, 8, 8), dtype=np.uint8)
    swapped = PALETTE[:3] + PALETTE[6:9] + PALETTE[3:6] + PALETTE[9:]
    folder = palette_folder(tmp_path / "p", indices, [PALETTE, PALETTE, swapped])
    with pytest.raises(io.ImageReadError,
                       match=r"z2\.png.*palette differs from z0\.png's \(index 1 is "
                       r"\(0, 255, 0\) here, \(255, 0, 0\) there\)"):
        PALETTE_READERS[reader](folder)


@pytest.mark.parametrize("first_is_palette", [True, False])
def test_palette_and_grey_slices_are_not_mixed(tmp_path, rng, first_is_palette):
    indices = rng.integers(0, 4, (3, 8, 8), dtype=np.uint8)
    palettes = [PALETTE, None, PALETTE] if first_is_palette else [None, PALETTE, None]
    folder = palette_folder(tmp_path / "p", indices, palettes)
    what = "not a palette image" if first_is_palette else "a palette image"
    with pytest.raises(io.ImageReadError, match=rf"z1\.png.*{what}, unlike z0\.png"):
        io.read_label_stack(folder, workers=2)


def test_palette_tiffs_colormaps_compared(tmp_path, rng):
    indices = rng.integers(0, 4, (3, 8, 8), dtype=np.uint8)
    cmap = np.zeros((3, 256), np.uint16)
    cmap[0, 1] = cmap[1, 2] = cmap[2, 3] = 65535
    swapped = cmap[:, [0, 2, 1, *range(3, 256)]]
    for name, cmaps in (("same", [cmap] * 3), ("other", [cmap, swapped, cmap])):
        folder = tmp_path / name
        folder.mkdir()
        for z, c in enumerate(cmaps):
            tifffile.imwrite(folder / f"z{z}.tif", indices[z], photometric="palette",
                             colormap=c, compression="zlib")
        if name == "same":
            np.testing.assert_array_equal(io.read_label_stack(folder).labels, indices)
        else:
            with pytest.raises(io.ImageReadError, match=r"z1\.tif.*palette differs"):
                io.read_label_stack(folder, workers=2)


def test_palette_guard_survives_pickling():
    """A dask scheduler that pickles tasks gets the reference palette, not the lock."""
    import pickle

    from labelprep.io._label_formats import PaletteGuard

    guard = PaletteGuard()
    guard.check(Path("z0.png"), bytes(PALETTE))
    copy = pickle.loads(pickle.dumps(guard))
    copy.check(Path("z1.png"), bytes(PALETTE))
    with pytest.raises(io.ImageReadError, match="z2.png"):
        copy.check(Path("z2.png"), bytes(PALETTE[3:]))
