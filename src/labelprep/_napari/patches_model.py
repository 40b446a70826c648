"""The Patch sampling dock's state, without Qt: settings, the last sample, its statistics.

:class:`PatchesDockModel` holds what the dock knows (the settings, the last sampled
origins with their centre classes and class fractions, the export path); the dock's
controls write to it and observe its psygnal signals. Nothing here imports Qt or napari,
so the settings checks, the sampler arguments, the class table, the box geometry and the
CSV are tested without a viewer::

    >>> import numpy as np
    >>> model = PatchesDockModel()
    >>> model.update(patch_size=(1, 4, 4), n=3, mode="foreground", seed=7)
    >>> mask = np.zeros((10, 10), np.uint8); mask[2:6, 2:6] = 1
    >>> s = model.resolve("img", np.zeros((10, 10)), 2, "mask", mask)
    >>> s["patch_size"], s["mode"], s["border"]
    ((4, 4), 'foreground', 'valid')
    >>> model.sampler_kwargs(s)["replace_every"]
    3
    >>> model.resolve("img", np.zeros((10, 10)), 2)
    Traceback (most recent call last):
    ...
    ValueError: mode "foreground" needs a mask: pick a Labels layer
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from labelprep import patches
from labelprep.io import atomic_open

__all__ = ["BORDER_CHOICES", "TABLE_ROWS", "PatchesDockModel", "parse_weights", "rectangles"]

#: The border choices the dock offers: label -> (border, pad_mode) of the PatchSampler.
BORDER_CHOICES = {
    "valid (full patches only)": ("valid", "constant"),
    "pad with zeros": ("pad", "constant"),
    "pad by reflection": ("pad", "reflect"),
}
#: Rows of the class table; the classes beyond are summed up in one "N more" row.
TABLE_ROWS = 12
MAX_SIZE = 4096
MAX_PATCHES = 1_000_000
MAX_SEED = 2**31 - 1


def parse_weights(text: str) -> dict[int, float] | None:
    """``"0=1, 1=2"`` -> ``{0: 1.0, 1: 2.0}``; empty -> None (all classes equal).

    >>> parse_weights("0=0; 2=3"), parse_weights("  ")
    ({0: 0.0, 2: 3.0}, None)
    """
    text = text.strip()
    if not text:
        return None
    try:
        pairs = [item.split("=") for item in text.replace(";", ",").split(",") if item.strip()]
        return {int(k): float(v) for k, v in pairs}
    except ValueError:
        raise ValueError(
            f"class weights must look like 0=1, 1=2 (class=weight, comma separated), got {text!r}"
        ) from None


def rectangles(corners: np.ndarray, size, shape, max_rectangles: int):
    """Rectangle vertices (on pixel edges), the patch of each, and a note for the user.

    3D: one rectangle on every slice a patch spans, or only on its centre slice when that
    makes more than ``max_rectangles``; beyond it even so, only the first patches get one.
    """
    nd = len(size)
    note = ""
    index = np.arange(len(corners))
    z = None
    if nd == 3:
        z0 = corners[:, 0]
        first = np.clip(z0, 0, shape[0] - 1)
        spans = np.clip(z0 + size[0] - 1, 0, shape[0] - 1) - first + 1
        if spans.sum() > max_rectangles:
            first = np.clip(z0 + size[0] // 2, 0, shape[0] - 1)
            spans = np.ones_like(first)
            note = " Boxes are drawn on each patch's centre slice only."
        rep = np.repeat(index, spans)
        z = np.repeat(first, spans) + np.arange(rep.size) - np.repeat(
            np.cumsum(spans) - spans, spans)
    else:
        rep = index
    if rep.size > max_rectangles:
        note += f" Only the first {max_rectangles} boxes are drawn."
        rep = rep[:max_rectangles]
        if z is not None:
            z = z[:max_rectangles]
    lo = corners[rep][:, -2:].astype(np.float64) - 0.5
    hi = lo + np.asarray(size[-2:], dtype=np.float64)
    verts = np.stack(
        [lo, np.stack([lo[:, 0], hi[:, 1]], 1), hi, np.stack([hi[:, 0], lo[:, 1]], 1)], axis=1
    )  # (m, 4, 2)
    if z is not None:
        zcol = np.broadcast_to(z[:, None, None].astype(np.float64), (len(z), 4, 1))
        verts = np.concatenate([zcol, verts], axis=2)
    return verts, rep, note


class PatchesDockModel:
    """State of one Patch sampling dock (see the module docstring).

    Settings (change them with :meth:`update`): ``patch_size`` (z, y, x; z is used for
    3D images only), ``n``, ``mode``, ``weights_text``, ``seed``, ``border`` (a key of
    :data:`BORDER_CHOICES`). ``image_ndim``: spatial dimensions of the picked image (0:
    none). Last sample: ``settings`` (what :meth:`resolve` gave, plus what the dock adds),
    ``origins``, ``centre_classes``, ``requested_ratio``, ``drawn_ratio``, ``table_rows``.

    Signals: ``settings_changed(str)`` (the name of the setting that changed),
    ``ndim_changed(int)``, ``result_changed()`` (a new sample, or none).
    """

    settings_changed = Signal(str)
    ndim_changed = Signal(int)
    result_changed = Signal()

    def __init__(self) -> None:
        self.patch_size: tuple[int, int, int] = (16, 64, 64)
        self.n = 200
        self.mode = patches.MODES[0]
        self.weights_text = ""
        self.seed = 0
        self.border = next(iter(BORDER_CHOICES))
        self.image_ndim = 0
        self.export_path: str | os.PathLike | None = None
        self.settings: dict | None = None
        self.origins: np.ndarray | None = None
        self.centre_classes: np.ndarray | None = None
        self.requested_ratio: dict | None = None
        self.drawn_ratio: dict | None = None
        self.table_rows: list[tuple[str, float, float]] = []

    # ------------------------------------------------------------ settings
    @property
    def weights_enabled(self) -> bool:
        """Class weights apply to the class_balanced mode only."""
        return self.mode == "class_balanced"

    @property
    def three_d(self) -> bool:
        return self.image_ndim == 3

    def update(self, **changes: Any) -> None:
        """Change settings (checked; ValueError names the bad one); signal each change."""
        checked = {name: self._check(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                self.settings_changed.emit(name)

    @staticmethod
    def _check(name: str, value):
        def integer(low, high, what, value=value):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
                    low <= value <= high):
                raise ValueError(f"{what} must be an integer from {low} to {high}, got {value!r}")
            return int(value)

        if name == "patch_size":
            size = tuple(value)
            if len(size) != 3:
                raise ValueError(f"patch_size needs 3 values (z, y, x), got {size!r}")
            return tuple(integer(1, MAX_SIZE, "each patch size", v) for v in size)
        if name == "n":
            return integer(1, MAX_PATCHES, "the number of patches")
        if name == "seed":
            return integer(0, MAX_SEED, "the seed")
        if name == "mode":
            if value not in patches.MODES:
                raise ValueError(f"mode must be one of {', '.join(patches.MODES)}, got {value!r}")
            return value
        if name == "border":
            if value not in BORDER_CHOICES:
                raise ValueError(f"border must be one of {', '.join(map(repr, BORDER_CHOICES))},"
                                 f" got {value!r}")
            return value
        if name == "weights_text":
            if not isinstance(value, str):
                raise ValueError(f"weights_text must be text, got {value!r}")
            return value
        raise ValueError(f"no setting {name!r}")

    def set_patch_axis(self, axis: int, value: int) -> None:
        """Change one patch size (axis 0, 1, 2: z, y, x)."""
        size = list(self.patch_size)
        size[axis] = value
        self.update(patch_size=tuple(size))

    def set_image_ndim(self, ndim: int) -> None:
        if ndim != self.image_ndim:
            self.image_ndim = int(ndim)
            self.ndim_changed.emit(self.image_ndim)

    def resolve(self, image_name: str | None, data=None, ndim: int = 0,
                mask_name: str | None = None, mask=None) -> dict:
        """Check the settings against an image (and mask); ValueError says what is wrong.

        Returns the sampling settings: ``data``, ``mask``, ``patch_size`` (2 or 3 values),
        ``n``, ``mode``, ``seed``, ``border``, ``pad_mode``, ``class_weights``.
        """
        if image_name is None:
            raise ValueError("add an image layer first (File > Open, or a sample)")
        if ndim not in (2, 3):
            raise ValueError(f"image layer {image_name!r} is {ndim}D; only 2D and 3D "
                             f"images (RGB allowed) can be sampled")
        shape = tuple(data.shape[:ndim])
        if mask is not None and tuple(mask.shape) != shape:
            raise ValueError(
                f"mask {mask_name!r} has shape {tuple(mask.shape)} but image "
                f"{image_name!r} has {shape}; pick a matching mask"
            )
        if self.mode != "uniform" and mask is None:
            raise ValueError(f'mode "{self.mode}" needs a mask: pick a Labels layer')
        weights = parse_weights(self.weights_text) if self.weights_enabled else None
        border, pad_mode = BORDER_CHOICES[self.border]
        return {
            "data": data, "mask": mask, "patch_size": self.patch_size[3 - ndim :],
            "n": self.n, "mode": self.mode, "seed": self.seed, "border": border,
            "pad_mode": pad_mode, "class_weights": weights,
        }

    @staticmethod
    def sampler_kwargs(settings: dict) -> dict:
        """Keyword arguments of the :class:`~labelprep.patches.PatchSampler` to run."""
        mask = settings["mask"]
        return {
            "images": [settings["data"]], "masks": None if mask is None else [mask],
            "patch_size": settings["patch_size"], "cache_size": 1,
            "replace_every": max(settings["n"], 1), "mode": settings["mode"],
            "seed": settings["seed"], "border": settings["border"],
            "pad_mode": settings["pad_mode"], "class_weights": settings["class_weights"],
            "prefetch": False,
        }

    def make_sampler(self, settings: dict) -> patches.PatchSampler:
        """The sampler of ``settings`` (ValueError/TypeError if the sampler refuses them)."""
        kw = self.sampler_kwargs(settings)
        return patches.PatchSampler(kw.pop("images"), kw.pop("masks"), kw.pop("patch_size"),
                                    **kw)

    # ------------------------------------------------------------ results
    def set_result(self, settings: dict, origins: np.ndarray, centre=None, expected=None) -> None:
        """Adopt a sample: ``origins`` (source, corner...), the class at each patch's centre
        and ``expected`` = (classes, fractions) the mode aims for (with a mask)."""
        self.settings = settings
        self.origins = origins
        self.centre_classes = centre
        self.requested_ratio = self.drawn_ratio = None
        self.table_rows = []
        if centre is not None and expected is not None:
            classes, wanted = expected
            got, counts = np.unique(centre, return_counts=True)
            drawn = dict(zip(got.tolist(), (counts / max(len(centre), 1)).tolist()))
            requested = dict(zip(np.asarray(classes).tolist(), np.asarray(wanted).tolist()))
            rows = sorted(set(requested) | set(drawn))
            shown, rest = rows[:TABLE_ROWS], rows[TABLE_ROWS:]
            self.table_rows = [(str(c), requested.get(c, 0.0), drawn.get(c, 0.0))
                               for c in shown]
            if rest:
                self.table_rows.append((f"{len(rest)} more",
                                        sum(requested.get(c, 0.0) for c in rest),
                                        sum(drawn.get(c, 0.0) for c in rest)))
            self.requested_ratio, self.drawn_ratio = requested, drawn
        self.result_changed.emit()

    def clear_result(self) -> None:
        self.settings = self.origins = self.centre_classes = None
        self.requested_ratio = self.drawn_ratio = None
        self.table_rows = []
        self.result_changed.emit()

    @property
    def has_result(self) -> bool:
        return self.origins is not None

    def summary(self, coverage: np.ndarray, note: str = "") -> str:
        """The message after sampling: how many patches, how much of the image they cover."""
        s = self.settings
        size = " x ".join(map(str, s["patch_size"]))
        return (
            f"{len(self.origins)} patches of {size} ({s['mode']}, seed {s['seed']}); they "
            f"cover {100 * (coverage > 0).mean():.1f}% of the image, at most "
            f"{int(coverage.max(initial=0))} times.{note}"
        )

    # ------------------------------------------------------------ export
    def csv_header(self) -> list[str]:
        axes = "zyx"[3 - len(self.settings["patch_size"]) :]
        header = ["patch", "source", *axes, *(f"size_{a}" for a in axes)]
        if self.centre_classes is not None:
            header.append("centre_class")
        return header

    def write_csv(self, path: str | os.PathLike, source: str) -> Path:
        """Write the last sample to ``path``: one row per patch (OSError if it cannot)."""
        if self.origins is None:
            raise ValueError("nothing to export yet: press Sample first")
        size = list(self.settings["patch_size"])
        centre = self.centre_classes
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(self.csv_header())
            for k, corner in enumerate(self.origins[:, 1:].tolist()):
                row = [k, source, *corner, *size]
                if centre is not None:
                    row.append(int(centre[k]))
                writer.writerow(row)
        return path
