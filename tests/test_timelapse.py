"""labelprep.timelapse: per-frame indexes of (t, y, x) and (t, z, y, x) stacks, tables and
measurements keyed by (t, label), against per-frame LabelIndex builds and NumPy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from labelprep import LabelIndex
from labelprep.measure import measure
from labelprep.timelapse import TimeLapseIndex


def movie(shape, seed=0):
    """Blobs per frame (t first), labels restarting at 1 in every frame."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, np.int32)
    for t in range(shape[0]):
        smooth = ndi.gaussian_filter(rng.standard_normal(shape[1:]), 1.5)
        out[t], _ = ndi.label(smooth > np.quantile(smooth, 0.85))
    return out


@pytest.fixture(scope="module", params=[(4, 40, 50), (3, 10, 20, 24)], ids=["tyx", "tzyx"])
def data(request):
    stack = movie(request.param)
    return stack, TimeLapseIndex.build(stack)


def assert_same_index(a: LabelIndex, b: LabelIndex):
    for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.shape == b.shape


def test_frames_are_per_frame_builds(data):
    stack, tl = data
    assert len(tl.frames) == stack.shape[0]
    assert tl.shape == stack.shape and tl.frame_shape == stack.shape[1:] and tl.time_axis == 0
    for t in range(stack.shape[0]):
        assert_same_index(tl.frames[t], LabelIndex.build(stack[t]))
    assert len(tl) == sum(len(np.unique(f)) - 1 for f in stack)
    assert repr(tl).startswith(f"TimeLapseIndex({stack.shape[0]} time points, {len(tl)} objects")


@pytest.mark.parametrize("time_axis", [1, -1])
def test_time_axis_elsewhere(data, time_axis):
    stack, tl = data
    moved = np.moveaxis(stack, 0, time_axis)  # a view: frames are strided
    other = TimeLapseIndex.build(moved, time_axis=time_axis)
    assert other.time_axis == time_axis % stack.ndim and other.shape == moved.shape
    for a, b in zip(tl.frames, other.frames):
        assert_same_index(a, b)
    pd.testing.assert_frame_equal(other.table(), tl.table())


