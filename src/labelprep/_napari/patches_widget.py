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
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
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
from labelprep.io import atomic_open

from ._common import DockWidget, Failure, LayerComboBox, check_output, layer_data

NO_MASK = "(no mask)"
BORDER_CHOICES = {
    "valid (full patches only)": ("valid", "constant"),
    "pad with zeros": ("pad", "constant"),
    "pad by reflection": ("pad", "reflect"),
}
#: At most this many rectangles are drawn (napari needs ~0.3 ms each): 3D previews draw
#: one rectangle per patch per slice it spans, or only on its centre slice above this
#: limit; beyond it even so, only the first patches get a box (the message says so). The
#: coverage heatmap, the class table and the CSV always use every patch.
MAX_RECTANGLES = 20_000
TABLE_ROWS = 12
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


def _parse_weights(text: str) -> dict[int, float] | None:
    text = text.strip()
    if not text:
        return None
    try:
        pairs = [item.split("=") for item in text.replace(";", ",").split(",") if item.strip()]
        return {int(k): float(v) for k, v in pairs}
    except ValueError:
        raise ValueError(
            f"class weights must look like 0=1, 1=2 (class=weight, comma separated), got {text!r}"
        ) from None


class PatchSamplingWidget(DockWidget):
    """Dock widget previewing random patch sampling on an image layer (and its mask).

    ``progress`` and ``message`` are the progress bar and the message label
    (``progress_bar`` and ``message_label`` as in the other docks).
    """

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.origins: np.ndarray | None = None
        self.settings: dict | None = None
        self.export_path: str | os.PathLike | None = None
        self.centre_classes: np.ndarray | None = None
        self.requested_ratio: dict | None = None
        self.drawn_ratio: dict | None = None
        self.shapes_layer = None
        self.coverage_layer = None

        self.image_combo = LayerComboBox(
            self.viewer, ("image",), exclude=lambda: (self.coverage_layer,)
        )
        self.mask_combo = LayerComboBox(self.viewer, ("labels",), none_text=NO_MASK)
        self.size_spins = []
        size_row = QHBoxLayout()
        for axis in "zyx":
            spin = QSpinBox()
            spin.setRange(1, 4096)
            spin.setValue(16 if axis == "z" else 64)
            spin.setPrefix(f"{axis}: ")
            spin.setToolTip(f"patch size along {axis}")
            size_row.addWidget(spin)
            self.size_spins.append(spin)
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 1_000_000)
        self.n_spin.setValue(200)
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
        self.export_button.setEnabled(False)
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

        self.tasks = self.task_runner(progress_bar=self.progress_bar, on_change=self._update_state)
        self.sample_button.clicked.connect(self.sample)
        self.export_button.clicked.connect(self._export_clicked)
        self.image_combo.layer_changed.connect(self._image_changed)
        self.mode_combo.currentTextChanged.connect(self._mode_changed)
        self._image_changed(self.image_combo.layer())
        self._mode_changed(self.mode_combo.currentText())

    # ---------------------------------------------------------------- layers

    def _update_state(self) -> None:
        self.sample_button.setEnabled(not self.busy)

    def _spatial_ndim(self, layer) -> int:
        return layer.ndim  # for RGB(A) layers napari's ndim already excludes the colour axis

    def _image_changed(self, layer) -> None:
        three_d = layer is not None and self._spatial_ndim(layer) == 3
        self.size_spins[0].setVisible(three_d)

    def _mode_changed(self, mode: str) -> None:
        self.weights_edit.setEnabled(mode == "class_balanced")

    # ---------------------------------------------------------------- sampling

    def _settings(self) -> dict:
        """Read and check the inputs; raise ValueError with a message for the user."""
        image_layer = self.image_combo.layer()
        if image_layer is None:
            raise ValueError("add an image layer first (File > Open, or a sample)")
        nd = self._spatial_ndim(image_layer)
        if nd not in (2, 3):
            raise ValueError(f"image layer {image_layer.name!r} is {nd}D; only 2D and 3D "
                             f"images (RGB allowed) can be sampled")
        data = layer_data(image_layer)
        mask_layer = self.mask_combo.layer()
        mask = None
        if mask_layer is not None:
            mask = layer_data(mask_layer)
            if tuple(mask.shape) != tuple(data.shape[:nd]):
                raise ValueError(
                    f"mask {mask_layer.name!r} has shape {tuple(mask.shape)} but image "
                    f"{image_layer.name!r} has {tuple(data.shape[:nd])}; pick a matching mask"
                )
        mode = self.mode_combo.currentText()
        if mode != "uniform" and mask is None:
            raise ValueError(f'mode "{mode}" needs a mask: pick a Labels layer')
        weights = _parse_weights(self.weights_edit.text()) if mode == "class_balanced" else None
        border, pad_mode = BORDER_CHOICES[self.border_combo.currentText()]
        size = tuple(spin.value() for spin in self.size_spins[3 - nd :])
        return {
            "image_layer": image_layer, "mask_layer": mask_layer, "data": data, "mask": mask,
            "patch_size": size, "n": self.n_spin.value(), "mode": mode,
            "seed": self.seed_spin.value(), "border": border, "pad_mode": pad_mode,
            "class_weights": weights,
        }

    def sample(self) -> None:
        """Run the sampler with the current settings (in a worker thread)."""
        if self.busy:
            return
        try:
            settings = self._settings()
            sampler = patches.PatchSampler(
                [settings["data"]],
                None if settings["mask"] is None else [settings["mask"]],
                settings["patch_size"], cache_size=1, replace_every=max(settings["n"], 1),
                mode=settings["mode"], seed=settings["seed"], border=settings["border"],
                pad_mode=settings["pad_mode"], class_weights=settings["class_weights"],
                prefetch=False,
            )
        except (ValueError, TypeError) as exc:
            self.show_message(str(exc), error=True)
            return
        self.settings = settings
        self.tasks.start(
            _sample_and_build, sampler, settings["n"], self._build, self.tasks.say,
            label="Sampling", on_done=self._show, failed="",
            message=f"sampling {settings['n']} patches ...", progress_format="%p%",
        )

    # ---------------------------------------------------------------- results

    @staticmethod
    def _rectangles(corners: np.ndarray, size, shape):
        """Rectangle vertices (on pixel edges) and the patch of each; 3D: one per slice."""
        nd = len(size)
        note = ""
        index = np.arange(len(corners))
        if nd == 3:
            z0 = corners[:, 0]
            first = np.clip(z0, 0, shape[0] - 1)
            spans = np.clip(z0 + size[0] - 1, 0, shape[0] - 1) - first + 1
            if spans.sum() > MAX_RECTANGLES:
                first = np.clip(z0 + size[0] // 2, 0, shape[0] - 1)
                spans = np.ones_like(first)
                note = " Boxes are drawn on each patch's centre slice only."
            rep = np.repeat(index, spans)
            z = np.repeat(first, spans) + np.arange(rep.size) - np.repeat(
                np.cumsum(spans) - spans, spans)
        else:
            rep = index
        if rep.size > MAX_RECTANGLES:
            note += f" Only the first {MAX_RECTANGLES} boxes are drawn."
            rep = rep[:MAX_RECTANGLES]
            if nd == 3:
                z = z[:MAX_RECTANGLES]
        lo = corners[rep][:, -2:].astype(np.float64) - 0.5
        hi = lo + np.asarray(size[-2:], dtype=np.float64)
        verts = np.stack(
            [lo, np.stack([lo[:, 0], hi[:, 1]], 1), hi, np.stack([hi[:, 0], lo[:, 1]], 1)], axis=1
        )  # (m, 4, 2)
        if nd == 3:
            zcol = np.broadcast_to(z[:, None, None].astype(np.float64), (len(z), 4, 1))
            verts = np.concatenate([zcol, verts], axis=2)
        return verts, rep, note

    def _build(self, origins: np.ndarray) -> dict:
        """Everything to show, computed in the worker thread (incl. the Shapes layer)."""
        from napari.layers import Shapes

        s = self.settings
        image_layer, mask, size = s["image_layer"], s["mask"], s["patch_size"]
        nd = len(size)
        shape = tuple(s["data"].shape[:nd])
        corners = origins[:, 1:]
        centre = None
        if mask is not None:
            mask = np.asarray(mask)
            centre = patches.centre_values(mask, corners, size, s["pad_mode"])
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
        table = None
        if centre is not None:
            table = patches.expected_centre_classes(
                mask, size, s["mode"], s["border"], s["class_weights"]
            )
        return {
            "origins": origins, "centre": centre, "shapes": shapes, "note": note,
            "coverage": patches.coverage(shape, corners, size), "transform": transform,
            "table": table,
        }

    def _show(self, result: dict) -> None:
        s = self.settings
        image_layer = s["image_layer"]
        self.origins = result["origins"]
        self.centre_classes = result["centre"]
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
        self._fill_table(result["centre"], result["table"])
        size = s["patch_size"]
        self.show_message(
            f"{len(self.origins)} patches of {' x '.join(map(str, size))} ({s['mode']}, seed "
            f"{s['seed']}); they cover {100 * (cov > 0).mean():.1f}% of the image, at most "
            f"{int(cov.max(initial=0))} times.{result['note']}"
        )
        self.export_button.setEnabled(True)

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

    def _fill_table(self, centre, expected) -> None:
        self.table.setRowCount(0)
        self.requested_ratio = self.drawn_ratio = None
        if centre is None:
            return
        classes, wanted = expected
        drawn_classes, drawn_counts = np.unique(centre, return_counts=True)
        drawn = dict(zip(drawn_classes.tolist(), (drawn_counts / len(centre)).tolist()))
        requested = dict(zip(classes.tolist(), wanted.tolist()))
        rows = sorted(set(requested) | set(drawn))
        shown, rest = rows[:TABLE_ROWS], rows[TABLE_ROWS:]
        values = [(str(c), requested.get(c, 0.0), drawn.get(c, 0.0)) for c in shown]
        if rest:
            values.append((f"{len(rest)} more", sum(requested.get(c, 0.0) for c in rest),
                           sum(drawn.get(c, 0.0) for c in rest)))
        self.table.setRowCount(len(values))
        for r, (label, want, got) in enumerate(values):
            for col, text in enumerate((label, f"{100 * want:.1f}", f"{100 * got:.1f}")):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, col, item)
        self.requested_ratio, self.drawn_ratio = requested, drawn

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
        if self.origins is None:
            self.show_message("nothing to export yet: press Sample first", error=True)
            return None
        s = self.settings
        size = s["patch_size"]
        axes = "zyx"[3 - len(size) :]
        corners = self.origins[:, 1:]
        centre = self.centre_classes
        header = ["patch", "source", *axes, *(f"size_{a}" for a in axes)]
        if centre is not None:
            header.append("centre_class")
        path = check_output(self, path, s["image_layer"], s.get("mask_layer"),
                            what="export to", create_folder=True)
        if path is None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                for k, corner in enumerate(corners.tolist()):
                    row = [k, s["image_layer"].name, *corner, *size]
                    if centre is not None:
                        row.append(int(centre[k]))
                    writer.writerow(row)
        except OSError as exc:
            self.show_message(f"could not write {path}: {exc}", error=True)
            return None
        self.show_message(f"wrote {len(corners)} patch origins to {path}")
        return path
