"""labelprep.rle: exactness, COCO compatibility, files and every kind of bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labelprep import rle
from labelprep.errors import InputChangedError

mask_utils = pytest.importorskip("pycocotools.mask")

SEED_MASK = np.array(
    [
        [0, 0, 1, 1, 0],
        [3, 0, 1, 1, 0],
        [3, 3, 1, 1, 0],
        [3, 3, 0, 0, 0],
    ]
)
DTYPES = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"]


def naive_runs(a: np.ndarray) -> tuple[list[int], list[int]]:
    """Reference: runs of a.ravel(order='F') in plain Python."""
    values: list[int] = []
    counts: list[int] = []
    for v in a.ravel(order="F").tolist():
        if counts and values[-1] == v:
            counts[-1] += 1
        else:
            values.append(int(v))
            counts.append(1)
    return values, counts


def coco_counts(mask: np.ndarray) -> str:
    """What pycocotools writes for a binary 2D mask."""
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()


# --------------------------------------------------------------------------- the format

def test_seed_example_literally():
    r = rle.encode(SEED_MASK.astype(np.uint8))
    assert r["size"] == [4, 5]
    assert r["values"] == [0, 3, 0, 3, 1, 0, 1, 0]
    assert r["counts"] == [1, 3, 2, 2, 3, 1, 3, 5]
    assert r["dtype"] == "uint8"
    np.testing.assert_array_equal(rle.decode(r), SEED_MASK)


def test_seed_dict_without_dtype_decodes_with_tuples():
    seed = {"size": (4, 5), "values": (0, 3, 0, 3, 1, 0, 1, 0), "counts": (1, 3, 2, 2, 3, 1, 3, 5)}
    out = rle.decode(seed)
    np.testing.assert_array_equal(out, SEED_MASK)
    assert out.dtype == np.uint8  # smallest dtype that holds the values, as the seed did
    assert rle.decode({**seed, "values": (0, -3, 0, 3, 1, 0, 1, 0)}).dtype == np.int8


def test_encode_returns_plain_python_ints_ready_for_json():
    r = rle.encode(SEED_MASK.astype(np.int64))
    assert all(type(v) is int for v in r["values"] + r["counts"] + r["size"])
    assert json.loads(json.dumps(r)) == r


def test_order_is_fortran_over_all_axes():
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4) // 5
    r = rle.encode(a)
    assert (r["values"], r["counts"]) == naive_runs(a)
    assert r["size"] == [2, 3, 4]
    np.testing.assert_array_equal(np.repeat(r["values"], r["counts"]), a.ravel(order="F"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_is_kept(dtype, rng):
    info = np.iinfo(dtype) if dtype != "bool" else None
    if info is None:
        a = rng.random((7, 9)) < 0.5
    else:
        a = rng.integers(info.min, info.max, size=(7, 9), dtype=dtype, endpoint=True)
        a[:3, :4] = info.max
        a[4:, 5:] = info.min
    for compact in (False, True):
        out = rle.decode(rle.encode(a, compact=compact))
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out, a)


def test_uint64_above_2_63_and_int64_extremes_are_exact():
    a = np.array([[2**64 - 1, 2**63, 2**63 + 1], [0, 1, 2**63 - 1]], dtype=np.uint64)
    r = rle.encode(a)
    assert r["values"] == [2**64 - 1, 0, 2**63, 1, 2**63 + 1, 2**63 - 1]
    assert all(type(v) is int for v in r["values"])
    r2 = json.loads(json.dumps(r))
    np.testing.assert_array_equal(rle.decode(r2), a)
    np.testing.assert_array_equal(rle.decode(rle.encode(a, compact=True)), a)
    b = np.array([[-(2**63), 2**63 - 1], [-1, 0]], dtype=np.int64)
    np.testing.assert_array_equal(rle.decode(json.loads(json.dumps(rle.encode(b)))), b)


def test_negative_labels():
    a = np.array([[-5, -5, 3], [0, -1, -1]], dtype=np.int16)
    r = rle.encode(a)
    assert min(r["values"]) == -5
    np.testing.assert_array_equal(rle.decode(r), a)


def test_bool_mask_values_are_0_and_1():
    a = np.array([[True, False], [True, True]])
    r = rle.encode(a)
    assert r["dtype"] == "bool" and r["values"] == [1, 0, 1]
    out = rle.decode(r)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, a)
    # JSON true/false values are read too
    assert rle.decode({**r, "values": [True, False, True]}).tolist() == a.tolist()


@pytest.mark.parametrize("shape", [(0,), (0, 5), (5, 0), (3, 0, 2), (1, 1), (1,), ()])
def test_empty_tiny_and_scalar_shapes(shape):
    a = np.full(shape, 7, dtype=np.uint16)
    r = rle.encode(a)
    assert r["size"] == list(shape)
    assert sum(r["counts"]) == a.size
    out = rle.decode(r)
    assert out.shape == shape and out.dtype == np.uint16
    np.testing.assert_array_equal(out, a)
    assert rle.decode(rle.encode(a, compact=True)).shape == shape


def test_decode_layout():
    r = rle.encode(SEED_MASK)
    assert rle.decode(r).flags.f_contiguous
    c = rle.decode(r, order="C")
    assert c.flags.c_contiguous
    np.testing.assert_array_equal(c, SEED_MASK)
    with pytest.raises(ValueError, match="order"):
        rle.decode(r, order="K")


def test_zero_length_runs_inside_counts_decode():
    r = {"size": [2, 3], "dtype": "uint8", "values": [4, 9, 4, 0, 2], "counts": [2, 0, 1, 0, 3]}
    np.testing.assert_array_equal(rle.decode(r), np.array([[4, 4, 2], [4, 2, 2]]))
    assert rle.decode({**r, "values": [5], "counts": [6]}).tolist() == [[5] * 3] * 2
    assert rle.decode({"size": [0], "values": [3], "counts": [0]}).shape == (0,)


def test_compact_form_is_smaller_and_exact(photo):
    _, mask = photo
    r = rle.encode(mask)
    c = rle.encode(mask, compact=True)
    assert isinstance(c["counts"], str) and isinstance(c["values"], str)
    assert len(json.dumps(c)) * 2 < len(json.dumps(r))
    np.testing.assert_array_equal(rle.decode(c), mask)
    assert rle.compact(r) == c
    assert rle.expand(c) == r
    assert rle.num_runs(r) == rle.num_runs(c) == len(r["counts"])


def test_sample_data_round_trips(cells, photo):
    _, labels = cells
    np.testing.assert_array_equal(rle.decode(rle.encode(labels)), labels)
    _, mask = photo
    np.testing.assert_array_equal(rle.decode(rle.encode(mask)), mask)
    assert (rle.encode(mask)["values"], rle.encode(mask)["counts"]) == naive_runs(mask)


def sparse_labels(rng, shape, dtype="uint8", p=0.1):
    """Mostly 0 with scattered labels 1..3: few changes, placed at random."""
    return (rng.integers(1, 4, shape) * (rng.random(shape) < p)).astype(dtype)


@pytest.mark.parametrize("width", [1, 7, 8, 9, 15, 16, 17, 64, 700])
@pytest.mark.parametrize("dtype", ["uint8", "bool", "int16", "uint64"])
def test_row_sweep_at_word_edges(width, dtype, rng):
    # the row sweep flags changes in 8-element words: widths around multiples of 8,
    # changes in the first and last columns, rows with and without changes
    for p in (0.02, 0.5):
        a = sparse_labels(rng, (13, width), "uint8", p)
        a[3, :] = 0
        a[4, :] = 1
        a[7, 0] = a[7, -1] = 2
        a = a.astype(dtype)
        for view in (a, np.ascontiguousarray(a[::-1]), a[:, ::-1], a[2:11]):
            assert (rle.encode(view)["values"], rle.encode(view)["counts"]) == naive_runs(view)


@pytest.mark.parametrize("n", [4095, 4096, 4097, 8191, 8193])
def test_flat_scan_at_block_edges(n, rng):
    # 1D and Fortran-ordered masks are scanned in blocks of 4096 elements
    a = sparse_labels(rng, n, p=0.01)
    a[4095 % n] = 3
    a[-1] = 2
    for view in (a, np.asfortranarray(np.stack([a, a[::-1]], axis=1))):
        assert (rle.encode(view)["values"], rle.encode(view)["counts"]) == naive_runs(view)


@pytest.mark.parametrize("layout", ["C", "F", "crop3d", "C4d", "strided4d", "transposed3d"])
def test_stacks_in_every_layout(layout, rng):
    a = sparse_labels(rng, (6, 5, 4, 9), "int32", 0.3)
    a[:, 2] = -7  # a slab of one (negative) label: runs across columns
    if layout == "F":
        a = np.asfortranarray(a[0])
    elif layout == "crop3d":
        a = a[1, :, 1:, 2:8]  # strided 3D view, read in place
        assert not a.flags.c_contiguous
    elif layout == "C4d":
        pass
    elif layout == "strided4d":
        a = a[:, :, ::2]
    elif layout == "transposed3d":
        a = a[0].transpose(1, 0, 2)
    else:
        a = np.ascontiguousarray(a[2])
    r = rle.encode(a)
    assert (r["values"], r["counts"]) == naive_runs(a)
    np.testing.assert_array_equal(rle.decode(r), a)


def test_tall_masks_count_changes_beyond_uint16():
    # more than 2**16 rows: the per-column change counters are wider than uint16
    a = np.zeros((70_000, 3), np.uint8)
    a[::2, 0] = 1  # 70,000 changes down the first column
    a[100:200, 2] = 5
    assert (rle.encode(a)["values"], rle.encode(a)["counts"]) == naive_runs(a)


# ------------------------------------------------------------------ property tests

@st.composite
def masks(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=7))
    if dtype == "bool":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        few = st.sampled_from([int(info.min), 0, 1, 2, int(info.max)])
        elements = draw(st.sampled_from([few, st.integers(int(info.min), int(info.max))]))
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    layout = draw(st.sampled_from(["C", "F", "strided", "transposed", "reversed"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim >= 1:
        big = np.repeat(a, 2, axis=-1)
        a = big[..., ::2]
        assert not a.flags.c_contiguous or a.size <= 1
    elif layout == "transposed":
        a = a.T
    elif layout == "reversed":
        a = a[::-1]
    return a


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks(), st.booleans())
def test_round_trip_property(a, compact):
    r = rle.encode(a, compact=compact)
    assert r["size"] == list(a.shape) and r["dtype"] == a.dtype.name
    text = json.dumps(r)
    out = rle.decode(json.loads(text))
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)
    if not compact:
        assert (r["values"], r["counts"]) == naive_runs(a)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.bool_, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=9)))
def test_to_coco_equals_pycocotools_property(m):
    expected = coco_counts(m)
    assert rle.to_coco(m) == {"size": list(m.shape), "counts": expected}
    np.testing.assert_array_equal(rle.from_coco({"size": list(m.shape), "counts": expected}), m)


def test_to_coco_equals_pycocotools_on_many_random_masks(rng):
    for i in range(400):
        h, w = (int(x) for x in rng.integers(1, 60, size=2))
        density = rng.choice([0.02, 0.3, 0.5, 0.9, 0.995])
        m = rng.random((h, w)) < density
        if i % 3 == 0:  # blob-like: long runs, so the delta rule sees big numbers
            m = np.zeros((h, w), bool)
            m[rng.integers(0, h) :, rng.integers(0, w) :] = True
        if i % 5 == 0:
            m[0, 0] = True  # first pixel set: zero-length first run
        expected = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        assert rle.to_coco(m)["counts"] == expected["counts"].decode()
        assert rle.to_coco(m.astype(np.uint8))["counts"] == expected["counts"].decode()
        assert rle.to_coco(np.ascontiguousarray(m[:, ::-1])[:, ::-1])["counts"] == (
            expected["counts"].decode()
        )
        np.testing.assert_array_equal(rle.from_coco(expected), mask_utils.decode(expected))


def test_to_coco_big_mask_and_first_pixel_set():
    m = np.zeros((300, 400), bool)
    m[0, 0] = True
    m[100:250, 50:390] = True
    s = rle.to_coco(m)["counts"]
    assert s == coco_counts(m)
    assert s.startswith("0")  # zero-length first run
    assert rle.to_coco(np.zeros((0, 3), bool))["counts"] == coco_counts(np.zeros((0, 3), bool))


def test_to_coco_from_multiclass_rle_and_label():
    mask = SEED_MASK.astype(np.uint8)
    for label in (0, 1, 3, 5):
        binary = mask == label
        assert rle.to_coco(mask, label=label)["counts"] == coco_counts(binary)
        assert rle.to_coco(rle.encode(mask), label=label)["counts"] == coco_counts(binary)
        assert rle.to_coco(rle.encode(binary))["counts"] == coco_counts(binary)
    # zero-length runs and repeated values in an RLE are merged before writing COCO
    r = {"size": [2, 3], "values": [0, 0, 1, 1, 0], "counts": [1, 1, 0, 2, 2]}
    assert rle.to_coco(r)["counts"] == coco_counts(rle.decode(r).astype(bool))


def test_to_coco_refuses_non_binary_and_non_2d():
    with pytest.raises(ValueError, match="binary"):
        rle.to_coco(SEED_MASK)
    with pytest.raises(ValueError, match="binary"):
        rle.to_coco(rle.encode(SEED_MASK))
    with pytest.raises(ValueError, match="2D"):
        rle.to_coco(np.zeros((2, 2, 2), bool))
    with pytest.raises(TypeError, match="float"):
        rle.to_coco(np.zeros((2, 2)))


def test_from_coco_list_form_agrees_with_pycocotools(rng):
    for _ in range(100):
        h, w = (int(x) for x in rng.integers(1, 20, size=2))
        m = rng.random((h, w)) < rng.random()
        compressed = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        counts = rle.from_coco  # noqa: F841 - readability
        values, runs = naive_runs(m)
        listed = ([0] if values[0] else []) + runs
        uncompressed = {"size": [h, w], "counts": listed}
        from_py = mask_utils.decode(mask_utils.frPyObjects(uncompressed, h, w))
        np.testing.assert_array_equal(rle.from_coco(uncompressed), from_py)
        np.testing.assert_array_equal(rle.from_coco(compressed), m)
    # zero-length runs inside the list form, as COCO allows
    c = {"size": [2, 2], "counts": [1, 0, 1, 1, 1]}
    expected = mask_utils.decode(mask_utils.frPyObjects(c, 2, 2))
    np.testing.assert_array_equal(rle.from_coco(c), expected)


def test_from_coco_string_bytes_and_dtype():
    c = mask_utils.encode(np.asfortranarray(SEED_MASK.astype(np.uint8) == 3))
    out = rle.from_coco(c)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, SEED_MASK == 3)
    np.testing.assert_array_equal(rle.from_coco({**c, "counts": c["counts"].decode()}), out)


# --------------------------------------------------------------------------- bad input

GOOD = {"size": [2, 3], "dtype": "uint8", "values": [1, 2], "counts": [2, 4]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"counts": [2, 5]}, "sum to 7, more than the 6 elements"),
        ({"counts": [2, 3]}, "sum to 5, fewer than the 6 elements"),
        ({"counts": [8, -2]}, "must not be negative"),
        ({"counts": [2, 4, 0]}, "same length"),
        ({"values": [1]}, "same length"),
        ({"counts": [2.0, 4.0]}, "integers"),
        ({"counts": [2, 3.5]}, "integers"),
        ({"counts": ["2", 4]}, "integers"),
        ({"counts": [2, None]}, "integers"),
        ({"counts": [[2], [4]]}, "integers"),
        ({"counts": 6}, "list of integers"),
        ({"counts": [2**70, 4]}, "larger than"),
        ({"values": [1.5, 2]}, "integers"),
        ({"values": [1, 256]}, "does not fit dtype uint8"),
        ({"values": [-1, 2]}, "does not fit dtype uint8"),
        ({"values": [2**64, 2]}, "does not fit"),
        ({"dtype": "float32"}, "'dtype' must be one of"),
        ({"dtype": 8}, "'dtype' must be one of"),
        ({"size": [-2, -3]}, "'size' must not be negative"),
        ({"size": [2.0, 3]}, "'size' must hold integers"),
        ({"size": ["2", 3]}, "'size' must hold integers"),
        ({"size": [True, 6]}, "'size' must hold integers"),
        ({"size": 6}, "'size' must be a list"),
        ({"size": "23"}, "'size' must be a list"),
        ({"counts": "2~"}, "character '~' at position 1, outside the COCO alphabet"),
        ({"counts": "2/"}, "outside the COCO alphabet"),
        ({"counts": "2p"}, "outside the COCO alphabet"),
        ({"counts": "2 4"}, "outside the COCO alphabet"),
        ({"counts": "2é"}, "outside the COCO alphabet"),
        ({"counts": "2`"}, "truncated"),
        ({"values": "1a", "counts": "24"}, "truncated"),
        ({"counts": "o" * 14 + "0"}, "64 bits"),
        ({"counts": "25"}, "sum to 7"),
    ],
)
def test_bad_rle_raises_value_error_naming_the_problem(change, message):
    r = {**GOOD, **change}
    with pytest.raises(ValueError, match=message):
        rle.decode(r)
    with pytest.raises(ValueError, match=message):
        rle.dumps(r)


def test_the_good_rle_of_the_bad_input_table_is_good():
    np.testing.assert_array_equal(rle.decode(GOOD), [[1, 2, 2], [1, 2, 2]])
    assert rle.decode({**GOOD, "counts": "24", "values": "12"}).tolist() == [[1, 2, 2]] * 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # compact strings, decoded straight into the output by one kernel
        ({"counts": "24", "values": "123"}, "same length"),
        ({"counts": "241", "values": "12"}, "same length"),
        ({"counts": "2" + chr(0x10 + 48 + 2), "values": "12"}, "must not be negative"),
        ({"counts": "6", "values": "P8"}, "does not fit dtype uint8"),  # 256
        ({"counts": "6", "values": "O"}, "does not fit dtype uint8"),  # O = -1
        ({"counts": "6", "values": "2", "dtype": "bool"}, "must be 0 or 1"),
        ({"counts": "6", "values": "Q4", "dtype": "int8"}, "does not fit dtype int8"),
        # lists: counts through array.fromlist, byte values through bytearray
        ({"values": [1, 2], "counts": [2, True + 3]}, None),
        ({"values": [1, 2], "counts": [3, 4]}, "sum to 7, more than"),
        ({"values": [1, 2], "counts": [-1, 7]}, "must not be negative"),
        ({"values": [0, 2], "counts": [2, 4], "dtype": "bool"}, "must be 0 or 1"),
        ({"values": [1, -1], "counts": [2, 4]}, "does not fit dtype uint8"),
        ({"values": [1, 2.0], "counts": [2, 4]}, "integers"),
        ({"values": [1, 300], "counts": [2, 4], "dtype": "int8"}, "does not fit dtype int8"),
        ({"values": (1, 2), "counts": [2, 4]}, None),
        ({"values": [1, 2], "counts": np.array([2, 4])}, None),
    ],
)
def test_fast_decode_paths_refuse_what_the_checks_refuse(change, message):
    r = {**GOOD, **change}
    if message is None:
        assert rle.decode(r).tolist() == [[1, 2, 2], [1, 2, 2]]
        return
    with pytest.raises(ValueError, match=message):
        rle.decode(r)


def test_fast_decode_agrees_with_the_checked_path(rng):
    for dtype in DTYPES:
        a = sparse_labels(rng, (9, 11), "uint8", 0.4)
        if dtype == "bool":
            a = a > 0
        else:
            info = np.iinfo(dtype)
            a = np.array([0, info.min, info.max, info.max // 2], dtype=dtype)[a]
        for r in (rle.encode(a), rle.encode(a, compact=True)):
            fast = rle._decode_fast(json.loads(json.dumps(r)))
            assert fast is not None and fast.dtype == a.dtype
            np.testing.assert_array_equal(fast, a)
            np.testing.assert_array_equal(rle._decode_checked(r, None), a)


@pytest.mark.parametrize("key", ["size", "values", "counts"])
def test_missing_keys(key):
    r = {k: v for k, v in GOOD.items() if k != key}
    with pytest.raises(ValueError, match=f"missing key.*'{key}'"):
        rle.decode(r)


def test_not_a_dict():
    with pytest.raises(ValueError, match="must be a dict"):
        rle.decode([1, 2, 3])
    with pytest.raises(ValueError, match="from_coco"):
        rle.decode({"size": [2, 2], "counts": "04"})


def test_float_and_other_masks_raise_type_error():
    with pytest.raises(TypeError, match="float dtype float32"):
        rle.encode(np.zeros((3, 3), np.float32))
    with pytest.raises(TypeError, match="integer or bool"):
        rle.encode(np.array([["a"]]))
    with pytest.raises(TypeError, match="integer or bool"):
        rle.encode(np.zeros(3, complex))
    with pytest.raises(TypeError, match="dict"):
        rle.encode(GOOD)


@pytest.mark.parametrize(
    ("coco", "message"),
    [
        ({"size": [2, 2], "counts": [1, 1]}, "sum to 2, fewer than the 4"),
        ({"size": [2, 2], "counts": [1, 4]}, "sum to 5, more than the 4"),
        ({"size": [2, 2], "counts": "1"}, "fewer than"),
        ({"size": [2, 2], "counts": [2, -1, 3]}, "must not be negative"),
        ({"size": [2, 2], "counts": "1{"}, "outside the COCO alphabet"),
        ({"size": [2, 2], "counts": b"1\x00"}, "outside the COCO alphabet"),
        ({"size": [2, 2], "counts": [1.5, 2.5]}, "integers"),
        ({"size": [2, 2, 1], "counts": [4]}, r"\[height, width\]"),
        ({"size": [-2, -2], "counts": [4]}, "negative"),
        ({"counts": [4]}, "missing key.*'size'"),
        ({"size": [2, 2]}, "missing key.*'counts'"),
    ],
)
def test_bad_coco_input(coco, message):
    with pytest.raises(ValueError, match=message):
        rle.from_coco(coco)


def test_counts_string_with_negative_deltas_is_rejected():
    # "01" then a delta that makes the third count negative
    bad = rle._kernels().coco_string_encode(np.array([0, 1, -5], np.int64), False)
    with pytest.raises(ValueError, match="negative"):
        rle.from_coco({"size": [1, 1], "counts": bad.tobytes().decode()})


# ------------------------------------------------------------------------- progress

@pytest.mark.parametrize("layout", ["C", "F", "strided3d"])
def test_progress_is_reported_in_chunks_and_gives_the_same_result(layout, monkeypatch):
    labels = rle.decode(rle.encode(np.arange(4 * 6 * 10).reshape(4, 6, 10) // 7 % 5))
    labels = np.ascontiguousarray(labels) if layout == "C" else np.asfortranarray(labels)
    if layout == "strided3d":
        labels = np.ascontiguousarray(labels)[:, ::2, :]
    expected = rle.encode(labels)
    # read where it is used: by the runs (encode) and by the checked decode
    monkeypatch.setattr(rle._encode, "_CHUNK_ELEMENTS", 8)
    monkeypatch.setattr(rle._decode, "_CHUNK_ELEMENTS", 8)
    calls: list[tuple[int, int]] = []
    r = rle.encode(labels, progress=lambda d, t: calls.append((d, t)))
    assert r == expected
    assert len(calls) > 3
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == calls[-1][1]
    calls.clear()
    np.testing.assert_array_equal(rle.decode(r, progress=lambda d, t: calls.append((d, t))),
                                  labels)
    assert len(calls) > 3 and calls[-1][0] == calls[-1][1]


@pytest.mark.parametrize("layout", ["C 2D", "C 3D", "F"])
@pytest.mark.parametrize("change", ["more runs", "fewer runs"])
def test_mask_edited_between_the_passes_is_a_clear_error(layout, change, monkeypatch):
    """A layer painted on while it is encoded must give a clear error, never a write
    outside the encoding (the passes count the runs, then write them)."""
    shape = (40, 6, 70) if layout == "C 3D" else (60, 90)
    grid = np.indices(shape)
    mask = ((grid[0] // 10 + grid[-1] // 15) % 3).astype(np.uint8)  # blocks: few runs
    if layout == "F":
        mask = np.asfortranarray(mask)
    monkeypatch.setattr(rle._encode, "_CHUNK_ELEMENTS", 8)  # progress, hence a hook, per chunk
    edited = []
    calls = []

    def edit(done, total):
        calls.append(done)
        if done * 2 >= total and not edited:  # the first pass is over
            edited.append(done)
            if change == "more runs":
                mask[...] = np.indices(shape).sum(axis=0) % 2  # a checkerboard
            else:
                mask[...] = 0

    with pytest.raises(InputChangedError, match="mask changed while it was being encoded"):
        rle.encode(mask, progress=edit)
    assert edited
    assert len(calls) > 2  # the hook ran per chunk, not just once per pass


@pytest.mark.parametrize("compact", [False, True])
def test_decode_checks_a_huge_size_against_the_counts_before_allocating(compact):
    """A ``size`` far larger than the counts cover is a ValueError about the counts, not
    a MemoryError (or gigabytes allocated) first."""
    r = {"size": [7], "dtype": "uint8", "values": [0, 1], "counts": [3, 4]}
    if compact:
        r = rle.compact(r)
    r["size"] = [2**30, 2**30]
    with pytest.raises(ValueError, match="sum to 7, fewer than"):
        rle.decode(r)


# --------------------------------------------------------------------------- files

def test_save_load_round_trip(tmp_path, cells):
    _, labels = cells
    labels = labels[:10]
    for compact in (False, True):
        path = tmp_path / f"cells{compact}.rle.json"
        r = rle.encode(labels, compact=compact)
        assert rle.save(path, r) == path
        loaded = rle.load(path)
        assert loaded == r
        np.testing.assert_array_equal(rle.decode(loaded), labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cellsFalse.rle.json", "cellsTrue.rle.json"
    ]


def test_save_accepts_numpy_arrays_and_keeps_extra_keys(tmp_path):
    r = {"size": np.array([2, 3]), "dtype": "int32", "values": np.array([5, -1]),
         "counts": np.array([2, 4]), "meta": {"scale": [1.0, 0.5]}}
    path = rle.save(tmp_path / "x.rle.json", r)
    loaded = rle.load(path)
    assert loaded["meta"] == {"scale": [1.0, 0.5]} and loaded["values"] == [5, -1]
    np.testing.assert_array_equal(rle.decode(loaded), [[5, -1, -1], [5, -1, -1]])


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.rle.json"
    rle.save(path, GOOD)
    before = path.read_text()
    with pytest.raises(ValueError):
        rle.save(path, {**GOOD, "counts": [1, 1]})  # checked before anything is written
    assert path.read_text() == before

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        rle.save(path, rle.encode(np.ones((50, 50), np.uint8)))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.rle.json"]  # no temp file left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not a valid JSON file"),
        ("", "is not a valid JSON file"),
        ('{"size": [2, 3], "values": [1], "counts": [5]}', "is not a valid RLE file.*sum to 5"),
        ("[1, 2, 3]", "is not a valid RLE file.*must be a dict"),
        ('{"size": [2, 2]}', "is not a valid RLE file.*missing key"),
    ],
)
def test_load_malformed_files_names_the_file(tmp_path, text, message):
    path = tmp_path / "bad.rle.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        rle.load(path)
    assert str(path) in str(info.value)


def test_load_binary_garbage_and_missing_file(tmp_path):
    path = tmp_path / "garbage.rle.json"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ValueError, match="garbage.rle.json"):
        rle.load(path)
    with pytest.raises(FileNotFoundError, match="nothere"):
        rle.load(tmp_path / "nothere.rle.json")
