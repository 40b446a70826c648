"""Colour-coded label stacks and parallel folder reads (issue #20): io.colours_to_labels,
io.read_label_stack, read_stack and open_lazy on folders of RGB/RGBA slices.

Expected ids are computed independently with ``np.unique(..., return_inverse=True)`` on
the packed colours."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelprep import io

SHIFTS = {3: (16, 8, 0), 4: (24, 16, 8, 0)}


def reference_ids(rgb: np.ndarray, background=(0, 0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """ids by np.unique of R<<16|G<<8|B (RGBA: R<<24|G<<16|B<<8|A); background and
    (RGBA) alpha-0 pixels are 0."""
    c = rgb.shape[-1]
    packed = np.zeros(rgb.shape[:-1], np.uint64)
    for k, s in enumerate(SHIFTS[c]):
        packed |= rgb[..., k].astype(np.uint64) << np.uint64(s)
    bg = np.all(rgb == np.asarray(background + ((255,) if c == 4 and len(background) == 3
                                                else ()), np.uint8), axis=-1)
    if c == 4:
        bg |= rgb[..., 3] == 0
    values, inverse = np.unique(packed[~bg], return_inverse=True)
    ids = np.zeros(packed.shape, np.int64)
    ids[~bg] = inverse.ravel() + 1
    return ids, values


def colour_stack(rng, shape=(6, 40, 50), n_colours=60, channels=3, background=(0, 0, 0)):
    """Blocks of random colours (shared across slices) on a background."""
    palette = rng.integers(1, 256, size=(n_colours, channels), dtype=np.uint8)
    rgb = np.empty((*shape, channels), np.uint8)
    rgb[...] = np.asarray(background + ((255,) if channels == 4 else ()), np.uint8)
    for _ in range(4 * n_colours):
        z, y, x = rng.integers(0, shape)
        rgb[z, y:y + 6, x:x + 7] = palette[rng.integers(n_colours)]
    return rgb


def save_folder(folder, planes, suffix=".png"):
    folder.mkdir()
    for z, plane in enumerate(planes):
        if suffix == ".png":
            Image.fromarray(plane).save(folder / f"z{z}.png")
        else:
            tifffile.imwrite(folder / f"z{z}{suffix}", plane)
    return folder


@pytest.mark.parametrize("channels", [3, 4])
def test_colours_to_labels_matches_unique(rng, channels):
    rgb = colour_stack(rng, channels=channels)
    labels, colours = io.colours_to_labels(rgb)
    want, values = reference_ids(rgb)
    assert labels.dtype == np.uint32 and labels.shape == rgb.shape[:-1]
    np.testing.assert_array_equal(labels, want)
    assert colours.dtype == np.uint8 and colours.shape == (len(values) + 1, channels)
    np.testing.assert_array_equal(colours[labels], rgb)  # round trip
    assert colours[0].tolist() == [0, 0, 0] + ([255] if channels == 4 else [])


def test_rgba_alpha_is_lowest_byte_and_transparent_is_background():
    rgba = np.array([[[1, 0, 0, 9], [1, 0, 0, 3], [0, 0, 0, 0], [5, 5, 5, 0],
                      [0, 0, 0, 255], [0, 0, 1, 255]]], np.uint8)
    labels, colours = io.colours_to_labels(rgba)
    # packed: 0x000001ff < 0x01000003 < 0x01000009; alpha 0 and opaque black are 0
    assert labels.tolist() == [[3, 2, 0, 0, 0, 1]]
    assert colours.tolist() == [[0, 0, 0, 255], [0, 0, 1, 255], [1, 0, 0, 3], [1, 0, 0, 9]]


def test_background_colour_option(rng):
    white = (255, 255, 255)
    rgb = colour_stack(rng, background=white)
    rgb[0, 0, 0] = (0, 0, 0)  # black is an object now
    labels, colours = io.colours_to_labels(rgb, background=white)
    want, _ = reference_ids(rgb, background=white)
    np.testing.assert_array_equal(labels, want)
    assert colours[0].tolist() == list(white) and labels[0, 0, 0] == 1
    np.testing.assert_array_equal(colours[labels], rgb)
    with pytest.raises(ValueError, match="background"):
        io.colours_to_labels(rgb, background=(0, 0, 300))


@pytest.mark.parametrize("channels", [3, 4])
def test_planes_packed_after_finish_keep_the_ids(rng, channels):
    """The lazy reader packs and remaps planes after finish(): the same colours get
    the same ids, and a colour not seen before finish() is refused, never given one
    (for RGB the presence marks became the id table)."""
    rgb = colour_stack(rng, shape=(2, 40, 50), channels=channels)
    coder = io.ColourCoder(channels)
    planes = np.empty(rgb.shape[:-1], np.uint32)
    coder.pack(rgb[0], planes[0])
    coder.finish()
    assert coder.finish() == len(coder.colours) - 1  # a second call changes nothing
    for _ in range(2):
        coder.pack(rgb[0], planes[1])
        coder.remap(planes[1])
    coder.remap(planes[0])
    np.testing.assert_array_equal(planes[0], planes[1])
    np.testing.assert_array_equal(coder.colours[planes[0]], rgb[0])
    new = rgb[0].copy()
    new[3, 4] = (7, 8, 9) + ((255,) if channels == 4 else ())
    assert not (rgb[0] == new[3, 4]).all(axis=-1).any()
    out = np.empty(new.shape[:-1], np.uint32)
    for _ in range(2):  # packing it did not make it known
        coder.pack(new, out)
        with pytest.raises(ValueError, match="1 pixels have colours that were not there"):
            coder.remap(out)


def test_colour_folder_ids_consistent_across_slices(tmp_path, rng):
    rgb = colour_stack(rng)
    folder = save_folder(tmp_path / "rgb", rgb)
    got = io.read_label_stack(folder)
    want, values = reference_ids(rgb)
    np.testing.assert_array_equal(got.labels, want)
    np.testing.assert_array_equal(got.colours[got.labels], rgb)
    assert got.n_colours == len(values) and got.source == folder
    # a colour in several slices has one id
    colour = rgb[want == 1][0]
    assert len(np.unique(np.nonzero(np.all(rgb == colour, axis=-1))[0])) > 1
    assert np.all(got.labels[np.all(rgb == colour, axis=-1)] == 1)
    # read_stack returns the same ids
    np.testing.assert_array_equal(io.read_stack(folder), want)


def test_ids_reproducible_across_runs_workers_and_file_order(tmp_path, rng):
    rgb = colour_stack(rng, shape=(9, 30, 40))
    folder = save_folder(tmp_path / "rgb", rgb)
    runs = [io.read_label_stack(folder, workers=w) for w in (1, 2, 3, 1)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.labels, runs[0].labels)
        np.testing.assert_array_equal(r.colours, runs[0].colours)
    # ids depend on the colours only: the slices reversed give the same ids, reversed
    rev = save_folder(tmp_path / "rev", rgb[::-1])
    np.testing.assert_array_equal(io.read_label_stack(rev).labels, runs[0].labels[::-1])


def test_rgba_folder(tmp_path, rng):
    rgba = colour_stack(rng, channels=4)
    rgba[1, :5, :5] = (7, 7, 7, 0)  # transparent: background
    got = io.read_label_stack(save_folder(tmp_path / "rgba", rgba), workers=2)
    want, _ = reference_ids(rgba)
    np.testing.assert_array_equal(got.labels, want)
    assert got.colours.shape[1] == 4 and np.all(got.labels[1, :5, :5] == 0)


def test_palette_png_keeps_indices(tmp_path):
    masks = np.zeros((3, 10, 12), np.uint8)
    masks[0, 2:5, 2:5] = 7
    masks[2, 5:9, 1:4] = 200
    folder = tmp_path / "p"
    folder.mkdir()
    for z, m in enumerate(masks):
        im = Image.fromarray(m, mode="P")
        im.putpalette([0, 0, 0] + [255, 0, 0] * 255)
        im.save(folder / f"z{z}.png")
    got = io.read_label_stack(folder, workers=2)
    assert got.colours is None and got.labels.dtype == np.uint8
    np.testing.assert_array_equal(got.labels, masks)


def test_16bit_png_and_32bit_tiff_keep_values(tmp_path, rng):
    deep = rng.integers(0, 65535, size=(5, 20, 30), dtype=np.uint16)
    got = io.read_label_stack(save_folder(tmp_path / "png16", deep), workers=2)
    assert got.colours is None and got.labels.dtype == np.uint16
    np.testing.assert_array_equal(got.labels, deep)
    wide = rng.integers(0, 2**32 - 1, size=(5, 20, 30), dtype=np.uint32)
    folder = save_folder(tmp_path / "tif32", wide, suffix=".tif")
    got = io.read_label_stack(folder, workers=2)
    assert got.colours is None and got.labels.dtype == np.uint32
    np.testing.assert_array_equal(got.labels, wide)


def test_colour_tiff_and_npy_stacks(tmp_path, rng):
    rgb = colour_stack(rng)
    want, _ = reference_ids(rgb)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    got = io.read_label_stack(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(got.labels, want)
    np.testing.assert_array_equal(got.colours[got.labels], rgb)
    np.save(tmp_path / "rgb.npy", rgb)
    np.testing.assert_array_equal(io.read_label_stack(tmp_path / "rgb.npy").labels, want)
    # read as an image, the RGB TIFF stays RGB
    np.testing.assert_array_equal(io.read_stack(tmp_path / "rgb.tif", labels=False), rgb)


def test_mixed_slices_refused_naming_the_file(tmp_path, rng):
    rgb = colour_stack(rng, shape=(4, 20, 30))
    folder = save_folder(tmp_path / "rgb", rgb)
    Image.fromarray(rgb[0, :10]).save(folder / "z9.png")  # another shape
    with pytest.raises(io.ImageReadError, match="z9.png"):
        io.read_label_stack(folder, workers=2)
    (folder / "z9.png").unlink()
    Image.fromarray(rgb[0, ..., 0]).save(folder / "z7.png")  # greyscale among RGB
    with pytest.raises(io.ImageReadError, match=r"z7\.png.*shape \(20, 30\)"):
        io.read_label_stack(folder, workers=1)


def test_jpeg_labels_refused(tmp_path, rng):
    rgb = colour_stack(rng, shape=(3, 20, 30))
    folder = save_folder(tmp_path / "mixed", rgb)
    Image.fromarray(rgb[0]).save(folder / "z5.jpg", quality=95)
    with pytest.raises(io.ImageReadError, match=r"z5\.jpg.*JPEG.*lossy"):
        io.read_label_stack(folder)
    with pytest.raises(io.ImageReadError, match="JPEG"):
        io.read_stack(folder)
    with pytest.raises(io.ImageReadError, match="JPEG"):
        io.open_lazy(folder)
    # a JPEG behind a .png name is found by its content
    disguised = save_folder(tmp_path / "disguised", rgb)
    Image.fromarray(rgb[1]).save(disguised / "z1.png", format="JPEG")
    with pytest.raises(io.ImageReadError, match=r"z1\.png.*JPEG"):
        io.read_label_stack(disguised, workers=2)
    with pytest.raises(io.ImageReadError, match="JPEG"):
        io.read_label_stack(folder / "z5.jpg")
    # as an image stack (not labels) greyscale JPEG slices are fine
    grey = tmp_path / "grey"
    grey.mkdir()
    for z in range(3):
        Image.fromarray(rgb[z, ..., 0]).save(grey / f"z{z}.jpg")
    assert io.read_stack(grey, labels=False).shape == (3, 20, 30)


@pytest.mark.parametrize("colour", [True, False])
def test_corrupt_slice_named(tmp_path, rng, colour):
    planes = colour_stack(rng) if colour else rng.integers(0, 9, (6, 40, 50), dtype=np.uint16)
    folder = save_folder(tmp_path / "s", planes)
    data = (folder / "z3.png").read_bytes()
    (folder / "z3.png").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(io.ImageReadError, match="z3.png"):
        io.read_label_stack(folder, workers=2)
    (folder / "z3.png").write_bytes(data[:-20] + bytes(20))  # broken CRC at the end
    with pytest.raises(io.ImageReadError, match="z3.png"):
        io.read_label_stack(folder, workers=2)


def test_first_failing_slice_is_named_and_a_multi_page_tiff_slice_refused(tmp_path, rng):
    planes = rng.integers(0, 300, (40, 20, 30), dtype=np.uint16)
    folder = save_folder(tmp_path / "s", planes, ".tif")
    for z in (31, 7, 22):
        (folder / f"z{z}.tif").write_bytes(b"not a tiff")
    for workers in (1, 2):
        with pytest.raises(io.ImageReadError, match=r"z7\.tif"):
            io.read_label_stack(folder, workers=workers)
    two = save_folder(tmp_path / "two", planes[:5], ".tif")
    tifffile.imwrite(two / "z3.tif", planes[3:5])  # two pages: not one slice
    with pytest.raises(io.ImageReadError, match=r"z3\.tif.*shape \(2, 20, 30\)"):
        io.read_label_stack(two, workers=2)


@pytest.mark.parametrize("kind", ["rgb", "grey", "tiff"])
def test_parallel_equals_serial_and_progress(tmp_path, rng, kind):
    if kind == "rgb":
        planes = colour_stack(rng, shape=(17, 30, 40))
    else:
        planes = rng.integers(0, 300, (17, 30, 40), dtype=np.uint16)
    folder = save_folder(tmp_path / kind, planes, ".tif" if kind == "tiff" else ".png")
    calls, threads = [], set()

    def progress(done, total):
        calls.append((done, total))
        threads.add(threading.get_ident())

    serial = io.read_label_stack(folder, workers=1)
    par = io.read_label_stack(folder, progress=progress, workers=2)
    np.testing.assert_array_equal(par.labels, serial.labels)
    assert par.labels.dtype == serial.labels.dtype
    if kind == "rgb":
        np.testing.assert_array_equal(par.colours, serial.colours)
    else:
        np.testing.assert_array_equal(par.labels, planes)
    assert calls[-1] == (17, 17) and [d for d, _ in calls] == list(range(1, 18))
    assert threads == {threading.get_ident()}


def test_no_int64_copy(rng):
    rgba = colour_stack(rng, shape=(8, 256, 256), channels=4)
    tracemalloc.start()
    try:
        labels, _ = io.colours_to_labels(rgba, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert labels.dtype == np.uint32
    assert peak < 1.5 * labels.nbytes  # an int64 copy alone would be 2x
    rgb = rgba[..., :3]
    tracemalloc.start()
    try:
        labels, _ = io.colours_to_labels(rgb, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    tables = (1 << 24) * 5  # presence (uint8) and rank (uint32) tables
    assert labels.dtype == np.uint32 and peak < tables + 1.5 * labels.nbytes


def test_open_lazy_colour_folder(tmp_path, rng):
    rgb = colour_stack(rng)
    folder = save_folder(tmp_path / "rgb", rgb)
    calls = []
    lazy = io.open_lazy_labels(folder, progress=lambda d, t: calls.append((d, t)))
    eager = io.read_label_stack(folder)
    assert lazy.labels.dtype == np.uint32 and lazy.labels.numblocks[0] == len(rgb)
    np.testing.assert_array_equal(lazy.labels.compute(), eager.labels)
    np.testing.assert_array_equal(lazy.colours, eager.colours)
    assert calls[-1] == (len(rgb), len(rgb))
    np.testing.assert_array_equal(io.open_lazy(folder).compute(), eager.labels)
    # a slice that changed after the colours were collected is named, not mis-labelled
    changed = rgb[2].copy()
    changed[0, 0] = (1, 2, 3)
    Image.fromarray(changed).save(folder / "z2.png")
    with pytest.raises(io.ImageReadError, match="z2.png"):
        lazy.labels.compute()


def test_lazy_colour_tiff_refused(tmp_path, rng):
    tifffile.imwrite(tmp_path / "rgb.tif", colour_stack(rng), photometric="rgb")
    with pytest.raises(io.ImageReadError, match="lazily"):
        io.open_lazy_labels(tmp_path / "rgb.tif")
