"""The "Patch sampling" dock widget: preview where a PatchSampler would cut its patches.

Pick an image layer (and optionally a Labels mask), a patch size, a number of patches, a
mode, a seed and a border policy; "Sample" runs :class:`labelprep.patches.PatchSampler`
on the layer data in a worker thread and shows

- the patch outlines as a Shapes layer of rectangles over the image (3D: one rectangle
  on every slice a patch spans, so scrolling through z shows the boxes cutting that slice);
- a coverage heatmap Image layer (how many patches cover each pixel, additive blending);
- a table of the classes at the patch centres: the fraction actually drawn vs the fraction
  requested (what the mode aims for, :func:`labelprep.patches.expected_centre_classes`).

"Export origins..." writes one CSV row per patch. The same seed gives the same boxes.

The dock is a thin view over :class:`~._napari.patches_model.PatchesDockModel`, which
holds the settings and the last sample (checks, sampler arguments, class table, CSV).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from qtpy.QtCore import QSignalBlocker, Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from labelprep import patches

from ._common import DockWidget, Failure, LayerComboBox, check_output, layer_data
from .patches_model import BORDER_CHOICES, TABLE_ROWS, PatchesDockModel, rectangles
from .patches_model import parse_weights as _parse_weights

__all__ = ["BORDER_CHOICES", "MAX_RECTANGLES", "NO_MASK", "TABLE_ROWS", "PatchSamplingWidget",
           "_parse_weights"]

NO_MASK = "(no mask)"
#: At most this many rectangles are drawn (napari needs ~0.3 ms each): 3D previews draw
#: one rectangle per patch per slice it spans, or only on its centre slice above this
#: limit; beyond it even so, only the first patches get a box (the message says so). The
#: coverage heatmap, the class table and the CSV always use every patch.
MAX_RECTANGLES = 20_000
CHUNK = 5_000


def _sample_and_build(sampler: patches.PatchSampler, n: int, build, say, progress):
    """Worker body: draw ``n`` origins in chunks (with progress), then ``build(origins)``.

    A mode the data cannot follow comes back as a :class:`Failure` message; ``say(text)``
    shows a status message in the dock.
    """
    out = []
    done = 0
    progress(0, n)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            while done < n:
                m = min(CHUNK, n - done)
                out.append(sampler.sample_origins(m))
                done += m
                progress(done, n)
        if sampler.stats.fallback_patches:
            why = str(caught[0].message).split(":")[0] if caught else "mode not applicable"
            hint = " (try border: pad)" if sampler.border == "valid" else ""
            return Failure(f'mode "{sampler.mode}" cannot be followed: {why}{hint}')
        origins = np.concatenate(out) if out else np.empty((0, 1 + sampler.ndim), np.int64)
    finally:
        sampler.close()
    say("drawing the boxes ...")
    return build(origins)


def _model_attribute(name: str, doc: str) -> property:
    """A widget attribute that is the model's (kept for the tests and scripts)."""
    return property(lambda self: getattr(self.model, name),
                    lambda self, value: setattr(self.model, name, value), doc=doc)


