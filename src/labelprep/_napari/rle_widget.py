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
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from .rle_io import as_labels, layer_meta

__all__ = ["RLEWidget", "first_difference", "layer_problem"]

@dataclass
class Encoding:
    """The last encoding made by the widget, with what the widget shows about it."""

    rle: dict
    layer: Any
    layer_name: str
    shape: tuple
    dtype: str
    runs: int
    raw_bytes: int
    json_bytes: int
    compact_bytes: int
    seconds: float

    @property
    def ratio(self) -> float:
        """Raw array size / compact JSON size."""
        return self.raw_bytes / max(self.compact_bytes, 1)


def layer_problem(layer) -> str | None:
    """Why ``layer`` cannot be encoded (a sentence for the user), or ``None``."""
    if layer is None:
        return "No layer to encode: add or open a Labels layer."
    dtype = np.dtype(getattr(layer_data(layer), "dtype", np.float64))
    if getattr(layer, "rgb", False):
        return f"Layer '{layer.name}' is an RGB image, not a label mask."
    if dtype.kind not in "biu":
        return (
            f"Layer '{layer.name}' holds {dtype} data, not integer labels: RLE stores "
            "integer masks (convert the layer to Labels first)."
        )
    return None


def first_difference(a: np.ndarray, b: np.ndarray) -> str:
    """'identical' or where ``a`` (the layer) and ``b`` (decoded) first differ, in C order."""
    if a.shape != b.shape:
        return f"shapes differ: layer {a.shape}, decoded {b.shape}"
    diff = a != b
    if not diff.any():
        return f"identical ({a.size} voxels, dtype {b.dtype})"
    where = np.unravel_index(int(np.argmax(diff.ravel(order="C"))), a.shape)
    n = int(np.count_nonzero(diff))
    pos = ", ".join(str(int(i)) for i in where)
    return (
        f"differs at ({pos}): layer {a[where].item()}, decoded {b[where].item()} "
        f"({n} voxel{'s' if n != 1 else ''} differ)"
    )


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


