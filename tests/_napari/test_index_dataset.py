"""Dataset exports of the Voxel index dock in a real viewer (crops, COCO, objects layer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelprep._napari.index_widget import VoxelIndexWidget


def _widget(viewer, qtbot, labels, image=None):
    if image is not None:
        viewer.add_image(image, name="image")
    layer = viewer.add_labels(labels, name="cells", scale=(2, 1, 1), translate=(5, 0, 0))
    widget = VoxelIndexWidget(viewer)
    qtbot.addWidget(widget)
    widget.build_index()
    qtbot.waitUntil(lambda: not widget.busy, timeout=20000)
    return widget, layer


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.busy, timeout=20000)


def test_crops_equal_numpy_slicing_of_image_and_mask(viewer, qtbot, cells, tmp_path):
    image, labels = cells
    widget, layer = _widget(viewer, qtbot, labels, image)
    chosen = np.unique(labels[labels != 0])[:5]
    widget.export_crops(tmp_path / "crops", "all", pad=1)
    _wait(qtbot, widget)
    manifest = pd.read_csv(tmp_path / "crops" / "crops.csv")
    assert len(manifest) == len(widget.index)
    for L in chosen:
        box = widget.index.bbox(int(L))
        cut = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                    for s, n in zip(box, labels.shape, strict=True))
        row = manifest[manifest["label"] == L].iloc[0]
        got_image = tifffile.imread(tmp_path / "crops" / row["image_file"])
        got_mask = tifffile.imread(tmp_path / "crops" / row["mask_file"])
        np.testing.assert_array_equal(got_image, image[cut])
        np.testing.assert_array_equal(got_mask.astype(bool), labels[cut] == L)
    assert "Wrote" in widget.message_label.text()


def test_coco_of_the_selected_objects_loads_in_pycocotools(viewer, qtbot, photo, tmp_path):
    coco_api = pytest.importorskip("pycocotools.coco")
    from pycocotools import mask as mask_utils

    _, mask = photo
    labels = np.zeros(mask.shape, np.uint16)
    labels[mask == 1] = 1
    labels[mask == 2] = 7
    layer = viewer.add_labels(labels, name="photo")
    widget = VoxelIndexWidget(viewer)
    qtbot.addWidget(widget)
    widget.build_index()
    _wait(qtbot, widget)
    layer.selected_label = 7  # no table rows selected: the layer's selected label
    out = tmp_path / "ann.json"
    widget.export_coco(out, "selected")
    _wait(qtbot, widget)
    api = coco_api.COCO(str(out))
    (ann,) = api.loadAnns(api.getAnnIds())
    np.testing.assert_array_equal(mask_utils.decode(ann["segmentation"]).astype(bool),
                                  labels == 7)
    assert widget.export_coco(tmp_path / "ann.txt", "all") is None  # refused up front
    assert "must end with .json" in widget.message_label.text()


def test_objects_to_a_new_layer_keep_scale_and_translate(viewer, qtbot, cells):
    _, labels = cells
    widget, layer = _widget(viewer, qtbot, labels)
    first = int(np.unique(labels[labels != 0])[0])
    widget.select_label(first)
    new = widget.objects_to_layer("selected")
    assert new.name == "cells objects"
    np.testing.assert_array_equal(new.data, np.where(labels == first, labels, 0))
    np.testing.assert_array_equal(new.scale, layer.scale)
    np.testing.assert_array_equal(new.translate, layer.translate)
    assert widget.layer is layer and widget.index is not None  # the dock kept its work
