"""PatchSampler: paired crops, determinism, cache behaviour, modes, borders, errors."""

from __future__ import annotations

import itertools
import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from labelprep import patches
from labelprep.errors import SkippedFileWarning
from labelprep.io import ImageReadError, read_image
from labelprep.patches import PatchSampler, centre_values, coverage


def _padded_slice(src, origin, size, pad_mode):
    """The reference patch: slice np.pad(src) (constant zero or reflect) at origin."""
    nd = len(size)
    if all(o >= 0 and o + q <= n for o, q, n in zip(origin, size, src.shape)):
        return src[tuple(slice(o, o + q) for o, q in zip(origin, size))]
    width = [(max(size) + abs(o), max(size) + abs(o)) for o in origin] + [(0, 0)] * (
        src.ndim - nd
    )
    if pad_mode == "constant":
        padded = np.pad(src, width, mode="constant", constant_values=0)
    else:
        padded = np.pad(src, width, mode="reflect")
    return padded[tuple(slice(o + w[0], o + w[0] + s) for o, w, s in zip(origin, width, size))]


def assert_patches_match(p, images, masks, pad_mode="constant"):
    size = p.patch_size
    assert p.origins.dtype == np.int64
    assert p.origins.shape == (len(p), 1 + len(size))
    for k in range(len(p)):
        i, *corner = (int(v) for v in p.origins[k])
        np.testing.assert_array_equal(p.images[k], _padded_slice(images[i], corner, size, pad_mode))
        if masks is not None:
            np.testing.assert_array_equal(
                p.masks[k], _padded_slice(masks[i], corner, size, pad_mode)
            )


@pytest.fixture(scope="module")
def photos():
    """Eight distinct 2D RGB images (120 x 160) with class masks 0..3."""
    from labelprep import samples

    pairs = [samples.photo_2d((120, 160), n_objects=12, seed=s) for s in range(8)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.fixture(scope="module")
def volumes(cells):
    image, labels = cells
    vols = [image[z : z + 16, :96, :96] for z in (0, 16, 32)]
    labs = [labels[z : z + 16, :96, :96] for z in (0, 16, 32)]
    return vols, labs


# ------------------------------------------------------------------ crops equal slices


@pytest.mark.parametrize("mode", patches.MODES)
@pytest.mark.parametrize("border,pad_mode", [("valid", "constant"), ("pad", "constant"),
                                             ("pad", "reflect")])
def test_2d_rgb_patches_equal_source_slices(photos, mode, border, pad_mode):
    images, masks = photos
    with PatchSampler(images, masks, (24, 32), cache_size=3, replace_every=5, mode=mode,
                      border=border, pad_mode=pad_mode, seed=3) as s:
        p = s.sample(300)
    assert p.images.shape == (300, 24, 32, 3) and p.images.dtype == np.uint8
    assert p.masks.shape == (300, 24, 32) and p.masks.dtype == np.uint8
    assert_patches_match(p, images, masks, pad_mode)
    if border == "valid":
        assert (p.corners >= 0).all()
        assert (p.corners + (24, 32) <= (120, 160)).all()


@pytest.mark.parametrize("mode", patches.MODES)
@pytest.mark.parametrize("border", ["valid", "pad"])
def test_3d_patches_equal_source_slices(volumes, mode, border):
    vols, labs = volumes
    with PatchSampler(vols, labs, (6, 20, 20), cache_size=2, replace_every=7, mode=mode,
                      border=border, pad_mode="reflect", seed=1) as s:
        p = s.sample(120)
    assert p.images.shape == (120, 6, 20, 20)
    assert p.origins.shape == (120, 4)
    assert_patches_match(p, vols, labs, "reflect")


def test_grey_images_without_masks(photos):
    grey = [im[..., 0] for im in photos[0]]
    with PatchSampler(grey, patch_size=16, seed=0) as s:
        p = s.sample(50)
    assert p.images.shape == (50, 16, 16)
    assert p.masks is None and p.centre_classes is None
    assert_patches_match(p, grey, None)


def test_3d_volume_with_channels():
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 255, size=(10, 30, 30, 2), dtype=np.uint8)
    with PatchSampler([vol], patch_size=(4, 8, 8), seed=0) as s:
        p = s.sample(40)
    assert p.images.shape == (40, 4, 8, 8, 2)
    assert_patches_match(p, [vol], None)


