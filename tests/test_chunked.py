"""Chunked (dask) index build and the on-disk (zarr) index."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelprep import LabelIndex

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

from labelprep import chunked
from labelprep.chunked import (
    build_from_dask,
    build_to_zarr,
    is_index_zarr,
    open_index,
    save_zarr,
)

ARRAYS = ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids")


def assert_same_index(got, ref):
    """Identical indexes: every array bit for bit, same dtypes, same metadata and table."""
    assert got.shape == ref.shape and got.dtype == ref.dtype
    assert got.background == ref.background
    for name in ARRAYS:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(ref, name))
        assert a.dtype == b.dtype, (name, a.dtype, b.dtype)
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert got.table().equals(ref.table())


def chunked_equals_memory(stack, chunks, background=0, **kwargs):
    ref = LabelIndex.build(stack, background=background)
    got = LabelIndex.build(da.from_array(stack, chunks=chunks), background=background) \
        if not kwargs else build_from_dask(da.from_array(stack, chunks=chunks), background,
                                           **kwargs)
    assert_same_index(got, ref)
    return got, ref


# ================================================================= equality with memory
@pytest.mark.parametrize(
    "chunks",
    [
        (64, 256, 256),  # one chunk
        (16, 128, 128),  # aligned, cells cut by borders
        (7, 33, 50),  # not aligned with anything
        (64, 1, 256),  # one row per chunk: runs interleave across every chunk of a slab
        (5, 256, 17),  # thin along x: every cell spans many chunks
    ],
)
def test_cells_sample_on_several_chunkings(cells, chunks):
    _, labels = cells
    got, ref = chunked_equals_memory(labels, chunks)
    assert len(got) == 600
    for L in ref.labels[::97]:
        np.testing.assert_array_equal(got.coords(L), np.argwhere(labels == L))


def test_objects_spanning_many_chunks():
    z, y, x = np.ogrid[:40, :40, :40]
    stack = np.zeros((40, 40, 40), dtype=np.uint32)
    stack[(z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 < 17**2] = 9  # one ball, ~125 chunks
    stack[::3, ::2, 1::2] = 4  # a lattice object interleaved with it everywhere
    stack[0] = 1
    got, _ = chunked_equals_memory(stack, (8, 8, 8))
    assert got.size(9) == np.count_nonzero(stack == 9)
    # the same with every wave spilled to disk and tiny merge batches
    chunked_equals_memory(stack, (8, 8, 8), keep_in_memory=0, batch_entries=100,
                          wave_voxels=1000)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64,
              np.int64, ">u2", "<i4"],
)
def test_dtypes(rng, dtype):
    info = np.iinfo(np.dtype(dtype))
    values = np.array([0, 1, 2, info.max, info.min, info.max - 1], dtype=np.dtype(dtype))
    stack = values[rng.integers(0, len(values), size=(9, 14, 11))]
    chunked_equals_memory(stack, (4, 5, 6))
    chunked_equals_memory(stack, (4, 5, 6), background=None)


def test_sparse_huge_ids(rng):
    ids = np.array([0, 7, 2**40, 2**63 + 5, 2**64 - 1], dtype=np.uint64)
    stack = ids[rng.integers(0, len(ids), size=(20, 30))]
    got, _ = chunked_equals_memory(stack, (7, 8))
    assert got.labels.tolist() == [7, 2**40, 2**63 + 5, 2**64 - 1]
    neg = np.array([-(2**40), -3, 0, 5, 2**50], dtype=np.int64)[
        rng.integers(0, 5, size=(6, 7, 8))]
    chunked_equals_memory(neg, (2, 3, 3))


def test_bool_float_and_background(rng):
    mask = rng.random((30, 40)) < 0.3
    chunked_equals_memory(mask, (7, 9))
    chunked_equals_memory(mask, (7, 9), background=None)
    floats = rng.integers(0, 5, size=(10, 12, 9)).astype(np.float32)
    got, _ = chunked_equals_memory(floats, (3, 5, 4))
    assert got.labels.dtype == np.int64
    ints = rng.integers(0, 9, size=(10, 12, 9)).astype(np.int16)
    chunked_equals_memory(ints, (3, 5, 4), background=7)
    chunked_equals_memory(ints, (3, 5, 4), background=None)


@pytest.mark.parametrize("shape,chunks", [((50,), (7,)), ((5, 6, 7, 8), (2, 3, 4, 5))])
def test_1d_and_4d(rng, shape, chunks):
    stack = rng.integers(0, 6, size=shape).astype(np.uint16)
    chunked_equals_memory(stack, chunks)


def test_non_contiguous_dask_sources(cells):
    _, labels = cells
    sub = labels[::2, 10:200:3, ::-1]  # strided view
    chunked_equals_memory(sub, (9, 20, 31))
    fortran = np.asfortranarray(labels[:20, :50, :60])
    chunked_equals_memory(fortran, (6, 16, 25))


def test_empty_and_all_background():
    for stack in (np.zeros((0, 5), np.uint8), np.zeros((6, 7, 8), np.int32)):
        got, _ = chunked_equals_memory(stack, tuple(max(1, s // 2) for s in stack.shape))
        assert len(got) == 0 and got.shape == stack.shape


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    ndim=st.integers(1, 4),
    dtype=st.sampled_from([np.uint8, np.int16, np.uint32, np.int64, np.uint64, np.bool_]),
    background=st.sampled_from([0, 1, None]),
)
def test_property_chunked_equals_memory(data, ndim, dtype, background):
    shape = tuple(data.draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    chunks = tuple(data.draw(st.integers(1, s)) for s in shape)
    n_values = data.draw(st.integers(1, 6))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype is np.bool_:
        stack = rng.random(shape) < 0.5
    else:
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=n_values, dtype=dtype, endpoint=True)
        values[0] = 0
        stack = values[rng.integers(0, n_values, size=shape)]
    kwargs = data.draw(st.sampled_from([{}, {"keep_in_memory": 0, "batch_entries": 3,
                                             "wave_voxels": 5}]))
    chunked_equals_memory(stack, chunks, background, **kwargs)


def test_unequal_dask_chunks(rng):
    stack = rng.integers(0, 4, size=(20, 30)).astype(np.uint8)
    lazy = da.from_array(stack, chunks=((3, 10, 7), (1, 29)))
    assert_same_index(LabelIndex.build(lazy), LabelIndex.build(stack))
    # a derived array (not a plain from_array): the graph is computed per chunk
    derived = (da.from_array(stack, chunks=(4, 7)) * 2)[1:, ::2]
    assert_same_index(LabelIndex.build(derived), LabelIndex.build((stack * 2)[1:, ::2]))


# ================================================================== progress, schedulers
def test_progress_per_chunk(cells):
    _, labels = cells
    lazy = da.from_array(labels, chunks=(16, 128, 128))  # 16 chunks
    calls = []
    build_from_dask(lazy, progress=lambda d, t: calls.append((d, t)), wave_voxels=1)
    dones = [d for d, _ in calls]
    totals = {t for _, t in calls}
    assert len(totals) == 1 and dones == sorted(dones)
    assert dones[-1] == calls[-1][1]
    assert len(set(dones)) >= lazy.npartitions  # at least one step per chunk


def test_synchronous_scheduler(cells):
    _, labels = cells
    lazy = da.from_array(labels[:20], chunks=(8, 100, 100))
    ref = LabelIndex.build(np.ascontiguousarray(labels[:20]))
    assert_same_index(build_from_dask(lazy, scheduler="synchronous"), ref)
    with pytest.raises(TypeError, match="scheduler"):
        build_from_dask(lazy, scheduler=42)


def test_distributed_client(cells):
    distributed = pytest.importorskip("distributed")
    _, labels = cells
    sub = np.ascontiguousarray(labels[:24])
    lazy = da.from_array(sub, chunks=(8, 100, 100))
    ref = LabelIndex.build(sub)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=None) as client:
        calls = []
        got = LabelIndex.build(lazy, progress=lambda d, t: calls.append(d))  # active client
        assert_same_index(got, ref)
        assert len(calls) >= lazy.npartitions
        assert_same_index(build_from_dask(lazy, scheduler=client), ref)


# ======================================================================== bad input
def test_errors():
    with pytest.raises(TypeError, match="dask array"):
        build_from_dask(np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="0-d"):
        build_from_dask(da.from_array(np.array(3)))
    with pytest.raises(TypeError, match="whole number"):
        LabelIndex.build(da.from_array(np.array([[0, 1.5], [2, 2]]), chunks=1))
    with pytest.raises(TypeError, match="dtype"):
        LabelIndex.build(da.from_array(np.array([["a", "b"]]), chunks=1))
    with pytest.raises(ValueError, match="background"):
        LabelIndex.build(da.zeros((4, 4), dtype=np.uint8, chunks=2), background=300)
    unknown = da.from_array(np.arange(10), chunks=3)
    unknown = unknown[unknown > 2]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        LabelIndex.build(unknown)
    for name in ("wave_voxels", "batch_entries", "keep_in_memory"):
        with pytest.raises(ValueError, match=name):
            build_from_dask(da.zeros((4, 4), chunks=2, dtype=np.uint8), **{name: -1})


def test_spill_folder_is_removed(tmp_path, cells):
    _, labels = cells
    spill = tmp_path / "spill"
    lazy = da.from_array(labels[:16], chunks=(4, 128, 128))
    got = build_from_dask(lazy, keep_in_memory=0, spill_dir=spill, wave_voxels=1)
    assert_same_index(got, LabelIndex.build(np.ascontiguousarray(labels[:16])))
    assert spill.is_dir() and list(spill.iterdir()) == []


# ===================================================================== on-disk index
@pytest.fixture
def small_stack(cells):
    return np.ascontiguousarray(cells[1][:24, :120, :140])


def test_build_to_zarr_equals_memory(tmp_path, small_stack):
    ref = LabelIndex.build(small_stack)
    path = tmp_path / "objects.zarr"
    calls = []
    lazy = build_to_zarr(da.from_array(small_stack, chunks=(7, 50, 60)), path,
                         progress=lambda d, t: calls.append((d, t)), chunk_entries=1000,
                         keep_in_memory=0, batch_entries=5000)
    assert calls and calls[-1][0] == calls[-1][1]
    assert is_index_zarr(path)
    assert isinstance(lazy, chunked.ZarrLabelIndex)
    assert_same_index(lazy.load(), ref)
    assert lazy.table().equals(ref.table())
    assert len(lazy) == len(ref) and lazy.shape == ref.shape and lazy.ndim == 3
    for L in ref.labels:
        np.testing.assert_array_equal(lazy.coords(L), ref.coords(L))
    L = ref.labels[len(ref) // 2]
    for a, b in zip(lazy.where(L), ref.where(L)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(lazy.flat(L), ref.flat(L))
    assert lazy.bbox(L) == ref.bbox(L) and lazy.size(L) == ref.size(L)
    np.testing.assert_array_equal(lazy.centroid(L), ref.centroid(L))
    assert L in lazy and 10**9 not in lazy and "x" not in lazy
    assert lazy.position(L) == ref.position(L)
    with pytest.raises(KeyError, match="123456789"):
        lazy.coords(123456789)
    some = list(ref.labels[[3, 1, 40]])
    assert_same_index(lazy.subset(some), ref.subset(some))
    assert "objects.zarr" in repr(lazy)
    # no temporary or spill folders left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["objects.zarr"]


def test_save_zarr_round_trip(tmp_path, rng):
    stack = rng.integers(0, 30, size=(6, 20, 25)).astype(np.int16) - 3
    for background in (0, None):
        ref = LabelIndex.build(stack, background=background)
        path = tmp_path / f"i{background}.zarr"
        save_zarr(ref, path, chunk_entries=64)
        opened = open_index(path)
        assert_same_index(opened.load(), ref)
        assert opened.background == background and opened.dtype == np.int16
    empty = LabelIndex.build(np.zeros((3, 4), np.uint8))
    save_zarr(empty, tmp_path / "empty.zarr")
    assert len(open_index(tmp_path / "empty.zarr")) == 0
    assert_same_index(open_index(tmp_path / "empty.zarr").load(), empty)
    with pytest.raises(TypeError, match="LabelIndex"):
        save_zarr(stack, tmp_path / "x.zarr")


def test_overwrite_rules_and_failed_builds(tmp_path, small_stack):
    idx = LabelIndex.build(small_stack)
    path = tmp_path / "objects.zarr"
    save_zarr(idx, path)
    with pytest.raises(FileExistsError, match="overwrite"):
        save_zarr(idx, path)
    other = LabelIndex.build(small_stack[:5])
    save_zarr(other, path, overwrite=True)
    assert open_index(path).shape == other.shape
    # never replace something that is not an index
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a labelprep index"):
        save_zarr(idx, folder, overwrite=True)
    assert (folder / "keep.txt").read_text() == "precious"
    # a failing build leaves nothing behind
    bad = da.from_array(np.array([[0, 1.5], [2, 2]]), chunks=1)
    with pytest.raises(TypeError):
        build_to_zarr(bad, tmp_path / "bad.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["objects.zarr", "photos"]
    with pytest.raises(FileNotFoundError):
        build_to_zarr(bad, tmp_path / "no" / "such" / "dir.zarr")


def test_open_index_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.zarr"):
        open_index(tmp_path / "nope.zarr")
    plain = tmp_path / "plain.zarr"
    zarr.open_array(str(plain), mode="w", shape=(3,), dtype="u1")
    with pytest.raises(ValueError, match="plain.zarr"):
        open_index(plain)
    assert not is_index_zarr(plain)
    assert not is_index_zarr(tmp_path / "nope.zarr")
    assert not is_index_zarr(12)


class _Recording:
    """A zarr store wrapper that records the keys read (zarr v3 API)."""

    keys: ClassVar[list] = []

    @classmethod
    def make(cls, path):
        from zarr.storage import LocalStore, WrapperStore

        class Recording(WrapperStore):
            async def get(self, key, prototype, byte_range=None):
                cls.keys.append(key)
                return await self._store.get(key, prototype, byte_range)

            async def get_partial_values(self, prototype, key_ranges):
                key_ranges = list(key_ranges)
                cls.keys.extend(k for k, _ in key_ranges)
                return await self._store.get_partial_values(prototype, key_ranges)

        return Recording(LocalStore(str(path), read_only=True))


def test_coords_reads_only_the_objects_chunks(tmp_path, small_stack):
    ref = LabelIndex.build(small_stack)
    path = tmp_path / "objects.zarr"
    entries = 500
    save_zarr(ref, path, chunk_entries=entries)
    n_chunks = -(-int(ref.offsets[-1]) // entries)
    assert n_chunks > 50
    _Recording.keys = []
    open_index(path, store=_Recording.make(path))  # checked (the default): reads every voxel
    read = {k for k in _Recording.keys if k.startswith("voxel_indices/c")}
    assert read == {f"voxel_indices/c/{c}" for c in range(n_chunks)}
    _Recording.keys = []
    lazy = open_index(path, store=_Recording.make(path), check=False)
    assert not [k for k in _Recording.keys if k.startswith("voxel_indices/c")]
    for L in (ref.labels[0], ref.labels[len(ref) // 2], ref.labels[-1]):
        _Recording.keys = []
        np.testing.assert_array_equal(lazy.coords(L), ref.coords(L))
        i = ref.position(L)
        first, last = ref.offsets[i] // entries, (ref.offsets[i + 1] - 1) // entries
        expected = {f"voxel_indices/c/{c}" for c in range(first, last + 1)}
        read = {k for k in _Recording.keys if k.startswith("voxel_indices/")}
        assert read == expected, (L, read, expected)
        assert not [k for k in _Recording.keys if not k.startswith("voxel_indices/")]
    _Recording.keys = []
    lazy.table(), lazy.bbox(L), lazy.centroid(L), len(lazy), L in lazy
    assert _Recording.keys == []  # the per-object data is read once, when opened


# ===================================================== bigger than a memory limit (slow)
_RSS_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys, time
    import numpy as np
    import dask.array as da
    from labelprep import LabelIndex, io

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        return None

    # warm up (imports, numba kernels from the on-disk cache or compiled) on a tiny stack,
    # then reset the peak RSS (Linux: VmHWM) so that only the build is measured
    LabelIndex.build(da.from_array(np.arange(24, dtype=np.uint32).reshape(2, 3, 4), chunks=2))
    baseline = status("VmRSS:")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    stack = io.open_lazy(sys.argv[1], chunks=None)
    t0 = time.perf_counter()
    idx = LabelIndex.build(stack)
    seconds = time.perf_counter() - t0
    peak = status("VmHWM:") if reset else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    L = int(idx.labels[len(idx) // 2])
    print(json.dumps({"peak": peak, "baseline": baseline, "seconds": seconds,
                      "objects": len(idx), "voxels": int(idx.counts.sum()),
                      "index_bytes": idx.voxel_indices.nbytes, "label": L,
                      "coords": idx.coords(L).tolist()}))
    """
)


