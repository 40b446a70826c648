"""A zarr stack in napari: a lazy (dask-backed) Labels layer, indexed without loading it whole."""

from __future__ import annotations

import numpy as np
import pytest

from labelprep import LabelIndex

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
dask = pytest.importorskip("dask")

from dask.callbacks import Callback

from labelprep._napari.index_widget import VoxelIndexWidget
from labelprep._napari.zarr_io import get_zarr_reader

TIMEOUT = 30_000  # ms
CHUNK_SIZE = "64KiB"  # small dask chunks ("auto"), so that the stack is many chunks


@pytest.fixture
def zarr_stack(tmp_path):
    from labelprep.samples import cells_3d

    _, labels = cells_3d(shape=(24, 96, 96), n_cells=40, seed=3)
    path = tmp_path / "cells.zarr"
    z = zarr.open_array(str(path), mode="w", shape=labels.shape, chunks=(8, 32, 32),
                        dtype=labels.dtype)
    z[...] = labels
    return path, labels


class LargestResult(Callback):
    """Records the largest array any dask task produced (in any thread)."""

    def __init__(self):
        super().__init__()
        self.nbytes = 0
        self.tasks = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.tasks += 1
        if isinstance(result, np.ndarray):
            self.nbytes = max(self.nbytes, result.nbytes)


def _open_with_plugin_reader(viewer, path):
    reader = get_zarr_reader(str(path))
    assert callable(reader)
    [(data, meta, kind)] = reader(str(path))
    assert kind == "labels"
    return viewer.add_labels(data, **meta)


def test_zarr_opens_as_a_lazy_labels_layer(viewer, zarr_stack):
    path, labels = zarr_stack
    with dask.config.set({"array.chunk-size": CHUNK_SIZE}):
        layer = _open_with_plugin_reader(viewer, path)
    assert type(layer).__name__ == "Labels" and layer.name == "cells"
    assert isinstance(layer.data, da.Array) and layer.data.npartitions > 1
    assert layer.data.shape == labels.shape and layer.data.dtype == labels.dtype
    viewer.dims.set_point(0, 10)
    z = int(viewer.dims.point[0])
    np.testing.assert_array_equal(np.asarray(layer._slice.image.raw), labels[z])

    # napari's own zarr reader gives the same lazy layer when asked for labels
    [builtin] = viewer.open(str(path), plugin="napari", layer_type="labels")
    assert type(builtin).__name__ == "Labels" and isinstance(builtin.data, da.Array)


def test_reader_declines_other_folders(tmp_path, zarr_stack):
    path, labels = zarr_stack
    floats = tmp_path / "floats.zarr"
    zarr.open_array(str(floats), mode="w", shape=(4, 5), dtype="f4")[...] = 1.5
    plain = tmp_path / "plain"
    plain.mkdir()
    from labelprep.chunked import save_zarr

    save_zarr(LabelIndex.build(labels), tmp_path / "objects.zarr")
    assert get_zarr_reader(str(floats)) is None
    assert get_zarr_reader(str(plain)) is None
    assert get_zarr_reader(str(tmp_path / "objects.zarr")) is None  # an index, not a stack
    assert get_zarr_reader(str(tmp_path / "missing.zarr")) is None
    assert get_zarr_reader([str(path), str(path)]) is None
    assert callable(get_zarr_reader([str(path)]))


def test_manifest_reader_if_registered(viewer, zarr_stack):
    """Once napari.yaml registers the zarr reader, viewer.open uses it directly."""
    import npe2

    manifest = npe2.PluginManifest.from_distribution("napari-labelprep")
    commands = {c.python_name for c in manifest.contributions.commands}
    if "labelprep._napari.zarr_io:get_zarr_reader" not in commands:
        pytest.skip("zarr reader not registered in napari.yaml yet")
    path, _labels = zarr_stack
    [layer] = viewer.open(str(path), plugin="napari-labelprep")
    assert type(layer).__name__ == "Labels" and isinstance(layer.data, da.Array)


def test_voxel_index_dock_builds_on_the_lazy_layer(viewer, qtbot, zarr_stack):
    path, labels = zarr_stack
    with dask.config.set({"array.chunk-size": CHUNK_SIZE}):
        layer = _open_with_plugin_reader(viewer, path)
    lazy = layer.data
    chunk_bytes = max(np.prod(c) for c in np.ndindex(*lazy.numblocks) for c in [
        [lazy.chunks[a][i] for a, i in enumerate(c)]]) * lazy.dtype.itemsize
    assert chunk_bytes * 4 < labels.nbytes
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Voxel index")
    assert widget.layer is layer
    seen = []
    widget.progress_bar.valueChanged.connect(seen.append)
    watch = LargestResult()
    with watch:  # registered globally: sees the computations of the worker thread too
        widget.build_index()
        qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT)
    assert widget.index is not None, widget.message_label.text()
    ref = LabelIndex.build(labels)
    for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids"):
        np.testing.assert_array_equal(getattr(widget.index, name), getattr(ref, name))
    assert widget.model.rowCount() == len(ref)
    # read chunk by chunk: no task ever produced more than a chunk, nor the whole stack
    assert watch.tasks >= lazy.npartitions
    assert 0 < watch.nbytes <= chunk_bytes
    assert isinstance(layer.data, da.Array)  # the layer stays lazy
    assert seen, "the progress bar never moved"
    # selecting an object works as on an in-memory layer
    L = int(ref.labels[len(ref) // 2])
    assert widget.select_label(L)
    assert layer.selected_label == L


def test_voxel_index_dock_loads_zarr_from_disk_lazily(viewer, qtbot, zarr_stack):
    """The dock's own "Load" opens a zarr stack as a lazy, read-only Labels layer."""
    path, labels = zarr_stack
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Voxel index")
    widget.load_stack(path)
    qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT)
    layer = widget.layer
    assert layer is not None, widget.message_label.text()
    assert isinstance(layer.data, da.Array) and not layer.editable
    np.testing.assert_array_equal(np.asarray(layer.data), labels)
    widget.build_index()
    qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT)
    np.testing.assert_array_equal(widget.index.counts, LabelIndex.build(labels).counts)
