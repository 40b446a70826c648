"""Plumbing shared by the dock widgets: background tasks, the message line, layer pickers.

- :class:`DockWidget`: base class of the docks. ``viewer``, ``message_label`` and
  :meth:`~DockWidget.show_message` (errors in red and as a napari notification),
  ``busy`` / ``worker`` over the dock's task runners, ``cleanup`` when the dock closes.
- :class:`TaskRunner`: runs one task at a time in a napari ``thread_worker``, with a
  progress bar fed from the worker thread; expected errors (:data:`EXPECTED_ERRORS`) and
  :class:`Failure` results become a message in the dock, not a traceback.
- :class:`LayerComboBox`: a combo box of the viewer's layers of some kinds, kept in sync
  with ``viewer.layers`` (added, removed, moved, renamed).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import QComboBox, QLabel, QProgressBar, QWidget

from ..errors import InputChangedError

__all__ = [
    "EXPECTED_ERRORS",
    "DockWidget",
    "Failure",
    "LayerComboBox",
    "TaskRunner",
    "layer_data",
    "layer_kind",
    "unwrap",
]

#: Failures of a task caused by its input (bad file, bad data): a message, no traceback.
EXPECTED_ERRORS = (TypeError, ValueError, OSError, MemoryError, KeyError, InputChangedError)

#: Style sheet of the message line for an error.
ERROR_STYLE = "color: #e0504d;"


@dataclass
class Failure:
    """What a task returns instead of raising for an expected problem: the message."""

    message: str


def unwrap(layer):
    """The layer itself: napari hands plugin widgets proxies, a new one per access."""
    return getattr(layer, "__wrapped__", layer)


def layer_kind(layer) -> str:
    """``"labels"``, ``"image"`` or ``""`` (any other layer, or None)."""
    from napari.layers import Image, Labels

    if isinstance(layer, Labels):
        return "labels"
    if isinstance(layer, Image):
        return "image"
    return ""


def layer_sources(*layers) -> list:
    """The files the layers were read from (``layer.source.path``), for output checks:
    an export must never be written over, or into, what a layer shows."""
    from pathlib import Path

    found = []
    for layer in layers:
        path = getattr(getattr(unwrap(layer), "source", None), "path", None) if layer else None
        if path:
            found.append(Path(path))
    return found


def check_output(dock, path, *layers, **kwargs):
    """``io.check_output_file(path, sources=layer_sources(*layers), **kwargs)``; on a
    refusal the reason goes to the dock's message line and None is returned."""
    from labelprep.io import OutputPathError, check_output_file

    try:
        return check_output_file(path, sources=layer_sources(*layers), **kwargs)
    except OutputPathError as exc:
        dock.show_message(f"Cannot write: {exc}", error=True)
        return None


