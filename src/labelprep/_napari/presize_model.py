"""The Presize dock's state, without Qt: settings, the last preview, the folder-run report.

:class:`PresizeDockModel` holds what the "Presize preview" dock knows; the widget
(:mod:`.presize_widget`) writes the form's values into it, shows what its psygnal
signals announce and asks it to check the settings. Nothing here imports Qt or napari,
so the state and its validation are tested without a viewer::

    >>> import numpy as np
    >>> model = PresizeDockModel(workers=2)
    >>> model.set(size_text="2", method="mode")
    >>> model.preview_settings()
    (2, 'mode', False)
    >>> mask = np.zeros((4, 6), int); mask[:, :3] = 1; mask[3, 5] = 7
    >>> model.set_preview(compute_preview(mask, mask, *model.preview_settings()))
    >>> model.preview.out_shape, model.preview.lost.tolist()
    ((2, 3), [7])
    >>> model.preview.loss_text()
    'Label loss: 1 of 3 labels vanish: 7'
    >>> model.set(method="bicubic")
    Traceback (most recent call last):
    ...
    ValueError: mask method must be one of 'nearest', 'mode', got 'bicubic'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

__all__ = [
    "METHODS",
    "FolderJob",
    "Preview",
    "PresizeDockModel",
    "compute_preview",
    "image_problem",
    "mask_problem",
    "overlay_transform",
    "parse_size",
]

#: The mask methods, in the order the dock offers them (see :data:`presize.MASK_METHODS`).
METHODS = ("nearest", "mode")


class Cancelled(Exception):
    """Raised from the progress callback to stop a folder run."""


def parse_size(text: str) -> int | tuple[int, int]:
    """``"160"`` -> 160, ``"120 160"`` / ``"120x160"`` / ``"120,160"`` -> (120, 160)."""
    parts = [p for p in re.split(r"[\sx,×*]+", text.strip().lower()) if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values, default=0) < 1:
        raise ValueError(
            f"size must be one positive number (shorter side) or two (height width), got {text!r}"
        )
    return values[0] if len(values) == 1 else (values[0], values[1])


def overlay_transform(layer, in_shape, out_shape) -> tuple[np.ndarray, np.ndarray]:
    """``scale`` and ``translate`` that put a presized copy exactly over ``layer``.

    Output pixel i samples input position ``(i + 0.5) * f - 0.5`` (f = in / out, pixel
    centres at integer coordinates, as in napari), so the copy has scale ``s * f`` and is
    shifted by ``s * (f - 1) / 2`` in world units. ``layer`` is anything with ``scale``
    and ``translate`` (a napari layer).
    """
    f = np.asarray(in_shape, float) / np.asarray(out_shape, float)
    scale = np.asarray(layer.scale, float)[-2:]
    translate = np.asarray(layer.translate, float)[-2:]
    return scale * f, translate + scale * (f - 1) / 2


def image_problem(name: str | None, kind: str | None, ndim: int = 2) -> str | None:
    """Why the layer ``name`` (of ``kind``, ``ndim``-D) cannot be previewed, or None.

    ``name`` None: no layer at all.
    """
    if name is None:
        return ("No image layer: add a 2D image (e.g. File > Open Sample > Label Prep > "
                "Photo with multi-class mask (2D)).")
    if kind != "image":
        return f"Layer '{name}' is a {kind} layer: pick an Image layer."
    if ndim != 2:
        return (
            f"Layer '{name}' is {ndim}D: presizing works on 2D images (greyscale "
            "or RGB), e.g. one slice added as its own layer."
        )
    return None


def mask_problem(name: str | None, kind: str | None, shape=(), image_shape=()) -> str | None:
    """Why the layer ``name`` cannot be the mask of an image of ``image_shape``, or None.

    ``name`` None: no mask, which is fine.
    """
    if name is None:
        return None
    if kind != "labels":
        return f"Layer '{name}' is a {kind} layer: pick a Labels layer as mask."
    if tuple(shape) != tuple(image_shape):
        return (
            f"Mask '{name}' has shape {tuple(shape)} but the image is "
            f"{tuple(image_shape)}: they must match pixel for pixel."
        )
    return None


@dataclass
class Preview:
    """The result of a preview: the presized image and mask, shapes, labels lost."""

    image: np.ndarray
    mask: np.ndarray | None
    in_shape: tuple[int, int]
    out_shape: tuple[int, int]
    lost: np.ndarray | None
    n_labels: int

    def shape_text(self) -> str:
        """``'Output: 120 x 160 (from 480 x 640, 1/4 per side)'``."""
        (ih, iw), (oh, ow) = self.in_shape, self.out_shape
        if (oh, ow) == (ih, iw):
            return f"Output: {oh} x {ow} (already at or below the size: unchanged)"
        return f"Output: {oh} x {ow} (from {ih} x {iw}, 1/{ih / oh:.3g} per side)"

    def loss_text(self) -> str:
        """The label loss: none, or how many labels vanish and (the first 20) ids."""
        if self.lost is None:
            return "Label loss: - (no mask)"
        if self.lost.size == 0:
            return f"Label loss: none ({self.n_labels} labels kept)"
        ids = ", ".join(str(v) for v in self.lost[:20].tolist())
        more = ", ..." if self.lost.size > 20 else ""
        return f"Label loss: {self.lost.size} of {self.n_labels} labels vanish: {ids}{more}"


def compute_preview(image, mask, size, method: str = "nearest", upscale: bool = False):
    """Presize ``image`` (and ``mask``, or None) as the dock's preview does: a :class:`Preview`."""
    from labelprep import presize

    image = np.asarray(image)
    small = presize.image(image, size, upscale)
    small_mask = lost = None
    n_labels = 0
    if mask is not None:
        mask = np.asarray(mask)
        small_mask = presize.mask(mask, size, method, upscale)
        lost = presize.lost_labels(mask, small_mask)
        n_labels = int(np.unique(mask).size)
    return Preview(small, small_mask, tuple(image.shape[:2]), tuple(small.shape[:2]),
                   lost, n_labels)


