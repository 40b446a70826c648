"""labelprep.measure against skimage.measure.regionprops_table (and NumPy where it has no
counterpart): random and blob stacks, 2D/3D, image dtypes, spacing, channels, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage as ndi

from labelprep import LabelIndex
from labelprep.measure import (
    DEFAULT_INTENSITY_PROPERTIES,
    DEFAULT_PROPERTIES,
    PROPERTIES,
    measure,
)

skm = pytest.importorskip("skimage.measure")

#: every property regionprops_table knows (all of ours but intensity_sum)
RP_PROPS = tuple(p for p in PROPERTIES if p != "intensity_sum")
#: statistics that regionprops computes in the image's dtype (float32 for float32 images);
#: ours accumulate in float64, so they are compared against regionprops on a float64 copy
FLOAT_STATS = ("intensity_mean", "intensity_std", "intensity_median", "centroid_weighted")


def blob_labels(shape, seed, sigma=2.0, quantile=0.85):
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    labels, _ = ndi.label(smooth > np.quantile(smooth, quantile))
    return labels.astype(np.int32)


def random_labels(shape, seed, n=12):
    return np.random.default_rng(seed).integers(0, n, size=shape).astype(np.uint16)


def make_image(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if dtype == np.uint16:
        return rng.integers(0, 65536, size=shape, dtype=np.uint16)
    if dtype == np.int16:
        return rng.integers(-200, 3000, size=shape).astype(np.int16)
    # float32 with a large offset against its spread: catches a cancelling variance
    return (1000 + 3 * rng.standard_normal(shape)).astype(dtype)


def assert_frame_matches(df, ref, rtol=1e-12, exact=()):
    """Same columns in the same order; values equal (``exact``) or close (rtol, no atol)."""
    assert list(df.columns) == list(ref)
    for name, expected in ref.items():
        got = df[name].to_numpy()
        expected = np.asarray(expected)
        assert got.shape == expected.shape, name
        if name == "label" or name.startswith("bbox") or name.split("-")[0] in exact:
            np.testing.assert_array_equal(got, expected, err_msg=name)
        else:
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=0, equal_nan=True,
                                       err_msg=name)


def reference(labels, image, spacing, props=RP_PROPS):
    """regionprops_table, with the float statistics of float images taken in float64."""
    kw = {} if spacing is None else {"spacing": spacing}
    ref = skm.regionprops_table(labels, image, properties=("label", *props), **kw)
    if image is not None and image.dtype.kind == "f" and image.dtype != np.float64:
        ref64 = skm.regionprops_table(labels, image.astype(np.float64),
                                      properties=("label", *props), **kw)
        ref = {k: (ref64[k] if k.split("-")[0] in FLOAT_STATS else v) for k, v in ref.items()}
    return ref


STACKS = {
    "random2d": lambda: random_labels((37, 53), 1),
    "random3d": lambda: random_labels((9, 21, 26), 2),
    "blobs2d": lambda: blob_labels((90, 110), 3),
    "blobs3d": lambda: blob_labels((24, 40, 44), 4),
}


@pytest.mark.parametrize("stack_name", list(STACKS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int16])
def test_matches_regionprops(stack_name, dtype):
    labels = STACKS[stack_name]()
    image = make_image(labels.shape, dtype, seed=7)
    idx = LabelIndex.build(labels)
    assert len(idx) > 5
    df = measure(idx, image, properties=RP_PROPS)
    # min and max are values of the image: exact
    assert_frame_matches(df, reference(labels, image, None), rtol=1e-11,
                         exact=("intensity_min", "intensity_max", "area"))


@pytest.mark.parametrize("stack_name", list(STACKS))
def test_matches_regionprops_with_spacing(stack_name):
    labels = STACKS[stack_name]()
    spacing = (2.5, 0.3, 0.7)[-labels.ndim:]
    image = make_image(labels.shape, np.uint16, seed=8)
    df = measure(LabelIndex.build(labels), image, spacing=spacing, properties=RP_PROPS)
    assert_frame_matches(df, reference(labels, image, spacing), rtol=1e-11,
                         exact=("intensity_min", "intensity_max"))
    # physical area and centroids, voxel bboxes, unit-free extent
    plain = measure(LabelIndex.build(labels), image, properties=RP_PROPS)
    np.testing.assert_allclose(df["area"], plain["area"] * np.prod(spacing), rtol=1e-15)
    np.testing.assert_allclose(df["centroid-0"], plain["centroid-0"] * spacing[0], rtol=1e-15)
    np.testing.assert_array_equal(df["extent"], plain["extent"])


@pytest.mark.parametrize("stack_name", ["random2d", "blobs3d"])
@pytest.mark.parametrize("nchan", [1, 3])
def test_multichannel_matches_regionprops(stack_name, nchan):
    labels = STACKS[stack_name]()
    image = make_image(labels.shape + (nchan,), np.float32, seed=9)
    spacing = (0.5, 1.5, 2.0)[-labels.ndim:]
    df = measure(LabelIndex.build(labels), image, spacing=spacing, properties=RP_PROPS)
    ref = reference(labels, image, spacing)
    assert "intensity_mean-0" in ref and f"centroid_weighted-0-{nchan - 1}" in ref
    assert_frame_matches(df, ref, rtol=1e-11, exact=("intensity_min", "intensity_max"))
    # each channel alone gives the channel's columns
    for c in range(nchan):
        one = measure(LabelIndex.build(labels), np.ascontiguousarray(image[..., c]),
                      spacing=spacing, properties=("intensity_mean", "centroid_weighted"))
        np.testing.assert_array_equal(one["intensity_mean"], df[f"intensity_mean-{c}"])
        np.testing.assert_array_equal(one["centroid_weighted-1"],
                                      df[f"centroid_weighted-1-{c}"])


def test_float32_close_to_regionprops_own_precision():
    """regionprops keeps float32 statistics in float32; ours are float64, within its eps."""
    labels = STACKS["blobs3d"]()
    image = make_image(labels.shape, np.float32, seed=10)
    df = measure(LabelIndex.build(labels), image, properties=("intensity_mean",))
    ref = skm.regionprops_table(labels, image, properties=("label", "intensity_mean"))
    np.testing.assert_allclose(df["intensity_mean"], ref["intensity_mean"], rtol=2e-6)


@pytest.mark.parametrize("stack_name", list(STACKS))
def test_intensity_sum(stack_name):
    labels = STACKS[stack_name]()
    for image in (make_image(labels.shape, np.uint16, 11), make_image(labels.shape, np.int16, 12)):
        idx = LabelIndex.build(labels)
        df = measure(idx, image, properties=("intensity_sum",))
        expected = ndi.sum_labels(image.astype(np.int64), labels, idx.labels)
        np.testing.assert_array_equal(df["intensity_sum"], expected)  # exact for integers
    image = make_image(labels.shape + (2,), np.float32, 13)
    df = measure(idx, image, properties=("intensity_sum", "intensity_mean", "area"))
    for c in range(2):
        expected = ndi.sum_labels(image[..., c].astype(np.float64), labels, idx.labels)
        np.testing.assert_allclose(df[f"intensity_sum-{c}"], expected, rtol=1e-12)
        np.testing.assert_allclose(df[f"intensity_sum-{c}"],
                                   df[f"intensity_mean-{c}"] * df["area"], rtol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9),
       nchan=st.sampled_from([None, 2]))
def test_property_matches_regionprops(data, shape, nchan):
    """Any small stack (width-1 rows, single voxels, objects across rows and slices) and
    any integer image with channels or not: regionprops_table's numbers."""
    labels = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 4)))
    image_shape = shape if nchan is None else shape + (nchan,)
    image = data.draw(hnp.arrays(np.int16, image_shape, elements=st.integers(-50, 400)))
    spacing = data.draw(st.sampled_from([None, (0.5, 3.0, 1.25)[-len(shape):]]))
    df = measure(LabelIndex.build(labels), image, spacing=spacing, properties=RP_PROPS)
    if not labels.any():
        assert len(df) == 0
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = reference(labels, image, spacing)
    assert_frame_matches(df, ref, rtol=1e-9, exact=("intensity_min", "intensity_max"))


