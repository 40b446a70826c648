"""Plumbing shared by the dock widgets: background tasks, the message line, layer pickers.

The place the docks import it from; it lives in three modules:

- :mod:`._dock`: :class:`DockWidget`, base class of the docks. ``viewer``,
  ``message_label`` and :meth:`~DockWidget.show_message` (errors in red and as a napari
  notification), ``busy`` / ``worker`` over the dock's task runners, ``cleanup`` when the
  dock closes.
- :mod:`._tasks`: :class:`TaskRunner`, runs one task at a time in a napari
  ``thread_worker``, with a progress bar fed from the worker thread; expected errors
  (:data:`EXPECTED_ERRORS`) and :class:`Failure` results become a message in the dock,
  not a traceback.
- :mod:`._layers`: :class:`LayerComboBox`, a combo box of the viewer's layers of some
  kinds, kept in sync with ``viewer.layers`` (added, removed, moved, renamed), and the
  layer helpers (:func:`layer_data`, :func:`layer_kind`, :func:`unwrap`,
  :func:`check_output`, :func:`layer_sources`).
"""

from __future__ import annotations

from ._dock import DockWidget
from ._layers import LayerComboBox, check_output, layer_data, layer_kind, layer_sources, unwrap
from ._tasks import ERROR_STYLE, EXPECTED_ERRORS, Failure, TaskRunner, time_left

__all__ = [
    "ERROR_STYLE",
    "EXPECTED_ERRORS",
    "DockWidget",
    "Failure",
    "LayerComboBox",
    "TaskRunner",
    "check_output",
    "layer_data",
    "layer_kind",
    "layer_sources",
    "time_left",
    "unwrap",
]
