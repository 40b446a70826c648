"""The "RLE masks" dock's state, without Qt: the layer, the last encoding, the options.

:class:`RLEDockModel` holds what the dock knows (the layer chosen, the last
:class:`Encoding` and its statistics, the "compact" option, the path of the file to
decode, the last round-trip check); :class:`~labelprep._napari.rle_widget.RLEWidget`
writes the user's choices into it and shows what its psygnal signals announce. The
work of the tasks (:func:`encode_array`, :func:`decode_file`, :func:`round_trip`) is
plain functions of arrays, run by the widget in a worker. Nothing here imports Qt or
napari, so the dock's logic is tested without a viewer::

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> layer = SimpleNamespace(name="mask", data=np.array([[1, 1, 0], [1, 1, 0]], np.uint8))
    >>> model = RLEDockModel()
    >>> model.set_layer(layer)
    True
    >>> model.stats()["runs"], model.enabled(busy=False)["save"]
    ('-', False)
    >>> model.set_encoding(encode_array(layer.data, layer, layer.name))
    >>> model.stats()["runs"], model.enabled(busy=False)["save"]
    ('2', True)
    >>> model.save_path("out")
    'out.rle.json'
    >>> model.set_check(*round_trip(layer.data, layer, layer.name, model.last))
    'Round trip: identical.'
    >>> model.check_message
    'mask: identical (6 voxels, dtype uint8)'
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

from labelprep import rle

from .rle_io import as_labels, layer_meta

__all__ = [
    "STATS",
    "Encoding",
    "RLEDockModel",
    "Refused",
    "decode_encoding",
    "decode_file",
    "decoded_message",
    "encode_array",
    "first_difference",
    "fmt_bytes",
    "layer_problem",
    "round_trip",
]

#: The statistics the dock shows about an encoding, in order (keys of :meth:`Encoding.texts`).
STATS = ("runs", "json", "compact", "ratio", "time")
#: What the dock shows for a statistic when the layer shown has no encoding.
BLANK = "-"


class Refused(ValueError):
    """A request the dock refuses (bad or missing input); the message is for the user."""


@dataclass
class Encoding:
    """The last encoding made by the dock, with what the dock shows about it."""

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

    def texts(self) -> dict[str, str]:
        """The statistics as the dock shows them, keyed by :data:`STATS`."""
        return {
            "runs": f"{self.runs:,}",
            "json": fmt_bytes(self.json_bytes),
            "compact": fmt_bytes(self.compact_bytes),
            "ratio": (
                f"{self.raw_bytes / max(self.json_bytes, 1):.1f}x (JSON), {self.ratio:.1f}x "
                f"(compact) vs {fmt_bytes(self.raw_bytes)} raw"
            ),
            "time": f"{self.seconds * 1000:.1f} ms",
        }

    def summary(self) -> str:
        """"Encoded 'mask' (2 x 3, uint8)."""
        shape = " x ".join(map(str, self.shape))
        return f"Encoded '{self.layer_name}' ({shape}, {self.dtype})."


def fmt_bytes(n: int) -> str:
    """A size for people: ``fmt_bytes(512), fmt_bytes(2048)`` -> ``'512 B', '2.0 KB'``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _level0(layer) -> Any:
    # as _layers.layer_data (that module imports Qt): the full-resolution data
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def layer_problem(layer) -> str | None:
    """Why ``layer`` cannot be encoded (a sentence for the user), or ``None``."""
    if layer is None:
        return "No layer to encode: add or open a Labels layer."
    dtype = np.dtype(getattr(_level0(layer), "dtype", np.float64))
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


# ============================================================ the tasks' work
def encode_array(data, layer, name: str, progress=None) -> Encoding:
    """Encode ``data`` (the data of ``layer``, named ``name``) and measure the result.

    ``rle.encode`` is looked up on :mod:`labelprep.rle` at each call (tests replace it).
    """
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


def decode_file(path, progress=None) -> tuple[np.ndarray, dict]:
    """The Labels data and layer keyword arguments decoded from the file ``path``."""
    r = rle.load(path)
    data = as_labels(rle.decode(r, progress=progress))
    return data, layer_meta(path, r, data.ndim)


def decode_encoding(enc: Encoding, progress=None) -> np.ndarray:
    """The Labels data of the encoding ``enc``."""
    return as_labels(rle.decode(enc.rle, progress=progress))


def round_trip(data, layer, name: str, enc: Encoding | None,
               progress=None) -> tuple[Encoding, str]:
    """Decode ``enc`` (encode ``data`` first if None) and compare with ``data``: the
    encoding and :func:`first_difference`'s text. ``progress(done, total)`` covers both."""
    report = progress or (lambda done, total: None)
    if enc is None:
        enc = encode_array(data, layer, name, lambda d, t: report(d, 2 * t))
    decoded = rle.decode(enc.rle, progress=lambda d, t: report(t + d, 2 * t))
    return enc, first_difference(np.asarray(data), decoded)


