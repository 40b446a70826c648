"""Background tasks of the dock widgets: a napari ``thread_worker`` with a progress bar.

- :class:`TaskRunner`: runs one task at a time in a napari ``thread_worker``, with a
  progress bar fed from the worker thread (and napari's own ``progress`` in its activity
  dock, with an estimate of the time left); expected errors (:data:`EXPECTED_ERRORS`) and
  :class:`Failure` results become a message in the dock, not a traceback.
- :class:`_PaintLock`: keeps a Labels layer a task reads out of its painting modes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QProgressBar

from ..errors import InputChangedError

if TYPE_CHECKING:
    from ._dock import DockWidget

__all__ = ["ERROR_STYLE", "EXPECTED_ERRORS", "Failure", "TaskRunner", "time_left"]

#: Failures of a task caused by its input (bad file, bad data): a message, no traceback.
EXPECTED_ERRORS = (TypeError, ValueError, OSError, MemoryError, KeyError, InputChangedError)

#: Style sheet of the message line for an error.
ERROR_STYLE = "color: #e0504d;"


@dataclass
class Failure:
    """What a task returns instead of raising for an expected problem: the message."""

    message: str


def time_left(elapsed: float, done: int, total: int) -> str:
    """"about 40 s left" from the rate so far; "" in the first second or before any work.

    >>> time_left(10.0, 25, 100), time_left(0.5, 1, 10), time_left(100.0, 10, 100)
    ('about 30 s left', '', 'about 15 min left')
    """
    if elapsed < 1.0 or done <= 0 or done >= total:
        return ""
    left = elapsed * (total - done) / done
    return f"about {left:.0f} s left" if left < 90 else f"about {left / 60:.0f} min left"


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

