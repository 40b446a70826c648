"""Layer helpers of the dock widgets: layer kinds and data, output checks, layer pickers.

- :func:`unwrap`, :func:`layer_kind`, :func:`layer_data`: the layer behind napari's
  proxy, its kind, its full-resolution data.
- :func:`layer_sources`, :func:`check_output`: never write an export over, or into, the
  files the layers show.
- :class:`LayerComboBox`: a combo box of the viewer's layers of some kinds, kept in sync
  with ``viewer.layers`` (added, removed, moved, renamed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox

__all__ = ["LayerComboBox", "check_output", "layer_data", "layer_kind", "layer_sources",
           "unwrap"]


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