def layer_data(layer) -> Any:
    """A layer's full-resolution data (level 0 if multiscale), as stored (may be dask)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def time_left(elapsed: float, done: int, total: int) -> str:
    """"about 40 s left" from the rate so far; "" in the first second or before any work.

    >>> time_left(10.0, 25, 100), time_left(0.5, 1, 10), time_left(100.0, 10, 100)
    ('about 30 s left', '', 'about 15 min left')
    """
    if elapsed < 1.0 or done <= 0 or done >= total:
        return ""
    left = elapsed * (total - done) / done
    return f"about {left:.0f} s left" if left < 90 else f"about {left / 60:.0f} min left"


class DockWidget(QWidget):
    """Base of the dock widgets: the viewer, a message line and background tasks.

    Subclasses place ``message_label`` in their layout, create their runners with
    :meth:`task_runner` and their layer pickers as :class:`LayerComboBox`.

    Attributes
    ----------
    viewer : the napari viewer (as napari handed it: possibly a proxy).
    message_label : QLabel, the last message (errors in red).
    busy : bool, True while a task of the dock runs.
    worker : the running ``thread_worker`` (the first one if several run) or None.
    """

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._runners: list[TaskRunner] = []

    def scroll_body(self) -> QWidget:
        """The widget to lay the dock's controls out on, inside a vertical scroll area:
        docks stacked in one napari dock area then share the screen's height instead of
        growing the window past it. The width stays what the controls need."""
        from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout

        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        area.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(area)
        self._scroll_area = area
        return body

    def scroll_to(self, widget: QWidget) -> None:
        """Scroll the dock's body so that ``widget`` (one of its parts) is in view."""
        area = getattr(self, "_scroll_area", None)
        if area is not None:
            area.ensureWidgetVisible(widget)

    def minimumSizeHint(self):  # noqa: N802 - Qt's name
        """As wide as the controls, as low as a few rows (the rest scrolls)."""
        hint = super().minimumSizeHint()
        area = getattr(self, "_scroll_area", None)
        if area is not None:
            body = area.widget().minimumSizeHint()
            hint.setWidth(body.width() + area.verticalScrollBar().sizeHint().width())
            hint.setHeight(min(body.height(), 200))
        return hint

    def sizeHint(self):  # noqa: N802 - Qt's name
        """The minimum width (the canvas keeps the rest), the controls' full height."""
        hint = super().sizeHint()
        area = getattr(self, "_scroll_area", None)
        if area is not None:
            hint.setWidth(self.minimumSizeHint().width())
            hint.setHeight(area.widget().sizeHint().height())
        return hint

    def show_message(self, text: str, error: bool = False) -> None:
        """Show ``text`` in the widget; errors in red and also as a napari notification."""
        self.message_label.setText(text)
        self.message_label.setStyleSheet(ERROR_STYLE if error else "")
        if error and text:
            from napari.utils.notifications import show_error

            show_error(text)

    def task_runner(self, **options) -> TaskRunner:
        """A new :class:`TaskRunner` of this dock (counted in :attr:`busy`)."""
        runner = TaskRunner(self, **options)
        self._runners.append(runner)
        return runner

    @property
    def busy(self) -> bool:
        """True while a task of the dock runs."""
        return any(runner.busy for runner in self._runners)

    @property
    def worker(self):
        """The running ``thread_worker`` (the first one if several run), or None."""
        return next((r.worker for r in self._runners if r.worker is not None), None)

    def cleanup(self) -> None:
        """Disconnect from the viewer (called when the dock closes)."""
        for combo in self.findChildren(LayerComboBox):
            combo.cleanup()

    def closeEvent(self, event) -> None:  # pragma: no cover - exercised by napari
        self.cleanup()
        super().closeEvent(event)


class _PaintLock:
    """Keeps a Labels layer out of its painting modes until :meth:`release`.

    The layer's mode is set to pan/zoom and any switch back to paint, fill, erase or
    polygon is undone with a message, so no brush stroke changes the array a task reads
    in place. (Not ``layer.editable = False``: napari clears the undo history then.)
    """

    PAINTING = ("paint", "fill", "erase", "polygon")

    def __init__(self, layer, dock):
        self.layer = layer
        self.dock = dock
        self.mode = str(getattr(layer, "mode", "pan_zoom"))
        self._held = True
        if self.mode in self.PAINTING:
            layer.mode = "pan_zoom"
        layer.events.mode.connect(self._on_mode)

    def _on_mode(self, event=None) -> None:
        if self._held and str(self.layer.mode) in self.PAINTING:
            # set it back once napari has finished switching (not from inside its event)
            QTimer.singleShot(0, self._back_to_pan_zoom)

    def _back_to_pan_zoom(self) -> None:
        if self._held and str(self.layer.mode) in self.PAINTING:
            self.layer.mode = "pan_zoom"
            self.dock.show_message(
                "Painting is paused while this layer is being read; it resumes when done.")

    def release(self) -> None:
        self._held = False
        with contextlib.suppress(RuntimeError, AttributeError, TypeError, ValueError):
            self.layer.events.mode.disconnect(self._on_mode)
            if self.mode in self.PAINTING and str(self.layer.mode) == "pan_zoom":
                self.layer.mode = self.mode


