"""LabelIndex: exactness against NumPy on many stacks, stats, exports, files, errors."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import labelprep._index_build as index_module  # the build (its part sizes are patched)
from labelprep import LabelIndex
from labelprep.errors import InputChangedError

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def value_pool(dtype) -> list:
    """Label values for a dtype: 0, small ids, extremes, negatives and sparse huge ids."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return [False, True]
    info = np.iinfo(dtype)
    pool = {0, 1, 2, 7, int(info.max), int(info.max) - 1, int(info.min)}
    if dtype.itemsize >= 8:
        pool |= {2**40, 2**40 + 1}
        pool |= {2**63 + 5, 2**64 - 1} if dtype.kind == "u" else {-(2**40), -5}
    elif dtype.kind == "i":
        pool |= {-1, -7}
    return sorted(pool)


def layouts(stack: np.ndarray) -> dict[str, np.ndarray]:
    """The same values in different memory layouts (all must give identical indices)."""
    out = {"C": np.ascontiguousarray(stack), "F": np.asfortranarray(stack)}
    if stack.ndim >= 2:
        # a transposed copy viewed back: C-contiguous in permuted axis order
        perm = tuple(np.roll(np.arange(stack.ndim), 1))
        out["permuted"] = np.ascontiguousarray(stack.transpose(perm)).transpose(np.argsort(perm))
    big = np.zeros(tuple(2 * s + 1 for s in stack.shape), dtype=stack.dtype)
    strided = big[tuple(slice(1, None, 2) for _ in stack.shape)]
    strided[...] = stack
    out["strided"] = strided
    flipped = np.ascontiguousarray(stack[tuple(slice(None, None, -1) for _ in stack.shape)])
    out["negative strides"] = flipped[tuple(slice(None, None, -1) for _ in stack.shape)]
    return out