@pytest.mark.parametrize("shape, spacing", [((300,), (0.5,)),
                                             ((5, 6, 7, 9), (1.5, 2.0, 0.5, 0.25))])
def test_1d_and_4d_against_numpy(shape, spacing):
    """No regionprops outside 2D/3D: the weighted centroid's row-wise unravel against
    argwhere."""
    labels = blob_labels(shape, 14, sigma=1.0, quantile=0.7)
    image = make_image(labels.shape, np.uint16, 15).astype(np.float64)
    idx = LabelIndex.build(labels)
    assert len(idx) > 3
    df = measure(idx, image, spacing=spacing, properties=PROPERTIES)
    for row, label in enumerate(idx.labels):
        coords = np.argwhere(labels == label)
        vals = image[labels == label]
        weighted = (coords * spacing * vals[:, None]).sum(0) / vals.sum()
        for k in range(len(shape)):
            assert df[f"centroid_weighted-{k}"][row] == pytest.approx(weighted[k], rel=1e-12)
            assert df[f"centroid-{k}"][row] == pytest.approx(coords[:, k].mean() * spacing[k],
                                                             rel=1e-12)
        assert df["intensity_std"][row] == pytest.approx(vals.std(), rel=1e-10, abs=1e-12)
        assert df["intensity_median"][row] == np.median(vals)
        assert df["intensity_sum"][row] == vals.sum()
        assert df["area"][row] == pytest.approx(len(vals) * np.prod(spacing), rel=1e-15)