@pytest.mark.parametrize("pad_mode", patches.PAD_MODES)
def test_pad_images_smaller_than_the_patch(pad_mode):
    rng = np.random.default_rng(1)
    small = [rng.integers(1, 200, size=(5 + i, 9), dtype=np.uint8) for i in range(3)]
    masks = [(im > 100).astype(np.uint8) for im in small]
    with PatchSampler(small, masks, (16, 12), border="pad", pad_mode=pad_mode, seed=0) as s:
        p = s.sample(100)
    assert_patches_match(p, small, masks, pad_mode)
    # an image smaller than the patch is fully inside it: corners are <= 0
    assert (p.corners <= 0).all()
    if pad_mode == "constant":
        # the zero padding shows as zeros outside the image
        assert (p.images == 0).any() and (p.images.reshape(100, -1) > 0).any(axis=1).all()


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    pad_mode=st.sampled_from(patches.PAD_MODES),
    mode=st.sampled_from(patches.MODES),
    seed=st.integers(0, 2**16),
)
def test_any_padded_patch_equals_the_padded_source(shape, size, pad_mode, mode, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 1000, size=shape).astype(np.int32)
    mask = rng.integers(0, 3, size=shape).astype(np.uint8)
    if mode == "foreground":
        mask.flat[0] = 1
    with PatchSampler([image], [mask], size, mode=mode, border="pad", pad_mode=pad_mode,
                      seed=seed, prefetch=False) as s:
        p = s.sample(12)
    assert_patches_match(p, [image], [mask], pad_mode)


# ------------------------------------------------------------------ determinism


def _run(images, masks, **kw):
    with PatchSampler(images, masks, (16, 16), cache_size=3, replace_every=4, **kw) as s:
        return [s.sample(10) for _ in range(6)]


@pytest.mark.parametrize("mode", patches.MODES)
def test_same_seed_same_patches_with_prefetch(photos, mode):
    images, masks = photos
    a = _run(images, masks, mode=mode, seed=7, prefetch=True)
    b = _run(images, masks, mode=mode, seed=7, prefetch=True)
    c = _run(images, masks, mode=mode, seed=7, prefetch=False)
    d = _run(images, masks, mode=mode, seed=7, prefetch=1, workers=3)
    for x, y, z, w in zip(a, b, c, d):
        np.testing.assert_array_equal(x.origins, y.origins)
        np.testing.assert_array_equal(x.images, y.images)
        np.testing.assert_array_equal(x.masks, y.masks)
        np.testing.assert_array_equal(x.origins, z.origins)
        np.testing.assert_array_equal(x.images, w.images)


def test_same_seed_same_patches_from_files(tmp_path, photos):
    paths = _write_pngs(tmp_path, photos[0][:5])
    with PatchSampler(paths, None, 16, cache_size=2, replace_every=3, seed=11) as s1, \
         PatchSampler(paths, None, 16, cache_size=2, replace_every=3, seed=11, workers=3) as s2:
        for _ in range(5):
            a, b = s1.sample(16), s2.sample(16)
            np.testing.assert_array_equal(a.origins, b.origins)
            np.testing.assert_array_equal(a.images, b.images)


@pytest.mark.parametrize("border,pad_mode", [("valid", "constant"), ("pad", "reflect")])
@pytest.mark.parametrize("prefetch", [True, False])
def test_files_decoded_into_recycled_buffers_give_the_same_patches_as_arrays(
    tmp_path, photos, border, pad_mode, prefetch
):
    # JPEGs (RGB, decoded into RGBX buffers) and PNG masks, a small cache and many swaps:
    # every buffer is decoded into again and again; patches must equal those cut from
    # the same files read by read_image, with identical origins
    images, masks = photos
    jpgs, pngs = [], []
    for i, (im, m) in enumerate(zip(images, masks)):
        jpgs.append(tmp_path / f"im{i}.jpg")
        pngs.append(tmp_path / f"im{i}.png")
        Image.fromarray(im).save(jpgs[-1], quality=90)
        Image.fromarray(m).save(pngs[-1])
    decoded = [read_image(f) for f in jpgs]
    kw = {"patch_size": (24, 40), "cache_size": 3, "replace_every": 4, "border": border,
              "pad_mode": pad_mode, "seed": 5}
    with PatchSampler(jpgs, pngs, prefetch=prefetch, **kw) as s1, \
         PatchSampler(decoded, masks, **kw) as s2:
        for _ in range(12):
            a, b = s1.sample(21), s2.sample(21)
            np.testing.assert_array_equal(a.origins, b.origins)
            np.testing.assert_array_equal(a.images, b.images)
            np.testing.assert_array_equal(a.masks, b.masks)
            assert_patches_match(a, decoded, masks, pad_mode)
        assert s1.stats.images_loaded >= 60


