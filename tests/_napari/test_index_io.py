"""The napari reader for LabelIndex ``.npz`` files."""

from __future__ import annotations

import napari
import numpy as np
import pytest

from labelprep import LabelIndex
from labelprep._napari.index_io import METADATA_KEY, get_index_reader, read_index


@pytest.fixture
def saved(tmp_path):
    from labelprep.samples import cells_3d

    _, labels = cells_3d(shape=(16, 64, 64), n_cells=30, seed=5)
    idx = LabelIndex.build(labels)
    path = tmp_path / "objects.npz"
    idx.save(path)
    return path, labels, idx


def test_reader_opens_an_index_file(saved):
    path, labels, idx = saved
    reader = get_index_reader(str(path))
    assert callable(reader)
    [(data, meta, kind)] = reader(str(path))
    assert kind == "labels"
    assert meta["name"] == "objects"
    np.testing.assert_array_equal(data, labels)
    assert data.dtype == labels.dtype
    features = meta["features"]
    table = idx.table()
    assert list(features.columns) == [*table.columns, "index"]
    np.testing.assert_array_equal(features["index"], features["label"])
    np.testing.assert_array_equal(features[table.columns].to_numpy(), table.to_numpy())
    assert isinstance(meta["metadata"][METADATA_KEY], LabelIndex)


def test_reader_accepts_a_list_of_index_files(saved, tmp_path):
    path, labels, idx = saved
    other = tmp_path / "half.npz"
    idx.subset(idx.labels[: len(idx) // 2]).save(other)
    reader = get_index_reader([str(path), str(other)])
    layers = reader([str(path), str(other)])
    assert [m["name"] for _, m, _ in layers] == ["objects", "half"]
    kept = np.isin(labels, idx.labels[: len(idx) // 2])
    np.testing.assert_array_equal(layers[1][0], np.where(kept, labels, 0))


def test_reader_declines_foreign_files(saved, tmp_path):
    path, _, _ = saved
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.arange(3))
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    assert get_index_reader(str(plain)) is None
    assert get_index_reader(str(text)) is None
    assert get_index_reader(str(tmp_path / "missing.npz")) is None
    assert get_index_reader([str(path), str(plain)]) is None  # all or nothing
    assert get_index_reader(str(tmp_path)) is None
    assert get_index_reader(None) is None


def test_viewer_open_shows_stats_on_hover(viewer, saved):
    path, labels, idx = saved
    [layer] = viewer.open(path, plugin="napari-labelprep")
    assert isinstance(layer, napari.layers.Labels)
    np.testing.assert_array_equal(layer.data, labels)
    L = int(idx.labels[3])
    position = tuple(np.argwhere(labels == L)[0])
    viewer.dims.set_point(0, position[0])  # the status reads the displayed slice
    status = layer.get_status(position, world=True)
    text = status["coordinates"] if isinstance(status, dict) else status
    assert f"label: {L}" in text and f"voxels: {idx.size(L)}" in text


def test_read_index_raises_for_a_corrupt_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz"):
        read_index(str(bad))
