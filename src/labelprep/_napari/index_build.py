"""Building the Voxel index dock's index and keeping it current: the build (one stack,
or every time point of a time-lapse layer) in a worker, the object table and the
layer's ``features`` from it, and the staleness that painting causes (undo / redo
included, told from slice refreshes by napari's history lengths).
"""

from __future__ import annotations

import time

import numpy as np

from ._common import layer_data, layer_kind
from ._compat import history_lengths
from .index_io import METADATA_KEY, features_for
from .index_loading import COLOURS_KEY, layer_problem
from .index_measure import join_measurements
from .index_model import REVIEW_COLUMN, merge_features
from .index_time import time_axis_of

__all__ = ["BuildActions"]


class _UndoEvent:
    """Stands for an undo/redo of the layer (napari emits no dedicated event)."""

    type = "undo"


class BuildActions:
    """Build and staleness methods of :class:`~.index_widget.VoxelIndexWidget`."""

    # ============================================================= build
    def build_index(self):
        """Index the current layer in a worker thread. Returns the worker (or None)."""
        layer = self.layer
        problem = layer_problem(layer)
        if problem:
            self.show_message(problem, error=True)
            return None
        data = layer_data(layer)  # not np.asarray: may be dask
        background = int(getattr(layer.colormap, "background_value", 0))
        generation = self._generation
        per_frame = time_axis_of(layer) is not None

        def build(data, background, progress):
            from labelprep import LabelIndex
            from labelprep.io import intensity_warning

            warning = intensity_warning(data)
            t0 = time.perf_counter()
            if per_frame:
                idx = self._build_timelapse(data, background, progress)
            else:
                idx = LabelIndex.build(data, background=background, progress=progress)
            seconds = time.perf_counter() - t0
            return idx, None if per_frame else idx.table(), seconds, warning

        def done(result):
            if layer is not self.layer:
                return  # the user switched layers meanwhile: drop it
            idx, table, seconds, warning = result
            self.state.intensity_warning = None
            self._drop_timelapse()
            if per_frame:
                self._adopt_timelapse(idx, seconds)
            else:
                self._set_index(idx, seconds=seconds, table=table, source="built")
            if self._generation != generation:  # painted while building
                self._mark_stale()
            if warning is not None:
                self.state.intensity_warning = warning
                self.show_message(f"Indexed, but {warning}.", error=True)

        # the build reads the layer's own array (no copy): no painting until it is done
        return self.tasks.start(build, data, background, on_done=done, label="Indexing",
                                lock=layer)

    def _set_index(self, idx, *, seconds=None, table=None, source="built") -> None:
        self.state.set_index(idx, seconds=seconds, source=source)
        self._show_table(idx, table=table)
        self._update_state()
        self.show_message("")  # nothing selected: napari's default label 1 is no choice

    def _show_table(self, idx, *, table=None, keep_view: bool = False) -> None:
        """The object table (with the ``review`` column) in the dock and merged into the
        layer's ``features`` on ``label``: other plugins' columns are kept."""
        table = self._compose_table(idx.table() if table is None else table, self.frame_t,
                                    self.state.measurements, self.state.marks)
        scroll = self.table.verticalScrollBar().value() if keep_view else None
        self._set_model_table(table)  # with every time point's rows if asked (index_time)
        if scroll is None:
            self.table.resizeColumnsToContents()
        else:
            self.table.verticalScrollBar().setValue(scroll)
        layer = self.layer
        if layer_kind(layer) == "labels":
            own = {*table.columns, *self.measure_columns}  # measured before: ours too
            layer.features = merge_features(layer.features, features_for(table), own)
        self._on_size_range()
        self.objects_panel.show_selection(self.selected_labels, self.focus_label)

    def _compose_table(self, table, t, measurements, marks):
        """The object table of one index as the dock shows it: ``table`` (``idx.table()``)
        with a ``t`` column first (``t`` not None: a time point of a time-lapse layer),
        the ``measurements`` of the same labels joined (none if None or of other labels),
        the ``colour`` column of a colour-coded layer, and the ``review`` column from
        ``marks`` (label -> mark; "" where unmarked). ``table`` is changed in place."""
        if t is not None and "t" not in table:
            table.insert(0, "t", np.full(len(table), t, dtype=np.int64))
        table = self._with_colours(join_measurements(table, measurements))
        table[REVIEW_COLUMN] = [marks.get(L, "") for L in table["label"].tolist()]
        return table

    def _with_colours(self, table):
        """``table`` with a ``colour`` column (``#rrggbb``) for a colour-coded layer."""
        colours = (self.layer.metadata or {}).get(COLOURS_KEY) if self.layer is not None \
            else None
        if colours is not None and "colour" not in table:
            ids = table["label"].to_numpy()
            known = (ids >= 0) & (ids < len(colours))
            names = self._colour_names(colours)
            # right after label (after t, label in a time-lapse), as the CLI's CSVs
            table.insert(table.columns.get_loc("label") + 1, "colour",
                         np.where(known, names[np.clip(ids, 0, len(colours) - 1)], ""))
        return table

    def _colour_names(self, colours: np.ndarray) -> np.ndarray:
        """``#rrggbb`` of each row of a colour table, made once per table (the table is
        shown again after every edit, mark load and time step)."""
        cached = getattr(self, "_colour_names_of", None)
        if cached is None or cached[0] is not colours:
            from labelprep.io import hex_colours

            self._colour_names_of = (colours, np.array(hex_colours(colours), dtype=object))
        return self._colour_names_of[1]

    def _clear_index(self) -> None:
        self._drop_timelapse()
        self.state.clear()
        self.focus_label = None
        self.model.set_table(None)

    # ============================================================= stale
    def _on_layer_set_data(self, event=None) -> None:
        layer = self.layer
        if layer is None or self._editing:
            return
        state = history_lengths(layer)
        if state is not None and state != self._history_seen:
            old, self._history_seen = self._history_seen, state
            if not self._follow_napari_history(old, state):
                self._on_layer_data_changed(_UndoEvent())

    def _on_layer_data_changed(self, event=None) -> None:
        if self._editing:
            return  # our own edit: the index follows it (EditActions)
        if self.layer is not None:
            self._history_seen = history_lengths(self.layer)
        self._generation += 1
        if self.layer is not None and isinstance(self.layer.metadata, dict):
            self.layer.metadata.pop(METADATA_KEY, None)  # the attached index no longer matches
        if self.index is None:
            return
        self._mark_stale()
        if (
            getattr(event, "type", "") in ("paint", "data", "undo")
            and self.auto_rebuild_check.isChecked()
        ):
            # Debounce: one edit emits several events (paint, then labels_update), and
            # quick successive strokes should give one rebuild, not one each.
            self._rebuild_timer.start()

    def _auto_rebuild(self) -> None:
        if not (self.stale and self.auto_rebuild_check.isChecked()):
            return
        if self.busy:
            self._rebuild_pending = True
        else:
            self.build_index()

    def _mark_stale(self) -> None:
        self.state.mark_stale()

