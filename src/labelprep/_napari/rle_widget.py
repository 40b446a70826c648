"""The "RLE masks" dock widget: encode a Labels layer, save, decode, check the round trip.

A thin shell over :mod:`labelprep.rle`:

- **Encode** the layer chosen in the combo box (it follows the layer selected in the
  layer list): shows the number of runs, the size as JSON and in the compact form, the
  compression ratio against the raw array and the encode time.
- **Save...** the last encoding to ``*.rle.json`` (plain lists, or compact strings).
- **Decode** an ``*.rle.json`` file, or the last encoding, into a new Labels layer.
- **Round-trip check**: decode the last encoding (encoding the layer first if needed)
  and compare it with the layer's current data; shows "identical" or the first voxel
  that differs (after painting, that is where the layer changed).

All work runs in a ``thread_worker`` with a progress bar (the numba kernels release
the GIL, so the viewer stays responsive); bad input gives a message, not a traceback.

The dock's state lives in :class:`~labelprep._napari.rle_model.RLEDockModel`
(``widget.model``, no Qt); this module is the view: it writes the user's choices into
the model and shows what the model's signals announce.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from labelprep import rle

from ._common import DockWidget, LayerComboBox, check_output, layer_data, unwrap
from .rle_model import (
    STATS,
    Encoding,
    Refused,
    RLEDockModel,
    decode_encoding,
    decode_file,
    decoded_message,
    encode_array,
    first_difference,
    fmt_bytes,
    layer_problem,
    round_trip,
)

__all__ = ["Encoding", "RLEDockModel", "RLEWidget", "first_difference", "layer_problem"]

_fmt_bytes = fmt_bytes  # the former private name
_OK_STYLE, _DIFF_STYLE = "color: #3aa655;", "color: #e0504d;"


class RLEWidget(DockWidget):
    """Dock widget: multi-class RLE of Labels layers (encode, save, decode, check).

    Attributes (for scripting and tests)
    ------------------------------------
    model : :class:`RLEDockModel`, the dock's state (the attributes below read it).
    layer : the layer chosen in ``layer_combo`` (or None).
    last : :class:`Encoding` or None, the last encoding.
    worker : the running ``thread_worker`` or None.
    check_result : the text of the last round-trip check.
    """

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.model = RLEDockModel()
        self._build_ui()
        self.tasks = self.task_runner(
            progress_bar=self.progress_bar, announce=True, on_change=self._update_state
        )
        model = self.model
        model.layer_changed.connect(self._on_layer_changed)
        model.encoding_changed.connect(self._refresh)
        model.check_changed.connect(self._show_check)
        model.compact_changed.connect(self._show_compact)
        model.path_changed.connect(self._show_path)
        self.layer_combo.layer_changed.connect(self._set_layer)
        self._set_layer(self.layer_combo.layer())
        self._refresh()

    # ------------------------------------------------------- model state
    @property
    def layer(self):
        """The layer chosen (``model.layer``)."""
        return self.model.layer

    @property
    def last(self) -> Encoding | None:
        """The last encoding (``model.last``)."""
        return self.model.last

    @property
    def check_result(self) -> str:
        """The text of the last round-trip check (``model.check_result``)."""
        return self.model.check_result

    _encode_work = staticmethod(encode_array)

    # ================================================================== UI
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self.scroll_body())
        layout.setContentsMargins(6, 6, 6, 6)

        enc_box = QGroupBox("Encode")
        enc = QVBoxLayout(enc_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer:"))
        # Labels first, then images; it follows the Labels layer made active in the list
        self.layer_combo = LayerComboBox(self.viewer, ("labels", "image"), follow_active=True)
        self.layer_combo.setToolTip("The Labels layer to encode (follows the layer list)")
        row.addWidget(self.layer_combo, 1)
        enc.addLayout(row)
        self.encode_button = QPushButton("Encode layer")
        self.encode_button.setToolTip("Run-length encode the layer (all classes at once)")
        enc.addWidget(self.encode_button)
        stats = QFormLayout()
        self.runs_label = QLabel("-")
        self.json_label = QLabel("-")
        self.compact_label = QLabel("-")
        self.ratio_label = QLabel("-")
        self.ratio_label.setWordWrap(True)  # a long line: wrap, not widen the dock
        self.time_label = QLabel("-")
        stats.addRow("Runs:", self.runs_label)
        stats.addRow("JSON:", self.json_label)
        stats.addRow("Compact:", self.compact_label)
        stats.addRow("Ratio:", self.ratio_label)
        stats.addRow("Encode time:", self.time_label)
        enc.addLayout(stats)
        row = QHBoxLayout()
        self.compact_check = QCheckBox("compact")
        self.compact_check.setToolTip(
            "Save counts and values as COCO-style strings (smaller; read back the same)"
        )
        self.save_button = QPushButton("Save...")
        self.save_button.setToolTip("Save the last encoding as *.rle.json")
        row.addWidget(self.compact_check)
        row.addWidget(self.save_button, 1)
        enc.addLayout(row)
        layout.addWidget(enc_box)

        dec_box = QGroupBox("Decode")
        dec = QVBoxLayout(dec_box)
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("mask.rle.json")
        self.browse_button = QPushButton("Browse...")
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        dec.addLayout(row)
        row = QHBoxLayout()
        self.decode_file_button = QPushButton("Decode file")
        self.decode_file_button.setToolTip("Decode the file into a new Labels layer")
        self.decode_last_button = QPushButton("Decode last encoding")
        self.decode_last_button.setToolTip("Decode the last encoding into a new Labels layer")
        row.addWidget(self.decode_file_button)
        row.addWidget(self.decode_last_button)
        dec.addLayout(row)
        layout.addWidget(dec_box)

        check_box = QGroupBox("Round trip")
        chk = QVBoxLayout(check_box)
        self.check_button = QPushButton("Round-trip check")
        self.check_button.setToolTip(
            "Decode the last encoding of the layer and compare it with the layer's data"
        )
        self.check_label = QLabel("")
        self.check_label.setWordWrap(True)
        self.check_label.setWordWrap(True)
        chk.addWidget(self.check_button)
        chk.addWidget(self.check_label)
        layout.addWidget(check_box)

        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message_label)
        layout.addStretch(1)

        self.encode_button.clicked.connect(lambda: self.encode())
        self.save_button.clicked.connect(self._on_save_clicked)
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.decode_file_button.clicked.connect(lambda: self.decode_file())
        self.decode_last_button.clicked.connect(lambda: self.decode_last())
        self.check_button.clicked.connect(lambda: self.round_trip_check())
        self.compact_check.toggled.connect(self.model.set_compact)
        self.path_edit.textChanged.connect(self.model.set_path)

    def _update_state(self) -> None:
        enabled = self.model.enabled(self.busy)
        for key, control in (
            ("encode", self.encode_button), ("save", self.save_button),
            ("decode_last", self.decode_last_button), ("decode_file", self.decode_file_button),
            ("browse", self.browse_button), ("check", self.check_button),
            ("layer", self.layer_combo),
        ):
            control.setEnabled(enabled[key])

    def _refresh(self, *_) -> None:
        """Show the model: the statistics of the layer shown and what can be used."""
        texts = self.model.stats()
        for key, label in zip(STATS, self._stat_labels(), strict=True):
            label.setText(texts[key])
        self._update_state()

    def _stat_labels(self) -> tuple[QLabel, ...]:
        return (self.runs_label, self.json_label, self.compact_label, self.ratio_label,
                self.time_label)

    def _show_check(self, message: str) -> None:
        self.check_label.setText(message)
        if message:
            self.check_label.setStyleSheet(_OK_STYLE if self.model.check_ok else _DIFF_STYLE)

    def _show_compact(self, value: bool) -> None:
        self.compact_check.setChecked(value)

    def _show_path(self, path: str) -> None:
        if self.path_edit.text() != path:
            self.path_edit.setText(path)

    def _refuse(self, exc: Refused) -> None:
        self.show_message(str(exc), error=True)

    # ====================================================== viewer / layers
    def set_layer(self, layer) -> None:
        """Choose ``layer`` (a Labels or Image layer of the viewer) in the combo box."""
        self.layer_combo.set_layer(layer)

    def _set_layer(self, layer) -> None:
        self.model.set_layer(layer)

    def _on_layer_changed(self, layer) -> None:
        combo = self.layer_combo
        if combo.layer() is not layer and any(x is layer for x in combo.layers()):
            combo.set_layer(layer)  # the model was told directly
        self._refresh()

    # ============================================================== encode
    def encode(self, layer=None):
        """Encode ``layer`` (default: the one in the combo box) in a worker; returns it."""
        try:
            layer = self.model.encodable(None if layer is None else unwrap(layer))
        except Refused as exc:
            return self._refuse(exc)
        data = layer_data(layer)
        if isinstance(data, np.ndarray):
            # a snapshot, taken here in the GUI thread where painting happens: the layer
            # may be painted on while the worker encodes
            data = data.copy()
        name = layer.name
        return self.tasks.start(
            lambda progress: encode_array(data, layer, name, progress),
            on_done=self._on_encoded, label="Encoding",
        )

    def _on_encoded(self, enc: Encoding) -> None:
        self.model.set_encoding(enc)
        self.show_message(enc.summary())

    # ================================================================ save
    def _on_save_clicked(self) -> None:
        if self.last is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the encoding", self.model.save_name(),
            "Multi-class RLE (*.rle.json);;All files (*)",
        )
        if path:
            self.save(path)

    def save(self, path, compact: bool | None = None):
        """Save the last encoding to ``path`` (``*.rle.json`` added if missing), in a worker."""
        try:
            path = self.model.save_path(path)
        except Refused as exc:
            return self._refuse(exc)
        compact = self.model.compact if compact is None else compact
        enc = self.model.last
        if check_output(self, path, enc.layer, what="save to") is None:
            return None
        r = enc.rle

        def work(progress):
            out = rle.save(path, rle.compact(r) if compact else r)
            progress(1, 1)
            return out

        return self.tasks.start(
            work, on_done=lambda out: self.show_message(f"Saved {out}"), label="Saving"
        )

    # ============================================================== decode
    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a multi-class RLE file", "",
            "Multi-class RLE (*.rle.json *.json);;All files (*)",
        )
        if path:
            self.model.set_path(path)

    def decode_file(self, path=None):
        """Decode ``path`` (default: the path field) into a new Labels layer, in a worker."""
        try:
            path = self.model.decode_path(path)
        except Refused as exc:
            return self._refuse(exc)
        return self.tasks.start(
            lambda progress: decode_file(path, progress),
            on_done=self._add_decoded, label=f"Decoding {Path(path).name}",
        )

    def decode_last(self):
        """Decode the last encoding into a new Labels layer, in a worker."""
        try:
            enc, meta = self.model.decode_last_meta()
        except Refused as exc:
            return self._refuse(exc)
        return self.tasks.start(
            lambda progress: (decode_encoding(enc, progress), meta),
            on_done=self._add_decoded, label="Decoding",
        )

    def _add_decoded(self, result) -> None:
        data, meta = result
        layer = self.viewer.add_labels(data, **meta)
        self.show_message(decoded_message(layer.name, data))

    # ======================================================== round trip
    def round_trip_check(self):
        """Compare the layer with its decoded last encoding (encode first if needed)."""
        try:
            layer = self.model.encodable()
        except Refused as exc:
            return self._refuse(exc)
        data = layer_data(layer)
        enc = self.model.encoding_of(layer)
        name = layer.name
        return self.tasks.start(
            lambda progress: round_trip(data, layer, name, enc, progress),
            on_done=self._on_checked, label="Checking",
        )

    def _on_checked(self, result) -> None:
        enc, text = result
        if enc is not self.last:
            self._on_encoded(enc)
        self.show_message(self.model.set_check(enc, text))
