"""presize: output shapes, anti-aliasing, masks, files and folder runs."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from labelprep import presize
from labelprep.presize import _mask as presize_mask
from labelprep.presize import _run as presize_run
from labelprep.presize import _write as presize_write

LANCZOS = Image.Resampling.LANCZOS


def psnr(a, b, peak=255.0):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(peak**2 / mse)


# ------------------------------------------------------------------------ shapes
def test_output_shape_int_size_sets_shorter_side():
    assert presize.output_shape((1632, 2448), 160) == (160, 240)
    assert presize.output_shape((2448, 1632), 160) == (240, 160)
    assert presize.output_shape((480, 640), 160) == (160, 213)  # 213.33 -> 213
    assert presize.output_shape((300, 450), 100) == (100, 150)
    assert presize.output_shape((100, 150), 100) == (100, 150)  # already there


def test_output_shape_pair_as_in_the_tutorial():
    # ratio = max(target / shape): each side >= its target, one of them equal
    assert presize.output_shape((1000, 500), (160, 160)) == (320, 160)
    assert presize.output_shape((1000, 500), (100, 160)) == (320, 160)
    assert presize.output_shape((400, 1000), (200, 100)) == (200, 500)


def test_output_shape_no_upscale_unless_asked():
    assert presize.output_shape((100, 120), 160) == (100, 120)
    assert presize.output_shape((100, 120), (50, 200)) == (100, 120)
    assert presize.output_shape((100, 120), 160, upscale=True) == (160, 192)


@pytest.mark.parametrize(
    "size, exc",
    [(0, ValueError), (-3, ValueError), (1.5, TypeError), ((1, 2, 3), TypeError),
     (True, TypeError), ("160", TypeError), ((10, 0), ValueError), ((10.0, 5), TypeError)],
)
def test_output_shape_rejects_bad_sizes(size, exc):
    with pytest.raises(exc, match="size"):
        presize.output_shape((100, 100), size)


def test_output_shape_rejects_empty():
    with pytest.raises(ValueError, match="empty"):
        presize.output_shape((0, 10), 5)


@settings(max_examples=100, deadline=None)
@given(
    h=st.integers(1, 5000), w=st.integers(1, 5000), s=st.integers(1, 600),
    pair=st.one_of(st.none(), st.tuples(st.integers(1, 600), st.integers(1, 600))),
)
def test_output_shape_properties(h, w, s, pair):
    size = s if pair is None else pair
    oh, ow = presize.output_shape((h, w), size)
    th, tw = (s, s) if pair is None else pair
    if max(th / h, tw / w) >= 1:
        assert (oh, ow) == (h, w)
        return
    assert oh >= th and ow >= tw and oh <= h and ow <= w
    if pair is None:
        assert min(oh, ow) == s
    else:
        assert oh == th or ow == tw
    # aspect kept: both sides scaled by the same ratio, to within rounding
    ratio = max(th / h, tw / w)
    assert abs(oh - h * ratio) <= 0.5 + 1e-9 and abs(ow - w * ratio) <= 0.5 + 1e-9


# ------------------------------------------------------------------------ images
@pytest.mark.parametrize(
    "shape, dtype",
    [((120, 90), np.uint8), ((120, 90, 1), np.uint8), ((120, 90, 3), np.uint8),
     ((120, 90, 4), np.uint8), ((120, 90, 2), np.uint8), ((120, 90), np.uint16),
     ((120, 90, 3), np.uint16), ((120, 90), np.float32), ((120, 90, 3), np.float64),
     ((120, 90), np.int16), ((120, 90, 5), np.uint8)],
)
def test_image_shape_and_dtype(shape, dtype, rng):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    hi = 255 if info is None else min(info.max, 60000)
    img = rng.integers(0, hi, size=shape).astype(dtype)
    out = presize.image(img, 30)
    assert out.dtype == img.dtype
    assert out.shape == (40, 30, *shape[2:])
    assert out.shape[:2] == presize.output_shape(shape, 30)


def test_image_no_upscale_returns_an_unchanged_copy(photo):
    rgb, _ = photo
    out = presize.image(rgb, 1000)
    np.testing.assert_array_equal(out, rgb)
    assert out is not rgb and not np.shares_memory(out, rgb)
    big = presize.image(rgb, 960, upscale=True)
    assert big.shape == (960, 1280, 3)


def test_image_rejects_bad_input():
    with pytest.raises(TypeError, match="presize.mask"):
        presize.image(np.zeros((10, 10), bool), 5)
    with pytest.raises(ValueError, match="shape"):
        presize.image(np.zeros((4, 10, 10, 3), np.uint8), 5)
    with pytest.raises(TypeError, match="dtype"):
        presize.image(np.zeros((10, 10), complex), 5)


def zone_plate(n=1024):
    """cos(pi r^2 / n): the local frequency r / n grows from 0 to Nyquist at r = n/2."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    r2 = (x - n / 2) ** 2 + (y - n / 2) ** 2
    return np.rint(127.5 + 127.5 * np.cos(np.pi * r2 / n)).astype(np.uint8)


