"""Selecting objects in the Voxel index dock: typed ids, table rows, clicks and
shift-clicks on the canvas (2D and 3D), each read from the index only.

A click on an object visible in the current slice keeps the slice; a table or typed
selection goes to the plane where the object has most voxels
(:func:`~.index_view.plane_most`). Clicks select only in ``pan_zoom`` mode (napari's
own ``pick`` mode also selects, and the dock follows it).
"""

from __future__ import annotations

import numpy as np

from ._common import layer_kind
from .index_view import focus_object

__all__ = ["SelectActions"]


class SelectActions:
    """Selection methods of :class:`~.index_widget.VoxelIndexWidget` (a mixin)."""

    def _on_go(self) -> None:
        text = self.label_edit.text().strip()
        try:
            label = int(text)
        except ValueError:
            self.show_message(f"'{text}' is not a label id (type an integer).", error=True)
            return
        self.select_label(label)

    def select_label(self, label, *, _from_table: bool = False, move: bool = True,
                     keep_selection: bool = False, keep_slice: bool = False) -> bool:
        """Select object ``label``: the dock's selection (just it, unless
        ``keep_selection``), the layer's selected label, the view and the table row.

        The view centres on the object and, unless ``keep_slice`` (a click on a visible
        object), slices to the plane where it has most voxels. Uses the index only; the
        stack is never scanned. Returns False (with a message) if there is no index or
        the label is not in it.
        """
        idx, layer = self.index, self.layer
        if idx is None or layer is None:
            self.show_message("Build the index first.", error=True)
            return False
        try:
            label = int(label)
        except (TypeError, ValueError):
            self.show_message(f"{label!r} is not a label id.", error=True)
            return False
        if label not in idx:
            self.show_message(f"Label {label} is not in the index.", error=True)
            return False
        self.focus_label = label
        self._syncing = True
        try:
            if self.show_selected_check.isChecked() and not layer.show_selected_label:
                layer.show_selected_label = True
            layer.selected_label = label
        finally:
            self._syncing = False
        if move:
            focus_object(self.viewer, layer, idx, label, fill=self.zoom_fill,
                         lead=() if self.frame_t is None else (self.frame_t,),
                         min_extent=self.zoom_min_extent, move_slice=not keep_slice,
                         plane="most")
        before = self.selected_labels
        if not keep_selection:
            self.state.set_selection([label])  # a change shows itself (selection_changed)
        if not _from_table and self.selected_labels == before:
            self.objects_panel.show_selection(before, label)  # the row made current
        self.label_edit.setText(str(label))
        if self.stale:
            self.show_message("The index is stale: positions may be out of date. Rebuild it.")
        else:
            mark = self.state.marks.get(label)
            self.show_message(f"Label {label}: {idx.size(label):,} voxels"
                              + (f", marked {mark}." if mark else "."))
        return True

    def _on_layer_selected_label(self, event=None) -> None:
        """The layer's selected label changed outside the widget (pick mode, layer controls)."""
        if self._syncing or self.index is None or self.layer is None:
            return
        label = self.layer.selected_label
        if label not in self.index:
            self.state.set_selection(())
            return
        if self.layer.mode in ("pan_zoom", "pick"):
            self.select_label(label)
        else:  # painting with another label: follow in the table, keep the view still
            self.objects_panel.show_selection([label], label)

    def _on_layer_drag(self, layer, event):
        """Mouse callback on the Labels layer: a click (no drag) in pan_zoom selects the
        object under the mouse, keeping the slice; shift-click adds it to or removes it
        from the selection.

        The label is read at press time with ``layer.get_value(..., world=True)`` (a ray
        through the volume in 3D) and applied on release unless the mouse moved more than
        a few pixels (then it was a pan or rotate drag).
        """
        if layer.mode != "pan_zoom" or self.index is None:
            return
        value = layer.get_value(
            event.position,
            view_direction=event.view_direction,
            dims_displayed=list(event.dims_displayed),
            world=True,
        )
        if isinstance(value, tuple):  # multiscale: (data_level, value)
            value = value[-1]
        start = np.asarray(event.pos, dtype=float)
        yield
        moved = 0.0
        while event.type == "mouse_move":
            moved = max(moved, float(np.abs(np.asarray(event.pos, float) - start).max()))
            yield
        if moved > 4 or value is None:
            return
        value = int(value)
        if value == getattr(layer.colormap, "background_value", 0) or value not in self.index:
            return
        shift = "Shift" in {str(getattr(m, "name", m)) for m in (event.modifiers or ())}
        if shift:
            self.state.toggle(value)
            if value in self.selected_labels:
                self.select_label(value, keep_selection=True, move=False)
            return
        self.select_label(value, keep_slice=True)

    def _on_show_selected_toggled(self, on: bool) -> None:
        if layer_kind(self.layer) == "labels":
            self.layer.show_selected_label = bool(on)