@pytest.mark.parametrize("mode", patches.MODES)
def test_different_seeds_differ(photos, mode):
    images, masks = photos
    a = _run(images, masks, mode=mode, seed=1)
    b = _run(images, masks, mode=mode, seed=2)
    assert not np.array_equal(np.concatenate([x.origins for x in a]),
                              np.concatenate([x.origins for x in b]))


def test_sample_origins_equals_sample(photos):
    images, masks = photos
    with PatchSampler(images, masks, 20, cache_size=3, replace_every=6, mode="class_balanced",
                      seed=5) as s1, PatchSampler(images, masks, 20, cache_size=3,
                                                 replace_every=6, mode="class_balanced",
                                                 seed=5) as s2:
        np.testing.assert_array_equal(s1.sample_origins(100), s2.sample(100).origins)


# ------------------------------------------------------------------ cache behaviour


def test_every_image_is_eventually_visited():
    images = [np.full((20, 20), i, dtype=np.uint16) for i in range(23)]
    with PatchSampler(images, patch_size=(4, 4), cache_size=4, replace_every=3, seed=0) as s:
        p = s.sample(3000)
        assert s.stats.images_seen == 23
    assert set(p.sources.tolist()) == set(range(23))
    # the pixel values prove each patch comes from the image it names
    assert (p.images == p.sources[:, None, None]).all()


def test_cache_never_holds_an_image_twice_and_swaps_on_schedule():
    images = [np.full((10, 10), i, dtype=np.uint8) for i in range(6)]
    with PatchSampler(images, patch_size=(2, 2), cache_size=4, replace_every=5, seed=3,
                      prefetch=False) as s:
        s.sample(5)
        assert s.stats.images_loaded == 4
        assert len(set(s.cached_indices)) == 4
        for step in range(1, 40):
            s.sample(5)
            assert s.stats.images_loaded == 4 + step
            assert len(set(s.cached_indices)) == 4


def test_swap_happens_inside_a_batch_at_the_exact_count():
    images = [np.full((10, 10), i, dtype=np.uint8) for i in range(30)]
    with PatchSampler(images, patch_size=(2, 2), cache_size=1, replace_every=7, seed=0) as s:
        p = s.sample(70)
    # one cached image: the source changes exactly every 7 patches
    runs = p.sources.reshape(10, 7)
    assert (runs == runs[:, :1]).all()
    assert (np.diff(runs[:, 0]) != 0).all()


def test_cache_larger_than_dataset_loads_each_image_once(photos):
    images, _ = photos
    with PatchSampler(images[:3], patch_size=16, cache_size=16, replace_every=1, seed=0) as s:
        s.sample(200)
        assert s.cache_size == 3
        assert s.stats.images_loaded == 3
        assert sorted(s.cached_indices) == [0, 1, 2]


def test_batches_mix_images_and_report_distinct_count(photos):
    images = [np.full((64, 64), i, dtype=np.uint8) for i in range(40)]
    with PatchSampler(images, patch_size=8, cache_size=16, replace_every=32, seed=0) as s:
        got = list(s.batches(batch_size=32, n_batches=50))
        distinct = [np.unique(b.sources).size for b in got]
        assert len(got) == 50
        assert s.stats.batches == 50 and s.stats.patches == 1600
        assert s.stats.mean_distinct_per_batch == pytest.approx(np.mean(distinct))
        # 32 uniform picks among 16 slots: about 14 distinct images expected
        assert s.stats.mean_distinct_per_batch >= 12
        endless = s.batches(batch_size=4)
        assert [len(b) for b in itertools.islice(endless, 3)] == [4, 4, 4]


class SlowArray:
    """An array-like whose conversion takes ``delay`` seconds, like decoding a file."""

    def __init__(self, array, delay):
        self.array, self.delay = array, delay
        self.shape, self.dtype = array.shape, array.dtype

    def __array__(self, dtype=None, copy=None):
        time.sleep(self.delay)
        return self.array


