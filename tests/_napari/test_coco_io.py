"""The COCO reader in a real viewer: annotations open as Labels over their images."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from labelprep import export, rle
from labelprep._napari.coco_io import get_coco_reader, read_coco_layers


def _dataset(tmp_path):
    masks, images = tmp_path / "masks", tmp_path / "images"
    masks.mkdir()
    images.mkdir()
    rng = np.random.default_rng(2)
    lab = np.zeros((40, 50), np.uint16)
    lab[5:15, 5:20] = 1
    lab[20:35, 25:45] = 2
    Image.fromarray(lab.astype(np.uint8)).save(masks / "a.png")
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(images / "a.png")
    out = tmp_path / "ann.json"
    export.coco(masks, images, out=out)
    return out, lab


def test_the_reader_declines_json_that_is_not_coco(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"a": 1}))
    (tmp_path / "broken.json").write_text("{not json")
    rle.save(tmp_path / "m.rle.json", rle.encode(np.eye(3, dtype=np.uint8)))
    for name in ("x.json", "broken.json", "m.rle.json", "nope.json"):
        assert get_coco_reader(str(tmp_path / name)) is None
    assert get_coco_reader(42) is None


def test_annotations_open_over_their_image(tmp_path, viewer):
    out, lab = _dataset(tmp_path)
    assert get_coco_reader(str(out)) is read_coco_layers
    layers = viewer.open(out, plugin="napari-labelprep")
    assert [layer.name for layer in layers] == ["a", "a instances", "a classes"]
    image, instances, classes = layers
    assert image.rgb and image.data.shape == (40, 50, 3)
    # each object, as the file numbers them, has exactly its mask's pixels
    got = instances.data
    assert sorted(np.unique(got).tolist()) == [0, 1, 2]
    for k in (1, 2):
        values = np.unique(lab[got == k])
        assert values.size == 1 and values[0] != 0
        np.testing.assert_array_equal(got == k, lab == values[0])
    assert set(np.unique(classes.data).tolist()) == {0, 1}
    # the RLE reader still takes *.rle.json (this reader declines it)
    rle.save(tmp_path / "m.rle.json", rle.encode(lab))
    (mask_layer,) = viewer.open(tmp_path / "m.rle.json", plugin="napari-labelprep")
    np.testing.assert_array_equal(mask_layer.data, lab)