def test_large_offset_variance():
    """Values near 1e9 with a spread of a few units: no cancellation in the std."""
    labels = STACKS["blobs2d"]()
    rng = np.random.default_rng(16)
    image = 1e9 + rng.integers(0, 5, size=labels.shape).astype(np.float64)
    df = measure(LabelIndex.build(labels), image, properties=("intensity_std",))
    ref = skm.regionprops_table(labels, image, properties=("label", "intensity_std"))
    np.testing.assert_allclose(df["intensity_std"], ref["intensity_std"], rtol=1e-9, atol=1e-9)


def test_nan_makes_only_its_object_nan():
    labels = STACKS["blobs2d"]()
    image = make_image(labels.shape, np.float32, 17)
    idx = LabelIndex.build(labels)
    image[tuple(idx.coords(idx.labels[3])[1])] = np.nan
    df = measure(idx, image, properties=RP_PROPS)
    assert_frame_matches(df, reference(labels, image, None), rtol=1e-11,
                         exact=("intensity_min", "intensity_max"))
    for name in ("intensity_mean", "intensity_min", "intensity_max", "intensity_median"):
        assert np.isnan(df[name][3]) and not df[name].drop(index=3).isna().any()


def test_image_layouts_and_dtypes():
    """Fortran order, a strided view, read-only, bool, float16, big-endian: same numbers as
    a plain C-ordered copy of the same values."""
    labels = STACKS["blobs3d"]()
    idx = LabelIndex.build(labels)
    base = make_image(labels.shape, np.uint16, 18)
    props = ("intensity_mean", "intensity_min", "intensity_std", "centroid_weighted",
             "intensity_median")
    expected = measure(idx, base, properties=props)
    ro = base.copy()
    ro.flags.writeable = False
    wide = np.zeros(labels.shape[:-1] + (2 * labels.shape[-1],), np.uint16)
    wide[..., ::2] = base
    for variant in (np.asfortranarray(base), wide[..., ::2], ro, base.astype(">u2")):
        pd.testing.assert_frame_equal(measure(idx, variant, properties=props), expected)
    mask = base > 30000
    pd.testing.assert_frame_equal(measure(idx, mask, properties=props),
                                  measure(idx, mask.astype(np.uint8), properties=props))
    half = (base / 1000).astype(np.float16)
    pd.testing.assert_frame_equal(measure(idx, half, properties=props),
                                  measure(idx, half.astype(np.float32), properties=props))