class TaskRunner(QObject):
    """Runs one task at a time for a :class:`DockWidget` in a napari ``thread_worker``.

    :meth:`start` runs ``func(*args, progress)`` in a thread: ``progress(done, total)``
    moves the progress bar from there, an expected error (:data:`EXPECTED_ERRORS`) or a
    returned :class:`Failure` becomes a red message in the dock, and ``on_done(result)``
    gets any other result in the GUI thread. A bug (another exception) shows
    "Unexpected error" (napari shows its traceback). ``on_change()`` is called when a task
    starts and when it ends, to enable or disable buttons.

    Parameters
    ----------
    dock : DockWidget
        Where messages go.
    progress_bar : QProgressBar, optional
        Shown while a task runs ("busy" until the first progress report), then hidden.
    busy_message : str
        The error shown when a task is started while another one runs.
    announce : bool
        Show "<label>..." in the message line when a task starts.
    on_change : callable, optional
        Called with no argument after a task starts and after it ends.
    """

    _progressed = Signal(object, object)
    _said = Signal(str)

    def __init__(
        self,
        dock: DockWidget,
        *,
        progress_bar: QProgressBar | None = None,
        busy_message: str = "Busy: wait for the running task to finish.",
        announce: bool = False,
        on_change: Callable[[], None] | None = None,
    ):
        super().__init__(dock)
        self.dock = dock
        self.progress_bar = progress_bar
        self.busy_message = busy_message
        self.announce = announce
        self.on_change = on_change
        self.worker = None
        self.activity = None  # napari.utils.progress of the running task
        self._lock: _PaintLock | None = None
        self._progressed.connect(self._on_progress)
        self._said.connect(dock.show_message)

    @property
    def busy(self) -> bool:
        """True while a task runs."""
        return self.worker is not None

    def refuse_if_busy(self) -> bool:
        """True, after saying so in the dock, if a task is running."""
        if self.worker is None:
            return False
        self.dock.show_message(self.busy_message, error=True)
        return True

    def start(
        self,
        func: Callable,
        *args,
        label: str,
        on_done: Callable[[Any], None],
        message: str | None = None,
        failed: str | None = None,
        progress_format: str | None = None,
        lock: Any = None,
    ):
        """Run ``func(*args, progress)`` in a thread; returns the worker (None if busy).

        ``label`` names the task: the progress bar reads "<label>... 42%" (or
        ``progress_format``) and an expected error reads "<label> failed: <error>" (or
        ``failed`` + "<error>"). ``message`` is shown when the task starts. ``lock`` is a
        Labels layer whose data the task reads in place: it is kept out of its painting
        modes until the task ends (:class:`_PaintLock`), so no stroke changes the array
        while it is read.
        """
        from napari.qt.threading import create_worker

        if self.refuse_if_busy():
            return None
        prefix = f"{label} failed: " if failed is None else failed

        def run():
            try:
                return func(*args, self._progress)
            except EXPECTED_ERRORS as exc:
                return Failure(f"{prefix}{exc}")

        def done(result):
            if isinstance(result, Failure):
                self.dock.show_message(result.message, error=True)
            else:
                on_done(result)

        worker = create_worker(run, _start_thread=False)
        worker.returned.connect(done)
        if lock is not None:
            self._lock = _PaintLock(lock, self.dock)  # held here: napari's events keep weak refs
            worker.finished.connect(self._lock.release)
        worker.finished.connect(self._on_finished)
        worker.errored.connect(self._on_errored)
        self.worker = worker
        if message is None and self.announce:
            message = f"{label}..."
        if message is not None:
            self.dock.show_message(message)
        from napari.utils import progress

        # napari's own progress (its activity dock), beside the dock's bar
        self.activity = progress(total=0, desc=label)
        bar = self.progress_bar
        if bar is not None:
            bar.setRange(0, 0)  # busy until the first report
            bar.setFormat(f"{label}... %p%" if progress_format is None else progress_format)
            bar.setVisible(True)
        self._eta = None if progress_format is not None else (label, time.monotonic())
        self._changed()
        worker.start()
        return worker

    def say(self, text: str) -> None:
        """Show ``text`` in the dock's message line; callable from the worker thread."""
        with contextlib.suppress(RuntimeError):  # the dock was closed meanwhile
            self._said.emit(str(text))

    def _progress(self, done, total) -> None:
        """The ``progress(done, total)`` callback given to tasks (worker thread)."""
        with contextlib.suppress(RuntimeError):  # the dock was closed meanwhile
            self._progressed.emit(done, total)

    def _on_progress(self, done, total) -> None:
        bar = self.progress_bar
        total = int(total)
        activity = getattr(self, "activity", None)
        if activity is not None and total > 0:
            if activity.total != total:
                activity.total = total
            activity.n = int(done)
            activity.refresh()
        if bar is None or total <= 0:
            return
        eta = getattr(self, "_eta", None)
        if eta is not None:
            text = time_left(time.monotonic() - eta[1], int(done), total)
            bar.setFormat(f"{eta[0]}... %p%" + (f" ({text})" if text else ""))
        if total > 2**30:  # QProgressBar holds ints: scale big totals down to per-mille
            done, total = int(done) * 1000 // total, 1000
        bar.setRange(0, total)
        bar.setValue(int(done))

    def _on_finished(self) -> None:
        self.worker = None
        activity, self.activity = getattr(self, "activity", None), None
        if activity is not None:
            activity.close()
        if self.progress_bar is not None:
            self.progress_bar.setVisible(False)
        self._changed()

    def _on_errored(self, exc) -> None:  # a bug: napari shows the traceback too
        self.dock.message_label.setText(f"Unexpected error: {exc}")
        self.dock.message_label.setStyleSheet(ERROR_STYLE)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