def test_table_keyed_by_t_and_label(data):
    stack, tl = data
    table = tl.table()
    assert list(table.columns[:2]) == ["t", "label"] and table["t"].dtype == np.int64
    assert len(table) == len(tl)
    assert not table.duplicated(["t", "label"]).any()
    assert table.groupby("label")["t"].nunique().max() > 1  # label 1 in several frames
    expected = pd.concat([f.table().assign(t=t) for t, f in enumerate(tl.frames)],
                         ignore_index=True)
    pd.testing.assert_frame_equal(table, expected[["t", *expected.columns[:-1]]])
    for row in (0, len(table) // 2, len(table) - 1):
        t, label = int(table["t"][row]), table["label"][row]
        assert tl.position(t, label) == row
        assert (t, label) in tl


def test_coords_and_bbox(data):
    stack, tl = data
    for t in range(stack.shape[0]):
        for label in tl.frames[t].labels[:: max(1, len(tl.frames[t]) // 5)]:
            np.testing.assert_array_equal(tl.coords(t, label), np.argwhere(stack[t] == label))
            box = tl.bbox(t, label)
            assert np.array_equal(np.argwhere(stack[t][box] == label).min(0), [0] * len(box))
            assert (stack[t][box] == label).sum() == (stack[t] == label).sum()


def test_measure(data):
    skm = pytest.importorskip("skimage.measure")
    stack, tl = data
    rng = np.random.default_rng(3)
    image = rng.integers(0, 4000, size=stack.shape + (2,)).astype(np.uint16)
    spacing = (0.5, 2.0, 0.25)[-(stack.ndim - 1):]
    props = ("area", "centroid", "bbox", "intensity_mean", "intensity_max", "intensity_std",
             "centroid_weighted")
    df = tl.measure(image, spacing=spacing, properties=props)
    assert list(df.columns[:2]) == ["t", "label"] and len(df) == len(tl)
    parts = [measure(f, image[t], spacing=spacing, properties=props).assign(t=t)
             for t, f in enumerate(tl.frames)]
    expected = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(df, expected[["t", *expected.columns[:-1]]])
    t = stack.shape[0] - 1
    ref = skm.regionprops_table(stack[t], image[t], spacing=spacing,
                                properties=("label", *props))
    last = df[df["t"] == t].reset_index(drop=True)
    for name, values in ref.items():
        np.testing.assert_allclose(last[name].to_numpy(), values, rtol=1e-12, atol=0,
                                   err_msg=name)
    # time on another axis: the image follows it, results unchanged
    moved = TimeLapseIndex.build(np.moveaxis(stack, 0, 1), time_axis=1)
    pd.testing.assert_frame_equal(
        moved.measure(np.moveaxis(image, 0, 1), spacing=spacing, properties=props), df)
    assert list(tl.measure().columns) == ["t", *measure(tl.frames[0]).columns]


def test_measure_bad_image(data):
    stack, tl = data
    for shape in (stack.shape[1:], stack.shape[:-1] + (stack.shape[-1] + 1,),
                  stack.shape + (2, 2)):
        with pytest.raises(ValueError, match="image has shape .* time-lapse stack has shape"):
            tl.measure(np.zeros(shape, np.float32))


def test_lookup_errors(data):
    stack, tl = data
    n_t = stack.shape[0]
    with pytest.raises(KeyError, match=f"time point {n_t} is not in 0..{n_t - 1}"):
        tl.coords(n_t, 1)
    with pytest.raises(KeyError, match="time point -1"):
        tl.bbox(-1, 1)
    with pytest.raises(KeyError, match="time point 'a' is not an integer"):
        tl.frame("a")
    with pytest.raises(KeyError, match="label 99999 is not in this index"):
        tl.coords(0, 99999)
    assert (n_t, 1) not in tl and (0, 99999) not in tl and "x" not in tl


def test_empty_frames_and_progress():
    stack = np.zeros((3, 8, 9), np.uint8)
    stack[1, 2:4, 3] = 5
    calls = []
    tl = TimeLapseIndex.build(stack, progress=lambda d, t: calls.append((d, t)))
    assert [len(f) for f in tl.frames] == [0, 1, 0] and len(tl) == 1
    assert calls[-1] == (stack.size, stack.size)
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))
    assert tl.table()["t"].tolist() == [1]
    df = tl.measure(np.ones(stack.shape, np.float32), properties=["intensity_sum"])
    assert df.to_dict("list") == {"t": [1], "label": [5], "intensity_sum": [2.0]}
    empty = TimeLapseIndex.build(np.zeros((2, 4, 4), np.uint8))
    assert len(empty) == 0 and len(empty.table()) == 0
    assert list(empty.measure().columns)[:3] == ["t", "label", "area"]


@pytest.mark.parametrize("stack, kw, exc, match", [
    (np.zeros(5, np.uint8), {}, ValueError, "time axis and at least one other axis"),
    (np.zeros((2, 3), np.uint8), {"time_axis": 2}, ValueError, "time_axis=2 is out of range"),
    (np.zeros((2, 3), np.uint8), {"time_axis": -3}, ValueError, "out of range"),
    (np.zeros((2, 3), np.uint8), {"time_axis": 0.5}, TypeError, "time_axis must be an int"),
    (np.zeros((0, 3), np.uint8), {}, ValueError, "no time points along time_axis=0"),
    ([[1, 2]], {}, TypeError, "stack must be an array, got list"),
])
def test_build_errors(stack, kw, exc, match):
    with pytest.raises(exc, match=match):
        TimeLapseIndex.build(stack, **kw)


def test_constructor_checks():
    a = LabelIndex.build(np.ones((2, 3), np.uint8))
    b = LabelIndex.build(np.ones((3, 3), np.uint8))
    with pytest.raises(ValueError, match=r"frames\[1\] has shape \(3, 3\)"):
        TimeLapseIndex([a, b])
    with pytest.raises(ValueError, match="at least one LabelIndex"):
        TimeLapseIndex([])
    with pytest.raises(TypeError, match=r"frames\[0\] is a ndarray"):
        TimeLapseIndex([np.zeros(3)])


def test_label_index_build_with_a_time_axis_gives_the_time_lapse_index():
    from labelprep import LabelIndex, TimeLapseIndex

    stack = np.zeros((3, 6, 7), np.uint16)
    stack[0, 1:3, 1:3] = 4
    stack[2, 4, 5] = 4
    tl = LabelIndex.build(stack, time_axis=0)
    assert isinstance(tl, TimeLapseIndex)
    assert tl.table()[["t", "label"]].values.tolist() == [[0, 4], [2, 4]]
    assert tl.coords(2, 4).tolist() == [[4, 5]]
    moved = np.moveaxis(stack, 0, -1)
    assert LabelIndex.build(moved, time_axis=-1).table().equals(tl.table())