def check_exact(stack: np.ndarray, idx: LabelIndex, background=0) -> None:
    """Every label's voxels, counts, boxes and centroids equal NumPy's answer."""
    values = np.unique(stack)
    if background is not None:
        values = values[values != background]
    expected_labels = values.astype(np.uint8) if stack.dtype == np.bool_ else values
    assert idx.labels.dtype == (np.uint8 if stack.dtype == np.bool_ else stack.dtype)
    np.testing.assert_array_equal(idx.labels, expected_labels)
    assert len(idx) == len(values)
    assert idx.shape == stack.shape and idx.ndim == stack.ndim and idx.dtype == stack.dtype
    expected_dtype = np.uint32 if stack.size < 2**32 else np.uint64
    assert idx.voxel_indices.dtype == expected_dtype
    assert idx.offsets[0] == 0 and idx.offsets[-1] == idx.voxel_indices.size
    for row, label in enumerate(values):
        mask = stack == label
        assert label in idx
        assert idx.position(label) == row
        coords = np.argwhere(mask)
        got = idx.coords(label)
        assert got.dtype == np.intp
        np.testing.assert_array_equal(got, coords)
        for a, b in zip(idx.where(label), np.where(mask), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(
            idx.flat(label), np.flatnonzero(np.ascontiguousarray(mask))
        )
        assert idx.size(label) == coords.shape[0] == idx.counts[row]
        np.testing.assert_allclose(idx.centroid(label), coords.mean(axis=0), rtol=1e-12)
        lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
        assert idx.bbox(label) == tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        np.testing.assert_array_equal(idx.bboxes[row, :, 0], lo)
        np.testing.assert_array_equal(idx.bboxes[row, :, 1], hi)
    if background is not None:
        np.testing.assert_array_equal(idx.to_labels(), stack)
        assert idx.to_labels().dtype == stack.dtype
    assert idx.voxel_indices.size == (
        stack.size if background is None else int(np.count_nonzero(stack != background))
    )


@st.composite
def stacks(draw):
    dtype = draw(st.sampled_from(INT_DTYPES + [np.bool_]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))
    pool = value_pool(dtype)
    # a few values per stack, so every label has several voxels and runs occur
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
    stack = draw(hnp.arrays(np.dtype(dtype), shape, elements=st.sampled_from(chosen)))
    return stack


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(stack=stacks(), layout=st.sampled_from(["C", "F", "permuted", "strided",
                                               "negative strides"]),
       background=st.sampled_from([0, None, "pool"]), workers=st.integers(1, 3),
       data=st.data())
def test_exact_against_numpy(stack, layout, background, workers, data, monkeypatch):
    monkeypatch.setattr(index_module, "_MIN_CHUNK_VOXELS", 1)  # many small parts
    if background == "pool":
        background = data.draw(st.sampled_from(value_pool(stack.dtype)))
        background = int(background)
    view = layouts(stack).get(layout, stack)
    np.testing.assert_array_equal(view, stack)
    idx = LabelIndex.build(view, background=background, workers=workers)
    check_exact(stack, idx, background)
    # identical to the C-ordered, single-threaded build
    ref = LabelIndex.build(np.ascontiguousarray(stack), background=background, workers=1)
    for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes"):
        np.testing.assert_array_equal(getattr(idx, name), getattr(ref, name))


@pytest.mark.parametrize("dtype", INT_DTYPES + [np.bool_])
@pytest.mark.parametrize("shape", [(40,), (9, 13), (5, 7, 11), (3, 4, 5, 6)])
def test_every_dtype_and_dimension(dtype, shape, rng):
    pool = np.array(value_pool(dtype), dtype=dtype)
    stack = pool[rng.integers(0, len(pool), size=shape)]
    for view in layouts(stack).values():
        check_exact(stack, LabelIndex.build(view))


def test_huge_sparse_and_negative_ids_in_one_stack(rng):
    ids = np.array([0, 7, 2**40, 2**63 + 5, 2**64 - 1], dtype=np.uint64)
    stack = ids[rng.integers(0, len(ids), size=(6, 7, 8))]
    idx = LabelIndex.build(stack)
    np.testing.assert_array_equal(idx.labels, ids[1:])
    assert int(idx.labels[-1]) == 2**64 - 1  # exact, no float or int64 round trip
    check_exact(stack, idx)
    signed = np.array([0, -(2**63), -7, 7, 2**40, 2**63 - 1], dtype=np.int64)
    stack = signed[rng.integers(0, len(signed), size=(6, 7, 8))]
    check_exact(stack, LabelIndex.build(stack))


def test_memory_is_not_proportional_to_max_label():
    stack = np.zeros((50, 60), dtype=np.uint64)
    stack[3, 4] = 2**63 + 1
    stack[10:12, 5] = 2**40
    LabelIndex.build(stack)  # compile outside the measurement
    tracemalloc.start()
    idx = LabelIndex.build(stack)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20
    assert idx.labels.tolist() == [2**40, 2**63 + 1]


def test_many_labels_grow_tables(rng):
    stack = rng.integers(0, 20000, size=(20, 30, 40)).astype(np.int32)
    idx = LabelIndex.build(stack)
    values, counts = np.unique(stack, return_counts=True)
    np.testing.assert_array_equal(idx.labels, values[1:])
    np.testing.assert_array_equal(idx.counts, counts[1:])
    np.testing.assert_array_equal(idx.to_labels(), stack)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64, np.uint64, np.float64])
@pytest.mark.parametrize("workers", [1, 3])
def test_small_and_large_keys_mixed_switch_tables_mid_scan(dtype, workers, rng, monkeypatch):
    """Small labels use a direct table that grows (up to 2**17), larger or negative ones a
    hash table that is created mid-scan and grows: every switch must keep ids intact."""
    monkeypatch.setattr(index_module, "_MIN_CHUNK_VOXELS", 1)  # several parts
    small = rng.choice(np.arange(1, 1 << 17), size=2000, replace=False)
    large = rng.choice(np.arange(1 << 17, 1 << 30), size=3000, replace=False)
    if np.dtype(dtype).kind in "if":
        large[::3] *= -1  # negative keys (the unsigned view of them is huge)
    pool = np.concatenate([[0] * 1000, small, large]).astype(dtype)
    stack = pool[rng.integers(0, len(pool), size=(12, 30, 50))]
    stack[:2] = rng.integers(0, 100, size=(2, 30, 50))  # small labels first, tables grow later
    idx = LabelIndex.build(stack, workers=workers)
    flat = stack.ravel()
    order = np.argsort(flat, kind="stable")  # voxels grouped by label, raster order within
    order = order[flat[order] != 0]
    values, counts = np.unique(flat[flat != 0], return_counts=True)
    np.testing.assert_array_equal(idx.labels, values)
    np.testing.assert_array_equal(idx.counts, counts)
    np.testing.assert_array_equal(idx.voxel_indices, order)
    for label in values[rng.integers(0, len(values), size=20)]:
        np.testing.assert_array_equal(idx.coords(label), np.argwhere(stack == label))
    ref = LabelIndex.build(stack, workers=1)
    for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes"):
        np.testing.assert_array_equal(getattr(idx, name), getattr(ref, name))


