"""The "Presize preview" dock widget: see what presizing does, then run it on a folder.

A thin shell over :mod:`labelprep.presize`:

- **Preview**: pick an Image layer (2D greyscale or RGB) and optionally a Labels layer of
  the same shape, a size (``160``, or ``120 160`` for height and width) and the mask
  method. The presized image and mask are added as layers whose ``scale`` and
  ``translate`` make them sit exactly on the originals (output pixel centres on the
  input positions they were sampled from), with the output shape and the "label loss":
  labels present in the mask that vanish after resizing.
- **Presize folder**: source, destination and optional masks folders (typed, or picked
  with "..."), workers and overwrite; "Presize folder..." runs :func:`presize.folder` in
  a worker thread (whose parallel workers are threads for JPEG/PNG, processes for
  TIFF/.npy) with a progress bar, and shows the
  report (written / skipped / failed with reasons, time). "Cancel" stops after the files
  being written (outputs are atomic: no partial file).

Bad input (no layer, a 3D layer, a mask of another shape, ``dst`` inside ``src``...) is
shown as a message in the widget (and a napari notification); nothing is written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ._common import DockWidget, Failure, LayerComboBox, layer_data, layer_kind, unwrap

__all__ = ["PresizeWidget", "overlay_transform", "parse_size"]

_NO_MASK = "(no mask)"


class _Cancelled(Exception):
    """Raised from the progress callback to stop a folder run."""


@dataclass
class _Preview:
    image: np.ndarray
    mask: np.ndarray | None
    in_shape: tuple[int, int]
    out_shape: tuple[int, int]
    lost: np.ndarray | None
    n_labels: int


def parse_size(text: str) -> int | tuple[int, int]:
    """``"160"`` -> 160, ``"120 160"`` / ``"120x160"`` / ``"120,160"`` -> (120, 160)."""
    parts = [p for p in re.split(r"[\sx,×*]+", text.strip().lower()) if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values, default=0) < 1:
        raise ValueError(
            f"size must be one positive number (shorter side) or two (height width), got {text!r}"
        )
    return values[0] if len(values) == 1 else (values[0], values[1])


def overlay_transform(layer, in_shape, out_shape) -> tuple[np.ndarray, np.ndarray]:
    """``scale`` and ``translate`` that put a presized copy exactly over ``layer``.

    Output pixel i samples input position ``(i + 0.5) * f - 0.5`` (f = in / out, pixel
    centres at integer coordinates, as in napari), so the copy has scale ``s * f`` and is
    shifted by ``s * (f - 1) / 2`` in world units.
    """
    f = np.asarray(in_shape, float) / np.asarray(out_shape, float)
    scale = np.asarray(layer.scale, float)[-2:]
    translate = np.asarray(layer.translate, float)[-2:]
    return scale * f, translate + scale * (f - 1) / 2


def _image_problem(layer) -> str | None:
    if layer is None:
        return ("No image layer: add a 2D image (e.g. File > Open Sample > Label Prep > "
                "Photo with multi-class mask (2D)).")
    kind = layer_kind(layer)
    if kind != "image":
        return (f"Layer '{layer.name}' is a {kind or type(layer).__name__} layer: pick an "
                "Image layer.")
    if layer.ndim != 2:
        return (
            f"Layer '{layer.name}' is {layer.ndim}D: presizing works on 2D images (greyscale "
            "or RGB), e.g. one slice added as its own layer."
        )
    return None


def _mask_problem(layer, image_shape) -> str | None:
    if layer is None:
        return None
    kind = layer_kind(layer)
    if kind != "labels":
        return (f"Layer '{layer.name}' is a {kind or type(layer).__name__} layer: pick a "
                "Labels layer as mask.")
    data = layer_data(layer)
    if tuple(data.shape) != tuple(image_shape):
        return (
            f"Mask '{layer.name}' has shape {tuple(data.shape)} but the image is "
            f"{tuple(image_shape)}: they must match pixel for pixel."
        )
    return None


def _folder_label(edit: QLineEdit, browse: QPushButton) -> QWidget:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    lay.addWidget(browse)
    return row


class PresizeWidget(DockWidget):
    """Dock widget: preview presizing on layers, and presize whole folders.

    Attributes (for scripting and tests)
    ------------------------------------
    image_combo, mask_combo : QComboBox
        The Image layer and the optional Labels layer (``"(no mask)"``).
    size_edit : QLineEdit
        ``"160"`` (shorter side) or ``"120 160"`` (height, width).
    method_combo : QComboBox ("nearest", "mode");  upscale_check : QCheckBox
    preview_button : QPushButton;  preview_worker : running preview worker or None
    shape_label, loss_label : QLabel
        Output shape; label loss (count and ids of labels that vanish).
    image_result, mask_result : the preview layers (or None)
    lost_labels : ndarray or None, the ids lost in the last preview
    src_edit, dst_edit, masks_edit, masks_out_edit : QLineEdit (folder paths)
    workers_spin : QSpinBox;  overwrite_check : QCheckBox
    run_button, cancel_button : QPushButton;  folder_worker : running run or None
    progress_bar : QProgressBar;  report_label : QLabel;  failures_text : QPlainTextEdit
    report : the last :class:`labelprep.presize.FolderReport` or None
    message_label : QLabel, the last message (errors in red)
    """

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.image_result = None
        self.mask_result = None
        self.lost_labels = None
        self.report = None
        self._cancel = False

        layout = QVBoxLayout(self.scroll_body())

        # ---- preview
        box = QGroupBox("Preview on layers")
        form = QFormLayout(box)
        self.image_combo = LayerComboBox(self.viewer, ("image",), exclude=self._results)
        self.mask_combo = LayerComboBox(
            self.viewer, ("labels",), none_text=_NO_MASK, exclude=self._results
        )
        self.size_edit = QLineEdit("160")
        self.size_edit.setToolTip(
            "160: shorter side 160 (aspect kept).\n120 160: height >= 120 and width >= 160."
        )
        self.method_combo = QComboBox()
        self.method_combo.addItems(["nearest", "mode"])
        self.method_combo.setToolTip(
            "Masks are never interpolated. nearest: the pixel at each output cell's centre; "
            "mode: the majority label of the block."
        )
        self.upscale_check = QCheckBox("enlarge smaller images too")
        self.preview_button = QPushButton("Preview")
        self.shape_label = QLabel("Output: -")
        self.loss_label = QLabel("Label loss: -")
        self.loss_label.setWordWrap(True)
        form.addRow("Image", self.image_combo)
        form.addRow("Mask", self.mask_combo)
        form.addRow("Size", self.size_edit)
        form.addRow("Mask method", self.method_combo)
        form.addRow("", self.upscale_check)
        form.addRow(self.preview_button)
        form.addRow(self.shape_label)
        form.addRow(self.loss_label)
        layout.addWidget(box)

        # ---- folder
        fbox = QGroupBox("Presize folder")
        fform = QFormLayout(fbox)
        self.src_edit = QLineEdit()
        self.dst_edit = QLineEdit()
        self.masks_edit = QLineEdit()
        self.masks_out_edit = QLineEdit()
        self.src_edit.setPlaceholderText("folder of images")
        self.dst_edit.setPlaceholderText("output folder (not inside the source)")
        self.masks_edit.setPlaceholderText("optional: masks with the same relative paths")
        self.masks_out_edit.setPlaceholderText("output folder for the masks")
        for label, edit in (("Source", self.src_edit), ("Destination", self.dst_edit),
                            ("Masks", self.masks_edit), ("Masks out", self.masks_out_edit)):
            browse = QPushButton("...")
            browse.setMaximumWidth(32)
            browse.clicked.connect(lambda _=False, e=edit, t=label: self._browse(e, t))
            fform.addRow(label, _folder_label(edit, browse))
        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(1, max(1, os.cpu_count() or 1) * 4)
        self.workers_spin.setValue(os.cpu_count() or 1)
        self.overwrite_check = QCheckBox("redo outputs that are up to date")
        fform.addRow("Workers", self.workers_spin)
        fform.addRow("", self.overwrite_check)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Presize folder...")
        self.cancel_button = QPushButton("Cancel")
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        fform.addRow(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        fform.addRow(self.progress_bar)
        self.report_label = QLabel("")
        self.report_label.setWordWrap(True)
        fform.addRow(self.report_label)
        self.failures_text = QPlainTextEdit()
        self.failures_text.setReadOnly(True)
        self.failures_text.setMaximumHeight(90)
        self.failures_text.setVisible(False)
        fform.addRow(self.failures_text)
        layout.addWidget(fbox)

        layout.addWidget(self.message_label)
        layout.addStretch(1)

        self._preview_task = self.task_runner(
            busy_message="A preview is already running.", on_change=self._update_state
        )
        self._folder_task = self.task_runner(
            progress_bar=self.progress_bar,
            busy_message="A folder run is already going on.",
            on_change=self._update_state,
        )
        self.preview_button.clicked.connect(lambda: self.preview())
        self.run_button.clicked.connect(lambda: self.run_folder())
        self.cancel_button.clicked.connect(self.cancel)
        self._update_state()

    # ------------------------------------------------------------------ helpers
    @property
    def preview_worker(self):
        """The running preview worker, or None."""
        return self._preview_task.worker

    @property
    def folder_worker(self):
        """The running folder run, or None."""
        return self._folder_task.worker

    def _results(self):
        """The preview layers: not offered as inputs."""
        return self.image_result, self.mask_result

    def _update_state(self) -> None:
        folder_busy = self._folder_task.busy
        self.preview_button.setEnabled(not self._preview_task.busy)
        self.run_button.setEnabled(not folder_busy)
        self.cancel_button.setEnabled(folder_busy and not self._cancel)

    def _browse(self, edit: QLineEdit, title: str) -> None:  # pragma: no cover - dialog
        path = QFileDialog.getExistingDirectory(self, f"{title} folder", edit.text() or "")
        if path:
            edit.setText(path)

    def _settings(self):
        """(size, method, upscale) from the form; raises ValueError with a message."""
        return parse_size(self.size_edit.text()), self.method_combo.currentText(), (
            self.upscale_check.isChecked()
        )

    # ------------------------------------------------------------------ preview
    def preview(self, image_layer=None, mask_layer=None):
        """Presize the chosen layers in a worker; returns the worker (or None on bad input).

        ``image_layer`` / ``mask_layer`` default to the combo boxes' choices.
        """
        from labelprep import presize

        if self._preview_task.refuse_if_busy():
            return None
        image_layer = unwrap(image_layer) if image_layer is not None else self.image_combo.layer()
        mask_layer = unwrap(mask_layer) if mask_layer is not None else self.mask_combo.layer()
        problem = _image_problem(image_layer)
        if problem is None:
            img = np.asarray(layer_data(image_layer))
            problem = _mask_problem(mask_layer, img.shape[:2])
        if problem is None:
            try:
                size, method, upscale = self._settings()
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            self.show_message(problem, error=True)
            return None
        mask_data = None if mask_layer is None else np.asarray(layer_data(mask_layer))

        def run(progress):
            small = presize.image(img, size, upscale)
            small_mask = lost = None
            n_labels = 0
            if mask_data is not None:
                small_mask = presize.mask(mask_data, size, method, upscale)
                lost = presize.lost_labels(mask_data, small_mask)
                n_labels = int(np.unique(mask_data).size)
            return _Preview(small, small_mask, tuple(img.shape[:2]), tuple(small.shape[:2]),
                            lost, n_labels)

        return self._preview_task.start(
            run,
            label="Preview",
            on_done=lambda result: self._show_preview(result, image_layer, mask_layer),
            message="Presizing the layers...",
        )

    def _show_preview(self, result, image_layer, mask_layer) -> None:
        scale, translate = overlay_transform(image_layer, result.in_shape, result.out_shape)
        name = f"{image_layer.name} presized"
        kwargs = {"scale": scale, "translate": translate}
        if self.image_result is not None and self.image_result in self.viewer.layers:
            layer = self.image_result
            layer.data = result.image
            layer.scale, layer.translate = scale, translate
            layer.name = name
        else:
            extra = {}
            if not image_layer.rgb:
                extra = {"contrast_limits": image_layer.contrast_limits,
                         "colormap": image_layer.colormap.name}
            self.image_result = self.viewer.add_image(
                result.image, name=name, rgb=image_layer.rgb, **kwargs, **extra)
        if result.mask is not None:
            mname = f"{mask_layer.name} presized"
            if self.mask_result is not None and self.mask_result in self.viewer.layers:
                self.mask_result.data = result.mask
                self.mask_result.scale, self.mask_result.translate = scale, translate
                self.mask_result.name = mname
            else:
                self.mask_result = self.viewer.add_labels(result.mask, name=mname, **kwargs)
        elif self.mask_result is not None and self.mask_result in self.viewer.layers:
            self.viewer.layers.remove(self.mask_result)
            self.mask_result = None
        self.image_combo.refresh()  # the results are not inputs
        self.mask_combo.refresh()
        (ih, iw), (oh, ow) = result.in_shape, result.out_shape
        factor = ih / oh
        self.shape_label.setText(
            f"Output: {oh} x {ow} (from {ih} x {iw}, 1/{factor:.3g} per side)"
            if (oh, ow) != (ih, iw)
            else f"Output: {oh} x {ow} (already at or below the size: unchanged)"
        )
        self.lost_labels = result.lost
        if result.lost is None:
            self.loss_label.setText("Label loss: - (no mask)")
        elif result.lost.size == 0:
            self.loss_label.setText(f"Label loss: none ({result.n_labels} labels kept)")
        else:
            ids = ", ".join(str(v) for v in result.lost[:20].tolist())
            more = ", ..." if result.lost.size > 20 else ""
            self.loss_label.setText(
                f"Label loss: {result.lost.size} of {result.n_labels} labels vanish: {ids}{more}"
            )
        self.show_message("Preview layers added: toggle them to compare with the originals.")

    # ------------------------------------------------------------------ folder
    def run_folder(self):
        """Start :func:`presize.folder` with the form's settings; returns the worker or None."""
        from labelprep import presize

        if self._folder_task.refuse_if_busy():
            return None
        src, dst = self.src_edit.text().strip(), self.dst_edit.text().strip()
        masks = self.masks_edit.text().strip() or None
        masks_out = self.masks_out_edit.text().strip() or None
        try:
            if not src or not dst:
                raise ValueError("Choose a source folder and a destination folder.")
            size, method, upscale = self._settings()
            presize.check_folders(src, dst, masks, masks_out)
        except ValueError as exc:
            self.show_message(str(exc), error=True)
            return None
        workers = self.workers_spin.value()
        overwrite = self.overwrite_check.isChecked()
        self._cancel = False

        def run(progress):
            def report(done, total):
                if self._cancel:
                    raise _Cancelled()
                progress(done, total)

            try:
                return presize.folder(
                    src, dst, size, masks=masks, masks_out=masks_out, workers=workers,
                    overwrite=overwrite, method=method, upscale=upscale, progress=report,
                )
            except _Cancelled:
                return Failure(
                    "Cancelled: files already written are complete; run again to resume."
                )

        self.report = None
        self.report_label.setText("")
        self.failures_text.setVisible(False)
        return self._folder_task.start(
            run,
            label="Presize folder",
            on_done=self._show_report,
            message=f"Presizing {src} -> {dst} ...",
            progress_format="%v / %m images",
        )

    def cancel(self) -> None:
        """Stop the folder run after the files in progress (outputs stay complete)."""
        if self.folder_worker is not None:
            self._cancel = True
            self._update_state()
            self.show_message("Cancelling after the files in progress...")

    def _show_report(self, result) -> None:
        self.report = result
        self.report_label.setText(result.summary())
        lines = [f"{path}: {reason}" for path, reason in result.failed]
        failed = {path for path, _ in result.failed}
        lines += [f"{path}: no mask (presized alone)" for path in result.missing_masks
                  if path not in failed]
        self.failures_text.setPlainText("\n".join(lines))
        self.failures_text.setVisible(bool(lines))
        if result.failed:
            self.show_message(f"{len(result.failed)} file(s) failed: see the list.", error=True)
        elif result.total == 0:
            self.show_message("No image files found in the source folder.", error=True)
        else:
            self.show_message("Done.")