def aliasing(small, n):
    """Std of the output where the input frequency is far above the new Nyquist.

    A good filter leaves flat mid-grey there; aliasing shows as spurious rings.
    """
    m = small.shape[0]
    s = n / m
    yy, xx = np.mgrid[0:m, 0:m]
    rr = np.hypot((xx + 0.5) * s - n / 2, (yy + 0.5) * s - n / 2)
    region = (rr > 1.5 * 0.5 * m) & (rr < n / 2)
    return small.astype(np.float64)[region].std() / 255


def test_image_is_anti_aliased_on_a_zone_plate():
    n, m = 1024, 128
    zp = zone_plate(n)
    naive = zp[n // m // 2 :: n // m, n // m // 2 :: n // m]
    ours = presize.image(zp, m)
    reference = np.asarray(Image.fromarray(zp).resize((m, m), LANCZOS))  # full LANCZOS
    assert aliasing(naive, n) > 0.3  # the test can fail: subsampling aliases badly
    assert aliasing(ours, n) < 0.02
    assert aliasing(ours, n) < aliasing(naive, n) / 20
    assert psnr(ours, reference) > 35


def test_image_psnr_against_full_resolution_references(photo):
    rgb, _ = photo
    ours = presize.image(rgb, 120)  # 480x640 -> 120x160: factor 4
    full_lanczos = np.asarray(Image.fromarray(rgb).resize((160, 120), LANCZOS))
    area = rgb.reshape(120, 4, 160, 4, 3).mean(axis=(1, 3))  # exact 4x4 block average
    assert psnr(ours, full_lanczos) > 40
    assert psnr(ours, area) > 30
    # a non-integer ratio too
    ours = presize.image(rgb, 100)
    ref = np.asarray(Image.fromarray(rgb).resize(ours.shape[1::-1], LANCZOS))
    assert psnr(ours, ref) > 40


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_rgba_transparent_colour_does_not_bleed(dtype):
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    img = np.zeros((64, 64, 4), dtype)
    img[:, :32] = (top, 0, 0, 0)  # invisible red
    img[:, 32:] = (0, top, 0, top)  # opaque green
    out = presize.image(img, 16).astype(np.float64) / top
    visible = out[..., 3] > 0.02
    assert visible.any() and (~visible).any()
    # wherever anything is visible it is green: no red from the transparent half
    assert out[visible, 0].max() < 0.02
    assert np.all(out[visible, 1] > 0.95)
    # alpha itself is resampled (soft edge), colours of opaque parts intact
    assert np.allclose(out[:, -4:, 3], 1.0, atol=0.01)


def test_uint16_greyscale_stays_16_bit(rng):
    img = (np.linspace(0, 60000, 200)[None, :] * np.ones((100, 1))).astype(np.uint16)
    img += rng.integers(0, 50, size=img.shape).astype(np.uint16)
    out = presize.image(img, 25)
    assert out.dtype == np.uint16 and out.shape == (25, 50)
    assert out.max() > 50000  # not squeezed into 8 bits
    ref = presize.image(img.astype(np.float32), 25)
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0


def test_float_image_keeps_range_and_dtype(rng):
    img = rng.normal(1000.0, 5.0, size=(64, 96))
    out = presize.image(img, 16)
    assert out.dtype == np.float64
    assert abs(out.mean() - img.mean()) < 1.0


# ------------------------------------------------------------------------ masks
def test_mask_nearest_samples_the_cell_centre():
    h, w = 40, 60
    ids = np.arange(h * w, dtype=np.int64).reshape(h, w)
    out = presize.mask(ids, 10)  # factor 4: centre of cell i is pixel 4i + 2
    assert out.shape == (10, 15)
    np.testing.assert_array_equal(out, ids[2::4, 2::4])
    # non-integer factor: floor((i + 0.5) * h / oh)
    out = presize.mask(ids[:30, :45], 20)  # 30x45 -> 20x30, factor 1.5
    rows = np.floor((np.arange(20) + 0.5) * 1.5).astype(int)
    cols = np.floor((np.arange(30) + 0.5) * 1.5).astype(int)
    np.testing.assert_array_equal(out, ids[:30, :45][np.ix_(rows, cols)])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.uint32, np.int64, bool])
@pytest.mark.parametrize("method", ["nearest", "mode"])
def test_mask_keeps_exact_labels_of_any_dtype(dtype, method, rng):
    big = {np.uint32: 4_000_000_000, np.int64: 2**40 + 7, np.int32: -5}.get(dtype, 1)
    labels = rng.integers(0, 4, size=(90, 120))
    m = (labels * big).astype(dtype) if dtype is not bool else labels.astype(bool)
    out = presize.mask(m, 30, method=method)
    assert out.dtype == m.dtype
    assert out.shape == presize.image(np.zeros((90, 120), np.uint8), 30).shape
    assert set(np.unique(out).tolist()) <= set(np.unique(m).tolist())
    if dtype in (np.uint32, np.int64):
        assert big in set(np.unique(out).tolist())


