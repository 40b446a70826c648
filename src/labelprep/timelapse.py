"""Time-lapse stacks: one :class:`~labelprep.LabelIndex` per time point, tables keyed by
``(t, label)``.

The same label in two frames is two objects (two rows): labels are not tracked across
time. Coordinates, boxes and measurements are those of each frame, in the frame's own
axes (the stack's axes without the time axis).

>>> import numpy as np
>>> from labelprep.timelapse import TimeLapseIndex
>>> movie = np.array([[[1, 1, 0]], [[0, 2, 1]]], dtype=np.uint8)  # (t, y, x)
>>> tl = TimeLapseIndex.build(movie)
>>> tl.table()[["t", "label", "voxels"]]
   t  label  voxels
0  0      1       2
1  1      1       1
2  1      2       1
>>> tl.coords(1, 2)
array([[0, 1]])
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._progress import ProgressCallback, report
from .index import LabelIndex

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["TimeLapseIndex"]


class TimeLapseIndex:
    """Per-frame voxel indexes of a time-lapse labelled stack, e.g. ``(t, z, y, x)``.

    Build one with :meth:`build`. ``frames[t]`` is the :class:`~labelprep.LabelIndex` of
    time point ``t``; ``len(tl)`` is the number of objects over all frames (the rows of
    :meth:`table`), ``len(tl.frames)`` the number of time points.

    Attributes
    ----------
    frames : tuple of LabelIndex
        One index per time point, all of shape ``frame_shape``.
    time_axis : int
        Axis of the stack that is time (non-negative).
    shape : tuple of int
        Shape of the whole stack; ``frame_shape`` that of one time point.
    """

    def __init__(self, frames: Sequence[LabelIndex], time_axis: int = 0) -> None:
        frames = tuple(frames)
        if not frames:
            raise ValueError("frames must hold at least one LabelIndex")
        for t, f in enumerate(frames):
            if not isinstance(f, LabelIndex):
                raise TypeError(f"frames[{t}] is a {type(f).__name__}, not a LabelIndex")
            if f.shape != frames[0].shape:
                raise ValueError(f"frames[{t}] has shape {f.shape}, frames[0] {frames[0].shape}")
        ndim = frames[0].ndim + 1
        if not 0 <= time_axis < ndim:
            raise ValueError(f"time_axis={time_axis} is out of range for {ndim}-D stacks")
        self.frames = frames
        self.time_axis = int(time_axis)
        self.frame_shape = frames[0].shape
        shape = list(self.frame_shape)
        shape.insert(self.time_axis, len(frames))
        self.shape = tuple(shape)

    @classmethod
    def build(
        cls,
        stack: Any,
        time_axis: int = 0,
        *,
        background: int | None = 0,
        progress: ProgressCallback | None = None,
        workers: int | None = None,
    ) -> TimeLapseIndex:
        """Index every time point of ``stack`` (``LabelIndex.build`` on each frame).

        Parameters
        ----------
        stack : ndarray (or dask array)
            Labelled stack with a time axis and at least one other axis: ``(t, y, x)``,
            ``(t, z, y, x)``, ... (time anywhere, see ``time_axis``).
        time_axis : int
            Which axis is time (default 0; negative counts from the end).
        background, workers
            As in :meth:`LabelIndex.build`, for every frame.
        progress : callable, optional
            ``progress(done, total)`` in voxels of the whole stack.

        Raises
        ------
        TypeError, ValueError
            As :meth:`LabelIndex.build`; also ``ValueError`` if the stack has fewer than
            2 axes, ``time_axis`` is out of range or the time axis has length 0, and
            ``TypeError`` if ``time_axis`` is not an integer.

        Examples
        --------
        >>> movie = np.zeros((3, 4, 5), np.uint16)
        >>> movie[1, 1:3, 2] = 7
        >>> tl = TimeLapseIndex.build(movie)
        >>> len(tl.frames), len(tl), tl.bbox(1, 7)
        (3, 1, (slice(1, 3, None), slice(2, 3, None)))
        """
        if not hasattr(stack, "shape"):
            raise TypeError(f"stack must be an array, got {type(stack).__name__}")
        ndim = len(stack.shape)
        if ndim < 2:
            raise ValueError(f"stack must have a time axis and at least one other axis, got "
                             f"shape {tuple(stack.shape)}")
        try:
            axis = operator.index(time_axis)
        except TypeError:
            raise TypeError(f"time_axis must be an integer, got {time_axis!r}") from None
        if not -ndim <= axis < ndim:
            raise ValueError(f"time_axis={time_axis} is out of range for a {ndim}-D stack")
        axis %= ndim
        n_t = int(stack.shape[axis])
        if n_t == 0:
            raise ValueError(f"stack has shape {tuple(stack.shape)}: no time points along "
                             f"time_axis={time_axis}")
        frame_size = int(np.prod([s for a, s in enumerate(stack.shape) if a != axis]))
        total = n_t * frame_size
        frames = []
        for t in range(n_t):
            frame = stack[(slice(None),) * axis + (t,)]

            def inner(done: int, tot: int, base: int = t * frame_size) -> None:
                report(progress, base + done * frame_size // max(tot, 1), total)

            frames.append(LabelIndex.build(frame, background=background,
                                           progress=None if progress is None else inner,
                                           workers=workers))
            report(progress, (t + 1) * frame_size, total)
        return cls(frames, axis)

    # ------------------------------------------------------------------ look-ups
    def __len__(self) -> int:
        return sum(len(f) for f in self.frames)

    def __repr__(self) -> str:
        return (f"TimeLapseIndex({len(self.frames)} time points, {len(self)} objects, "
                f"shape={self.shape}, time_axis={self.time_axis})")

    def __contains__(self, key: object) -> bool:
        try:
            t, label = key  # type: ignore[misc]
            return label in self.frame(t)
        except (TypeError, ValueError, KeyError):
            return False

    def frame(self, t: int) -> LabelIndex:
        """The index of time point ``t`` (``KeyError`` naming it if there is none)."""
        try:
            i = operator.index(t)
        except TypeError:
            raise KeyError(f"time point {t!r} is not an integer") from None
        if not 0 <= i < len(self.frames):
            raise KeyError(f"time point {t!r} is not in 0..{len(self.frames) - 1}")
        return self.frames[i]

    def coords(self, t: int, label: int) -> np.ndarray:
        """``(n, ndim - 1)`` coordinates of object ``label`` of time point ``t`` in the
        frame's axes, in raster order (``np.argwhere(frame == label)``)."""
        return self.frame(t).coords(label)

    def bbox(self, t: int, label: int) -> tuple[slice, ...]:
        """Bounding box of ``(t, label)`` as slices of the frame's axes."""
        return self.frame(t).bbox(label)

    def position(self, t: int, label: int) -> int:
        """Row of ``(t, label)`` in :meth:`table` and :meth:`measure`."""
        row = self.frame(t).position(label)
        return row + sum(len(f) for f in self.frames[: operator.index(t)])

    # ------------------------------------------------------------------ tables
    def table(self) -> pd.DataFrame:
        """:meth:`LabelIndex.table` of every frame, with a leading ``t`` column: one row
        per ``(t, label)``, sorted by ``t`` then ``label``."""
        return _stack_tables([f.table() for f in self.frames])

    def measure(
        self,
        image: Any = None,
        spacing: Sequence[float] | None = None,
        properties: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """:func:`labelprep.measure.measure` of every frame, with a leading ``t`` column.

        ``image`` has the stack's shape (time on the same axis), optionally with one
        last axis of channels; ``spacing`` is that of the frame's axes (one value per
        axis but time).

        Examples
        --------
        >>> tl = TimeLapseIndex.build(np.array([[[1, 1]], [[0, 1]]]))
        >>> tl.measure(np.array([[[2., 4.]], [[9., 5.]]]), properties=["intensity_mean"])
           t  label  intensity_mean
        0  0      1             3.0
        1  1      1             5.0
        """
        from .measure import measure

        if image is not None:
            image = np.asarray(image)
            if image.shape[: len(self.shape)] != self.shape or image.ndim > len(self.shape) + 1:
                raise ValueError(
                    f"image has shape {image.shape}, but the time-lapse stack has shape "
                    f"{self.shape}: it must be {self.shape} or {self.shape} + (channels,)"
                )
        parts = []
        for t, f in enumerate(self.frames):
            frame_image = None if image is None else image[(slice(None),) * self.time_axis + (t,)]
            parts.append(measure(f, frame_image, spacing=spacing, properties=properties))
        return _stack_tables(parts)


def _stack_tables(parts: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    ts = np.concatenate([np.full(len(p), t, dtype=np.int64) for t, p in enumerate(parts)])
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "t", ts)
    return out
