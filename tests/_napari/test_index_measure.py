"""Measurements in the Voxel index dock, in a real viewer: intensity layer, the layer's
scale as voxel size, columns joined to the table and features, physical-unit CSVs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelprep._napari.index_widget import VoxelIndexWidget

from .test_index_widget import wait_idle


def make(viewer, qtbot, small, **kwargs):
    image, labels = small
    viewer.add_image(image, name="cells image", **kwargs)
    layer = viewer.add_labels(labels, name="cells labels", **kwargs)
    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.build_index()
    wait_idle(qtbot, widget)
    return widget, layer, image, labels


def test_measure_with_intensity_and_scale_joins_table_and_features(viewer, qtbot, small):
    widget, layer, image, labels = make(viewer, qtbot, small, scale=(2.0, 0.5, 0.5))
    ids = np.unique(labels[labels != 0])
    layer.features = layer.features.assign(cluster=np.arange(len(layer.features)))  # foreign
    assert widget.measure_panel.spacing_edit.text() == "2, 0.5, 0.5"
    assert widget.measure_panel.intensity_combo.layer().name == "cells image"
    widget.measure_panel.set_properties(["area", "intensity_mean", "intensity_max"])
    widget.measure_objects()
    wait_idle(qtbot, widget)
    expected = widget.index.measure(image, spacing=(2.0, 0.5, 0.5),
                                    properties=["area", "intensity_mean", "intensity_max"])
    table = widget.model.frame
    for column in ("area", "intensity_mean", "intensity_max"):
        np.testing.assert_allclose(table[column], expected[column])
    features = layer.features.set_index("label")
    np.testing.assert_allclose(features.loc[ids, "intensity_mean"], expected["intensity_mean"])
    assert "cluster" in features  # another plugin's column kept
    # re-measuring replaces only this dock's columns
    widget.measure_panel.set_properties(["extent"])
    widget.measure_objects()
    wait_idle(qtbot, widget)
    features = layer.features
    assert "extent" in features and "intensity_mean" not in features and "cluster" in features
    assert "extent" in widget.model.columns and "area" not in widget.model.columns


def test_bad_voxel_size_and_image_shape_are_refused(viewer, qtbot, small):
    widget, layer, image, labels = make(viewer, qtbot, small)
    widget.measure_panel.spacing_edit.setText("1, x, 1")
    assert widget.measure_objects() is None
    assert "not a list of numbers" in widget.message_label.text()
    widget.measure_panel.spacing_edit.setText("1 1")
    assert widget.measure_objects() is None and "3 numbers" in widget.message_label.text()
    widget.measure_panel.spacing_edit.setText("1 1 1")
    other = viewer.add_image(image[:, :10], name="crop")
    assert widget.measure_objects(image_layer=other) is None
    assert "has shape" in widget.message_label.text()


def test_physical_unit_csvs(viewer, qtbot, small, tmp_path):
    widget, layer, image, labels = make(viewer, qtbot, small, scale=(2.0, 0.5, 0.25))
    layer.translate = (10.0, 0.0, 0.0)
    layer.units = ("um", "um", "um")
    widget.measure_panel.physical_check.setChecked(True)
    out = tmp_path / "table.csv"
    widget.export_table_csv(out, scope="all")
    wait_idle(qtbot, widget)
    df = pd.read_csv(out)
    assert "centroid_z (micrometer)" in df.columns and "x_start (micrometer)" in df.columns
    plain = widget.index.table()
    np.testing.assert_allclose(df["centroid_z (micrometer)"], plain["centroid_z"] * 2 + 10)
    np.testing.assert_allclose(df["x_stop (micrometer)"], plain["x_stop"] * 0.25)
    L = int(plain["label"][3])
    widget.state.set_selection([L])
    coords = tmp_path / "coords.csv"
    widget.export_coords_csv(coords, scope="selected")
    wait_idle(qtbot, widget)
    got = pd.read_csv(coords)
    assert list(got.columns) == ["label", "z (micrometer)", "y (micrometer)", "x (micrometer)"]
    want = np.argwhere(labels == L) * [2.0, 0.5, 0.25] + [10.0, 0, 0]
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(), want, rtol=1e-5)
    assert (got["label"] == L).all()