def brute_mode(m, oh, ow):
    r0, r1 = presize_mask._block_bounds(m.shape[0], oh)
    c0, c1 = presize_mask._block_bounds(m.shape[1], ow)
    rc, cc = presize_mask._centre_index(m.shape[0], oh), presize_mask._centre_index(m.shape[1], ow)
    out = np.empty((oh, ow), m.dtype)
    for i in range(oh):
        for j in range(ow):
            vals, counts = np.unique(m[r0[i] : r1[i], c0[j] : c1[j]], return_counts=True)
            best = vals[counts == counts.max()]
            centre = m[rc[i], cc[j]]
            out[i, j] = centre if centre in best else best.min()
    return out


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(2, 40), w=st.integers(2, 40), s=st.integers(1, 40),
    k=st.integers(1, 5), seed=st.integers(0, 2**31),
    kind=st.sampled_from(["uint8", "small int32", "huge int64"]),
)
def test_mode_matches_brute_force(h, w, s, k, seed, kind):
    # uint8 and small ids take the histogram kernel, huge ids the sorting one
    m = np.random.default_rng(seed).integers(0, k, size=(h, w))
    m = {"uint8": m.astype(np.uint8), "small int32": m.astype(np.int32) * 1000,
         "huge int64": m.astype(np.int64) * 2**40 - 3}[kind]
    out = presize.mask(m, s, method="mode")
    oh, ow = presize.output_shape((h, w), s)
    assert out.shape == (oh, ow)
    if (oh, ow) != (h, w):
        np.testing.assert_array_equal(out, brute_mode(m, oh, ow))


def test_mode_blocks_partition_the_input_for_non_integer_ratios():
    starts, stops = presize_mask._block_bounds(10, 4)  # ratio 2.5
    assert starts.tolist() == [0, 2, 5, 7] and stops.tolist() == [2, 5, 7, 10]
    for n_in, n_out in [(1632, 160), (100, 7), (13, 12), (7, 7)]:
        a, b = presize_mask._block_bounds(n_in, n_out)
        assert a[0] == 0 and b[-1] == n_in and np.all(a[1:] == b[:-1])
        if n_out < n_in:
            sizes = b - a
            ratio = n_in / n_out
            assert sizes.min() >= np.floor(ratio) and sizes.max() <= np.ceil(ratio)


def test_mode_takes_the_block_majority():
    m = np.zeros((8, 8), np.uint16)
    m[0:4, 0:4] = 9
    m[0, 0] = 3  # a minority in the first block
    m[4:8, 4:8] = 7
    m[4:8, 4] = 5  # 4 of 16
    m[0:4, 4:6] = 2  # 8 of 16: tie with 0, centre pixel (2, 6) is 0 -> 0
    out = presize.mask(m, 2, method="mode")
    assert out.tolist() == [[9, 0], [0, 7]]
    assert presize.mask(m, 2, method="nearest").tolist() == [[9, 0], [0, 7]]


def test_mode_on_colour_masks_keeps_tuples(rng):
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    m = palette[rng.integers(0, 3, size=(40, 60))]
    for method in ("nearest", "mode"):
        out = presize.mask(m, 10, method=method)
        assert out.shape == (10, 15, 3)
        assert {tuple(v) for v in out.reshape(-1, 3)} <= {tuple(v) for v in palette}


def test_mask_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        presize.mask(np.zeros((10, 10), np.uint8), 5, method="bilinear")
    with pytest.raises(TypeError, match="integer"):
        presize.mask(np.zeros((10, 10), np.float32), 5)


def test_mask_same_shape_as_image_for_sample_photo(photo):
    rgb, m = photo
    for size in (160, (100, 200), 33, 479):
        assert presize.mask(m, size).shape == presize.image(rgb, size).shape[:2]
        assert presize.mask(m, size, "mode").shape == presize.image(rgb, size).shape[:2]


def test_lost_labels():
    m = np.zeros((100, 100), np.int32)
    m[50, 50] = 4  # a one-pixel object vanishes
    m[10:40, 10:40] = 8
    small = presize.mask(m, 10)
    assert presize.lost_labels(m, small).tolist() == [4]


# ------------------------------------------------------------------------ files
def save_jpeg(path, arr, quality=95, exif_orientation=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr)
    kw = {}
    if exif_orientation is not None:
        exif = im.getexif()
        exif[0x0112] = exif_orientation
        kw["exif"] = exif
    im.save(path, quality=quality, **kw)


def save_png(path, arr, palette=False, exif_orientation=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr, "P") if palette else Image.fromarray(arr)
    if palette:
        im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [128] * (3 * 252))
    kw = {}
    if exif_orientation is not None:
        exif = im.getexif()
        exif[0x0112] = exif_orientation
        kw["exif"] = exif
    im.save(path, **kw)