def run_stack(rng, rows: int, ncols: int, n_labels: int, dtype=np.int32) -> np.ndarray:
    """Rows of runs 1-70 voxels long (many cross a 64-column word edge), labels drawn from
    ``0 .. n_labels - 1`` (0 is the background)."""
    out = np.empty((rows, ncols), dtype)
    for r in range(rows):
        lengths = rng.integers(1, 71, size=ncols)
        values = rng.integers(0, n_labels, size=ncols)
        out[r] = np.repeat(values, lengths)[:ncols]
    return out


@pytest.mark.parametrize("ncols", [1, 2, 63, 64, 65, 127, 128, 129, 700, 4095, 4096, 4097,
                                   9000])
@pytest.mark.parametrize("background", [0, None])
def test_rows_of_every_length_around_word_edges(ncols, background, rng, monkeypatch):
    """Run ends are found 64 columns at a time: rows of each length around a word edge,
    runs across word edges, and ids outgrowing their capacity mid-row (the scan resumes
    at a column of a later word)."""
    monkeypatch.setattr(index_module, "_INITIAL_CAPACITY", 2)  # many GROW resumes
    monkeypatch.setattr(index_module, "_MIN_CHUNK_VOXELS", 1)  # several parts
    stack = run_stack(rng, 40, ncols, 400)
    for workers in (1, 2):
        idx = LabelIndex.build(stack, background=background, workers=workers)
        check_exact(stack, idx, background)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64])
def test_long_rows_in_every_layout(dtype, rng, monkeypatch):
    """Rows long enough for both scans to prefetch the rows ahead of them, in every
    memory layout (forward, reversed and strided rows), over several threads' parts."""
    from labelprep._kernels import index as kernels

    monkeypatch.setattr(index_module, "_MIN_CHUNK_VOXELS", 1)
    side = kernels.PREFETCH_MIN_ROW_BYTES // np.dtype(dtype).itemsize + 5
    rows = run_stack(rng, 3 * side, side, 60, dtype).reshape(3, side, side)
    stack = np.ascontiguousarray(rows.transpose(1, 0, 2))  # long first and last axes
    assert kernels._rows_ahead(stack.reshape(-1, side)) > 0  # the prefetching path runs
    assert kernels._rows_ahead(np.zeros((10, 4), dtype)) == 0  # short rows: none
    for view in layouts(stack).values():
        for workers in (1, 2):
            check_exact(stack, LabelIndex.build(view, background=0, workers=workers), 0)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_short_runs_written_with_a_fixed_count_of_stores(dtype, rng, monkeypatch):
    """Runs of 2..SHORT_RUN voxels are written as SHORT_RUN values, the extra ones into
    the id's own next slots: every run length around that count, ids with fewer than
    SHORT_RUN slots left (including ids smaller than SHORT_RUN) and several threads'
    parts (each with its own slots per id) must still give exact indices."""
    from labelprep._kernels import index as kernels

    monkeypatch.setattr(index_module, "_MIN_CHUNK_VOXELS", 1)  # several parts
    width = kernels.SHORT_RUN
    rows = []
    for _ in range(120):
        lengths = rng.integers(1, width + 3, size=90)
        values = rng.integers(0, 40, size=90)
        rows.append(np.repeat(values, lengths)[:100])
    stack = np.stack(rows).astype(dtype).reshape(4, 30, 100)
    stack[0, 0, :3] = 41  # a 3-voxel object: its one run has fewer slots than a store
    stack[3, 29, 97:] = 42  # the same at the very end of the stack
    for view in layouts(stack).values():
        for workers in (1, 2, 3):
            check_exact(stack, LabelIndex.build(view, background=0, workers=workers), 0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.float32,
                                   np.float64])