def test_defaults_and_column_order():
    labels = STACKS["random2d"]()
    idx = LabelIndex.build(labels)
    image = make_image(labels.shape, np.uint8, 19)
    plain = measure(idx)
    ref = skm.regionprops_table(labels, properties=("label", *DEFAULT_PROPERTIES))
    assert_frame_matches(plain, ref, exact=("area",))
    full = measure(idx, image)
    assert list(full.columns[: len(plain.columns)]) == list(plain.columns)
    assert list(full.columns[len(plain.columns):]) == list(DEFAULT_INTENSITY_PROPERTIES)
    # order as asked, label first (also when listed elsewhere), duplicates once
    df = measure(idx, image, properties=["intensity_max", "label", "area", "intensity_max"])
    assert list(df.columns) == ["label", "intensity_max", "area"]
    assert list(measure(idx, properties="extent").columns) == ["label", "extent"]
    np.testing.assert_array_equal(df["label"], idx.labels)
    assert df["label"].dtype == idx.labels.dtype
    assert full["bbox-0"].dtype == np.int64 and full["intensity_min"].dtype == np.float64


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_empty_index():
    labels = np.zeros((6, 7), np.int32)
    idx = LabelIndex.build(labels)
    assert len(idx) == 0
    image = np.ones((6, 7, 2), np.float32)
    df = measure(idx, image, spacing=(1.0, 2.0), properties=PROPERTIES)
    assert len(df) == 0
    ref = skm.regionprops_table(labels, image, properties=("label", *RP_PROPS))
    assert [c for c in df.columns if not c.startswith("intensity_sum")] == list(ref)
    for name, col in df.items():
        expected = np.int64 if name.startswith("bbox") else (
            idx.labels.dtype if name == "label" else np.float64)
        assert col.dtype == expected, name
    assert list(measure(idx).columns) == ["label", "area", "centroid-0", "centroid-1",
                                          "bbox-0", "bbox-1", "bbox-2", "bbox-3"]


# ------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def small():
    labels = np.array([[1, 1, 0], [0, 2, 2]], dtype=np.uint8)
    return LabelIndex.build(labels), labels


@pytest.mark.parametrize("image", [np.zeros((2, 4)), np.zeros((3, 2)), np.zeros((2, 3, 1, 1)),
                                   np.zeros((2,)), np.zeros((2, 3, 0))])
def test_bad_image_shape(small, image):
    idx, _ = small
    with pytest.raises(ValueError, match=r"image has shape .*\(2, 3\)"):
        measure(idx, image)


@pytest.mark.parametrize("image", [np.zeros((2, 3), complex), np.full((2, 3), "a"),
                                   np.full((2, 3), None, dtype=object)])
def test_bad_image_dtype(small, image):
    idx, _ = small
    with pytest.raises(TypeError, match="image must have an integer, float or bool dtype"):
        measure(idx, image)


@pytest.mark.parametrize("spacing, match", [
    ((1.0,), "spacing has 1 values for a 2D stack"),
    ((1.0, 2.0, 3.0), "spacing has 3 values"),
    ((1.0, 0.0), "positive and finite"),
    ((-1.0, 1.0), "positive and finite"),
    ((1.0, np.nan), "positive and finite"),
    ((1.0, np.inf), "positive and finite"),
    (2.0, "spacing must be a sequence of 2 numbers"),
    (("a", 1), "spacing must be a sequence of numbers"),
])
def test_bad_spacing(small, spacing, match):
    idx, _ = small
    with pytest.raises(ValueError, match=match):
        measure(idx, spacing=spacing)


