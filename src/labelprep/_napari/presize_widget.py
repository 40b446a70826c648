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

The dock's state (settings, last preview, last report, cancel request) lives in a
Qt-free :class:`~.presize_model.PresizeDockModel` (``widget.model``), which also checks
the settings; this widget is a view over it: the form writes into the model and shows
what its signals announce.
"""

from __future__ import annotations

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
from .presize_model import (
    METHODS,
    Cancelled,
    PresizeDockModel,
    compute_preview,
    image_problem,
    mask_problem,
    overlay_transform,
    parse_size,
)

__all__ = ["PresizeWidget", "overlay_transform", "parse_size"]

_NO_MASK = "(no mask)"


def _kind(layer) -> str:
    return layer_kind(layer) or type(layer).__name__


def _image_problem(layer) -> str | None:
    if layer is None:
        return image_problem(None, None)
    return image_problem(layer.name, _kind(layer), layer.ndim)


def _mask_problem(layer, image_shape) -> str | None:
    if layer is None:
        return None
    kind = _kind(layer)
    shape = tuple(layer_data(layer).shape) if kind == "labels" else ()
    return mask_problem(layer.name, kind, shape, image_shape)


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
    model : :class:`~.presize_model.PresizeDockModel`, the dock's state (the form
        writes into it; changing it with ``model.set(...)`` updates the form)
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

    def __init__(self, napari_viewer, parent=None, model: PresizeDockModel | None = None):
        super().__init__(napari_viewer, parent)
        self.model = model if model is not None else PresizeDockModel()
        self.image_result = None
        self.mask_result = None

        layout = QVBoxLayout(self.scroll_body())

        # ---- preview
        box = QGroupBox("Preview on layers")
        form = QFormLayout(box)
        self.image_combo = LayerComboBox(self.viewer, ("image",), exclude=self._results)
        self.mask_combo = LayerComboBox(
            self.viewer, ("labels",), none_text=_NO_MASK, exclude=self._results
        )
        self.size_edit = QLineEdit()
        self.size_edit.setToolTip(
            "160: shorter side 160 (aspect kept).\n120 160: height >= 120 and width >= 160."
        )
        self.method_combo = QComboBox()
        self.method_combo.addItems(list(METHODS))
        self.method_combo.setToolTip(
            "Masks are never interpolated. nearest: the pixel at each output cell's centre; "
            "mode: the majority label of the block."
        )
        self.upscale_check = QCheckBox("enlarge smaller images too")
        self.preview_button = QPushButton("Preview")
        self.shape_label = QLabel()
        self.loss_label = QLabel()
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
        self.workers_spin.setRange(1, self.model.max_workers)
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
        self._bind_model()
        self._update_state()

    # ------------------------------------------------------------------ model <-> form
    def _bind_model(self) -> None:
        """Two-way binding: the form writes into the model, the model's signals update it."""
        lines, checks = (self.size_edit, self.src_edit, self.dst_edit, self.masks_edit,
                         self.masks_out_edit), (self.upscale_check, self.overwrite_check)
        names = ("size_text", "src", "dst", "masks", "masks_out")
        combo, spin = self.method_combo, self.workers_spin
        self._bound = {  # setting -> (its control's change signal, read it, show a value)
            **{n: (e.textChanged, e.text, e.setText) for n, e in zip(names, lines)},
            **{n: (c.toggled, c.isChecked, c.setChecked)
               for n, c in zip(("upscale", "overwrite"), checks)},
            "method": (combo.currentTextChanged, combo.currentText, combo.setCurrentText),
            "workers": (spin.valueChanged, spin.value, spin.setValue),
        }
        for name, value in self.model.settings().items():
            self._show_setting(name, value)
        for name, (signal, read, _) in self._bound.items():
            signal.connect(lambda *_, n=name, r=read: self.model.set(**{n: r()}))
        self.model.settings_changed.connect(self._show_setting)
        self.model.preview_changed.connect(self._show_preview_text)
        self.model.report_changed.connect(self._show_report_text)
        self.model.cancelling_changed.connect(self._update_state)
        self._show_preview_text(self.model.preview)
        self._show_report_text(self.model.report)

    def _show_setting(self, name: str, value) -> None:
        _, read, show = self._bound[name]
        if read() != value:
            show(value)

    def _show_preview_text(self, preview) -> None:
        self.shape_label.setText("Output: -" if preview is None else preview.shape_text())
        self.loss_label.setText("Label loss: -" if preview is None else preview.loss_text())

    def _show_report_text(self, report) -> None:
        lines = self.model.failure_lines()
        self.report_label.setText("" if report is None else report.summary())
        self.failures_text.setPlainText("\n".join(lines))
        self.failures_text.setVisible(bool(lines))

    # ------------------------------------------------------------------ helpers
    @property
    def preview_worker(self):
        """The running preview worker, or None."""
        return self._preview_task.worker

    @property
    def folder_worker(self):
        """The running folder run, or None."""
        return self._folder_task.worker

    @property
    def lost_labels(self):
        """The label ids lost in the last preview (None: no preview or no mask)."""
        return self.model.lost_labels

    @property
    def report(self):
        """The last folder run's :class:`labelprep.presize.FolderReport`, or None."""
        return self.model.report

    def _results(self):
        """The preview layers: not offered as inputs."""
        return self.image_result, self.mask_result

    def _update_state(self, *_) -> None:
        folder_busy = self._folder_task.busy
        self.preview_button.setEnabled(not self._preview_task.busy)
        self.run_button.setEnabled(not folder_busy)
        self.cancel_button.setEnabled(folder_busy and not self.model.cancelling)

    def _browse(self, edit: QLineEdit, title: str) -> None:  # pragma: no cover - dialog
        path = QFileDialog.getExistingDirectory(self, f"{title} folder", edit.text() or "")
        if path:
            edit.setText(path)

    def _settings(self):
        """(size, method, upscale) from the model; raises ValueError with a message."""
        return self.model.preview_settings()

    # ------------------------------------------------------------------ preview
    def preview(self, image_layer=None, mask_layer=None):
        """Presize the chosen layers in a worker; returns the worker (or None on bad input).

        ``image_layer`` / ``mask_layer`` default to the combo boxes' choices.
        """
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
            return compute_preview(img, mask_data, size, method, upscale)

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
        self.model.set_preview(result)  # -> shape and loss labels
        self.show_message("Preview layers added: toggle them to compare with the originals.")

    # ------------------------------------------------------------------ folder
    def run_folder(self):
        """Start :func:`presize.folder` with the form's settings; returns the worker or None."""
        if self._folder_task.refuse_if_busy():
            return None
        try:
            job = self.model.folder_job()
        except ValueError as exc:
            self.show_message(str(exc), error=True)
            return None
        model = self.model

        def run(progress):
            try:
                return model.run_folder(job, progress)
            except Cancelled:
                return Failure(
                    "Cancelled: files already written are complete; run again to resume."
                )

        model.start_run()  # -> no report shown
        return self._folder_task.start(
            run,
            label="Presize folder",
            on_done=self._show_report,
            message=f"Presizing {job.src} -> {job.dst} ...",
            progress_format="%v / %m images",
        )

    def cancel(self) -> None:
        """Stop the folder run after the files in progress (outputs stay complete)."""
        if self.folder_worker is not None:
            self.model.set_cancelling(True)
            self.show_message("Cancelling after the files in progress...")

    def _show_report(self, result) -> None:
        self.model.set_report(result)  # -> report label and failure list
        message, error = self.model.report_message()
        self.show_message(message, error=error)