@pytest.mark.parametrize("ncols", [1, 63, 64, 65, 66, 127, 128, 129, 191, 192, 193, 700])
def test_run_ends_are_marked_like_numpy(dtype, ncols, rng):
    """``_mark_changes`` (vector compares on contiguous rows of 65 values or more, a
    loop on shorter and strided ones) sets exactly the bits of NumPy's ``row[c] !=
    row[c - 1]`` plus the row's end, for every key type the kernels see, whatever the
    row length modulo 64; -0.0 equals 0.0 and NaN differs from itself, as ``!=`` says."""
    from labelprep._kernels import index as K

    row = rng.integers(0, 3, size=ncols).astype(dtype)
    if row.dtype.kind == "f" and ncols > 70:
        row[10:12] = [0.0, -0.0]
        row[66:69] = [np.nan, np.nan, 1.0]
    wide = np.zeros(2 * ncols, dtype)
    wide[::2] = row
    for view in (row, wide[::2]):
        bits = K._change_bits(ncols)
        K._mark_changes(view, bits)
        ends = [*(np.flatnonzero(row[1:] != row[:-1]) + 1).tolist(), ncols]
        expected = np.zeros_like(bits)
        for c in ends:
            expected[c >> 6] |= np.uint64(1) << np.uint64(c & 63)
        np.testing.assert_array_equal(bits, expected)


@pytest.mark.parametrize("ncols", [200, 9000])
def test_count_pass_resumes_at_every_column(ncols, rng):
    """``count_rows`` started at column c0 of its first row counts exactly the voxels
    from there on, for every c0 (including both ends of each 64-column word) and, in
    rows longer than the scans list at a time (``SEGMENT_WORDS`` words), around each
    segment's edges."""
    from labelprep._kernels import index as K

    stack = run_stack(rng, 3, ncols, 6).view(np.uint32)
    if ncols <= 64 * K.SEGMENT_WORDS:
        starts = range(ncols)
    else:
        edges = range(0, ncols, 64 * K.SEGMENT_WORDS)
        starts = sorted({c for e in edges for c in range(e - 70, e + 70) if 0 <= c < ncols})
        assert max(starts) > 2 * 64 * K.SEGMENT_WORDS  # a third segment
    for c0 in starts:
        lut = np.full(16, -1, np.int32)
        keys = np.empty(8, np.uint64)
        counts = np.zeros(8, np.int64)
        state = np.zeros(4, np.int64)
        status = K.count_rows(stack, 0, c0, 3, np.uint64(0), lut, None, np.uint64(0), keys,
                              counts, state)
        assert status == K.DONE
        rest = stack.ravel()[c0:]
        got = {int(keys[i]): int(counts[i]) for i in range(state[0])}
        values, expected = np.unique(rest[rest != 0], return_counts=True)
        assert got == dict(zip(values.tolist(), expected.tolist(), strict=True)), c0


@pytest.mark.parametrize("change", ["new small label", "new huge label", "more voxels",
                                    "fewer voxels", "new label, hashed stack"])
