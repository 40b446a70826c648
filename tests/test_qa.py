"""qa.flags against plain NumPy per object, and fragmented against scipy.ndimage.label
on each object's bounding-box crop."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage as ndi

import labelprep.qa
from labelprep.index import LabelIndex
from labelprep.qa import FLAG_COLUMNS, flags, size_thresholds


def reference(stack, tiny, huge, low_fill, connectivity):
    """The flags of every object, one object at a time with NumPy and scipy."""
    rows = []
    structure = ndi.generate_binary_structure(stack.ndim, connectivity)
    for label in np.unique(stack[stack != 0]):
        where = np.argwhere(stack == label)
        lo, hi = where.min(axis=0), where.max(axis=0) + 1
        crop = stack[tuple(slice(a, b) for a, b in zip(lo, hi))]
        pieces = ndi.label(crop == label, structure)[1]
        n = len(where)
        fill = n / np.prod(hi - lo)
        rows.append({
            "label": label, "tiny": n < tiny, "huge": n > huge,
            "touches_border": bool((lo == 0).any() or (hi == stack.shape).any()),
            "single_slice": stack.ndim >= 3 and hi[0] - lo[0] == 1,
            "low_fill": fill < low_fill, "fragmented": pieces > 1,
            "voxels": n, "fill": fill, "components": pieces,
        })
    return pd.DataFrame(rows)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=7),
               elements=st.integers(0, 4)),
    st.data(),
)
def test_flags_match_reference(stack, data):
    connectivity = data.draw(st.integers(1, stack.ndim))
    tiny = data.draw(st.integers(0, 6))
    huge = data.draw(st.integers(0, 30))
    low_fill = data.draw(st.floats(0, 1))
    idx = LabelIndex.build(stack)
    got = flags(idx, stack, tiny=tiny, huge=huge, low_fill=low_fill,
                connectivity=connectivity, workers=data.draw(st.integers(1, 3)))
    assert list(got.columns) == ["label", *FLAG_COLUMNS, "voxels", "fill", "components"]
    if not len(idx):
        assert got.empty
        return
    want = reference(stack, tiny, huge, low_fill, connectivity)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got[list(FLAG_COLUMNS)].dtypes.eq(bool).all()


def blobs(shape, seed=1):
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.standard_normal(shape), 1.5)
    labels, _ = ndi.label(smooth > np.quantile(smooth, 0.9))
    return labels.astype(np.int32)


def test_blobs_fragmented_and_workers():
    stack = blobs((20, 60, 60))
    stack[(stack % 7 == 0) & (stack > 0)] = 1  # objects merged into one label: fragmented
    idx = LabelIndex.build(stack)
    for conn in (1, 2, 3):
        one = flags(idx, connectivity=conn, workers=1)
        two = flags(idx, stack, connectivity=conn, workers=3)
        pd.testing.assert_frame_equal(one, two)
        want = reference(stack, one.attrs["thresholds"]["tiny"],
                         one.attrs["thresholds"]["huge"], 0.1, conn)
        pd.testing.assert_frame_equal(one, want, check_dtype=False)
    assert one.loc[one.label == 1, "fragmented"].item()
    assert one["components"].sum() > len(one)


def test_size_thresholds_default():
    counts = np.array([100] * 50 + [120] * 50 + [80] * 50 + [2, 5000])
    tiny, huge = size_thresholds(counts)
    logs = np.log(counts)
    mad = 1.4826 * np.median(np.abs(logs - np.median(logs)))
    assert tiny == pytest.approx(np.exp(np.median(logs) - 3 * mad))
    assert huge == pytest.approx(np.exp(np.median(logs) + 3 * mad))
    stack = np.zeros(sum(counts) + len(counts), dtype=np.int32)
    pos = 0
    for label, n in enumerate(counts, 1):
        stack[pos:pos + n] = label
        pos += n + 1
    table = flags(LabelIndex.build(stack))
    assert table.loc[table.tiny, "voxels"].tolist() == [2]
    assert table.loc[table.huge, "voxels"].tolist() == [5000]
    assert table.attrs["thresholds"]["tiny"] == pytest.approx(tiny)
    assert flags(LabelIndex.build(stack), spread=100)[["tiny", "huge"]].sum().sum() == 0
    assert np.isnan(size_thresholds(np.array([], dtype=np.int64))).all()


def test_single_slice_is_axis_0_in_3d_only():
    stack = np.zeros((3, 4, 4), dtype=np.uint16)
    stack[1, 1:3, 1:3] = 1  # one z plane
    stack[0:3, 1, 3] = 2  # one y plane and one x plane, but three z planes
    table = flags(LabelIndex.build(stack))
    assert table.single_slice.tolist() == [True, False]
    assert not flags(LabelIndex.build(stack[1])).single_slice.any()


def test_empty_and_other_indices():
    table = flags(LabelIndex.build(np.zeros((3, 3), dtype=np.uint8)))
    assert table.empty and list(table.columns)[:7] == ["label", *FLAG_COLUMNS]
    floats = np.array([[0, 2.0, 2.0], [0, 0, 2.0]])
    assert flags(LabelIndex.build(floats), floats).label.tolist() == [2]
    everything = flags(LabelIndex.build(np.array([[0, 1], [1, 0]]), background=None),
                       connectivity=1)
    assert everything.fragmented.tolist() == [True, True]


def test_errors():
    stack = blobs((6, 20, 20))
    idx = LabelIndex.build(stack)
    for bad in (0, 4, True):
        with pytest.raises(ValueError, match="connectivity must be 1..3"):
            flags(idx, connectivity=bad)
    with pytest.raises(ValueError, match="low_fill"):
        flags(idx, low_fill=1.5)
    with pytest.raises(ValueError, match="spread"):
        flags(idx, spread=0)
    with pytest.raises(ValueError, match="tiny"):
        flags(idx, tiny=-1)
    with pytest.raises(ValueError, match="huge"):
        flags(idx, huge=float("nan"))
    with pytest.raises(ValueError, match="shape"):
        flags(idx, stack[:3])
    stale = stack.copy()
    stale[stale == idx.labels[0]] = 0
    with pytest.raises(ValueError, match="does not describe"):
        flags(idx, stale)
    with pytest.raises(TypeError, match="LabelIndex"):
        flags(stack)
    with pytest.raises(TypeError, match="NumPy array"):
        flags(idx, stack.tolist())


def test_docstring_examples():
    assert doctest.testmod(labelprep.qa).failed == 0
