"""The base class of the dock widgets: the viewer, the message line, a scrolling body.

- :class:`DockWidget`: ``viewer``, ``message_label`` and :meth:`~DockWidget.show_message`
  (errors in red and as a napari notification), :meth:`~DockWidget.scroll_body` /
  :meth:`~DockWidget.scroll_to` and the size hints of a dock that scrolls, ``busy`` /
  ``worker`` over the dock's task runners (:mod:`._tasks`), ``cleanup`` when the dock
  closes (its layer pickers, :mod:`._layers`).
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import QLabel, QWidget

from ._layers import LayerComboBox
from ._tasks import ERROR_STYLE, TaskRunner

__all__ = ["DockWidget"]


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
        body.installEventFilter(self)  # the body's new minimum width reaches the dock
        return body

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        """A layout change inside the scroll area (a label's longer text, a shown row)
        is not seen by the dock's own layout: ask again for our size hints, so the dock
        widens to what the controls need instead of clipping them."""
        area = getattr(self, "_scroll_area", None)
        if (area is not None and obj is area.widget()
                and event.type() == QEvent.Type.LayoutRequest):
            self.updateGeometry()
        return super().eventFilter(obj, event)

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