@pytest.mark.parametrize("workers", [1, 2])
def test_stack_edited_between_the_passes_is_a_clear_error(change, workers, rng):
    """A stack painted on while it is indexed (napari) must give a clear error, never a
    write outside the index or unwritten slots."""
    stack = run_stack(rng, 64, 300, 50)
    if change == "new label, hashed stack":
        stack[stack == 7] = 2**31 - 5  # a key the hash table holds
    size = stack.size
    total = 2 * size

    def edit(done, _total):
        if done < size or getattr(edit, "done", False):
            return
        edit.done = True  # once, when pass 1 is over
        if change in ("new small label", "new label, hashed stack"):
            stack[5, 10] = 60_000
        elif change == "new huge label":
            stack[5, 10] = 2**30
        elif change == "more voxels":
            stack[stack == 0] = 3
        else:
            stack[stack == 3] = 0

    with pytest.raises(InputChangedError, match="labels changed while the index was being built"):
        LabelIndex.build(stack, workers=workers, progress=edit)
    assert total == 2 * size and edit.done


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_reaches_each_pass_end_even_when_the_scan_resumes(workers, rng, monkeypatch):
    """Progress counts voxels: pass 1 ends at exactly the stack size, even when the scan
    stops mid-row to grow its tables and resumes; calls never go backwards."""
    monkeypatch.setattr(index_module, "_INITIAL_CAPACITY", 2)
    monkeypatch.setattr(index_module, "_MIN_CHUNK_VOXELS", 1)
    stack = run_stack(rng, 64, 300, 500)
    stack[stack == 7] = 2**31 - 5  # a hash table created mid-scan too
    calls = []
    LabelIndex.build(stack, workers=workers, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert {t for _, t in calls} == {2 * stack.size}
    assert done == sorted(done) and done[-1] == 2 * stack.size
    assert stack.size in done  # the end of pass 1 is reported as such


def test_parallel_parts_match_single_thread(cells, monkeypatch):
    _, labels = cells
    monkeypatch.setattr(index_module, "_MIN_CHUNK_VOXELS", 1)
    one = LabelIndex.build(labels, workers=1)
    for workers in (2, 3, 7):
        many = LabelIndex.build(labels, workers=workers)
        for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes"):
            np.testing.assert_array_equal(getattr(many, name), getattr(one, name))
        np.testing.assert_allclose(many.centroids, one.centroids, rtol=1e-12)


def test_readonly_and_memmap_inputs(cells, tmp_path):
    _, labels = cells  # read-only fixture
    assert not labels.flags.writeable
    idx = LabelIndex.build(labels)
    np.save(tmp_path / "l.npy", labels)
    mm = np.load(tmp_path / "l.npy", mmap_mode="r")
    idx2 = LabelIndex.build(mm)
    np.testing.assert_array_equal(idx.voxel_indices, idx2.voxel_indices)
    np.testing.assert_array_equal(idx.to_labels(), labels)


def test_big_endian_and_float16_inputs():
    stack = np.array([[0, 3, 3], [300, 0, 3]], dtype=">i4")
    idx = LabelIndex.build(stack)
    assert idx.labels.tolist() == [3, 300]
    np.testing.assert_array_equal(idx.to_labels(), stack)
    half = np.array([[0, 2], [2, 5]], dtype=np.float16)
    assert LabelIndex.build(half).labels.tolist() == [2, 5]


def test_cells_sample_against_numpy(cells):
    _, labels = cells
    idx = LabelIndex.build(labels)
    assert len(idx) == len(np.unique(labels)) - 1
    for label in idx.labels[:: max(1, len(idx) // 25)]:
        np.testing.assert_array_equal(idx.coords(label), np.argwhere(labels == label))


# ------------------------------------------------------------------ empty stacks
@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 4), (2, 3, 0)])
def test_empty_stack_gives_empty_index(shape):
    idx = LabelIndex.build(np.zeros(shape, dtype=np.int32))
    assert len(idx) == 0 and idx.shape == shape
    assert idx.bboxes.shape == (0, len(shape), 2) and idx.centroids.shape == (0, len(shape))
    assert idx.to_labels().shape == shape
    assert list(idx.table().columns)[:2] == ["label", "voxels"] and len(idx.table()) == 0
    assert idx.to_dict() == {}


def test_all_background_gives_empty_index():
    idx = LabelIndex.build(np.full((4, 5, 6), 9, dtype=np.uint16), background=9)
    assert len(idx) == 0 and idx.voxel_indices.size == 0
    assert 9 not in idx
    np.testing.assert_array_equal(idx.to_labels(), np.full((4, 5, 6), 9, dtype=np.uint16))


def test_single_voxel_and_background_none():
    idx = LabelIndex.build(np.array([5], dtype=np.int8), background=None)
    assert idx.labels.tolist() == [5] and idx.background is None
    assert idx.coords(5).tolist() == [[0]]
    idx = LabelIndex.build(np.zeros((1, 1, 1), dtype=np.int64), background=None)
    assert idx.labels.tolist() == [0] and idx.bbox(0) == (slice(0, 1),) * 3


# ----------------------------------------------------------------------- floats
def test_float_with_integral_values_is_accepted():
    stack = np.array([[0.0, 3.0, 3.0], [-2.0, 0.0, 1e12]], dtype=np.float64)
    idx = LabelIndex.build(stack)
    assert idx.labels.dtype == np.int64
    assert idx.labels.tolist() == [-2, 3, 10**12]
    assert idx.dtype == np.float64
    np.testing.assert_array_equal(idx.coords(3), [[0, 1], [0, 2]])
    rebuilt = idx.to_labels()
    assert rebuilt.dtype == np.float64
    np.testing.assert_array_equal(rebuilt, stack)
    assert 3.0 in idx and 3.5 not in idx


@pytest.mark.parametrize("bad,message", [(0.5, "whole number"), (np.nan, "whole number"),
                                         (np.inf, "whole number"), (-1e30, "outside the range")])
def test_float_with_non_integral_value_is_a_type_error(bad, message):
    stack = np.zeros((3, 4), dtype=np.float32)
    stack[2, 1] = bad
    with pytest.raises(TypeError, match=message):  # -1e30 is whole, but beyond int64 labels
        LabelIndex.build(stack)


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [[[1, 2], [3, 4]], 5, None, "labels"])
def test_non_array_is_a_type_error(bad):
    with pytest.raises(TypeError, match="NumPy array"):
        LabelIndex.build(bad)