@dataclass(frozen=True)
class FolderJob:
    """The checked settings of one folder run (arguments of :func:`presize.folder`)."""

    src: str
    dst: str
    size: int | tuple[int, int]
    masks: str | None
    masks_out: str | None
    workers: int
    overwrite: bool
    method: str
    upscale: bool


_PATHS = ("src", "dst", "masks", "masks_out")


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class PresizeDockModel:
    """State of one Presize dock (see the module docstring).

    Settings (read them as attributes, change them with :meth:`set`): ``size_text``,
    ``method``, ``upscale``, ``src``, ``dst``, ``masks``, ``masks_out``, ``workers``,
    ``overwrite``. State: ``preview`` (the last :class:`Preview` or None), ``report``
    (the last :class:`presize.FolderReport` or None), ``cancelling`` (a cancel of the
    folder run was asked for).

    Signals: ``settings_changed(name, value)`` (once per changed setting),
    ``preview_changed(preview)``, ``report_changed(report)``, ``cancelling_changed(bool)``.
    """

    settings_changed = Signal(str, object)
    preview_changed = Signal(object)
    report_changed = Signal(object)
    cancelling_changed = Signal(bool)

    #: The settings and their types (``workers`` defaults to the number of CPUs).
    SETTINGS: dict[str, type] = {
        "size_text": str, "method": str, "upscale": bool, "src": str, "dst": str,
        "masks": str, "masks_out": str, "workers": int, "overwrite": bool,
    }

    def __init__(self, **settings: Any) -> None:
        self.size_text = "160"
        self.method = METHODS[0]
        self.upscale = False
        self.src = self.dst = self.masks = self.masks_out = ""
        self.max_workers = _default_workers() * 4
        self.workers = _default_workers()
        self.overwrite = False
        self.preview: Preview | None = None
        self.report = None
        self.cancelling = False
        self.set(**settings)

    # ------------------------------------------------------------------ settings
    def settings(self) -> dict[str, Any]:
        """The settings as a dict (name -> value)."""
        return {name: getattr(self, name) for name in self.SETTINGS}

    def set(self, **changes: Any) -> None:
        """Change settings; ``settings_changed(name, value)`` for each one that changed.

        Raises ValueError (nothing changed) for an unknown name, a value of the wrong
        type, an unknown mask method or a number of workers out of range.
        """
        checked = {name: self._check(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                self.settings_changed.emit(name, value)

    def _check(self, name: str, value: Any) -> Any:
        kind = self.SETTINGS.get(name)
        if kind is None:
            raise ValueError(f"unknown presize setting {name!r}: one of {', '.join(self.SETTINGS)}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        if name in _PATHS and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if kind is not int and not isinstance(value, (kind, np.bool_) if kind is bool else kind):
            raise ValueError(f"{name} must be a {kind.__name__}, got {value!r}")
        value = kind(value)
        if name == "method" and value not in METHODS:
            raise ValueError(
                f"mask method must be one of {', '.join(map(repr, METHODS))}, got {value!r}"
            )
        if name == "workers" and not 1 <= value <= self.max_workers:
            raise ValueError(f"workers must be between 1 and {self.max_workers}, got {value}")
        return value

    def size(self) -> int | tuple[int, int]:
        """The parsed size; ValueError with a message for a bad one."""
        return parse_size(self.size_text)

    def preview_settings(self) -> tuple[int | tuple[int, int], str, bool]:
        """(size, method, upscale) for a preview; ValueError with a message for a bad size."""
        return self.size(), self.method, self.upscale

    def folder_job(self, check_folders: bool = True) -> FolderJob:
        """The settings of a folder run, checked; ValueError with a message otherwise.

        Source and destination are required; with ``check_folders`` the folders are
        checked by :func:`presize.check_folders` (``dst`` not in ``src``, ``masks_out``
        given with ``masks``...).
        """
        src, dst = self.src.strip(), self.dst.strip()
        masks, masks_out = self.masks.strip() or None, self.masks_out.strip() or None
        if not src or not dst:
            raise ValueError("Choose a source folder and a destination folder.")
        size = self.size()
        if check_folders:
            from labelprep import presize

            presize.check_folders(src, dst, masks, masks_out)
        return FolderJob(src, dst, size, masks, masks_out, self.workers, self.overwrite,
                         self.method, self.upscale)

    # ------------------------------------------------------------------ preview
    def set_preview(self, preview: Preview | None) -> None:
        """The last preview (or None); ``preview_changed(preview)``."""
        self.preview = preview
        self.preview_changed.emit(preview)

    @property
    def lost_labels(self) -> np.ndarray | None:
        """The label ids lost in the last preview (None: no preview, or no mask)."""
        return None if self.preview is None else self.preview.lost

    # ------------------------------------------------------------------ folder run
    def start_run(self) -> None:
        """A folder run starts: no report, no cancel asked for."""
        self.set_cancelling(False)
        self.set_report(None)

    def set_cancelling(self, value: bool = True) -> None:
        """Ask the running folder run to stop (or reset); ``cancelling_changed(bool)``."""
        value = bool(value)
        if value != self.cancelling:
            self.cancelling = value
            self.cancelling_changed.emit(value)

    def run_folder(self, job: FolderJob, progress=None):
        """Run :func:`presize.folder` for ``job`` (in a worker thread); the report.

        ``progress(done, total)`` is called as files finish; :class:`Cancelled` is raised
        once :meth:`set_cancelling` was called (files already written are complete).
        """
        from labelprep import presize

        def report(done, total):
            if self.cancelling:
                raise Cancelled()
            if progress is not None:
                progress(done, total)

        return presize.folder(
            job.src, job.dst, job.size, masks=job.masks, masks_out=job.masks_out,
            workers=job.workers, overwrite=job.overwrite, method=job.method,
            upscale=job.upscale, progress=report,
        )

    def set_report(self, report) -> None:
        """The last folder run's report (or None); ``report_changed(report)``."""
        self.report = report
        self.report_changed.emit(report)

    def failure_lines(self) -> list[str]:
        """One line per failed file (with the reason) and per image without a mask."""
        if self.report is None:
            return []
        lines = [f"{path}: {reason}" for path, reason in self.report.failed]
        failed = {path for path, _ in self.report.failed}
        lines += [f"{path}: no mask (presized alone)" for path in self.report.missing_masks
                  if path not in failed]
        return lines

    def report_message(self) -> tuple[str, bool]:
        """(message, is_error) for the last report; ``("", False)`` without one."""
        rep = self.report
        if rep is None:
            return "", False
        if rep.failed:
            return f"{len(rep.failed)} file(s) failed: see the list.", True
        if rep.total == 0:
            return "No image files found in the source folder.", True
        return "Done.", False