class LayerComboBox(QComboBox):
    """A combo box of the viewer's layers of some kinds, kept in sync with ``viewer.layers``.

    Layers of ``kinds[0]`` are listed first by name, then those of the other kinds as
    "name (kind)" (listed to explain why they do not fit); ``none_text`` adds a first item
    meaning "no layer". The current layer is kept (by identity) when layers are added,
    removed, moved or renamed; when it goes away the first layer of ``kinds[0]`` is taken
    (with ``follow_active``: the active layer if it is one, else the top-most one), else
    the first item. The "no layer" item counts as a choice once there was something else
    to choose. Layers are unwrapped (napari hands plugin widgets proxies).

    Parameters
    ----------
    viewer : napari.Viewer
    kinds : sequence of ``"labels"`` / ``"image"``
    none_text : str, optional
        Text of a first item standing for "no layer" (:meth:`layer` is then None).
    exclude : callable, optional
        Returns layers not to list (e.g. the dock's own result layers).
    follow_inserted : bool
        A newly added layer of ``kinds[0]`` becomes the current one.
    follow_active : bool
        A layer of ``kinds[0]`` made active in the layer list becomes the current one
        (only while the combo box is enabled).

    Signals
    -------
    layer_changed(layer or None)
        The current layer changed (picked by the user or after a change of the list).
    """

    layer_changed = Signal(object)

    def __init__(
        self,
        viewer,
        kinds: Sequence[str] = ("labels",),
        *,
        none_text: str | None = None,
        exclude: Callable[[], Iterable] | None = None,
        follow_inserted: bool = False,
        follow_active: bool = False,
        parent=None,
    ):
        super().__init__(parent)
        self._viewer = viewer
        self._kinds = tuple(kinds)
        self._none_text = none_text
        self._exclude = exclude
        self._follow_inserted = follow_inserted
        self._follow_active = follow_active
        self._items: list = []  # the layer of each item (None for the "no layer" item)
        self._current = None
        self.currentIndexChanged.connect(self._on_index_changed)
        events = viewer.layers.events
        events.inserted.connect(self.refresh)
        events.removed.connect(self.refresh)
        events.reordered.connect(self.refresh)
        events.inserted.connect(self._watch_name)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        if follow_active:
            viewer.layers.selection.events.active.connect(self._on_active)
        self.refresh()

    def layer(self):
        """The current layer, or None."""
        return self._current

    def layers(self) -> list:
        """The layers listed, in order."""
        return [layer for layer in self._items if layer is not None]

    @contextlib.contextmanager
    def keeping_current(self):
        """Within the block, layers added do not become the current one (a dock adding a
        result layer keeps working on its source)."""
        follow, self._follow_inserted = self._follow_inserted, False
        try:
            yield
        finally:
            self._follow_inserted = follow

    def set_layer(self, layer) -> None:
        """Make ``layer`` (a listed layer of the viewer) the current one."""
        i = self._position(unwrap(layer)) if layer is not None else -1
        if i < 0:
            raise ValueError(f"layer {getattr(layer, 'name', layer)!r} is not in the viewer")
        self.setCurrentIndex(i)

    def refresh(self, event=None) -> None:
        """Rebuild the list from ``viewer.layers``, keeping the current layer if listed."""
        skip = {id(unwrap(x)) for x in (self._exclude() if self._exclude else ()) if x is not None}
        by_kind: dict[str, list] = {kind: [] for kind in self._kinds}
        for layer in self._viewer.layers:
            layer = unwrap(layer)
            kind = layer_kind(layer)
            if kind in by_kind and id(layer) not in skip:
                by_kind[kind].append(layer)
        preferred = by_kind[self._kinds[0]]
        layers = [layer for kind in self._kinds for layer in by_kind[kind]]
        inserted = None
        if getattr(event, "type", "") == "inserted":
            inserted = unwrap(getattr(event, "value", None))
        # "no layer" is kept only if it was chosen among others
        keep_none = self._none_text is not None and self._current is None and len(self._items) > 1
        current = self._current
        if self._follow_inserted and _contains(preferred, inserted):
            current = inserted
        elif keep_none or _contains(layers, current):
            pass
        else:
            current = None
            active = unwrap(self._viewer.layers.selection.active) if self._follow_active else None
            if _contains(preferred, active):
                current = active
            elif preferred:
                current = preferred[-1] if self._follow_active else preferred[0]
            elif layers and self._none_text is None:
                current = layers[0]
        self._items = ([None] if self._none_text is not None else []) + layers
        self.blockSignals(True)
        self.clear()
        for layer in self._items:
            self.addItem(self._text(layer))
        self.setCurrentIndex(self._position(current))
        self.blockSignals(False)
        self._set_current(current)

    def cleanup(self) -> None:
        """Disconnect from the viewer."""
        events = self._viewer.layers.events
        for emitter, slot in (
            (events.inserted, self.refresh),
            (events.removed, self.refresh),
            (events.reordered, self.refresh),
            (events.inserted, self._watch_name),
            (self._viewer.layers.selection.events.active, self._on_active),
        ):
            with contextlib.suppress(Exception):
                emitter.disconnect(slot)
        for layer in self._viewer.layers:
            with contextlib.suppress(Exception):
                layer.events.name.disconnect(self.refresh)

    def _text(self, layer) -> str:
        if layer is None:
            return self._none_text
        kind = layer_kind(layer)
        return layer.name if kind == self._kinds[0] else f"{layer.name} ({kind})"

    def _position(self, layer) -> int:
        """Index of the item of ``layer`` (None: the "no layer" item), or -1."""
        return next((i for i, item in enumerate(self._items) if item is layer), -1)

    def _set_current(self, layer) -> None:
        if layer is not self._current:
            self._current = layer
            self.layer_changed.emit(layer)

    def _on_index_changed(self, i: int) -> None:
        self._set_current(self._items[i] if 0 <= i < len(self._items) else None)

    def _watch_name(self, event=None) -> None:
        layer = getattr(event, "value", None)
        if layer is not None:
            layer.events.name.connect(self.refresh)

    def _on_active(self, event=None) -> None:
        active = unwrap(self._viewer.layers.selection.active)
        if self.isEnabled() and layer_kind(active) == self._kinds[0]:
            i = self._position(active)
            if i >= 0:
                self.setCurrentIndex(i)


def _contains(layers: list, layer) -> bool:
    return layer is not None and any(layer is item for item in layers)