class PatchSamplingWidget(DockWidget):
    """Dock widget previewing random patch sampling on an image layer (and its mask).

    ``model`` (:class:`PatchesDockModel`) holds the state; ``origins``, ``settings``,
    ``export_path``, ``centre_classes``, ``requested_ratio`` and ``drawn_ratio`` are its.
    ``progress`` and ``message`` are the progress bar and the message label
    (``progress_bar`` and ``message_label`` as in the other docks).
    """

    origins = _model_attribute("origins", "The last sampled origins (source, corner...).")
    settings = _model_attribute("settings", "The settings of the last sample.")
    export_path = _model_attribute("export_path", "Export here without asking (if set).")
    centre_classes = _model_attribute("centre_classes", "The class at each patch centre.")
    requested_ratio = _model_attribute("requested_ratio", "class -> fraction the mode aims for")
    drawn_ratio = _model_attribute("drawn_ratio", "class -> fraction of the patches drawn")

    def __init__(self, napari_viewer, parent=None, model: PatchesDockModel | None = None):
        super().__init__(napari_viewer, parent)
        self.model = model = PatchesDockModel() if model is None else model
        self.shapes_layer = None
        self.coverage_layer = None

        self.image_combo = LayerComboBox(
            self.viewer, ("image",), exclude=lambda: (self.coverage_layer,)
        )
        self.mask_combo = LayerComboBox(self.viewer, ("labels",), none_text=NO_MASK)
        self.size_spins = []
        size_row = QHBoxLayout()
        for axis, name in enumerate("zyx"):
            spin = QSpinBox()
            spin.setRange(1, 4096)
            spin.setPrefix(f"{name}: ")
            spin.setToolTip(f"patch size along {name}")
            spin.valueChanged.connect(lambda v, axis=axis: model.set_patch_axis(axis, v))
            size_row.addWidget(spin)
            self.size_spins.append(spin)
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 1_000_000)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(patches.MODES)
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("e.g. 0=0, 1=1, 2=3 (empty: all equal)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.border_combo = QComboBox()
        self.border_combo.addItems(BORDER_CHOICES)
        self.sample_button = QPushButton("Sample")
        self.export_button = QPushButton("Export origins...")
        self.progress_bar = self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = self.message_label
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["class", "requested %", "drawn %"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("mask", self.mask_combo)
        form.addRow("patch size", size_row)
        form.addRow("patches", self.n_spin)
        form.addRow("mode", self.mode_combo)
        form.addRow("class weights", self.weights_edit)
        form.addRow("seed", self.seed_spin)
        form.addRow("border", self.border_combo)
        layout = QVBoxLayout(self.scroll_body())
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sample_button)
        buttons.addWidget(self.export_button)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.table)

        for name in ("patch_size", "n", "mode", "weights_text", "seed", "border"):
            self._sync_control(name)
        self._ndim_changed(model.image_ndim)
        self._result_changed()
        self.n_spin.valueChanged.connect(lambda v: model.update(n=v))
        self.mode_combo.currentTextChanged.connect(lambda t: model.update(mode=t))
        self.weights_edit.textChanged.connect(lambda t: model.update(weights_text=t))
        self.seed_spin.valueChanged.connect(lambda v: model.update(seed=v))
        self.border_combo.currentTextChanged.connect(lambda t: model.update(border=t))
        model.settings_changed.connect(self._sync_control)
        model.ndim_changed.connect(self._ndim_changed)
        model.result_changed.connect(self._result_changed)

        self.tasks = self.task_runner(progress_bar=self.progress_bar, on_change=self._update_state)
        self.sample_button.clicked.connect(self.sample)
        self.export_button.clicked.connect(self._export_clicked)
        self.image_combo.layer_changed.connect(self._image_changed)
        self._image_changed(self.image_combo.layer())

    def cleanup(self) -> None:
        for signal, slot in ((self.model.settings_changed, self._sync_control),
                             (self.model.ndim_changed, self._ndim_changed),
                             (self.model.result_changed, self._result_changed)):
            signal.disconnect(slot)
        super().cleanup()

    # ---------------------------------------------------------------- model -> view

    def _sync_control(self, name: str) -> None:
        """Show the model's setting ``name`` in its control (without echoing it back)."""
        m = self.model
        if name == "patch_size":
            for spin, value in zip(self.size_spins, m.patch_size):
                with QSignalBlocker(spin):
                    spin.setValue(value)
            return
        control, show = {
            "n": (self.n_spin, lambda: self.n_spin.setValue(m.n)),
            "seed": (self.seed_spin, lambda: self.seed_spin.setValue(m.seed)),
            "mode": (self.mode_combo, lambda: self.mode_combo.setCurrentText(m.mode)),
            "border": (self.border_combo, lambda: self.border_combo.setCurrentText(m.border)),
            "weights_text": (self.weights_edit, lambda: (
                None if self.weights_edit.text() == m.weights_text
                else self.weights_edit.setText(m.weights_text))),
        }[name]
        with QSignalBlocker(control):
            show()
        self.weights_edit.setEnabled(m.weights_enabled)

    def _ndim_changed(self, ndim: int) -> None:
        self.size_spins[0].setVisible(ndim == 3)

    def _result_changed(self) -> None:
        self.export_button.setEnabled(self.model.has_result)
        self._fill_table()

    def _update_state(self) -> None:
        self.sample_button.setEnabled(not self.busy)

    # ---------------------------------------------------------------- layers

    def _spatial_ndim(self, layer) -> int:
        return layer.ndim  # for RGB(A) layers napari's ndim already excludes the colour axis

    def _image_changed(self, layer) -> None:
        self.model.set_image_ndim(0 if layer is None else self._spatial_ndim(layer))

    # ---------------------------------------------------------------- sampling

    def _settings(self) -> dict:
        """Read and check the inputs; raise ValueError with a message for the user."""
        image_layer = self.image_combo.layer()
        mask_layer = self.mask_combo.layer()
        if image_layer is None:
            return self.model.resolve(None)
        nd = self._spatial_ndim(image_layer)
        data = layer_data(image_layer) if nd in (2, 3) else None
        mask = None if mask_layer is None or data is None else layer_data(mask_layer)
        settings = self.model.resolve(image_layer.name, data, nd,
                                      None if mask_layer is None else mask_layer.name, mask)
        settings.update(image_layer=image_layer, mask_layer=mask_layer)
        return settings

    def sample(self) -> None:
        """Run the sampler with the current settings (in a worker thread)."""
        if self.busy:
            return
        try:
            settings = self._settings()
            sampler = self.model.make_sampler(settings)
        except (ValueError, TypeError) as exc:
            self.show_message(str(exc), error=True)
            return
        self.tasks.start(
            _sample_and_build, sampler, settings["n"], lambda o: self._build(o, settings),
            self.tasks.say, label="Sampling", on_done=self._show, failed="",
            message=f"sampling {settings['n']} patches ...", progress_format="%p%",
        )

    # ---------------------------------------------------------------- results

    @staticmethod
    def _rectangles(corners: np.ndarray, size, shape):
        """Rectangle vertices (on pixel edges) and the patch of each; 3D: one per slice."""
        return rectangles(corners, size, shape, MAX_RECTANGLES)

    def _build(self, origins: np.ndarray, s: dict) -> dict:
        """Everything to show, computed in the worker thread (incl. the Shapes layer)."""
        from napari.layers import Shapes

        image_layer, mask, size = s["image_layer"], s["mask"], s["patch_size"]
        nd = len(size)
        shape = tuple(s["data"].shape[:nd])
        corners = origins[:, 1:]
        centre = table = None
        if mask is not None:
            mask = np.asarray(mask)
            centre = patches.centre_values(mask, corners, size, s["pad_mode"])
            table = patches.expected_centre_classes(
                mask, size, s["mode"], s["border"], s["class_weights"]
            )
        verts, rep, note = self._rectangles(corners, size, shape)
        features = {"patch": rep}
        if centre is not None:
            features["centre_class"] = centre[rep]
        transform = {"scale": image_layer.scale[-nd:], "translate": image_layer.translate[-nd:]}
        shapes = Shapes(
            list(verts), ndim=nd, shape_type="rectangle", face_color="transparent",
            edge_color=self._edge_colours(s["mask_layer"], None if centre is None
                                          else centre[rep]),
            edge_width=max(1.0, min(size[-2:]) / 32), features=features,
            name=f"{image_layer.name} patches", **transform,
        )
        return {
            "settings": s, "origins": origins, "centre": centre, "shapes": shapes, "note": note,
            "coverage": patches.coverage(shape, corners, size), "transform": transform,
            "table": table,
        }

    def _show(self, result: dict) -> None:
        s = result["settings"]
        image_layer = s["image_layer"]
        if self.shapes_layer is not None and self.shapes_layer in self.viewer.layers:
            self.viewer.layers.remove(self.shapes_layer)
        cov = result["coverage"]
        limits = (0, max(int(cov.max(initial=0)), 1))
        if self.coverage_layer is not None and self.coverage_layer in self.viewer.layers:
            self.coverage_layer.data = cov
            self.coverage_layer.contrast_limits = limits
        else:
            self.coverage_layer = self.viewer.add_image(
                cov, name=f"{image_layer.name} patch coverage", colormap="inferno",
                blending="additive", opacity=0.6, contrast_limits=limits,
                **result["transform"],
            )
        self.shapes_layer = self.viewer.add_layer(result["shapes"])  # on top of the heatmap
        self.image_combo.refresh()  # the heatmap is not an input
        self.model.set_result(s, result["origins"], result["centre"], result["table"])
        self.show_message(self.model.summary(cov, result["note"]))

    @staticmethod
    def _edge_colours(mask_layer, classes):
        """Each box in its centre class's Labels colour (yellow for background/no mask)."""
        if classes is None or mask_layer is None or len(classes) == 0:
            return "yellow"
        lut = {}
        for c in np.unique(classes).tolist():
            colour = mask_layer.get_color(c) if c != 0 else None
            lut[c] = (1.0, 1.0, 0.0, 1.0) if colour is None else tuple(np.asarray(colour)[:4])
        return np.array([lut[c] for c in classes.tolist()])

    def _fill_table(self) -> None:
        rows = self.model.table_rows
        self.table.setRowCount(len(rows))
        for r, (label, want, got) in enumerate(rows):
            for col, text in enumerate((label, f"{100 * want:.1f}", f"{100 * got:.1f}")):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, col, item)

    # ---------------------------------------------------------------- export

    def _export_clicked(self) -> None:
        path = self.export_path
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export patch origins", "patch_origins.csv", "CSV files (*.csv)"
            )
            if not path:
                return
        self.export_origins(path)

    def export_origins(self, path: str | os.PathLike) -> Path | None:
        """Write the last sampled patches to CSV: patch, source, corner, size, centre class."""
        if not self.model.has_result:
            self.show_message("nothing to export yet: press Sample first", error=True)
            return None
        s = self.settings
        path = check_output(self, path, s["image_layer"], s.get("mask_layer"),
                            what="export to", create_folder=True)
        if path is None:
            return None
        try:
            path = self.model.write_csv(path, s["image_layer"].name)
        except OSError as exc:
            self.show_message(f"could not write {path}: {exc}", error=True)
            return None
        self.show_message(f"wrote {len(self.origins)} patch origins to {path}")
        return path