def test_zero_d_array_is_a_value_error():
    with pytest.raises(ValueError, match="at least one axis"):
        LabelIndex.build(np.array(3))


@pytest.mark.parametrize("dtype", [np.complex64, object, "U3"])
def test_unsupported_dtype_is_a_type_error(dtype):
    with pytest.raises(TypeError, match="dtype"):
        LabelIndex.build(np.zeros((2, 2), dtype=dtype))


def test_bad_background():
    with pytest.raises(ValueError, match="background=-1"):
        LabelIndex.build(np.zeros((2, 2), dtype=np.uint8), background=-1)
    with pytest.raises(TypeError, match="background"):
        LabelIndex.build(np.zeros((2, 2), dtype=np.uint8), background=0.5)
    with pytest.raises(ValueError, match="workers"):
        LabelIndex.build(np.zeros((2, 2), dtype=np.uint8), workers=0)


def test_dask_input_without_chunked_module_is_a_clear_error(monkeypatch):
    import importlib.util

    FakeDask = type("Array", (), {"__module__": "dask.array.core"})
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "labelprep.chunked" else real(name, *a),
    )
    with pytest.raises(TypeError, match="dask"):
        LabelIndex.build(FakeDask())


def test_unknown_label_key_error_names_the_label():
    idx = LabelIndex.build(np.array([[0, 1], [2, 2]], dtype=np.int16))
    for method in ("position", "flat", "coords", "where", "bbox", "centroid", "size"):
        with pytest.raises(KeyError, match="label 5"):
            getattr(idx, method)(5)
    with pytest.raises(KeyError, match="99999"):
        idx.coords(99999)  # outside the int16 range
    assert 5 not in idx and "a" not in idx and None not in idx and 1.5 not in idx
    assert 2 in idx and np.int64(2) in idx and 2.0 in idx


# ---------------------------------------------------------------------- exports
def seed_dict(stack: np.ndarray) -> dict:
    """The seed's per-label np.where loop (the user's original code)."""
    labels, counts = np.unique(stack, return_counts=True)  # noqa: RUF059 (as in the seed)
    result = {}
    for label in list(labels):
        if label == 0:
            continue
        result[label] = [np.where(stack == label)]
    return result


def test_to_dict_matches_the_seed_semantics(rng):
    stack = rng.integers(0, 6, size=(4, 5, 6)).astype(np.uint16)
    expected = seed_dict(stack)
    got = LabelIndex.build(stack).to_dict()
    assert set(got) == set(expected)
    for label, (where,) in expected.items():
        assert len(got[label]) == 3
        for a, b in zip(got[label], where, strict=True):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype


def test_table_contents():
    stack = np.zeros((4, 5, 6), dtype=np.int32)
    stack[1:3, 2, 0:4] = 9
    stack[3, 4, 5] = 2
    table = LabelIndex.build(stack).table()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "label", "voxels", "z_start", "z_stop", "y_start", "y_stop", "x_start", "x_stop",
        "centroid_z", "centroid_y", "centroid_x",
    ]
    assert table["label"].tolist() == [2, 9]
    assert table["voxels"].tolist() == [1, 8]
    row = table.iloc[1]
    assert (row.z_start, row.z_stop, row.y_start, row.y_stop, row.x_start, row.x_stop) == (
        1, 3, 2, 3, 0, 4
    )
    assert (row.centroid_z, row.centroid_y, row.centroid_x) == (1.5, 2.0, 1.5)
    assert list(LabelIndex.build(stack[0]).table().columns)[2:4] == ["y_start", "y_stop"]
    four = LabelIndex.build(stack[None])
    assert four.axis_names == ("axis0", "axis1", "axis2", "axis3")
    assert "centroid_axis3" in four.table().columns


def test_subset_and_to_labels_round_trip(rng):
    stack = rng.integers(0, 8, size=(5, 6, 7)).astype(np.int64) - 2
    idx = LabelIndex.build(stack)
    sub = idx.subset([5, -2, 5, 1])
    assert sub.labels.tolist() == [-2, 1, 5]
    for label in (-2, 1, 5):
        np.testing.assert_array_equal(sub.coords(label), idx.coords(label))
        np.testing.assert_array_equal(sub.bboxes[sub.position(label)],
                                      idx.bboxes[idx.position(label)])
    expected = np.where(np.isin(stack, [-2, 1, 5]), stack, 0)
    np.testing.assert_array_equal(sub.to_labels(), expected)
    with pytest.raises(KeyError, match="label 42"):
        idx.subset([1, 42])
    assert len(idx.subset([])) == 0