def outputs(root: Path, pattern: str = "*") -> list[Path]:
    """The files under ``root`` matching ``pattern``, but the resume journal."""
    return [p for p in sorted(root.rglob(pattern))
            if p.is_file() and p.relative_to(root).as_posix() != presize.JOURNAL_NAME]


def tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)):
            hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
        for p in outputs(root)
    }


@pytest.fixture
def dataset(tmp_path, photo):
    """src/ with nested images of several formats, masks/ with the same relative paths."""
    rgb, m = photo  # 480x640
    src, masks = tmp_path / "src", tmp_path / "masks"
    save_jpeg(src / "a" / "one.jpg", rgb)
    save_jpeg(src / "a" / "b" / "two.jpeg", rgb[::-1].copy())
    save_png(src / "three.png", rgb[:, ::-1].copy())
    deep = (rgb[..., 0].astype(np.uint16) * 250)
    save_png(src / "deep.png", deep)  # 16-bit greyscale
    tifffile.imwrite(src / "four.tif", deep)
    save_png(masks / "a" / "one.png", m, palette=True)
    save_png(masks / "a" / "b" / "two.png", m[::-1].copy())
    tifffile.imwrite(masks / "three.tif", m[:, ::-1].astype(np.uint32) * 100_000)
    return src, masks


def test_folder_mirrors_tree_and_formats(tmp_path, dataset):
    src, masks = dataset
    dst, mdst = tmp_path / "out", tmp_path / "out_masks"
    rep = presize.folder(src, dst, 120, masks=masks, masks_out=mdst, workers=1)
    assert rep.failed == [] and rep.written == 5 and rep.skipped == 0
    assert sorted(str(r.source) for r in rep.results) == sorted(
        ["a/one.jpg", "a/b/two.jpeg", "three.png", "deep.png", "four.tif"]
    )
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()) == sorted(
        ["a/one.jpg", "a/b/two.jpeg", "three.png", "deep.png", "four.tif",
         ".labelprep-presize.jsonl"]  # the resume journal: what completed writes recorded
    )
    assert sorted(p.relative_to(mdst).as_posix() for p in mdst.rglob("*") if p.is_file()) == sorted(
        ["a/one.png", "a/b/two.png", "three.tif"]
    )
    assert sorted(map(str, rep.missing_masks)) == ["deep.png", "four.tif"]
    with Image.open(dst / "a" / "one.jpg") as im:
        assert im.format == "JPEG" and im.size == (160, 120)
    with Image.open(dst / "deep.png") as im:
        assert im.mode.startswith("I;16") and im.size == (160, 120)
        assert np.asarray(im).max() > 255
    four = tifffile.imread(dst / "four.tif")
    assert four.dtype == np.uint16 and four.shape == (120, 160)
    # masks: same shape as their image, labels only from the input, palette kept
    with Image.open(mdst / "a" / "one.png") as im:
        assert im.mode == "P" and im.size == (160, 120)
        assert im.getpalette()[:6] == [0, 0, 0, 255, 0, 0]
        assert set(np.unique(np.asarray(im)).tolist()) <= {0, 1, 2, 3}
    three = tifffile.imread(mdst / "three.tif")
    assert three.dtype == np.uint32 and three.shape == (120, 160)
    assert set(np.unique(three).tolist()) <= {0, 100_000, 200_000, 300_000}
    for r in rep.results:
        assert r.output_shape == (120, 160) and r.input_shape == (480, 640)


def test_folder_output_close_to_full_resolution(tmp_path, photo):
    rgb, _ = photo
    save_jpeg(tmp_path / "src" / "p.jpg", rgb, quality=98)
    rep = presize.folder(tmp_path / "src", tmp_path / "dst", 120, workers=1)
    assert rep.written == 1
    got = np.asarray(Image.open(tmp_path / "dst" / "p.jpg"))
    ref = np.asarray(Image.fromarray(rgb).resize((160, 120), LANCZOS))
    assert psnr(got, ref) > 30
    assert psnr(presize.load(tmp_path / "src" / "p.jpg", 120), ref) > 33


