"""Measurements in the Voxel index dock: intensity and shape statistics per object.

The Measure box takes an optional intensity layer (an Image layer of the stack's shape,
or with one more last axis of channels), the voxel size (the Labels layer's ``scale``,
shown and editable) and the properties to compute; :meth:`LabelIndex.measure` does the
work in the dock's worker. The columns join the object table and the layer's
``features`` on ``label``: other plugins' columns are kept and re-measuring replaces only
this dock's. "Physical units" makes the table and coordinate CSVs world coordinates
(``scale`` and ``translate`` applied), with the unit in each header.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
)

from ._common import LayerComboBox, layer_data

__all__ = ["MeasureActions", "MeasurePanel", "parse_spacing"]

CHOICES = ("area", "centroid", "extent", "equivalent_diameter_area", "intensity_mean",
           "intensity_min", "intensity_max", "intensity_sum", "intensity_std",
           "intensity_median", "centroid_weighted")
CHECKED = ("area", "intensity_mean", "intensity_min", "intensity_max", "intensity_sum",
           "intensity_std")


def parse_spacing(text: str, ndim: int) -> tuple[float, ...]:
    """Voxel size from "2, 0.5, 0.5" (commas or spaces): ``ndim`` positive numbers.

    >>> parse_spacing("2, 0.5 0.5", 3)
    (2.0, 0.5, 0.5)
    """
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"voxel size {text!r} is not a list of numbers") from None
    if len(values) != ndim:
        raise ValueError(f"voxel size needs {ndim} numbers (one per axis), got {len(values)}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"voxel size must be positive numbers, got {text!r}")
    return values


def join_measurements(table, frame):
    """``table`` with the columns of measurements ``frame`` (of the same labels) joined;
    ``table`` itself if ``frame`` is None or of other labels."""
    if frame is None or len(frame) != len(table):
        return table
    if not np.array_equal(frame["label"].to_numpy(), table["label"].to_numpy()):
        return table
    extra = frame.drop(columns=[c for c in frame.columns if c == "label" or c in table])
    return table.join(extra.reset_index(drop=True))


class MeasurePanel(QGroupBox):
    """Intensity layer, voxel size, properties, Measure, physical units in CSVs."""

    def __init__(self, viewer, parent=None):
        super().__init__("Measure", parent)
        form = QFormLayout(self)
        self.intensity_combo = LayerComboBox(viewer, ("image",), none_text="(none)")
        self.intensity_combo.setToolTip("Image layer of the stack's shape (or with channels "
                                        "last) whose intensities are measured per object")
        form.addRow("Intensity", self.intensity_combo)
        self.spacing_edit = QLineEdit()
        self.spacing_edit.setToolTip("Voxel size per axis (the Labels layer's scale): area "
                                     "and centroids are in these units, bbox in voxels")
        form.addRow("Voxel size", self.spacing_edit)
        self.properties_list = QListWidget()
        for name in CHOICES:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in CHECKED
                               else Qt.CheckState.Unchecked)
            self.properties_list.addItem(item)
        self.properties_list.setMaximumHeight(90)
        form.addRow(self.properties_list)
        self.measure_button = QPushButton("Measure")
        self.physical_check = QCheckBox("physical units in CSVs")
        self.physical_check.setToolTip("Table and coordinate CSVs in world units (scale and "
                                       "translate applied); the headers name the unit")
        form.addRow(self.measure_button, self.physical_check)

    def properties(self) -> list[str]:
        items = (self.properties_list.item(i) for i in range(self.properties_list.count()))
        return [it.text() for it in items if it.checkState() == Qt.CheckState.Checked]

    def set_properties(self, names) -> None:
        for i in range(self.properties_list.count()):
            item = self.properties_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names
                               else Qt.CheckState.Unchecked)


class MeasureActions:
    """Measurement methods of :class:`~.index_widget.VoxelIndexWidget` (a mixin)."""

    def _wire_measure(self) -> None:
        self.measure_panel.measure_button.clicked.connect(lambda: self.measure_objects())
        self.measure_columns: set[str] = set()  # the columns this dock measured

    def _show_spacing(self) -> None:
        layer = self.layer
        from .index_time import time_axis_of

        try:
            lead = 1 if (layer is not None and time_axis_of(layer) is not None) else 0
        except ValueError:  # a time axis not first: refused by layer_problem
            lead = 0
        text = "" if layer is None else ", ".join(f"{s:g}" for s in
                                                  np.asarray(layer.scale)[lead:])
        self.measure_panel.spacing_edit.setText(text)

    def measure_objects(self, image_layer=None, spacing=None, properties=None):
        """Measure every object (worker); the columns join the table and ``features``.

        Defaults: the panel's intensity layer, voxel size and checked properties
        (intensity properties are skipped without an image). Returns the worker or None.
        """
        idx, layer = self.index, self.layer
        if idx is None or layer is None:
            self.show_message("Build the index first.", error=True)
            return None
        panel = self.measure_panel
        image_layer = panel.intensity_combo.layer() if image_layer is None else image_layer
        try:
            spacing = parse_spacing(panel.spacing_edit.text(), idx.ndim) \
                if spacing is None else tuple(float(s) for s in spacing)
        except ValueError as exc:
            self.show_message(str(exc), error=True)
            return None
        names = list(panel.properties() if properties is None else properties)
        image = None
        if image_layer is not None:
            image = layer_data(image_layer)
            if self.frame_t is not None and image.ndim > idx.ndim:
                image = image[self.frame_t]  # the time point the dock works on
            shape = tuple(image.shape)
            if shape != tuple(idx.shape) and shape[:-1] != tuple(idx.shape):
                self.show_message(f"Intensity layer '{image_layer.name}' has shape {shape}, "
                                  f"the labels {tuple(idx.shape)}.", error=True)
                return None
        else:
            names = [n for n in names if not n.startswith(("intensity", "centroid_w"))]
        if not names:
            self.show_message("Pick at least one property (intensity ones need an image).",
                              error=True)
            return None

        def job(progress):
            data = None if image is None else np.asarray(image)
            return idx.measure(data, spacing=spacing, properties=names)

        def done(frame):
            if idx is not self.index:
                return
            self.state.measurements = frame
            self.measure_columns |= {c for c in frame.columns if c != "label"}
            self._show_table(idx, keep_view=True)
            what = f" of '{image_layer.name}'" if image_layer is not None else ""
            self.show_message(f"Measured {len(frame):,} objects{what}: "
                              f"{', '.join(names)}.")

        return self.tasks.start(job, on_done=done, label="Measuring", lock=layer)

    # ------------------------------------------------------- physical units
    def physical_units(self) -> bool:
        """Whether the CSV exports are in world units (the panel's checkbox)."""
        return self.measure_panel.physical_check.isChecked()

    def _units(self) -> list[str]:
        units = getattr(self.layer, "units", None) or ()
        names = [str(u) for u in units][self.layer.ndim - self.index.ndim:]
        return [("scale units" if u == "pixel" else u) for u in names] or \
            ["scale units"] * self.index.ndim

    def physical_table(self, frame):
        """The table with bbox and centroid columns in world units (headers say so)."""
        scale, translate = self.frame_transform()
        units = self._units()
        out = frame.copy()
        names = self.index.axis_names
        renames = {}
        for k, axis in enumerate(names):
            for column in (f"{axis}_start", f"{axis}_stop", f"centroid_{axis}"):
                if column in out:
                    out[column] = out[column].to_numpy(float) * scale[k] + translate[k]
                    renames[column] = f"{column} ({units[k]})"
        return out.rename(columns=renames)

    def write_physical_coords(self, idx, labels, path, progress) -> None:
        """Coordinates CSV in world units (``label,z (unit),y (unit),x (unit)``)."""
        import pandas as pd

        from labelprep.io import atomic_open

        scale, translate = self.frame_transform()
        header = ["label", *(f"{a} ({u})" for a, u in zip(idx.axis_names, self._units()))]
        with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
            fh.write(",".join(header) + "\n")
            for i, label in enumerate(np.asarray(labels).tolist()):
                coords = idx.coords(label) * scale + translate
                frame = pd.DataFrame(coords, columns=header[1:])
                frame.insert(0, "label", label)
                frame.to_csv(fh, index=False, header=False, float_format="%.6g")
                if progress is not None:
                    progress(i + 1, len(labels))