def test_write_coords_csv_reads_back(tmp_path, rng):
    stack = rng.integers(0, 5, size=(3, 4, 5)).astype(np.uint8)
    stack[0, 0, 0] = 255
    idx = LabelIndex.build(stack)
    path = tmp_path / "coords.csv"
    calls = []
    idx.write_coords_csv(path, progress=lambda d, t: calls.append((d, t)))
    table = pd.read_csv(path)
    assert list(table.columns) == ["label", "z", "y", "x"]
    expected = np.concatenate(
        [np.column_stack([np.full(idx.size(L), L), np.argwhere(stack == L)])
         for L in idx.labels]
    )
    np.testing.assert_array_equal(table.to_numpy(), expected)
    assert calls and calls[-1][0] == calls[-1][1]
    idx.write_coords_csv(path, labels=[255, 2])
    table = pd.read_csv(path)
    assert table["label"].unique().tolist() == [2, 255]
    assert len(table) == idx.size(2) + idx.size(255)
    assert [p.name for p in tmp_path.iterdir()] == ["coords.csv"]  # no temp files left


def test_write_coords_csv_batches_and_negative_huge_labels(tmp_path, monkeypatch):
    stack = np.zeros((30, 40), dtype=np.int64)
    stack[:, :20] = -(2**62)
    stack[5:, 30:] = 2**62
    idx = LabelIndex.build(stack)
    idx.write_coords_csv(tmp_path / "c.csv")
    table = pd.read_csv(tmp_path / "c.csv")
    assert list(table.columns) == ["label", "y", "x"]
    assert table["label"].tolist() == [-(2**62)] * 600 + [2**62] * 250
    np.testing.assert_array_equal(table[["y", "x"]].to_numpy()[600:],
                                  np.argwhere(stack == 2**62))


# ------------------------------------------------------------------- save/load
def assert_same_index(a: LabelIndex, b: LabelIndex) -> None:
    for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert (a.shape, a.dtype, a.background) == (b.shape, b.dtype, b.background)


@settings(max_examples=40, deadline=None)
@given(stack=stacks(), background=st.sampled_from([0, None]))
def test_save_load_round_trip(stack, background, tmp_path_factory):
    path = tmp_path_factory.mktemp("idx") / "objects.npz"
    idx = LabelIndex.build(stack, background=background)
    idx.save(path)
    assert LabelIndex.is_index_file(path)
    loaded = LabelIndex.load(path)
    assert_same_index(idx, loaded)
    np.testing.assert_array_equal(loaded.to_labels(), idx.to_labels())


def test_save_is_atomic_and_keeps_the_exact_name(tmp_path, cells):
    _, labels = cells
    idx = LabelIndex.build(labels)
    idx.save(tmp_path / "objects")  # no .npz appended
    assert [p.name for p in tmp_path.iterdir()] == ["objects"]
    assert_same_index(idx, LabelIndex.load(tmp_path / "objects"))


def test_save_into_missing_folder_names_the_file(tmp_path):
    idx = LabelIndex.build(np.array([1, 2]))
    with pytest.raises(FileNotFoundError, match="objects.npz"):
        idx.save(tmp_path / "missing" / "objects.npz")