class RLEWidget(DockWidget):
    """Dock widget: multi-class RLE of Labels layers (encode, save, decode, check).

    Attributes (for scripting and tests)
    ------------------------------------
    layer : the layer chosen in ``layer_combo`` (or None).
    last : :class:`Encoding` or None, the last encoding.
    worker : the running ``thread_worker`` or None.
    check_result : the text of the last round-trip check.
    """

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.layer = None
        self.last: Encoding | None = None
        self.check_result = ""
        self._build_ui()
        self.tasks = self.task_runner(
            progress_bar=self.progress_bar, announce=True, on_change=self._update_state
        )
        self.layer_combo.layer_changed.connect(self._set_layer)
        self._set_layer(self.layer_combo.layer())

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

    def _update_state(self) -> None:
        idle = not self.busy
        self.encode_button.setEnabled(idle and self.layer is not None)
        self.save_button.setEnabled(idle and self.last is not None)
        self.decode_last_button.setEnabled(idle and self.last is not None)
        self.decode_file_button.setEnabled(idle)
        self.browse_button.setEnabled(idle)
        self.check_button.setEnabled(idle and self.layer is not None)
        self.layer_combo.setEnabled(idle)

    # ====================================================== viewer / layers
    def set_layer(self, layer) -> None:
        """Choose ``layer`` (a Labels or Image layer of the viewer) in the combo box."""
        self.layer_combo.set_layer(layer)

    def _set_layer(self, layer) -> None:
        if layer is not self.layer:
            self.layer = layer
            self.check_label.setText("")
        last = self.last
        self._show_stats(last if last is not None and last.layer is layer else None)
        self._update_state()

    def _show_stats(self, enc) -> None:
        """The statistics of ``enc`` (an encoding of the layer shown), or blanks."""
        labels = (self.runs_label, self.json_label, self.compact_label, self.ratio_label,
                  self.time_label)
        if enc is None:
            for label in labels:
                label.setText("-")
            return
        self.runs_label.setText(f"{enc.runs:,}")
        self.json_label.setText(_fmt_bytes(enc.json_bytes))
        self.compact_label.setText(_fmt_bytes(enc.compact_bytes))
        self.ratio_label.setText(
            f"{enc.raw_bytes / max(enc.json_bytes, 1):.1f}x (JSON), {enc.ratio:.1f}x "
            f"(compact) vs {_fmt_bytes(enc.raw_bytes)} raw"
        )
        self.time_label.setText(f"{enc.seconds * 1000:.1f} ms")

    # ============================================================== encode
    def encode(self, layer=None):
        """Encode ``layer`` (default: the one in the combo box) in a worker; returns it."""
        layer = self.layer if layer is None else unwrap(layer)
        problem = layer_problem(layer)
        if problem:
            self.show_message(problem, error=True)
            return None
        data = layer_data(layer)
        if isinstance(data, np.ndarray):
            # a snapshot, taken here in the GUI thread where painting happens: the layer
            # may be painted on while the worker encodes
            data = data.copy()
        name = layer.name
        return self.tasks.start(
            lambda progress: self._encode_work(data, layer, name, progress),
            on_done=self._on_encoded, label="Encoding",
        )

    @staticmethod
    def _encode_work(data, layer, name: str, progress) -> Encoding:
        array = np.asarray(data)
        # warm up numba (import, load or compile the kernels for this dtype and layout)
        # on a tiny array so the time shown is the encoding's, not the JIT's
        fortran = array.flags.f_contiguous and not array.flags.c_contiguous
        rle.encode(np.zeros((2,) * array.ndim, array.dtype, order="F" if fortran else "C"))
        t0 = time.perf_counter()
        r = rle.encode(array, progress=progress)
        seconds = time.perf_counter() - t0
        separators = (",", ":")
        json_bytes = len(json.dumps(r, separators=separators))
        compact_bytes = len(json.dumps(rle.compact(r), separators=separators))
        return Encoding(
            rle=r, layer=layer, layer_name=name, shape=array.shape, dtype=array.dtype.name,
            runs=len(r["counts"]), raw_bytes=array.nbytes, json_bytes=json_bytes,
            compact_bytes=compact_bytes, seconds=seconds,
        )

    def _on_encoded(self, enc: Encoding) -> None:
        self.last = enc
        self._show_stats(enc if enc.layer is self.layer else None)
        shape = " x ".join(map(str, enc.shape))
        self.show_message(f"Encoded '{enc.layer_name}' ({shape}, {enc.dtype}).")

    # ================================================================ save
    def _on_save_clicked(self) -> None:
        if self.last is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the encoding", f"{self.last.layer_name}{rle.SUFFIX}",
            "Multi-class RLE (*.rle.json);;All files (*)",
        )
        if path:
            self.save(path)

    def save(self, path, compact: bool | None = None):
        """Save the last encoding to ``path`` (``*.rle.json`` added if missing), in a worker."""
        if self.last is None:
            self.show_message("Nothing to save: encode a layer first.", error=True)
            return None
        compact = self.compact_check.isChecked() if compact is None else compact
        path = str(path)
        if not path.lower().endswith(rle.SUFFIX):
            path += rle.SUFFIX
        if check_output(self, path, self.last.layer, what="save to") is None:
            return None
        r = self.last.rle

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
            self.path_edit.setText(path)

    def decode_file(self, path=None):
        """Decode ``path`` (default: the path field) into a new Labels layer, in a worker."""
        path = self.path_edit.text().strip() if path is None else str(path)
        if not path:
            self.show_message("Choose an .rle.json file to decode first.", error=True)
            return None
        self.path_edit.setText(path)

        def work(progress):
            r = rle.load(path)
            data = as_labels(rle.decode(r, progress=progress))
            return data, layer_meta(path, r, data.ndim)

        return self.tasks.start(
            work, on_done=self._add_decoded, label=f"Decoding {Path(path).name}"
        )

    def decode_last(self):
        """Decode the last encoding into a new Labels layer, in a worker."""
        if self.last is None:
            self.show_message("Nothing to decode: encode a layer first.", error=True)
            return None
        enc = self.last
        meta: dict[str, Any] = {"name": f"{enc.layer_name} decoded"}
        source = enc.layer
        if source is not None and getattr(source, "ndim", None) == len(enc.shape):
            meta["scale"] = source.scale
            meta["translate"] = source.translate

        def work(progress):
            return as_labels(rle.decode(enc.rle, progress=progress)), meta

        return self.tasks.start(work, on_done=self._add_decoded, label="Decoding")

    def _add_decoded(self, result) -> None:
        data, meta = result
        layer = self.viewer.add_labels(data, **meta)
        self.show_message(
            f"Decoded into layer '{layer.name}' ({' x '.join(map(str, data.shape))}, "
            f"{data.dtype})."
        )

    # ======================================================== round trip
    def round_trip_check(self):
        """Compare the layer with its decoded last encoding (encode first if needed)."""
        layer = self.layer
        problem = layer_problem(layer)
        if problem:
            self.show_message(problem, error=True)
            return None
        data = layer_data(layer)
        enc = self.last if self.last is not None and self.last.layer is layer else None
        name = layer.name

        def work(progress):
            current = enc
            if current is None:
                current = self._encode_work(data, layer, name, lambda d, t: progress(d, 2 * t))
            decoded = rle.decode(current.rle, progress=lambda d, t: progress(t + d, 2 * t))
            return current, first_difference(np.asarray(data), decoded)

        return self.tasks.start(work, on_done=self._on_checked, label="Checking")

    def _on_checked(self, result) -> None:
        enc, text = result
        if enc is not self.last:
            self._on_encoded(enc)
        self.check_result = text
        ok = text.startswith("identical")
        self.check_label.setText(f"{enc.layer_name}: {text}")
        self.check_label.setStyleSheet("color: #3aa655;" if ok else "color: #e0504d;")
        self.show_message("Round trip: " + ("identical." if ok else "the layer differs."))
