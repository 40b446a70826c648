"""Time-lapse layers in the Voxel index dock: every time point indexed, the dock on one.

A Labels layer whose first axis is time (named ``t``, ``time``, ``frame``... in
``axis_labels``, or any 4D layer) is indexed as a :class:`labelprep.TimeLapseIndex`:
all time points in one worker, with progress. The dock then works on the time point the
viewer shows: its selection, measurements, review and edits are those of that frame, and
they follow the time slider (each time point keeps its marks and measurements). The
table (with a ``t`` column) lists every time point ("all time points", on by default;
off: the shown one only); choosing a row of another time point moves the slider there
and selects the object, as :meth:`select_object` does for a ``(t, label)``.
Coordinates exported from a frame get their ``t`` back where a layer needs it (Points
layers).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from ._common import layer_data

__all__ = ["TIME_AXIS_NAMES", "TimeLapseActions", "time_axis_of"]

TIME_AXIS_NAMES = {"t", "time", "frame", "frames", "timepoint"}


def time_axis_of(layer) -> int | None:
    """0 if ``layer``'s first axis is time (named so, or a 4D layer), else None; a time
    axis elsewhere raises ``ValueError`` with what to do."""
    names = [str(n).strip().lower() for n in (getattr(layer, "axis_labels", None) or ())]
    hits = [i for i, n in enumerate(names) if n in TIME_AXIS_NAMES]
    if hits and hits[0] != 0:
        raise ValueError(f"Layer '{layer.name}' has its time axis ('{names[hits[0]]}') at "
                         f"position {hits[0]}: put time first (numpy.moveaxis).")
    if hits or layer.ndim == 4:
        return 0
    return None


class TimeLapseActions:
    """Time-lapse methods of :class:`~.index_widget.VoxelIndexWidget` (a mixin)."""

    timelapse = None  #: the TimeLapseIndex of a time-lapse layer, else None
    frame_t: int | None = None  #: the time point the dock works on

    # ----------------------------------------------------------- the frame
    def stack_data(self):
        """What the index describes: the layer's data, or the shown time point of it (the
        same view object while the dock stays on that time point)."""
        data = layer_data(self.layer)
        if self.frame_t is None:
            return data
        cached = getattr(self, "_frame_view", None)
        if cached is None or cached[0] is not data or cached[1] != self.frame_t:
            self._frame_view = (data, self.frame_t, data[self.frame_t])
        return self._frame_view[2]

    def frame_transform(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, translate) of the indexed axes (without time)."""
        lead = 0 if self.frame_t is None else 1
        return (np.asarray(self.layer.scale, float)[lead:],
                np.asarray(self.layer.translate, float)[lead:])

    def _slider_t(self) -> int:
        step = self.viewer.dims.current_step
        axis = len(step) - self.layer.ndim  # the layer's first axis in the world
        return int(np.clip(step[axis], 0, len(self.timelapse.frames) - 1))

    def _build_timelapse(self, data, background, progress):
        from labelprep.timelapse import TimeLapseIndex

        return TimeLapseIndex.build(data, time_axis=0, background=background,
                                    progress=progress)

    def _adopt_timelapse(self, tl, seconds) -> None:
        self.objects_panel.set_time_lapse(True)  # before: no table shown for the old index
        self.objects_panel.all_times_check.setChecked(True)
        self.timelapse = tl
        self._timelapse_seconds = seconds
        self._frame_marks: dict[int, dict] = {}
        self._frame_measurements: dict[int, pd.DataFrame] = {}
        self._time_tables: dict[int, tuple] = {}  # t -> (index, its rows in the table)
        self.viewer.dims.events.current_step.connect(self._on_dims_step)
        self.frame_t = None
        self._show_frame(self._slider_t())

    def _drop_timelapse(self) -> None:
        if self.timelapse is not None:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                self.viewer.dims.events.current_step.disconnect(self._on_dims_step)
        self.timelapse = None
        self.frame_t = None
        self.objects_panel.set_time_lapse(False)

    def _on_dims_step(self, event=None) -> None:
        if self.timelapse is None or self.layer is None or self.busy:
            return
        t = self._slider_t()
        if t != self.frame_t:
            self._show_frame(t)

    def _show_frame(self, t: int) -> None:
        """Work on time point ``t``: its index, table, marks; selection and edits reset."""
        if self.frame_t is not None:
            self._store_frame()
        self.frame_t = int(t)
        self._set_index(self.timelapse.frames[t], seconds=self._timelapse_seconds,
                        source="built")
        self.state.set_marks(self._frame_marks.get(int(t), {}))
        self.state.measurements = self._frame_measurements.get(int(t))
        self._refresh_review_column()
        self.show_message(f"Time point {t}: {len(self.index):,} objects.")

    def _store_frame(self) -> None:
        """Keep the shown frame's marks and (edited) index before another is shown."""
        t = self.frame_t
        self._frame_marks[t] = dict(self.state.marks)
        self._frame_measurements[t] = self.state.measurements
        self._time_tables.pop(t, None)  # its marks or measurements may have changed
        if self.index is not None and self.index is not self.timelapse.frames[t]:
            from labelprep.timelapse import TimeLapseIndex

            frames = list(self.timelapse.frames)
            frames[t] = self.index
            self.timelapse = TimeLapseIndex(frames, time_axis=0)

    def select_object(self, t: int, label: int) -> bool:
        """Select object ``label`` of time point ``t``: the time slider moves there."""
        if self.timelapse is None:
            return self.select_label(label)
        if not 0 <= int(t) < len(self.timelapse.frames):
            self.show_message(f"Time point {t} is not in 0..{len(self.timelapse.frames) - 1}.",
                              error=True)
            return False
        self._go_to_time(t)
        return self.select_label(label)

    def _go_to_time(self, t: int) -> None:
        """Move the time slider to ``t`` and work on that time point."""
        axis = self.viewer.dims.ndim - self.layer.ndim
        world_t = float(self.layer.data_to_world([t] + [0] * (self.layer.ndim - 1))[0])
        self.viewer.dims.set_point(axis, world_t)
        if self.frame_t != int(t):
            self._show_frame(int(t))

    def _on_time_rows_chosen(self, t: int, labels: list) -> None:
        """Rows of time point ``t`` chosen in the all-time-points table: go there, select
        them and show the first."""
        if self.timelapse is None or self.layer is None or self.busy:
            return
        self._go_to_time(t)
        self.state.set_selection(labels)
        if labels:
            self.select_label(labels[0], keep_selection=True)

    # ------------------------------------------------- the table of every time point
    def _set_model_table(self, table) -> None:
        """Show the shown frame's ``table``, with every other time point's rows if the
        table lists all time points (the lookups stay on the shown one)."""
        if self.timelapse is None or not self.objects_panel.all_times():
            self.model.set_table(table)
            return
        parts = [table if t == self.frame_t else self._time_table(t, idx)
                 for t, idx in enumerate(self.timelapse.frames)]
        full = pd.concat(parts, ignore_index=True, sort=False)
        order = [*table.columns, *(c for c in full.columns if c not in table.columns)]
        self.model.set_table(full[order], time=self.frame_t)

    def _time_table(self, t: int, idx):
        """The rows of time point ``t`` (not shown): its table, colours, stored
        measurements and marks; made once per index and kept until it is shown again."""
        cached = self._time_tables.get(t)
        if cached is not None and cached[0] is idx:
            return cached[1]
        table = self._compose_table(idx.table(), t, self._frame_measurements.get(t),
                                    self._frame_marks.get(t, {}))
        self._time_tables[t] = (idx, table)
        return table

    def _on_all_times_toggled(self, on: bool) -> None:
        if self.index is not None and self.timelapse is not None:
            self._show_table(self.index)

    def _with_t(self, coords: np.ndarray) -> np.ndarray:
        """Frame coordinates with the time point prepended (for layer-space outputs)."""
        if self.frame_t is None:
            return coords
        return np.column_stack([np.full(len(coords), self.frame_t, coords.dtype), coords])