@pytest.mark.parametrize("prefetch", [True, False])
def test_prefetch_hides_loading_when_the_cache_is_warm(prefetch):
    images = [SlowArray(np.full((16, 16), i, np.uint8), 0.05) for i in range(8)]
    with PatchSampler(images, patch_size=4, cache_size=2, replace_every=4, seed=0,
                      prefetch=prefetch) as s:
        s.sample(4)  # warm-up: the initial fill
        before = s.stats.wait_seconds
        for _ in range(6):
            time.sleep(0.12)  # the "training step" between batches
            s.sample(4)
        waited = s.stats.wait_seconds - before
    if prefetch:
        assert waited < 0.05, waited
    else:
        assert waited > 0.25, waited


def test_close_stops_the_loader_threads(photos):
    s = PatchSampler(photos[0], patch_size=16, cache_size=2, replace_every=2, seed=0)
    s.sample(10)
    s.close()
    s.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        s.sample(1)
    deadline = time.monotonic() + 5
    while any(t.name.startswith("labelprep-patches") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "loader threads still running"
        time.sleep(0.01)


# ------------------------------------------------------------------ modes


def test_uniform_corners_are_flat_including_borders():
    from scipy.stats import chisquare

    image = np.zeros((25, 20), np.uint8)  # 10 x 5 corner positions for a 16 x 16 patch
    with PatchSampler([image], patch_size=(16, 16), seed=0) as s:
        corners = s.sample_origins(20000)[:, 1:]
    assert corners[:, 0].min() == 0 and corners[:, 0].max() == 9
    assert corners[:, 1].min() == 0 and corners[:, 1].max() == 4
    counts = np.bincount(corners[:, 0] * 5 + corners[:, 1], minlength=50)
    assert counts.size == 50
    assert chisquare(counts).pvalue > 1e-4
    # coverage is then higher in the middle, but corners themselves have no border bias
    assert abs(counts[:5].sum() / counts.sum() - 0.1) < 0.02


def test_uniform_with_pad_along_a_short_axis():
    from scipy.stats import chisquare

    image = np.ones((30, 10), np.uint8)  # y: 15 positions; x: shorter than the patch
    with PatchSampler([image], patch_size=(16, 16), border="pad", seed=0) as s:
        corners = s.sample_origins(15000)[:, 1:]
    assert set(np.unique(corners[:, 1])) == set(range(-6, 1))
    assert set(np.unique(corners[:, 0])) == set(range(0, 15))
    assert chisquare(np.bincount(corners[:, 1] + 6)).pvalue > 1e-4


@pytest.mark.parametrize("border", ["valid", "pad"])
def test_foreground_centres_are_always_foreground(photos, border):
    images, masks = photos
    with PatchSampler(images, masks, (15, 20), cache_size=3, replace_every=10,
                      mode="foreground", border=border, seed=0) as s:
        p = s.sample(2000)
    assert (p.centre_classes != 0).all()
    for k in range(0, 2000, 97):
        i, y, x = p.origins[k]
        assert masks[i][y + 7, x + 10] != 0


def test_foreground_near_the_border_needs_pad():
    mask = np.zeros((40, 40), np.uint8)
    mask[0, 39] = 5
    image = np.arange(1600, dtype=np.uint16).reshape(40, 40)
    with PatchSampler([image], [mask], (9, 9), mode="foreground", border="pad", seed=0) as s:
        p = s.sample(5)
    assert (p.origins[:, 1:] == [-4, 35]).all()
    assert (p.centre_classes == 5).all()
    assert_patches_match(p, [image], [mask])
    with PatchSampler([image], [mask], (9, 9), mode="foreground", border="valid", seed=0) as s:
        with pytest.warns(RuntimeWarning, match="no cached mask has foreground"):
            p = s.sample(5)
        assert s.stats.fallback_patches == 5


def test_class_balanced_ratios_are_uniform_over_present_classes():
    rng = np.random.default_rng(0)
    masks, images = [], []
    for i in range(6):
        mask = np.zeros((100, 100), np.uint8)
        mask[10:14, 10:14] = 1  # rare: 16 pixels
        mask[50:90, 50:90] = 2  # common
        if i % 2:
            mask[30:33, 60:63] = 7  # rare and only in half of the images
        masks.append(mask)
        images.append(rng.integers(0, 255, (100, 100), dtype=np.uint8))
    with PatchSampler(images, masks, (9, 9), cache_size=3, replace_every=8,
                      mode="class_balanced", seed=0) as s:
        drawn = np.concatenate([s.sample(500).centre_classes for _ in range(12)])
    classes, counts = np.unique(drawn, return_counts=True)
    assert classes.tolist() == [0, 1, 2, 7]
    ratios = counts / counts.sum()
    # class 7 is missing from the cache now and then, so it gets a bit less
    np.testing.assert_allclose(ratios[:3], 0.25, atol=0.04)
    assert 0.15 < ratios[3] < 0.29


def test_class_balanced_follows_class_weights():
    mask = np.zeros((60, 60), np.int32)
    mask[5:10, 5:10] = 1000  # large ids are fine
    mask[20:50, 20:50] = 3
    image = np.zeros((60, 60), np.float32)
    with PatchSampler([image], [mask], (5, 5), mode="class_balanced",
                      class_weights={1000: 3, 3: 1, 0: 0}, seed=0) as s:
        drawn = s.sample(8000).centre_classes
    assert set(np.unique(drawn)) == {3, 1000}
    assert abs((drawn == 1000).mean() - 0.75) < 0.02


def test_class_balanced_with_instance_labels_in_3d(volumes):
    vols, labs = volumes
    with PatchSampler(vols, labs, (4, 12, 12), cache_size=3, mode="class_balanced",
                      seed=0) as s:
        p = s.sample(600)
    # dozens of cells, each as likely as the background: background is rare now
    present = np.unique(np.concatenate([lab[2:15, 6:91, 6:91].ravel() for lab in labs]))
    assert present.size > 50
    assert (p.centre_classes == 0).mean() < 3 / present.size
    drawn = np.unique(p.centre_classes)
    assert np.isin(drawn, present).all()
    assert drawn.size > 0.9 * present.size


# ------------------------------------------------------------------ files and errors


def _write_pngs(folder, arrays, prefix="img"):
    paths = []
    for i, a in enumerate(arrays):
        path = folder / f"{prefix}{i}.png"
        Image.fromarray(a).save(path)
        paths.append(path)
    return paths


def test_reads_tiff_png_jpeg_npy(tmp_path, photos):
    import tifffile

    rgb, mask = photos[0][0], photos[1][0]
    files = [tmp_path / "a.tif", tmp_path / "b.png", tmp_path / "c.jpg", tmp_path / "d.npy"]
    tifffile.imwrite(files[0], rgb)
    Image.fromarray(rgb).save(files[1])
    Image.fromarray(rgb).save(files[2], quality=95)
    np.save(files[3], rgb)
    mfiles = []
    for f in files:
        mf = tmp_path / f"{f.stem}_mask.png"
        Image.fromarray(mask).save(mf)
        mfiles.append(mf)
    with PatchSampler([str(f) for f in files], mfiles, 24, cache_size=2, replace_every=3,
                      seed=0) as s:
        p = s.sample(60)
        assert s.sources == [str(f) for f in files]
    decoded = [read_image(f) for f in files]
    assert_patches_match(p, decoded, [mask] * 4)
    assert set(p.sources.tolist()) == {0, 1, 2, 3}


def test_folder_of_images(tmp_path, photos):
    _write_pngs(tmp_path, photos[0][:3])
    with PatchSampler(tmp_path, patch_size=8) as s:
        assert len(s.sources) == 3
        assert s.sample(4).images.shape == (4, 8, 8, 3)


def test_corrupt_file_error_names_it_in_the_caller(tmp_path, photos):
    paths = _write_pngs(tmp_path, photos[0][:4])
    paths[2].write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with PatchSampler(paths, patch_size=8, cache_size=4, seed=0) as s:
        with pytest.raises(ImageReadError, match="img2.png"):
            s.sample(1)


def test_image_smaller_than_patch_with_valid_border_names_it(tmp_path, photos):
    small = np.zeros((10, 50), np.uint8)
    with pytest.raises(ValueError, match=r"images\[1\].*smaller than the patch"):
        PatchSampler([photos[0][0], small], patch_size=(16, 16))
    paths = _write_pngs(tmp_path, [photos[0][0], small])
    with PatchSampler(paths, patch_size=(16, 16), seed=0) as s:
        with pytest.raises(ValueError, match="img1.png.*smaller than the patch"):
            s.sample(1)


def test_mask_shape_mismatch_names_it(tmp_path, photos):
    images, masks = photos
    with pytest.raises(ValueError, match=r"masks\[1\].*shape \(120, 150\)"):
        PatchSampler(images[:2], [masks[0], masks[1][:, :150]], 16)
    ipaths = _write_pngs(tmp_path, images[:2])
    mpaths = _write_pngs(tmp_path, [masks[0], masks[1][:100]], prefix="mask")
    with PatchSampler(ipaths, mpaths, 16, seed=0) as s:
        with pytest.raises(ValueError, match="mask1.png.*img1.png"):
            s.sample(1)


def test_inconsistent_channels_and_dtypes_are_errors(photos):
    rgb = photos[0][0]
    with PatchSampler([rgb, rgb[..., 0]], patch_size=8, cache_size=2) as s:
        with pytest.raises(ValueError, match=r"images\[\d\].*channel"):
            s.sample(1)
    with PatchSampler([rgb[..., 0].astype(np.int16), rgb[..., 0].astype(np.uint16)], patch_size=8,
                      cache_size=2) as s:
        with pytest.raises(ValueError, match="dtype"):
            s.sample(1)


# ------------------------------------------------------------------ on_error="skip"


def _skipping(**kwargs):
    """A PatchSampler with on_error="skip" (the warnings are checked by the caller)."""
    return PatchSampler(on_error="skip", **kwargs)


def _draw_all(sampler, n_batches=40, batch=8):
    parts = [sampler.sample(batch) for _ in range(n_batches)]
    return np.concatenate([p.origins for p in parts]), parts


def test_skip_leaves_out_bad_files_names_them_once_and_the_run_goes_on(tmp_path, photos):
    """A corrupt, a truncated and a vanished file among good ones: each is warned about
    once, recorded in order, never drawn; every good image is still visited."""
    images = photos[0][:7]
    paths = _write_pngs(tmp_path, images)
    paths[2].write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    data = paths[5].read_bytes()
    paths[5].write_bytes(data[: len(data) // 2])  # truncated
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with PatchSampler(paths, patch_size=8, cache_size=3, replace_every=4, seed=0,
                          on_error="skip") as s:
            paths[4].unlink()  # vanishes after the sampler was made
            origins, parts = _draw_all(s)
            skipped = dict(s.skipped)
            with pytest.raises(TypeError):
                s.skipped["x"] = "y"  # read-only
    drawn = set(origins[:, 0].tolist())
    assert drawn == {0, 1, 3, 6}
    assert set(skipped) == {str(paths[i]) for i in (2, 4, 5)}
    assert "cannot read" in skipped[str(paths[2])] and "img2.png" in skipped[str(paths[2])]
    assert "img4.png" in skipped[str(paths[4])]
    ours = [w for w in caught if issubclass(w.category, SkippedFileWarning)]
    assert len(ours) == 3 and len(caught) == 3
    # one warning per file, in the order of s.skipped, naming the file and the reason
    for w, (name, reason) in zip(ours, skipped.items()):
        assert name in str(w.message) and reason in str(w.message)
        assert w.filename == __file__  # points at the caller's sample()
    decoded = {i: read_image(paths[i]) for i in drawn}
    for p in parts:
        assert_patches_match(p, decoded, None)


@pytest.mark.parametrize("cache_size,replace_every", [(3, 4), (1, 2), (7, 4), (16, 3)])
def test_skip_refills_the_slot_and_prefetch_does_not_change_the_patches(
    tmp_path, photos, cache_size, replace_every
):
    paths = _write_pngs(tmp_path, photos[0][:7])
    for i in (0, 5):
        paths[i].write_bytes(b"junk")
    results = []
    for prefetch in (False, True, 1, 6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedFileWarning)
            with _skipping(images=paths, patch_size=8, cache_size=cache_size,
                           replace_every=replace_every, seed=3, prefetch=prefetch) as s:
                origins, _ = _draw_all(s)
                # the slot of a bad file is refilled; with every good image cached the
                # cache shrinks to the good ones
                assert len(s.cached_indices) == min(cache_size, 5)
                assert not {0, 5} & set(s.cached_indices)
                assert list(s.skipped) in ([str(paths[0]), str(paths[5])],
                                           [str(paths[5]), str(paths[0])])
        assert not {0, 5} & set(origins[:, 0].tolist())
        results.append(origins)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


def test_skip_a_mask_of_the_wrong_shape(tmp_path, photos):
    images, masks = photos
    ipaths = _write_pngs(tmp_path, images[:4])
    mpaths = _write_pngs(tmp_path, [masks[0], masks[1][:100], masks[2], masks[3]], "mask")
    with pytest.warns(SkippedFileWarning, match="mask1.png.*img1.png"):
        with _skipping(images=ipaths, masks=mpaths, patch_size=16, mode="foreground",
                       cache_size=2, replace_every=3, seed=0) as s:
            p = s.sample(200)
    assert list(s.skipped) == [str(ipaths[1])]
    assert "mask1.png" in s.skipped[str(ipaths[1])]
    assert set(p.sources.tolist()) == {0, 2, 3}
    assert (p.centre_classes != 0).all()


def test_skip_arrays_refused_when_loaded(photos):
    """Load-time checks of arrays (float mask, other channels or dtype) are skipped too."""
    rgb, mask = photos[0][0], photos[1][0]
    images = [rgb, rgb, rgb[..., 0], rgb, rgb.astype(np.float64)]
    masks = [mask, mask.astype(np.float32), mask, mask, mask]
    with pytest.warns(SkippedFileWarning):
        with _skipping(images=images, masks=masks, patch_size=8, cache_size=5, seed=0) as s:
            p = s.sample(100)
    assert set(p.sources.tolist()) == {0, 3}
    assert set(s.skipped) == {f"images[{i}] (array)" for i in (1, 2, 4)}
    assert "integer class ids" in s.skipped["images[1] (array)"]
    assert "channel" in s.skipped["images[2] (array)"]
    assert "dtype" in s.skipped["images[4] (array)"]


def test_skip_every_source_bad_is_a_clear_error(tmp_path, photos):
    paths = _write_pngs(tmp_path, photos[0][:3])
    for p in paths:
        p.write_bytes(b"junk")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _skipping(images=paths, patch_size=8, cache_size=2) as s:
            with pytest.raises(ValueError, match=r"all 3 image\(s\) were skipped") as info:
                s.sample(4)
            first = next(iter(s.skipped))
            assert f"the first: {first}: cannot read" in str(info.value)
            assert len(s.skipped) == 3
            with pytest.raises(ValueError, match="all 3 image"):  # and it stays so
                s.sample(4)
    assert len(caught) == 3


@pytest.mark.parametrize("mode", patches.MODES)
@pytest.mark.parametrize("prefetch", [False, True])
def test_skip_without_bad_sources_draws_exactly_as_raise(tmp_path, photos, mode, prefetch):
    images, masks = photos
    ipaths = _write_pngs(tmp_path, images[:5])
    mpaths = _write_pngs(tmp_path, masks[:5], "mask")
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning at all
        for on_error in ("raise", "skip"):
            for kind, (im, ma) in {"files": (ipaths, mpaths), "arrays": (images, masks)}.items():
                with PatchSampler(im, ma, 12, cache_size=2, replace_every=5, mode=mode,
                                  seed=7, prefetch=prefetch, on_error=on_error) as s:
                    parts = [s.sample(9) for _ in range(12)]
                    assert dict(s.skipped) == {}
                runs[on_error, kind] = parts
    for kind in ("files", "arrays"):
        for a, b in zip(runs["raise", kind], runs["skip", kind]):
            np.testing.assert_array_equal(a.origins, b.origins)
            np.testing.assert_array_equal(a.images, b.images)
            np.testing.assert_array_equal(a.masks, b.masks)


def test_skip_does_not_hide_bad_arguments(tmp_path, photos):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        _skipping(images=[tmp_path / "nope.png"])
    with pytest.raises(ValueError, match=r"masks\[1\].*shape"):
        _skipping(images=photos[0][:2], masks=[photos[1][0], photos[1][1][:50]], patch_size=8)
    with _skipping(images=photos[0][:2], patch_size=8) as s:
        with pytest.raises(ValueError, match="n must be"):
            s.sample(-1)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"mode": "nope"}, ValueError, "mode must be one of"),
        ({"border": "wrap"}, ValueError, "border must be one of"),
        ({"pad_mode": "edge"}, ValueError, "pad_mode must be one of"),
        ({"patch_size": (0, 4)}, ValueError, "patch_size"),
        ({"patch_size": "ab"}, TypeError, "patch_size"),
        ({"cache_size": 0}, ValueError, "cache_size"),
        ({"replace_every": -1}, ValueError, "replace_every"),
        ({"prefetch": -2}, ValueError, "prefetch"),
        ({"workers": 0}, ValueError, "workers"),
        ({"on_error": "ignore"}, ValueError, r"on_error must be one of \('raise', 'skip'\)"),
        ({"on_error": None}, ValueError, "on_error must be one of"),
        ({"mode": "foreground"}, ValueError, "needs masks"),
        ({"class_weights": {1: 1}}, ValueError, "class_balanced"),
        ({"masks": [np.zeros((50, 50), np.uint8)] * 2}, ValueError, "1 images but 2 masks"),
        ({"masks": [np.zeros((50, 50), np.float32)], "mode": "foreground", "patch_size": 8},
         None, None),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, error, match):
    image = np.zeros((50, 50), np.uint8)
    if error is None:  # float masks are refused when the mask is read
        with PatchSampler([image], **kwargs) as s, pytest.raises(ValueError, match="integer"):
            s.sample(1)
        return
    with pytest.raises(error, match=match):
        PatchSampler([image], **kwargs)