def test_bad_properties(small):
    idx, labels = small
    with pytest.raises(ValueError, match=r"properties: unknown 'mean_intensity', 3; valid "
                                         r"names are area, bbox, .*intensity_sum"):
        measure(idx, labels, properties=["area", "mean_intensity", 3])
    with pytest.raises(ValueError, match="intensity_mean, centroid_weighted need an intensity "
                                         "image: pass image="):
        measure(idx, properties=["area", "intensity_mean", "centroid_weighted"])
    with pytest.raises(TypeError, match="properties must be a sequence"):
        measure(idx, properties=5)


def test_bad_index():
    with pytest.raises(TypeError, match="index must be a LabelIndex, got ndarray"):
        measure(np.zeros((2, 3), np.uint8))


# ------------------------------------------------ fused: build_and_measure, build(image=)
def assert_same_measurements(fused, plain, rtol=1e-12):
    """The fused path against measure() on a plain index: same columns and dtypes; exact
    for labels, geometry, min and max, float64-close for the sums."""
    assert list(fused.columns) == list(plain.columns)
    for name in plain:
        assert fused[name].dtype == plain[name].dtype, name
        if name.split("-")[0] in ("intensity_mean", "intensity_sum", "intensity_std",
                                  "centroid_weighted"):
            np.testing.assert_allclose(fused[name], plain[name], rtol=rtol, atol=1e-9,
                                       equal_nan=True, err_msg=name)
        else:
            np.testing.assert_array_equal(fused[name], plain[name], err_msg=name)


FUSED_PROPS = tuple(p for p in PROPERTIES if p != "intensity_median")


