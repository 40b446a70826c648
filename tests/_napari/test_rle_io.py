"""The *.rle.json reader and writer, directly and through napari (open, save, save_layers)."""

from __future__ import annotations

import json

import napari
import numpy as np
import pytest

from labelprep import rle
from labelprep._napari.rle_io import get_rle_reader, write_labels_rle

PLUGIN = "napari-labelprep"


@pytest.fixture
def rle_file(tmp_path, photo):
    _, mask = photo
    return rle.save(tmp_path / "photo mask.rle.json", rle.encode(mask)), mask


def test_reader_returns_none_for_files_that_are_not_ours(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG")
    plain_json = tmp_path / "a.json"
    plain_json.write_text('{"size": [1], "values": [1], "counts": [1]}')
    binary = tmp_path / "b.rle.json"
    binary.write_bytes(b"\x00\x01garbage")
    folder = tmp_path / "dir.rle.json"
    folder.mkdir()
    ours = rle.save(tmp_path / "ok.rle.json", rle.encode(np.zeros((2, 2), np.uint8)))
    for candidate in [
        str(png), str(plain_json), str(binary), str(folder), str(tmp_path / "missing.rle.json"),
        [str(ours), str(png)], [], None, 5, "", "\x00.rle.json",
    ]:
        assert get_rle_reader(candidate) is None, candidate
    assert callable(get_rle_reader(str(ours)))
    assert callable(get_rle_reader([str(ours), str(ours)]))


def test_reader_layer_data(rle_file):
    path, mask = rle_file
    reader = get_rle_reader(str(path))
    [(data, meta, kind)] = reader(str(path))
    assert kind == "labels" and meta["name"] == "photo mask"
    assert data.dtype == mask.dtype
    np.testing.assert_array_equal(data, mask)


def test_reader_on_a_corrupt_file_of_ours_raises_a_clear_error(tmp_path):
    path = tmp_path / "broken.rle.json"
    path.write_text('{"size": [4, 4], "values": [1], "counts": [3]}')
    reader = get_rle_reader(str(path))
    assert reader is not None
    with pytest.raises(ValueError, match="broken.rle.json.*sum to 3"):
        reader(str(path))


def test_writer_function(tmp_path, cells):
    _, labels = cells
    out = write_labels_rle(str(tmp_path / "c.rle.json"), labels, {"scale": [2.0, 1.0, 1.0]})
    assert out == [str(tmp_path / "c.rle.json")]
    r = rle.load(out[0])
    assert r["napari"] == {"scale": [2.0, 1.0, 1.0]}
    np.testing.assert_array_equal(rle.decode(r), labels)
    # no extension given: ours is added; multiscale: the first level is written
    out = write_labels_rle(str(tmp_path / "noext"), [labels, labels[:, ::2, ::2]],
                           {"multiscale": True})
    assert out == [str(tmp_path / "noext.rle.json")]
    np.testing.assert_array_equal(rle.decode(rle.load(out[0])), labels)


def test_open_in_napari(viewer, rle_file):
    path, mask = rle_file
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert len(layers) == 1
    layer = viewer.layers["photo mask"]
    assert isinstance(layer, napari.layers.Labels)
    np.testing.assert_array_equal(layer.data, mask)


def test_open_3d_int64_with_negative_labels(viewer, tmp_path, cells):
    _, labels = cells
    data = labels[:6].astype(np.int64) - 3
    path = rle.save(tmp_path / "stack.rle.json", rle.encode(data, compact=True))
    viewer.open(str(path), plugin=PLUGIN)
    layer = viewer.layers["stack"]
    assert layer.data.ndim == 3 and layer.data.dtype == np.int64
    np.testing.assert_array_equal(layer.data, data)


def test_layer_save_and_reopen_round_trip(viewer, tmp_path, cells):
    _, labels = cells
    layer = viewer.add_labels(labels[:10].astype(np.uint16), name="cells",
                              scale=(2.0, 0.5, 0.5), translate=(0, 10, 0))
    path = tmp_path / "saved.rle.json"
    layer.save(str(path), plugin=PLUGIN)
    assert path.exists()
    r = rle.load(path)
    assert r["dtype"] == "uint16"
    [reopened] = viewer.open(str(path), plugin=PLUGIN)
    assert reopened.name == "saved"
    np.testing.assert_array_equal(reopened.data, layer.data)
    np.testing.assert_allclose(reopened.scale, layer.scale)
    np.testing.assert_allclose(reopened.translate, layer.translate)


def test_napari_save_layers_picks_our_writer_by_extension(viewer, tmp_path, photo):
    _, mask = photo
    layer = viewer.add_labels(mask, name="m")
    written = napari.save_layers(str(tmp_path / "m.rle.json"), [layer])
    assert written == [str(tmp_path / "m.rle.json")]
    np.testing.assert_array_equal(rle.decode(rle.load(written[0])), mask)
    # without an extension napari appends ours (the only writer for this plugin)
    written = napari.save_layers(str(tmp_path / "plain"), [layer], plugin=PLUGIN)
    assert written == [str(tmp_path / "plain.rle.json")]
    assert json.loads((tmp_path / "plain.rle.json").read_text())["size"] == [480, 640]
    [back] = viewer.open(written[0], plugin=PLUGIN)
    np.testing.assert_array_equal(back.data, mask)