def test_jpeg_is_drafted_once_to_a_scale_keeping_sides_above_target(tmp_path, monkeypatch, photo):
    from PIL import JpegImagePlugin

    rgb, _ = photo
    big = np.asarray(Image.fromarray(rgb).resize((2560, 1920)))
    save_jpeg(tmp_path / "big.jpg", big)
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        calls.append((size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    out = presize.load(tmp_path / "big.jpg", 120)
    assert out.shape == (120, 160, 3)
    assert len(calls) == 1
    _, decoded = calls[0]
    assert decoded[0] >= 160 and decoded[1] >= 120  # every side still >= the target
    assert decoded[0] < 2560  # and really decoded at reduced scale


def test_exif_rotated_pair_stays_aligned(tmp_path):
    # displayed (upright) frame: 300 high, 200 wide, a bright block at rows 40..100, cols 20..80
    upright = np.full((300, 200, 3), 30, np.uint8)
    upright[40:100, 20:80] = 230
    labels = np.zeros((300, 200), np.uint8)
    labels[40:100, 20:80] = 1
    # EXIF 6 = "rotate 90 CW to display": the file stores the upright image rotated CCW
    stored = np.rot90(upright, k=1).copy()
    save_jpeg(tmp_path / "src" / "r.jpg", stored, exif_orientation=6)
    save_jpeg(tmp_path / "src" / "s.jpg", stored, exif_orientation=6)
    # mask r: exported upright (no EXIF); mask s: stored rotated with the same EXIF tag
    save_png(tmp_path / "masks" / "r.png", labels)
    save_png(tmp_path / "masks" / "s.png", np.rot90(labels, k=1).copy(), exif_orientation=6)
    rep = presize.folder(
        tmp_path / "src", tmp_path / "dst", 50, masks=tmp_path / "masks",
        masks_out=tmp_path / "mdst", workers=1,
    )
    assert rep.failed == [] and rep.written == 2
    for name in ("r", "s"):
        img = np.asarray(Image.open(tmp_path / "dst" / f"{name}.jpg").convert("L"))
        with Image.open(tmp_path / "dst" / f"{name}.jpg") as im:
            assert im.getexif().get(0x0112, 1) == 1  # upright pixels, no tag
        msk = np.asarray(Image.open(tmp_path / "mdst" / f"{name}.png"))
        assert img.shape == msk.shape == (75, 50)
        bright = img > 130
        iou = (bright & (msk == 1)).sum() / (bright | (msk == 1)).sum()
        assert iou > 0.85, (name, iou)


def test_exif_rotated_palette_mask_keeps_label_ids_and_palette(tmp_path):
    # a palette (P) mask stored rotated with an EXIF tag takes the transpose path: it must
    # come out upright, still palette label ids (not converted to RGB colours)
    upright = np.full((300, 200, 3), 30, np.uint8)
    upright[40:100, 20:80] = 230
    labels = np.zeros((300, 200), np.uint8)
    labels[40:100, 20:80] = 2
    save_jpeg(tmp_path / "src" / "p.jpg", np.rot90(upright, k=1).copy(), exif_orientation=6)
    save_png(tmp_path / "masks" / "p.png", np.rot90(labels, k=1).copy(), palette=True,
             exif_orientation=6)
    rep = presize.folder(
        tmp_path / "src", tmp_path / "dst", 50, masks=tmp_path / "masks",
        masks_out=tmp_path / "mdst", workers=1,
    )
    assert rep.failed == [] and rep.written == 1
    img = np.asarray(Image.open(tmp_path / "dst" / "p.jpg").convert("L"))
    with Image.open(tmp_path / "mdst" / "p.png") as im:
        assert im.mode == "P" and im.getpalette()[:9] == [0, 0, 0, 255, 0, 0, 0, 255, 0]
        msk = np.asarray(im)
    assert img.shape == msk.shape == (75, 50)
    assert set(np.unique(msk).tolist()) == {0, 2}
    bright = img > 130
    assert (bright & (msk == 2)).sum() / (bright | (msk == 2)).sum() > 0.85


def test_folder_resume_skips_up_to_date_outputs(tmp_path, dataset):
    src, masks = dataset
    dst, mdst = tmp_path / "out", tmp_path / "mout"
    first = presize.folder(src, dst, 120, masks=masks, masks_out=mdst, workers=1)
    assert first.written == 5
    before = tree_hash(dst)
    again = presize.folder(src, dst, 120, masks=masks, masks_out=mdst, workers=1)
    assert (again.written, again.skipped, again.failed) == (0, 5, [])
    assert tree_hash(dst) == before
    # an output older than its source is redone, the rest skipped
    past = time.time() - 3600
    os.utime(dst / "three.png", (past, past))
    third = presize.folder(src, dst, 120, masks=masks, masks_out=mdst, workers=1)
    assert (third.written, third.skipped) == (1, 4)
    assert [str(r.source) for r in third.results if r.status == "written"] == ["three.png"]
    # a missing mask output redoes its pair
    (mdst / "a" / "one.png").unlink()
    fourth = presize.folder(src, dst, 120, masks=masks, masks_out=mdst, workers=1)
    assert (fourth.written, fourth.skipped) == (1, 4)
    assert (mdst / "a" / "one.png").exists()
    # another size is not "up to date"; overwrite redoes everything
    assert presize.folder(src, dst, 100, workers=1).written == 5
    assert presize.folder(src, dst, 100, workers=1, overwrite=True).written == 5


def test_corrupt_files_are_reported_and_others_written(tmp_path, dataset):
    src, _ = dataset
    (src / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (src / "empty.png").write_bytes(b"")
    truncated = (src / "three.png").read_bytes()[:2000]
    (src / "truncated.png").write_bytes(truncated)
    rep = presize.folder(src, tmp_path / "out", 120, workers=1)
    failed = {str(p): reason for p, reason in rep.failed}
    assert set(failed) == {"a/broken.jpg", "empty.png", "truncated.png"}
    assert all("readable" in r or "truncated" in r or "image" in r for r in failed.values())
    assert rep.written == 5
    assert not (tmp_path / "out" / "a" / "broken.jpg").exists()
    assert not (tmp_path / "out" / "truncated.png").exists()
    assert not outputs(tmp_path / "out", ".*")  # no temp files left


def test_mask_shape_mismatch_is_a_failure(tmp_path, photo):
    rgb, m = photo
    save_jpeg(tmp_path / "src" / "x.jpg", rgb)
    save_png(tmp_path / "masks" / "x.png", m[:, :600].copy())
    rep = presize.folder(tmp_path / "src", tmp_path / "d", 100, masks=tmp_path / "masks",
                         masks_out=tmp_path / "md", workers=1)
    assert len(rep.failed) == 1 and "shape" in rep.failed[0][1]
    assert not (tmp_path / "d" / "x.jpg").exists()  # nothing written for a broken pair


def test_sources_are_never_modified(tmp_path, dataset):
    src, masks = dataset
    (src / "bad.png").write_bytes(b"garbage")
    before_src, before_masks = tree_hash(src), tree_hash(masks)
    presize.folder(src, tmp_path / "o", 100, masks=masks, masks_out=tmp_path / "mo", workers=2)
    presize.folder(src, tmp_path / "o", 100, masks=masks, masks_out=tmp_path / "mo",
                   workers=1, overwrite=True, method="mode")
    assert tree_hash(src) == before_src
    assert tree_hash(masks) == before_masks


@pytest.mark.parametrize("where", ["same", "inside", "inside_nested"])
def test_dst_inside_src_is_refused(tmp_path, dataset, where):
    src, _ = dataset
    dst = {"same": src, "inside": src / "small", "inside_nested": src / "a" / "small"}[where]
    before = tree_hash(src)
    with pytest.raises(ValueError, match="dst"):
        presize.folder(src, dst, 100, workers=1)
    assert tree_hash(src) == before


def test_outputs_containing_inputs_are_refused(tmp_path, dataset):
    src, masks = dataset
    # src = tmp/src: dst = tmp would put src/a/one.jpg's output at tmp/a/one.jpg, and a
    # source folder named like src's parent could be overwritten: refuse any nesting
    with pytest.raises(ValueError, match="dst .* must not contain src"):
        presize.folder(src, tmp_path, 100, workers=1)
    with pytest.raises(ValueError, match="masks_out .* must not contain (src|masks)"):
        presize.folder(src, tmp_path / "o", 100, masks=masks, masks_out=tmp_path, workers=1)
    with pytest.raises(ValueError, match="masks_out .* must not be src or inside it"):
        presize.folder(src, tmp_path / "o", 100, masks=masks, masks_out=src / "m", workers=1)
    with pytest.raises(ValueError, match="dst .* must not be masks or inside it"):
        presize.folder(src, masks / "o", 100, masks=masks, masks_out=tmp_path / "mo", workers=1)
    with pytest.raises(ValueError, match="differ"):
        presize.folder(src, tmp_path / "o", 100, masks=masks, masks_out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_bad_folder_arguments(tmp_path, dataset):
    src, masks = dataset
    with pytest.raises(ValueError, match="masks_out"):
        presize.folder(src, tmp_path / "o", 100, masks=masks, masks_out=masks / "sub")
    with pytest.raises(ValueError, match="masks_out"):
        presize.folder(src, tmp_path / "o", 100, masks=masks)
    with pytest.raises(ValueError, match="src"):
        presize.folder(tmp_path / "nope", tmp_path / "o", 100)
    with pytest.raises(ValueError, match="method"):
        presize.folder(src, tmp_path / "o", 100, method="linear")
    with pytest.raises(ValueError, match="workers"):
        presize.folder(src, tmp_path / "o", 100, workers=0)
    with pytest.raises(ValueError, match="size"):
        presize.folder(src, tmp_path / "o", 0)
    assert not (tmp_path / "o").exists()


def test_atomic_write_leaves_no_partial_file(tmp_path, dataset, monkeypatch):
    src, _ = dataset
    dst = tmp_path / "out"
    good = presize.folder(src, dst, 120, workers=1)
    assert good.written == 5
    old_bytes = (dst / "a" / "one.jpg").read_bytes()

    def failing_save(im, f, fmt, lossless=False):
        f.write(b"\xff\xd8 half a jpeg")  # some bytes hit the disk, then it dies
        raise OSError("No space left on device")

    monkeypatch.setattr(presize_write, "_save_pil", failing_save)
    rep = presize.folder(src, dst, 120, workers=1, overwrite=True)
    failed = dict(rep.failed)
    assert Path("a/one.jpg") in failed and "No space left" in failed[Path("a/one.jpg")]
    assert (dst / "a" / "one.jpg").read_bytes() == old_bytes  # the old output is intact
    assert not list(dst.rglob("*.tmp"))
    # and a first run that fails leaves nothing at all
    rep = presize.folder(src, tmp_path / "fresh", 120, workers=1)
    assert rep.written == 1  # only the TIFF, written with tifffile
    files = [p.relative_to(tmp_path / "fresh").as_posix() for p in outputs(tmp_path / "fresh")]
    assert files == ["four.tif"]


def test_small_images_are_copied_unless_upscale(tmp_path, photo):
    rgb, _ = photo
    save_jpeg(tmp_path / "src" / "small.jpg", rgb[:100, :150].copy())
    rep = presize.folder(tmp_path / "src", tmp_path / "d", 160, workers=1)
    assert rep.written == 1
    original = (tmp_path / "src" / "small.jpg").read_bytes()
    assert (tmp_path / "d" / "small.jpg").read_bytes() == original
    rep = presize.folder(tmp_path / "src", tmp_path / "u", 160, workers=1, upscale=True)
    with Image.open(tmp_path / "u" / "small.jpg") as im:
        assert im.size == (240, 160)


def test_ambiguous_and_jpeg_masks(tmp_path, photo):
    rgb, m = photo
    save_jpeg(tmp_path / "src" / "x.jpg", rgb)
    save_png(tmp_path / "src" / "x.png", rgb)  # two images, same stem
    save_png(tmp_path / "src" / "y.png", rgb)
    save_png(tmp_path / "masks" / "x.png", m)
    save_jpeg(tmp_path / "masks" / "y.jpg", m * 60)  # a lossy mask: written as PNG
    save_png(tmp_path / "src" / "z.png", rgb)
    save_png(tmp_path / "masks" / "z.png", m)  # two masks for one image
    tifffile.imwrite(tmp_path / "masks" / "z.tif", m)
    rep = presize.folder(tmp_path / "src", tmp_path / "d", 100, masks=tmp_path / "masks",
                         masks_out=tmp_path / "md", workers=1)
    failed = dict(rep.failed)
    assert set(failed) == {Path("x.jpg"), Path("x.png"), Path("z.png")}
    assert "ambiguous" in failed[Path("x.jpg")] and "z.tif" in failed[Path("z.png")]
    assert (tmp_path / "md" / "y.png").exists() and rep.written == 1


def test_masks_folder_inside_src_is_not_taken_for_images(tmp_path, photo):
    rgb, m = photo
    save_jpeg(tmp_path / "data" / "x.jpg", rgb)
    save_png(tmp_path / "data" / "masks" / "x.png", m)
    rep = presize.folder(tmp_path / "data", tmp_path / "d", 100,
                         masks=tmp_path / "data" / "masks", masks_out=tmp_path / "md", workers=1)
    assert [str(r.source) for r in rep.results] == ["x.jpg"] and rep.written == 1
    assert (tmp_path / "md" / "x.png").exists()


def test_load_errors_name_the_file(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.jpg"):
        presize.load(tmp_path / "bad.jpg", 10)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        presize.load(tmp_path / "missing.jpg", 10)


def test_report_summary(tmp_path, dataset):
    src, _ = dataset
    rep = presize.folder(src, tmp_path / "o", 100, workers=1)
    text = rep.summary()
    assert "5 images" in text and "5 written" in text and "0 failed" in text
    assert rep.ok and rep.total == 5


# ------------------------------------------------------------------------ dask
def test_dask_local_cluster_gives_byte_identical_files(tmp_path, dataset):
    distributed = pytest.importorskip("distributed")
    src, masks = dataset
    local = presize.folder(src, tmp_path / "local", 90, masks=masks,
                           masks_out=tmp_path / "lm", workers=1, method="mode")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        seen = []
        rep = presize.folder(src, tmp_path / "dask", 90, masks=masks, masks_out=tmp_path / "dm",
                             method="mode", scheduler=client,
                             progress=lambda d, t: seen.append(d))
        # an address string works too (the client is opened and closed by folder)
        rep2 = presize.folder(src, tmp_path / "dask2", 90, scheduler=cluster.scheduler_address)
    assert rep.written == local.written == rep2.written == 5 and rep.failed == []
    assert seen[-1] == 5
    for a, b in [("local", "dask"), ("lm", "dm"), ("local", "dask2")]:
        files_a = {p.relative_to(tmp_path / a): p.read_bytes() for p in outputs(tmp_path / a)}
        files_b = {p.relative_to(tmp_path / b): p.read_bytes() for p in outputs(tmp_path / b)}
        assert files_a == files_b


def test_bad_scheduler(tmp_path, dataset):
    pytest.importorskip("distributed")
    src, _ = dataset
    with pytest.raises(TypeError, match="scheduler"):
        presize.folder(src, tmp_path / "o", 100, scheduler=42)


def test_encoding_roundtrip_of_png_masks_in_memory():
    # sanity for the helpers used by folder: 16-bit label PNG stays exact
    m = np.arange(0, 60000, 3, dtype=np.uint16)[:19600].reshape(140, 140)
    buf = io.BytesIO()
    presize_write._save_array(m, buf, ".png", lossless=True)
    buf.seek(0)
    np.testing.assert_array_equal(np.asarray(Image.open(buf)).astype(np.uint16), m)


@pytest.mark.parametrize(
    "name, mode",
    [("g.jpg", "L"), ("c.jpg", "CMYK"), ("p.jpg", "RGB-progressive"), ("la.png", "LA"),
     ("rgba.png", "RGBA"), ("pal.png", "P"), ("bw.png", "1"), ("x.bmp", "RGB"),
     ("w.webp", "RGB"), ("g.gif", "P")],
)
def test_folder_handles_image_modes(tmp_path, photo, name, mode):
    rgb, _ = photo
    im = Image.fromarray(rgb)
    kw = {}
    if mode == "RGB-progressive":
        kw = {"progressive": True, "quality": 90}
    elif mode in ("LA", "RGBA"):
        im = im.convert(mode)
    elif mode == "1":
        im = im.convert("L").point(lambda v: 255 if v > 100 else 0).convert("1")
    elif mode != "RGB":
        im = im.convert(mode)
    (tmp_path / "src").mkdir()
    im.save(tmp_path / "src" / name, **kw)
    rep = presize.folder(tmp_path / "src", tmp_path / "dst", 120, workers=1)
    assert rep.failed == [] and rep.written == 1
    with Image.open(tmp_path / "dst" / name) as out:
        assert out.size == (160, 120)
        assert out.format == Image.open(tmp_path / "src" / name).format
        out.load()


@pytest.mark.parametrize("executor", ["auto", "threads", "processes"])
def test_thread_and_process_workers_give_the_same_files_and_progress(tmp_path, dataset, executor):
    src, masks = dataset
    seen = []
    one = presize.folder(src, tmp_path / "one", 90, masks=masks, masks_out=tmp_path / "m1",
                         workers=1, method="mode")
    two = presize.folder(src, tmp_path / "two", 90, masks=masks, masks_out=tmp_path / "m2",
                         workers=2, method="mode", executor=executor,
                         progress=lambda d, t: seen.append((d, t)))
    assert one.written == two.written == 5 and not two.failed
    assert seen[0] == (0, 5) and seen[-1] == (5, 5)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))

    def content(root):  # hashes without the mtimes
        return {k: v[:64] for k, v in tree_hash(root).items()}

    assert content(tmp_path / "one") == content(tmp_path / "two")
    assert content(tmp_path / "m1") == content(tmp_path / "m2")


def test_auto_executor_threads_for_pillow_formats_processes_otherwise(tmp_path, monkeypatch):
    rgb = np.zeros((40, 60, 3), np.uint8)
    save_jpeg(tmp_path / "jpg" / "a.jpg", rgb)
    save_jpeg(tmp_path / "jpg" / "b.jpg", rgb)
    save_jpeg(tmp_path / "mixed" / "a.jpg", rgb)
    (tmp_path / "mixed").mkdir(exist_ok=True)
    np.save(tmp_path / "mixed" / "b.npy", rgb)
    used = []
    monkeypatch.setattr(presize_run, "_execute_threads", lambda jobs, n, done: used.append(
        "threads") or [done([presize_run._run_job(j)]) for j in jobs])
    monkeypatch.setattr(presize_run, "_execute_processes", lambda jobs, n, done: used.append(
        "processes") or [done([presize_run._run_job(j)]) for j in jobs])
    assert presize.folder(tmp_path / "jpg", tmp_path / "o1", 20, workers=2).written == 2
    assert presize.folder(tmp_path / "mixed", tmp_path / "o2", 20, workers=2).written == 2
    assert presize.folder(tmp_path / "jpg", tmp_path / "o3", 20, workers=2,
                          executor="processes").written == 2
    assert used == ["threads", "processes", "processes"]
    with pytest.raises(ValueError, match="executor"):
        presize.folder(tmp_path / "jpg", tmp_path / "o4", 20, executor="fibers")


def test_thread_workers_stop_when_progress_raises(tmp_path, dataset):
    # the widget's Cancel raises from the progress callback: no new file is started
    src, _ = dataset

    class Stop(Exception):
        pass

    def progress(done, total):
        if done >= 1:
            raise Stop

    with pytest.raises(Stop):
        presize.folder(src, tmp_path / "o", 90, workers=2, executor="threads",
                       progress=progress)
    written = outputs(tmp_path / "o")
    assert 1 <= len(written) < 5
    assert not [p for p in written if p.name.startswith(".")]  # no partial temporary file