def test_missing_file_and_volume_given_a_2d_patch(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        PatchSampler([tmp_path / "nope.png"])
    with pytest.raises(ValueError, match="too long to be channels"):
        PatchSampler([np.zeros((10, 64, 64), np.uint8)], patch_size=(8, 8))
    with pytest.raises(TypeError, match="images"):
        PatchSampler(42)
    with pytest.raises(ValueError, match="empty"):
        PatchSampler([])


def test_match_masks(tmp_path):
    from labelprep.patches import match_masks

    (tmp_path / "img" / "sub").mkdir(parents=True)
    (tmp_path / "msk" / "sub").mkdir(parents=True)
    images = [tmp_path / "img" / "a.jpg", tmp_path / "img" / "sub" / "b.JPG"]
    for p in images:
        p.touch()
    (tmp_path / "msk" / "a_m.png").touch()
    (tmp_path / "msk" / "sub" / "b_m.PNG").touch()
    (tmp_path / "msk" / "sub" / "b.png").touch()  # wrong suffix: ignored
    got = match_masks(images, tmp_path / "img", tmp_path / "msk", "_m")
    assert got == [tmp_path / "msk" / "a_m.png", tmp_path / "msk" / "sub" / "b_m.PNG"]
    with pytest.raises(FileNotFoundError, match=r"1 image\(s\): a.jpg"):
        match_masks(images, tmp_path / "img", tmp_path / "msk")
    (tmp_path / "msk" / "a_m.tif").touch()
    with pytest.raises(ValueError, match="several masks"):
        match_masks(images, tmp_path / "img", tmp_path / "msk", "_m")


# ------------------------------------------------------------------ helpers


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=2, max_size=3),
    data=st.data(),
)
def test_coverage_matches_brute_force(shape, data):
    nd = len(shape)
    size = data.draw(st.tuples(*[st.integers(1, 6)] * nd))
    corners = np.array(
        data.draw(st.lists(st.tuples(*[st.integers(-6, 9)] * nd), max_size=12)), dtype=np.int64
    ).reshape(-1, nd)
    expected = np.zeros(shape, np.int32)
    for c in corners:
        box = tuple(slice(max(a, 0), max(a + s, 0)) for a, s in zip(c, size))
        expected[box] += 1
    np.testing.assert_array_equal(coverage(shape, corners, size), expected)