# ================================================================== the model
class RLEDockModel:
    """State of one "RLE masks" dock (see the module docstring).

    Attributes
    ----------
    layer : the layer chosen (or None).
    last : :class:`Encoding` or None, the last encoding (of any layer).
    compact : bool, save counts and values as compact strings.
    path : str, the file to decode.
    check_result : str, the text of the last round-trip check ("" before any).
    check_message : str, the check shown for the layer ("" once another layer is chosen).
    check_ok : bool, whether that check found the layer identical to its encoding.

    Signals: ``layer_changed(layer)``, ``encoding_changed(Encoding)``,
    ``check_changed(str)`` (:attr:`check_message`), ``compact_changed(bool)``,
    ``path_changed(str)``.
    """

    layer_changed = Signal(object)
    encoding_changed = Signal(object)
    check_changed = Signal(str)
    compact_changed = Signal(bool)
    path_changed = Signal(str)

    def __init__(self) -> None:
        self.layer = None
        self.last: Encoding | None = None
        self.compact = False
        self.path = ""
        self.check_result = ""
        self.check_message = ""
        self.check_ok = False

    # ------------------------------------------------------------- choices
    def set_layer(self, layer) -> bool:
        """Choose ``layer``; the check shown is cleared. True if it changed."""
        if layer is self.layer:
            return False
        self.layer = layer
        self._set_check_message("", False)
        self.layer_changed.emit(layer)
        return True

    def set_compact(self, value: bool) -> None:
        value = bool(value)
        if value != self.compact:
            self.compact = value
            self.compact_changed.emit(value)

    def set_path(self, path) -> None:
        path = str(path)
        if path != self.path:
            self.path = path
            self.path_changed.emit(path)

    # ----------------------------------------------------------- encodings
    def set_encoding(self, enc: Encoding) -> None:
        """Adopt ``enc`` as the last encoding."""
        self.last = enc
        self.encoding_changed.emit(enc)

    def encoding_of(self, layer) -> Encoding | None:
        """The last encoding if it is of ``layer`` (by identity), else None."""
        last = self.last
        return last if last is not None and last.layer is layer else None

    @property
    def shown(self) -> Encoding | None:
        """The encoding whose statistics the dock shows: the last one, if of the layer."""
        return self.encoding_of(self.layer)

    def stats(self) -> dict[str, str]:
        """The statistics shown (:data:`STATS` keys): :attr:`shown`'s, or blanks."""
        enc = self.shown
        return enc.texts() if enc is not None else dict.fromkeys(STATS, BLANK)

    def enabled(self, busy: bool) -> dict[str, bool]:
        """Which of the dock's controls can be used (``busy``: a task runs)."""
        idle = not busy
        has_layer, has_last = self.layer is not None, self.last is not None
        return {
            "encode": idle and has_layer, "save": idle and has_last,
            "decode_last": idle and has_last, "decode_file": idle, "browse": idle,
            "check": idle and has_layer, "layer": idle,
        }

    # ---------------------------------------------------------- validation
    def encodable(self, layer=None):
        """``layer`` (default: :attr:`layer`) if it can be encoded; else :class:`Refused`."""
        layer = self.layer if layer is None else layer
        problem = layer_problem(layer)
        if problem:
            raise Refused(problem)
        return layer

    def need_encoding(self, what: str) -> Encoding:
        """The last encoding; :class:`Refused` ("Nothing to <what>: ...") if none."""
        if self.last is None:
            raise Refused(f"Nothing to {what}: encode a layer first.")
        return self.last

    def save_path(self, path) -> str:
        """Where :meth:`need_encoding` 's encoding is saved: ``path`` with ``*.rle.json``."""
        self.need_encoding("save")
        path = str(path)
        if not path.lower().endswith(rle.SUFFIX):
            path += rle.SUFFIX
        return path

    def save_name(self) -> str:
        """The file name proposed by the save dialog."""
        return f"{self.last.layer_name}{rle.SUFFIX}" if self.last is not None else ""

    def decode_path(self, path=None) -> str:
        """The file to decode: ``path`` (which becomes :attr:`path`), else :attr:`path`."""
        path = self.path.strip() if path is None else str(path)
        if not path:
            raise Refused("Choose an .rle.json file to decode first.")
        self.set_path(path)
        return path

    def decode_last_meta(self) -> tuple[Encoding, dict[str, Any]]:
        """The last encoding and the keyword arguments of the layer it decodes into
        (named after its layer, with that layer's scale and translate if it has them)."""
        enc = self.need_encoding("decode")
        meta: dict[str, Any] = {"name": f"{enc.layer_name} decoded"}
        source = enc.layer
        if source is not None and getattr(source, "ndim", None) == len(enc.shape):
            meta["scale"] = source.scale
            meta["translate"] = source.translate
        return enc, meta

    # ---------------------------------------------------------- round trip
    def set_check(self, enc: Encoding, text: str) -> str:
        """Adopt the result of a round-trip check of ``enc`` (:func:`round_trip`); the
        encoding becomes the last one. Returns the dock's message."""
        if enc is not self.last:
            self.set_encoding(enc)
        self.check_result = text
        ok = text.startswith("identical")
        self._set_check_message(f"{enc.layer_name}: {text}", ok)
        return "Round trip: " + ("identical." if ok else "the layer differs.")

    def _set_check_message(self, message: str, ok: bool) -> None:
        changed = message != self.check_message or ok != self.check_ok
        self.check_message, self.check_ok = message, ok
        if changed:
            self.check_changed.emit(message)


def decoded_message(name: str, data: np.ndarray) -> str:
    """The dock's message after decoding ``data`` into the layer ``name``."""
    return (f"Decoded into layer '{name}' ({' x '.join(map(str, data.shape))}, "
            f"{data.dtype}).")