def test_load_rejects_non_index_and_corrupt_files(tmp_path):
    idx = LabelIndex.build(np.array([[0, 1, 1], [2, 2, 0]], dtype=np.uint16))
    good = tmp_path / "good.npz"
    idx.save(good)
    # not a LabelIndex file: a plain npz, a .npy, text, garbage zip
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    np.save(tmp_path / "array.npy", np.arange(3))
    (tmp_path / "text.npz").write_text("hello")
    with open(good, "rb") as f:
        (tmp_path / "truncated.npz").write_bytes(f.read()[:200])
    for name in ("plain.npz", "array.npy", "text.npz", "truncated.npz"):
        with pytest.raises(ValueError, match=name):
            LabelIndex.load(tmp_path / name)
        assert not LabelIndex.is_index_file(tmp_path / name)
    assert not LabelIndex.is_index_file(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError):
        LabelIndex.load(tmp_path / "nope.npz")

    def save_modified(name, **changes):
        with np.load(good) as data:
            arrays = {k: data[k] for k in data.files}
        arrays.update(changes)
        for key in [k for k, v in changes.items() if v is None]:
            del arrays[key]
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    cases = {
        "missing.npz": {"offsets": None},
        "offsets.npz": {"offsets": np.array([0, 1, 4])},
        "range.npz": {"voxel_indices": np.array([1, 2, 3, 99], dtype=np.uint32)},
        "order.npz": {"voxel_indices": np.array([2, 1, 3, 4], dtype=np.uint32)},
        "labels.npz": {"labels": np.array([2, 1], dtype=np.uint16)},
        "dtype.npz": {"dtype": np.array("not a dtype")},
        "newer.npz": {"labelprep_index_version": np.array(99)},
    }
    for name, change in cases.items():
        path = save_modified(name, **change)
        with pytest.raises(ValueError, match=name):
            LabelIndex.load(path)


def test_constructor_rejects_inconsistent_arrays():
    idx = LabelIndex.build(np.array([[0, 1, 1], [2, 2, 0]], dtype=np.uint16))
    parts = {"labels": idx.labels, "counts": idx.counts, "offsets": idx.offsets,
                 "voxel_indices": idx.voxel_indices, "bboxes": idx.bboxes,
                 "centroids": idx.centroids,
                 "shape": idx.shape, "dtype": idx.dtype, "background": idx.background}
    LabelIndex(**parts)
    with pytest.raises(ValueError, match="counts"):
        LabelIndex(**{**parts, "counts": np.array([1, 3])})
    with pytest.raises(ValueError, match="labels dtype"):
        LabelIndex(**{**parts, "labels": idx.labels.astype(np.int64)})
    assert not idx.voxel_indices.flags.writeable


# ------------------------------------------------------------ speed and memory
def test_coords_of_a_10k_voxel_object_is_fast():
    stack = np.zeros((40, 200, 200), dtype=np.int32)
    stack[::3, ::7, ::5] = 4
    stack[5:30, 50:70, 50:70] = 3  # 10,000 voxels
    idx = LabelIndex.build(stack)
    assert idx.size(3) == 10_000
    idx.coords(3)
    best = min(_timed(lambda: idx.coords(3)) for _ in range(20))
    assert best < 1e-3, f"coords took {best * 1e3:.2f} ms"
    np.testing.assert_array_equal(idx.coords(3), np.argwhere(stack == 3))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_build_peak_memory_is_about_4_bytes_per_foreground_voxel(cells):
    _, labels = cells
    LabelIndex.build(labels[:2])  # compile outside the measurement
    foreground = int(np.count_nonzero(labels))
    n_objects = len(np.unique(labels)) - 1
    for workers in (1, 2):
        tracemalloc.start()
        idx = LabelIndex.build(labels, workers=workers)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert idx.voxel_indices.size == foreground
        # the index itself (4 B/voxel) + per-object tables and stats (O(objects))
        budget = 4 * foreground + workers * (64 * 1024 + 400 * n_objects)
        assert peak <= budget, (
            f"workers={workers}: peak {peak} B = {peak / foreground:.2f} B/foreground voxel"
        )


def test_dask_input_is_dispatched_to_the_chunked_build():
    da = pytest.importorskip("dask.array")
    pytest.importorskip("labelprep.chunked")
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 6, size=(6, 7, 8)).astype(np.int32)
    idx = LabelIndex.build(da.from_array(stack, chunks=(3, 4, 4)))
    assert_same_index(idx, LabelIndex.build(stack))


def test_build_names_the_stack_label_image_and_takes_options_by_keyword():
    stack = np.array([[1, 1, 0], [0, 2, 2]])
    idx = LabelIndex.build(label_image=stack, background=0)
    np.testing.assert_array_equal(idx.labels, [1, 2])
    with pytest.warns(DeprecationWarning, match="label_image"):
        old = LabelIndex.build(labels=stack)
    np.testing.assert_array_equal(old.voxel_indices, idx.voxel_indices)
    with pytest.raises(TypeError, match="once"):
        LabelIndex.build(stack, labels=stack)
    with pytest.raises(TypeError):
        LabelIndex.build(stack, 0)  # options are keyword-only
    with pytest.raises(TypeError, match="needs the labelled stack"):
        LabelIndex.build()