def test_centre_values_with_padding():
    a = np.arange(1, 13).reshape(3, 4)
    corners = np.array([[0, 0], [-2, -2], [1, 2]])
    np.testing.assert_array_equal(centre_values(a, corners, (3, 3)), [6, 0, 12])
    np.testing.assert_array_equal(centre_values(a, corners, (3, 3), "reflect"), [6, 6, 12])


def test_repr_and_no_warnings_in_normal_use(photos):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with PatchSampler(photos[0], photos[1], 16, mode="foreground") as s:
            s.sample(100)
            assert "PatchSampler(8 images" in repr(s)


@pytest.mark.parametrize("mode", patches.MODES)
@pytest.mark.parametrize("border", ["valid", "pad"])
def test_expected_centre_classes_match_what_is_drawn(photo, mode, border):
    from labelprep.patches import expected_centre_classes

    rgb, mask = photo
    weights = {0: 1, 2: 3} if mode == "class_balanced" else None
    classes, fractions = expected_centre_classes(mask, (32, 48), mode, border, weights)
    assert fractions.sum() == pytest.approx(1.0)
    with PatchSampler([rgb], [mask], (32, 48), mode=mode, border=border, class_weights=weights,
                      seed=0) as s:
        drawn = centre_values(mask, s.sample_origins(6000)[:, 1:], (32, 48))
    got = np.array([(drawn == c).mean() for c in classes])
    np.testing.assert_allclose(got, fractions, atol=0.025)
    assert np.isin(drawn, classes).all()