@pytest.mark.parametrize("stack_name", list(STACKS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("workers", [1, 3])
def test_fused_equals_unfused(stack_name, dtype, workers):
    from labelprep.measure import build_and_measure

    labels = STACKS[stack_name]()
    image = make_image(labels.shape, dtype, seed=21)
    spacing = (2.5, 0.3, 0.7)[-labels.ndim:]
    idx, df = build_and_measure(labels, image, spacing, PROPERTIES, workers=workers)
    plain_idx = LabelIndex.build(labels)
    np.testing.assert_array_equal(idx.voxel_indices, plain_idx.voxel_indices)
    plain = measure(plain_idx, image, spacing, PROPERTIES)
    assert_same_measurements(df, plain)
    # and regionprops' numbers
    assert_frame_matches(df.drop(columns="intensity_sum"), reference(labels, image, spacing),
                         rtol=1e-10, exact=("intensity_min", "intensity_max"))


@pytest.mark.parametrize("stack_name", ["random3d", "blobs2d", "blobs3d"])
def test_fused_multichannel_and_background_none(stack_name):
    from labelprep.measure import build_and_measure

    labels = STACKS[stack_name]()
    image = make_image(labels.shape + (3,), np.float32, seed=22)
    for background in (0, None, 1):
        idx, df = build_and_measure(labels, image, properties=FUSED_PROPS,
                                    background=background, workers=2)
        plain = measure(LabelIndex.build(labels, background=background), image,
                        properties=FUSED_PROPS)
        assert "intensity_mean-2" in df and f"centroid_weighted-{labels.ndim - 1}-2" in df
        assert_same_measurements(df, plain)


def test_fused_blobs_across_many_parts_large_offset():
    """Objects split between build parts (their shifted sums merged) and values near 1e9
    with a small spread: no cancellation in the std."""
    from labelprep.measure import build_and_measure

    labels = blob_labels((40, 64, 64), 23, sigma=3.0, quantile=0.6)
    rng = np.random.default_rng(24)
    image = 1e9 + rng.integers(0, 5, size=labels.shape).astype(np.float64)
    _, df = build_and_measure(labels, image, properties=FUSED_PROPS, workers=7)
    plain = measure(LabelIndex.build(labels), image, properties=FUSED_PROPS)
    assert_same_measurements(df, plain, rtol=1e-9)
    ref = skm.regionprops_table(labels, image, properties=("label", "intensity_std"))
    np.testing.assert_allclose(df["intensity_std"], ref["intensity_std"], rtol=1e-9, atol=1e-9)


def test_fused_layouts_nan_inf_and_median():
    """A Fortran-ordered stack (scanned in memory order) and image, a NaN and an inf in
    some objects, and intensity_median (read from the image): as unfused."""
    from labelprep.measure import build_and_measure

    labels = np.asfortranarray(STACKS["blobs3d"]())
    image = make_image(labels.shape, np.float32, 25)
    plain_idx = LabelIndex.build(labels)
    image[tuple(plain_idx.coords(plain_idx.labels[2])[0])] = np.nan
    image[tuple(plain_idx.coords(plain_idx.labels[5])[1])] = np.inf
    image = np.asfortranarray(image)
    _, df = build_and_measure(labels, image, properties=PROPERTIES, workers=2)
    plain = measure(plain_idx, image, properties=PROPERTIES)
    assert_same_measurements(df, plain)
    assert np.isnan(df["intensity_min"][2]) and df["intensity_max"][5] == np.inf


def test_fused_1d_and_4d():
    from labelprep.measure import build_and_measure

    for shape in ((300,), (5, 6, 7, 9)):
        labels = blob_labels(shape, 26, sigma=1.0, quantile=0.7)
        image = make_image(labels.shape, np.uint16, 27)
        _, df = build_and_measure(labels, image, properties=PROPERTIES)
        assert_same_measurements(df, measure(LabelIndex.build(labels), image,
                                             properties=PROPERTIES))


def test_build_with_image_is_used_only_for_that_image(monkeypatch):
    """idx.measure(image) takes the build's sums for the same array object only: another
    array (even equal), a reshaped or retyped one, or no image reads the image again."""
    from labelprep._kernels import measure as km

    labels = STACKS["blobs3d"]()
    image = make_image(labels.shape, np.uint16, 28)
    idx = LabelIndex.build(labels, image=image)
    expected = measure(LabelIndex.build(labels), image)
    calls = []
    real = km.intensity_stats
    monkeypatch.setattr(km, "intensity_stats", lambda *a: calls.append(1) or real(*a))
    assert_same_measurements(idx.measure(image), expected)
    assert calls == []  # the build's sums
    assert_same_measurements(idx.measure(image.copy()), expected)
    assert calls == [1]  # another array: gathered again
    view = image.view(np.int16)
    idx.measure(view)
    assert calls == [1, 1]
    # the index does not keep the image alive
    import gc
    import weakref

    ref = weakref.ref(image)
    del image, view
    gc.collect()
    assert ref() is None
    assert len(idx.measure(properties=["area"])) == len(idx)
    # indexes made from it (subset, save/load) do not carry the sums
    assert getattr(idx.subset(idx.labels[:3]), "_fused_intensity", None) is None


def test_fused_empty_and_bad_input():
    from labelprep.measure import build_and_measure

    labels = np.zeros((6, 7), np.int32)
    image = np.ones((6, 7, 2), np.float32)
    idx, df = build_and_measure(labels, image, (1.0, 2.0), PROPERTIES)
    plain = measure(LabelIndex.build(labels), image, (1.0, 2.0), PROPERTIES)
    assert len(df) == 0 and list(df.columns) == list(plain.columns)
    _, df = build_and_measure(np.zeros((0, 4), np.uint8), np.zeros((0, 4)))
    assert len(df) == 0
    with pytest.raises(ValueError, match=r"image has shape .*\(6, 7\)"):
        build_and_measure(labels, np.ones((6, 8)))
    with pytest.raises(ValueError, match=r"image has shape"):
        LabelIndex.build(labels, image=np.ones((7, 6)))
    with pytest.raises(ValueError, match="needs an intensity image"):
        build_and_measure(labels, None)
    with pytest.raises(ValueError, match="properties: unknown 'mean'"):
        build_and_measure(labels, image, properties=["mean"])
    with pytest.raises(ValueError, match="spacing has 3 values"):
        build_and_measure(labels, image, spacing=(1, 1, 1))
