"""io.open_lazy: zarr / OME-Zarr / TIFF / .npy / slice folders as dask arrays."""

import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from labelprep import LabelIndex, io

da = pytest.importorskip("dask.array")


@pytest.fixture
def stack(rng):
    return rng.integers(0, 50, size=(6, 40, 50), dtype=np.uint16)


def _is_dask(x):
    return isinstance(x, da.Array)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_array_roundtrip(tmp_path, stack, zarr_format):
    path = tmp_path / "labels.zarr"
    z = zarr.open_array(str(path), mode="w", shape=stack.shape, chunks=(2, 16, 16),
                        dtype=stack.dtype, zarr_format=zarr_format)
    z[...] = stack
    lazy = io.open_lazy(path)
    assert _is_dask(lazy) and lazy.dtype == stack.dtype and lazy.shape == stack.shape
    np.testing.assert_array_equal(lazy.compute(), stack)
    # chunks=None keeps the storage chunks; "auto" uses multiples of them
    assert io.open_lazy(path, chunks=None).chunksize == (2, 16, 16)
    assert all(c % s == 0 or c == n for c, s, n in
               zip(lazy.chunksize, (2, 16, 16), stack.shape))


def test_zarr_dir_without_suffix_is_detected(tmp_path, stack):
    path = tmp_path / "plain"
    zarr.open_array(str(path), mode="w", shape=stack.shape, dtype=stack.dtype)[...] = stack
    assert io.is_zarr_path(path)
    np.testing.assert_array_equal(io.open_lazy(path).compute(), stack)


@pytest.mark.parametrize("ngff", ["0.4", "0.5"])
def test_ome_zarr_opens_highest_resolution(tmp_path, stack, ngff):
    path = tmp_path / "image.ome.zarr"
    group = zarr.open_group(str(path), mode="w")
    # datasets listed highest resolution first; give the arrays names that do not
    # sort that way, to check the metadata is followed
    group.create_array("s1", data=stack[:, ::2, ::2].copy(), chunks=(2, 8, 8))
    group.create_array("s0", data=stack, chunks=(2, 16, 16))
    multiscales = [{"version": ngff, "axes": [{"name": a, "type": "space"} for a in "zyx"],
                    "datasets": [{"path": "s0"}, {"path": "s1"}]}]
    if ngff == "0.5":
        group.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
    else:
        group.attrs["multiscales"] = multiscales
    lazy = io.open_lazy(path)
    assert lazy.shape == stack.shape
    np.testing.assert_array_equal(lazy.compute(), stack)


def test_zarr_group_with_one_array(tmp_path, stack):
    path = tmp_path / "g.zarr"
    zarr.open_group(str(path), mode="w").create_array("labels", data=stack)
    np.testing.assert_array_equal(io.open_lazy(path).compute(), stack)


def test_zarr_group_errors_name_the_path(tmp_path, stack):
    path = tmp_path / "many.zarr"
    g = zarr.open_group(str(path), mode="w")
    g.create_array("a", data=stack)
    g.create_array("b", data=stack)
    with pytest.raises(io.ImageReadError, match="several arrays") as info:
        io.open_lazy(path)
    assert str(path) in str(info.value) and "a, b" in str(info.value)

    empty = tmp_path / "empty.zarr"
    zarr.open_group(str(empty), mode="w").create_group("sub")
    with pytest.raises(io.ImageReadError, match="no array") as info:
        io.open_lazy(empty)
    assert str(empty) in str(info.value) and "sub" in str(info.value)


def test_broken_zarr_and_missing_paths(tmp_path):
    broken = tmp_path / "broken.zarr"
    broken.mkdir()
    (broken / "zarr.json").write_text("{ this is not json")
    with pytest.raises(io.ImageReadError) as info:
        io.open_lazy(broken)
    assert str(broken) in str(info.value)

    nothing = tmp_path / "nothing.zarr"
    nothing.mkdir()
    with pytest.raises(io.ImageReadError) as info:
        io.open_lazy(nothing)
    assert str(nothing) in str(info.value)

    with pytest.raises(FileNotFoundError, match="missing.zarr"):
        io.open_lazy(tmp_path / "missing.zarr")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(io.ImageReadError, match="notes.txt"):
        io.open_lazy(tmp_path / "notes.txt")


def test_index_zarr_is_not_a_stack(tmp_path, stack):
    from labelprep.chunked import save_zarr

    path = tmp_path / "objects.zarr"
    save_zarr(LabelIndex.build(stack), path)
    with pytest.raises(io.ImageReadError, match="open_index"):
        io.open_lazy(path)


@pytest.mark.parametrize("tiled", [False, True])
def test_tiff_is_read_lazily(tmp_path, stack, tiled):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, tile=(16, 16) if tiled else None)
    lazy = io.open_lazy(path)
    assert _is_dask(lazy) and lazy.shape == stack.shape and lazy.dtype == stack.dtype
    np.testing.assert_array_equal(lazy[3].compute(), stack[3])
    np.testing.assert_array_equal(lazy.compute(), stack)
    pages = io.open_lazy(path, chunks=None)
    assert pages.chunksize[0] == 1  # one page (or tile) per storage chunk


def test_corrupt_tiff_names_the_file(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00 definitely not a tiff")
    with pytest.raises(io.ImageReadError, match="bad.tif"):
        io.open_lazy(path)


def test_npy_is_memory_mapped(tmp_path, stack):
    path = tmp_path / "s.npy"
    np.save(path, stack)
    lazy = io.open_lazy(path, chunks=(3, 20, 25))
    assert _is_dask(lazy) and lazy.numblocks == (2, 2, 2)
    np.testing.assert_array_equal(lazy.compute(), stack)


def test_folder_of_slices(tmp_path, stack):
    folder = tmp_path / "slices"
    folder.mkdir()
    for i, plane in enumerate(stack):
        Image.fromarray(plane).save(folder / f"z{i}.png")
    lazy = io.open_lazy(folder)
    assert _is_dask(lazy) and lazy.numblocks == (len(stack), 1, 1)
    np.testing.assert_array_equal(lazy.compute(), io.read_stack(folder))

    Image.fromarray(stack[0, :10]).save(folder / "z99.png")  # a slice of another shape
    with pytest.raises(ValueError, match="z99.png"):
        io.open_lazy(folder).compute()


def test_lazy_zarr_indexes_like_memory(tmp_path, stack):
    path = tmp_path / "labels.zarr"
    zarr.open_array(str(path), mode="w", shape=stack.shape, chunks=(2, 16, 16),
                    dtype=stack.dtype)[...] = stack
    got = LabelIndex.build(io.open_lazy(path, chunks=None))
    ref = LabelIndex.build(stack)
    np.testing.assert_array_equal(got.labels, ref.labels)
    np.testing.assert_array_equal(got.voxel_indices, ref.voxel_indices)
    np.testing.assert_array_equal(got.offsets, ref.offsets)