def _cubes(block, block_info=None, period=16, side=5):
    """Cubes of ``side`` voxels every ``period`` voxels, numbered in raster order."""
    loc = block_info[None]["array-location"]
    cells = [-(-s // period) for s in block_info[None]["shape"]]
    out = np.zeros(block.shape, dtype=np.uint32)
    # coordinates (in the block) of the voxels inside a cube, per axis
    axes = [np.flatnonzero((np.arange(a, b) % period) < side) for a, b in loc]
    if all(len(i) for i in axes):
        z, y, x = ((i + a) // period for i, (a, _b) in zip(axes, loc))
        label = (z[:, None, None] * cells[1] + y[None, :, None]) * cells[2] \
            + x[None, None, :] + 1
        out[np.ix_(*axes)] = label
    return out


@pytest.mark.slow
def test_bigger_than_memory_limit_peak_rss(tmp_path):
    """A 1.6 GB uint32 zarr stack is indexed in a subprocess that never holds it."""
    shape, chunks = (384, 1024, 1024), (64, 256, 256)
    stack_bytes = int(np.prod(shape)) * 4
    path = tmp_path / "big.zarr"
    t0 = time.perf_counter()
    lazy = da.zeros(shape, chunks=chunks, dtype=np.uint32).map_blocks(_cubes, dtype=np.uint32)
    lazy.to_zarr(str(path))
    written = time.perf_counter() - t0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(path)], capture_output=True,
                         text=True, env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    res = json.loads(out.stdout.strip().splitlines()[-1])
    elapsed = time.perf_counter() - t0
    print(f"\nwrite {written:.1f} s; subprocess {elapsed:.1f} s (build {res['seconds']:.1f} s); "
          f"peak RSS {res['peak'] / 2**20:.0f} MiB (imports and warm-up "
          f"{res['baseline'] / 2**20:.0f} MiB) for a {stack_bytes / 2**20:.0f} MiB stack; "
          f"index {res['index_bytes'] / 2**20:.0f} MiB")
    period, side = 16, 5
    n_cubes = int(np.prod([-(-s // period) for s in shape]))
    assert res["objects"] == n_cubes
    assert res["voxels"] == n_cubes * side**3
    # the middle object is a 5x5x5 cube at its grid position
    L = res["label"] - 1
    cells = [-(-s // period) for s in shape]
    gz, gy, gx = L // (cells[1] * cells[2]), (L // cells[2]) % cells[1], L % cells[2]
    expected = np.argwhere(np.ones((side,) * 3, bool)) + np.array([gz, gy, gx]) * period
    np.testing.assert_array_equal(np.array(res["coords"]), expected)
    # the bound: well below the stack (the stack itself would not fit)
    assert res["peak"] < 0.4 * stack_bytes, res["peak"]


def test_lazy_coords_csv_matches_memory(tmp_path, small_stack):
    ref = LabelIndex.build(small_stack)
    path = tmp_path / "objects.zarr"
    save_zarr(ref, path, chunk_entries=300)
    lazy = open_index(path)
    ref.write_coords_csv(tmp_path / "ref.csv")
    calls = []
    lazy.write_coords_csv(tmp_path / "lazy.csv", progress=lambda d, t: calls.append((d, t)),
                          batch_entries=2000)
    assert (tmp_path / "lazy.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert len(calls) > 3 and calls[-1][0] == calls[-1][1]
    some = [ref.labels[5], ref.labels[-1], ref.labels[0]]
    ref.write_coords_csv(tmp_path / "ref_some.csv", labels=some)
    lazy.write_coords_csv(tmp_path / "lazy_some.csv", labels=some, batch_entries=10)
    assert (tmp_path / "lazy_some.csv").read_bytes() == (tmp_path / "ref_some.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lazy.csv", "lazy_some.csv", "objects.zarr", "ref.csv", "ref_some.csv"]
