"""Random patch sampling from big images: seeded, cached, with paired mask crops.

Loading a big image for every patch wastes almost all of the decoding work, and
cutting many patches from one image before moving on makes every batch come from a
single image. :class:`PatchSampler` keeps a small *cache* of decoded images, draws each
patch from a cached image picked at random (so a batch mixes images), and every
``replace_every`` patches swaps one cached image, chosen at random, for the next one in
a shuffled order that cycles through the whole dataset. Background threads decode the
upcoming images ahead of time.

Everything random is decided by ``seed`` alone: the order in which images enter the
cache, which slot they replace and every patch position. The loader threads only decode
files whose order was fixed up front, and the caller waits for the specific image it
needs next, so the same seed and arguments give identical patches with or without
prefetching.

Examples
--------
>>> import numpy as np
>>> from labelprep import patches
>>> images = [np.arange(100 * 120).reshape(100, 120) for _ in range(3)]
>>> with patches.PatchSampler(images, patch_size=(32, 32), seed=0) as s:
...     p = s.sample(8)
>>> p.images.shape, p.origins.shape
((8, 32, 32), (8, 3))
>>> i, y, x = p.origins[0]
>>> bool((p.images[0] == images[i][y:y + 32, x:x + 32]).all())
True
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .io import BufferPool, list_images, read_image_pooled

__all__ = [
    "BORDERS",
    "MODES",
    "PAD_MODES",
    "PatchSampler",
    "Patches",
    "SamplerStats",
    "centre_values",
    "coverage",
    "expected_centre_classes",
    "match_masks",
]

MODES = ("uniform", "foreground", "class_balanced")
BORDERS = ("valid", "pad")
PAD_MODES = ("constant", "reflect")
#: A trailing axis longer than this is not taken as a channel axis (it is probably a
#: spatial axis of a volume given with a 2D ``patch_size``).
MAX_CHANNELS = 16

PathLike = str | os.PathLike


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Patches:
    """A set of sampled patches.

    Attributes
    ----------
    images : (n, *patch_size[, C]) array
        The image patches, in the images' dtype.
    masks : (n, *patch_size) array or None
        The mask patches cut at the same places (None when no masks were given).
    origins : (n, 1 + ndim) int64 array
        Per patch: the source index (position in ``images``) and the patch's first
        corner; ``images[k] == source[origin : origin + patch_size]`` (with padding
        where the corner is negative or the patch sticks out, for ``border="pad"``).
    patch_size : tuple of int
    """

    images: np.ndarray | None
    masks: np.ndarray | None
    origins: np.ndarray
    patch_size: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.origins.shape[0])

    @property
    def sources(self) -> np.ndarray:
        """The source index of every patch (``origins[:, 0]``)."""
        return self.origins[:, 0]

    @property
    def corners(self) -> np.ndarray:
        """The first corner of every patch (``origins[:, 1:]``)."""
        return self.origins[:, 1:]

    @property
    def centre_classes(self) -> np.ndarray | None:
        """The mask value at every patch's centre voxel (``corner + patch_size // 2``)."""
        if self.masks is None:
            return None
        centre = tuple(p // 2 for p in self.patch_size)
        return self.masks[(slice(None), *centre)]


@dataclass
class SamplerStats:
    """Running counters of a :class:`PatchSampler` (see ``PatchSampler.stats``)."""

    patches: int = 0
    batches: int = 0
    distinct_sum: int = 0
    images_loaded: int = 0
    fallback_patches: int = 0
    wait_seconds: float = 0.0
    seen: set = field(default_factory=set, repr=False)

    @property
    def mean_distinct_per_batch(self) -> float:
        """Mean number of distinct source images per batch (per ``sample`` call)."""
        return self.distinct_sum / self.batches if self.batches else 0.0

    @property
    def images_seen(self) -> int:
        """How many different images have been in the cache so far."""
        return len(self.seen)

    def as_dict(self) -> dict[str, float]:
        return {
            "patches": self.patches,
            "batches": self.batches,
            "mean_distinct_per_batch": self.mean_distinct_per_batch,
            "images_loaded": self.images_loaded,
            "images_seen": self.images_seen,
            "fallback_patches": self.fallback_patches,
            "wait_seconds": self.wait_seconds,
        }


# ------------------------------------------------------------------------- helpers


def _reflect_index(idx: np.ndarray, size: int) -> np.ndarray:
    """Map indices onto ``[0, size)`` like ``np.pad(mode="reflect")`` (edge not repeated)."""
    if size == 1:
        return np.zeros_like(idx)
    period = 2 * (size - 1)
    j = np.mod(idx, period)
    return np.where(j >= size, period - j, j)


def centre_values(
    array: np.ndarray,
    corners: np.ndarray,
    patch_size: Sequence[int],
    pad_mode: str = "constant",
) -> np.ndarray:
    """The value of ``array`` at the centre voxel (``corner + patch_size // 2``) of patches.

    Centres outside the array read 0 (``pad_mode="constant"``) or the mirrored voxel
    (``"reflect"``), as in the patches themselves. Used to report which class each patch
    is centred on.

    >>> centre_values(np.arange(16).reshape(4, 4), np.array([[0, 0], [2, 2]]), (2, 2))
    array([ 5, 15])
    """
    array = np.asarray(array)
    corners = np.asarray(corners, dtype=np.int64).reshape(-1, len(patch_size))
    centres = corners + np.asarray([p // 2 for p in patch_size], dtype=np.int64)
    shape = np.asarray(array.shape[: len(patch_size)])
    inside = np.all((centres >= 0) & (centres < shape), axis=1)
    if pad_mode == "reflect":
        mapped = np.stack(
            [_reflect_index(centres[:, d], int(shape[d])) for d in range(len(patch_size))], axis=1
        )
        return array[tuple(mapped.T)]
    out = np.zeros(len(centres), dtype=array.dtype)
    out[inside] = array[tuple(centres[inside].T)]
    return out


def coverage(shape: Sequence[int], corners: np.ndarray, patch_size: Sequence[int]) -> np.ndarray:
    """How many patches cover each pixel/voxel of an image of ``shape``.

    ``corners`` is ``(n, ndim)`` (patch first corners, possibly outside the image with
    padding). Built with a difference array (+1/-1 at the box corners, then a cumulative
    sum per axis), so it costs O(n + size) instead of O(n * patch volume).

    >>> coverage((3, 4), np.array([[0, 0], [1, 1]]), (2, 2))
    array([[1, 1, 0, 0],
           [1, 2, 1, 0],
           [0, 1, 1, 0]], dtype=int32)
    """
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    corners = np.asarray(corners, dtype=np.int64).reshape(-1, nd)
    lo = np.clip(corners, 0, shape)
    hi = np.clip(corners + np.asarray(patch_size, dtype=np.int64), 0, shape)
    keep = np.all(hi > lo, axis=1)
    lo, hi = lo[keep], hi[keep]
    diff = np.zeros(tuple(s + 1 for s in shape), dtype=np.int64)
    for bits in range(2**nd):
        pick = [(bits >> d) & 1 for d in range(nd)]
        point = tuple(np.where(pick[d], hi[:, d], lo[:, d]) for d in range(nd))
        sign = -1 if sum(pick) % 2 else 1
        np.add.at(diff, point, sign)
    for d in range(nd):
        np.cumsum(diff, axis=d, out=diff)
    return diff[tuple(slice(0, s) for s in shape)].astype(np.int32)


def expected_centre_classes(
    mask: np.ndarray,
    patch_size: Sequence[int],
    mode: str = "uniform",
    border: str = "valid",
    class_weights: Mapping[int, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The classes patch centres should fall on, and their expected fractions.

    What :class:`PatchSampler` aims for on one image with this ``mask``: for
    ``"uniform"`` the class fractions of the voxels a centre can land on, for
    ``"foreground"`` the same among non-zero voxels, for ``"class_balanced"`` equal
    shares of the classes present (or ``class_weights``, normalised). Compare it with
    ``Patches.centre_classes`` to see what was actually drawn. (For images smaller than
    the patch with ``border="pad"`` the uniform fractions are approximate.)

    >>> m = np.zeros((10, 10), np.uint8); m[:, 5:] = 1
    >>> expected_centre_classes(m, (4, 4), "class_balanced")
    (array([0, 1]), array([0.5, 0.5]))
    """
    mask = np.asarray(mask)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    box = []
    for s, p in zip(mask.shape, patch_size):
        if s >= p and (border == "valid" or mode == "uniform"):
            box.append(slice(p // 2, s - p + p // 2 + 1))
        else:
            box.append(slice(0, s))
    classes, counts = np.unique(mask[tuple(box)], return_counts=True)
    classes = classes.astype(np.int64)
    if mode == "foreground":
        keep = classes != 0
        classes, counts = classes[keep], counts[keep]
    if mode == "class_balanced":
        if class_weights is None:
            weights = np.ones(classes.size)
        else:
            weights = np.array([float(class_weights.get(int(c), 0.0)) for c in classes])
    else:
        weights = counts.astype(np.float64)
    total = weights.sum()
    fractions = weights / total if total > 0 else np.zeros(classes.size)
    keep = fractions > 0
    return classes[keep], fractions[keep]


def match_masks(
    images: Sequence[PathLike],
    image_root: PathLike,
    mask_root: PathLike,
    suffix: str = "",
) -> list[Path]:
    """The mask file of every image: same relative folder and stem under ``mask_root``.

    ``image_root/a/b/img7.jpg`` is paired with ``mask_root/a/b/img7{suffix}.*`` (any
    image extension, e.g. ``.png``). Raises FileNotFoundError listing images without a
    mask, or ValueError when a stem matches several mask files.

    >>> match_masks(["data/img/x.jpg"], "data/img", "data/masks")  # doctest: +SKIP
    [PosixPath('data/masks/x.png')]
    """
    from .io import images_by_stem

    image_root, mask_root = Path(image_root), Path(mask_root)
    if not mask_root.is_dir():
        raise NotADirectoryError(f"mask folder not found: {mask_root}")
    candidates = images_by_stem(mask_root)
    out, missing = [], []
    for path in images:
        path = Path(path)
        try:
            rel = path.relative_to(image_root)
        except ValueError:
            rel = Path(path.name)
        folder = mask_root / rel.parent
        found = candidates.get((rel.parent.as_posix(), rel.stem + suffix), [])
        if not found:
            missing.append(str(rel))
        elif len(found) > 1:
            names = ", ".join(f.name for f in found)
            raise ValueError(f"image {path} matches several masks in {folder}: {names}")
        else:
            out.append(found[0])
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(
            f"no mask named <stem>{suffix}.<ext> in {mask_root} for {len(missing)} image(s): "
            f"{', '.join(missing[:5])}{more}"
        )
    return out


def _is_pathlike(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _as_sources(x: Any, what: str) -> list:
    """A list of paths or arrays from a list, a folder, a single path or a single array."""
    if _is_pathlike(x):
        path = Path(x)
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise ValueError(f"{what}: no image files found in folder {path}")
            return found
        if not path.is_file():
            raise FileNotFoundError(f"{what}: no such file or folder: {path}")
        return [path]
    if isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "__array__")):
        return [x]
    if not isinstance(x, Sequence):
        raise TypeError(
            f"{what} must be a list of paths or arrays, a folder or one array, "
            f"got {type(x).__name__}"
        )
    out = []
    for i, item in enumerate(x):
        if _is_pathlike(item):
            if not Path(item).is_file():
                raise FileNotFoundError(f"{what}[{i}]: no such file: {item}")
            out.append(Path(item))
        elif hasattr(item, "shape") and hasattr(item, "__array__"):
            out.append(item)
        else:
            raise TypeError(
                f"{what}[{i}] must be a path or an array, got {type(item).__name__}"
            )
    return out


def _name(source: Any, i: int, what: str) -> str:
    return str(source) if isinstance(source, Path) else f"{what}[{i}] (array)"


@dataclass
class _Entry:
    """One decoded image (and mask) in the cache, with what sampling needs precomputed."""

    index: int
    image: np.ndarray
    mask: np.ndarray | None
    spatial: tuple[int, ...]
    lo: np.ndarray  # lowest corner for uniform draws, per axis
    npos: np.ndarray  # number of uniform corner positions, per axis
    # foreground / class index, over the region where a centre is allowed
    offset: np.ndarray | None = None
    region: tuple[int, ...] | None = None
    fg: np.ndarray | None = None  # flat indices (in region) of non-zero mask voxels
    labels: np.ndarray | None = None  # classes present in the region
    order: np.ndarray | None = None  # flat region indices grouped by class
    starts: np.ndarray | None = None  # order[starts[j]:starts[j] + counts[j]] is labels[j]
    counts: np.ndarray | None = None


class _Config:
    """The read-only settings the loader threads need (no reference to the sampler)."""

    def __init__(self, patch_size, mode, border, images, masks):
        self.patch_size = patch_size
        self.ndim = len(patch_size)
        self.mode = mode
        self.border = border
        self.images = images
        self.masks = masks
        # decoded files go back here when they leave the cache, to be decoded into again
        self.buffers = BufferPool(max_free=4)

    def check_shapes(self, i: int, image_shape: tuple, mask_shape: tuple | None) -> None:
        """Raise ValueError naming the file/array if the shapes cannot be sampled."""
        nd = self.ndim
        name = _name(self.images[i], i, "images")
        if len(image_shape) not in (nd, nd + 1):
            raise ValueError(
                f"{name} has shape {image_shape}, but a {nd}D patch_size needs a {nd}D image "
                f"(optionally with a trailing channel axis)"
            )
        if len(image_shape) == nd + 1 and image_shape[-1] > MAX_CHANNELS:
            raise ValueError(
                f"{name} has shape {image_shape}: its last axis ({image_shape[-1]}) is too long "
                f"to be channels (at most {MAX_CHANNELS}); for a {nd + 1}D volume give a "
                f"{nd + 1}-entry patch_size"
            )
        spatial = tuple(int(s) for s in image_shape[:nd])
        if mask_shape is not None and tuple(mask_shape) != spatial:
            mname = _name(self.masks[i], i, "masks")
            raise ValueError(
                f"mask {mname} has shape {tuple(mask_shape)}, but its image {name} has spatial "
                f"shape {spatial}; a mask must match its image pixel for pixel"
            )
        if self.border == "valid" and any(s < p for s, p in zip(spatial, self.patch_size)):
            raise ValueError(
                f"{name} (spatial shape {spatial}) is smaller than the patch {self.patch_size}; "
                f'use border="pad" to pad small images, or a smaller patch_size'
            )

    def load(self, i: int) -> _Entry:
        """Read image ``i`` (and its mask), check it and precompute its sampling tables."""
        src = self.images[i]
        pool = self.buffers
        image = read_image_pooled(src, pool) if isinstance(src, Path) else np.asarray(src)
        mask = None
        if self.masks is not None:
            msrc = self.masks[i]
            mask = read_image_pooled(msrc, pool) if isinstance(msrc, Path) else np.asarray(msrc)
            if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
                raise ValueError(
                    f"mask {_name(msrc, i, 'masks')} has dtype {mask.dtype}; masks must hold "
                    f"integer class ids (or booleans)"
                )
        self.check_shapes(i, image.shape, None if mask is None else mask.shape)
        spatial = tuple(int(s) for s in image.shape[: self.ndim])
        p = np.asarray(self.patch_size, dtype=np.int64)
        s = np.asarray(spatial, dtype=np.int64)
        # corners uniform over the full-patch positions; along an axis shorter than the
        # patch (border="pad" only) over the positions where the patch covers that axis
        lo = np.minimum(0, s - p)
        npos = np.abs(s - p) + 1
        entry = _Entry(i, image, mask, spatial, lo, npos)
        if self.mode != "uniform" and mask is not None:
            _index_classes(entry, self.patch_size, self.border, self.mode)
        return entry


def _index_classes(entry: _Entry, patch_size, border: str, mode: str) -> None:
    """Fill the foreground list or the per-class voxel lists of ``entry``.

    Centres are allowed where the whole patch fits (``border="valid"``) or anywhere
    (``"pad"``); the lists hold flat indices into that region.
    """
    mask = entry.mask
    if border == "valid":
        offset = np.asarray([p // 2 for p in patch_size], dtype=np.int64)
        stop = [s - p + p // 2 + 1 for s, p in zip(entry.spatial, patch_size)]
        region = mask[tuple(slice(int(a), b) for a, b in zip(offset, stop))]
    else:
        offset = np.zeros(len(patch_size), dtype=np.int64)
        region = mask
    entry.offset = offset
    entry.region = region.shape
    flat = np.ascontiguousarray(region).reshape(-1)
    if mode == "foreground":
        entry.fg = np.flatnonzero(flat)
        return
    from ._kernels.patches import counting_sort

    if flat.dtype == bool:
        flat = flat.view(np.uint8)
    lo_v = int(flat.min()) if flat.size else 0
    hi_v = int(flat.max()) if flat.size else 0
    if lo_v >= 0 and hi_v < max(4 * flat.size, 1 << 16):
        ids, nbins, values = flat, hi_v + 1, None
    else:  # large or negative ids: compact them first
        values, ids = np.unique(flat, return_inverse=True)
        ids = ids.reshape(-1)
        nbins = values.size
    index_dtype = np.uint32 if flat.size < 2**32 else np.int64
    order = np.empty(flat.size, dtype=index_dtype)
    starts = counting_sort(ids, nbins, order)
    counts = np.diff(starts)
    present = np.flatnonzero(counts)
    entry.labels = present if values is None else values[present]
    entry.labels = entry.labels.astype(np.int64)
    entry.starts = starts[present]
    entry.counts = counts[present]
    entry.order = order


def _copy_inside(src: np.ndarray, corners: np.ndarray, rows: np.ndarray, out: np.ndarray,
                 patch_size: tuple[int, ...]) -> None:
    """``out[rows[j]] = src[corners[j] : corners[j] + patch_size]`` for patches inside ``src``."""
    if (
        len(patch_size) == 2
        and src.ndim == 3
        and src.shape[2] == 3
        and src.dtype == np.uint8
        and out.dtype == np.uint8
        and src.strides[1] != 3
    ):  # RGB view of a decoded RGBX buffer: a compiled copy (NumPy's is ~20x slower)
        from ._kernels.patches import crop_rgb

        crop_rgb(src, corners, rows, out)
        return
    if len(patch_size) == 2:
        ph, pw = patch_size
        for k, (y, x) in zip(rows.tolist(), corners.tolist()):
            out[k] = src[y : y + ph, x : x + pw]
        return
    for k, corner in zip(rows.tolist(), corners.tolist()):
        out[k] = src[tuple(slice(c, c + q) for c, q in zip(corner, patch_size))]


def _load_job(config: _Config, i: int) -> _Entry:
    return config.load(i)


# ------------------------------------------------------------------------- sampler


class PatchSampler:
    """Seeded random patches from many big images, each image decoded once per visit.

    Parameters
    ----------
    images : list of paths or arrays, a folder, or one array
        The source images: TIFF, PNG, JPEG, ``.npy`` files (read with
        :func:`labelprep.io.read_image`) or arrays; 2D (optionally with a trailing channel
        axis of at most 16 channels) for a 2-entry ``patch_size``, 3D volumes (optionally
        with channels) for a 3-entry one.
    masks : same as ``images``, optional
        One label mask per image, with the image's spatial shape; cropped at exactly
        the same places. Needed for ``mode="foreground"`` and ``"class_balanced"``.
    patch_size : tuple of int (or one int for a square 2D patch)
    cache_size : int
        How many decoded images to keep (fewer if the dataset is smaller).
    replace_every : int
        After this many patches drawn, one cached image chosen at random is replaced by
        the next image of a shuffled order that cycles through the dataset (images
        already in the cache are skipped). With all images cached nothing is replaced.
    mode : {"uniform", "foreground", "class_balanced"}
        ``"uniform"``: corners uniform over all allowed positions (no border bias).
        ``"foreground"``: the patch centre (``corner + patch_size // 2``) is a uniformly
        drawn non-zero mask voxel. ``"class_balanced"``: the centre's class is drawn
        uniformly over the classes present in the cached images (0 included), or by
        ``class_weights``; then a cached image holding that class, uniformly, then a voxel
        of that class in it, uniformly.
    seed : int or None
        Decides everything random: the image order, the replaced slots and the patches.
    border : {"valid", "pad"}
        ``"valid"``: only patches fully inside the image (an image smaller than the patch
        is an error); foreground/class centres must be at least half a patch from the
        border. ``"pad"``: patches may stick out and are padded (``pad_mode``); images
        smaller than the patch are allowed, and any voxel can be a centre.
    pad_mode : {"constant", "reflect"}
        Zero padding (images and masks) or mirror padding like ``np.pad(mode="reflect")``.
    class_weights : dict, optional
        ``{class: weight}`` for ``"class_balanced"``; classes not listed get weight 0.
    prefetch : bool or int
        Decode upcoming images in background threads (the result does not depend on
        it): ``True`` keeps ``2 * workers`` planned images loading ahead of the cache, an
        int that many (each is an extra decoded image in memory), ``False``/0 loads in
        the caller's thread when an image is needed.
    workers : int, optional
        Number of loader threads (default: ``min(2, os.cpu_count())``).

    See Also
    --------
    labelprep.presize.folder : downscale the dataset once before sampling.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((50, 60), np.uint8)
    >>> mask = np.zeros((50, 60), np.uint8); mask[20:30, 20:30] = 1
    >>> with PatchSampler([image], [mask], (8, 8), mode="foreground") as s:
    ...     bool((s.sample(16).centre_classes == 1).all())
    True
    """

    def __init__(
        self,
        images: Sequence[PathLike | np.ndarray] | PathLike | np.ndarray,
        masks: Sequence[PathLike | np.ndarray] | PathLike | np.ndarray | None = None,
        patch_size: Sequence[int] | int = (64, 64),
        cache_size: int = 16,
        replace_every: int = 32,
        mode: str = "uniform",
        seed: int | None = 0,
        border: str = "valid",
        pad_mode: str = "constant",
        class_weights: Mapping[int, float] | None = None,
        prefetch: bool | int = True,
        workers: int | None = None,
    ):
        self._closed = True  # until fully constructed (close() must work from __del__)
        self._executor = None
        if isinstance(patch_size, (int, np.integer)):
            patch_size = (int(patch_size), int(patch_size))
        try:
            patch_size = tuple(int(p) for p in patch_size)
        except (TypeError, ValueError):
            raise TypeError(f"patch_size must be a tuple of ints, got {patch_size!r}") from None
        if not patch_size or any(p < 1 for p in patch_size):
            raise ValueError(f"patch_size must be positive ints, got {patch_size!r}")
        for name, value in (("cache_size", cache_size), ("replace_every", replace_every)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if border not in BORDERS:
            raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        if class_weights is not None:
            if mode != "class_balanced":
                raise ValueError('class_weights is only used with mode="class_balanced"')
            try:
                class_weights = {int(k): float(v) for k, v in dict(class_weights).items()}
            except (TypeError, ValueError):
                raise TypeError(
                    f"class_weights must map int classes to numbers, got {class_weights!r}"
                ) from None
            if any(not np.isfinite(v) or v < 0 for v in class_weights.values()):
                raise ValueError(f"class_weights must be >= 0, got {class_weights!r}")
            if not any(v > 0 for v in class_weights.values()):
                raise ValueError("class_weights must give at least one class a weight > 0")

        if isinstance(prefetch, bool) or prefetch is None:
            depth = None if prefetch else 0
        elif isinstance(prefetch, (int, np.integer)) and prefetch >= 0:
            depth = int(prefetch)
        else:
            raise ValueError(f"prefetch must be a bool or an int >= 0, got {prefetch!r}")
        n_workers = min(2, os.cpu_count() or 1) if workers is None else workers
        if not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        n_workers = int(n_workers)

        sources = _as_sources(images, "images")
        if not sources:
            raise ValueError("images is empty: give at least one image")
        mask_sources = None
        if masks is not None:
            mask_sources = _as_sources(masks, "masks")
            if len(mask_sources) != len(sources):
                raise ValueError(
                    f"got {len(sources)} images but {len(mask_sources)} masks; "
                    f"give one mask per image"
                )
        elif mode != "uniform":
            raise ValueError(f'mode="{mode}" needs masks')

        self.patch_size: tuple[int, ...] = patch_size
        self.ndim = len(patch_size)
        self.mode = mode
        self.border = border
        self.pad_mode = pad_mode
        self.class_weights = class_weights
        self.replace_every = int(replace_every)
        self.cache_size = min(int(cache_size), len(sources))
        self.seed = seed
        self._config = _Config(patch_size, mode, border, sources, mask_sources)
        # arrays: check shapes now, cheaply, so bad input fails at construction
        for i, src in enumerate(sources):
            msrc = None if mask_sources is None else mask_sources[i]
            if not isinstance(src, Path) and (msrc is None or not isinstance(msrc, Path)):
                self._config.check_shapes(
                    i, tuple(src.shape), None if msrc is None else tuple(msrc.shape)
                )

        seeds = np.random.SeedSequence(seed).spawn(3)
        self._rng_order = np.random.default_rng(seeds[0])
        self._rng_evict = np.random.default_rng(seeds[1])
        self._rng = np.random.default_rng(seeds[2])
        self._plan = self._plan_events()
        self._pending: deque[tuple[int, int, Future | None]] = deque()
        self._cache: list[_Entry | None] = [None] * self.cache_size
        self._filled = False
        self._until_swap = self.replace_every
        self._version = 0
        self._class_table: tuple | None = None
        self._dtype = None
        self._channels = None
        self._mask_dtype = None
        self._warned = False
        self._lock = threading.Lock()
        self.stats = SamplerStats()

        self.prefetch = depth != 0
        self._depth = 0
        if self.prefetch:
            self._depth = 2 * n_workers if depth is None else depth
            self._executor = ThreadPoolExecutor(
                max_workers=int(n_workers), thread_name_prefix="labelprep-patches"
            )
        self._closed = False
        self._top_up()

    # ---------------------------------------------------------------- public API

    @property
    def sources(self) -> list[str]:
        """A name for every image: its path, or ``"images[i] (array)"``."""
        return [_name(s, i, "images") for i, s in enumerate(self._config.images)]

    @property
    def mask_sources(self) -> list[str] | None:
        if self._config.masks is None:
            return None
        return [_name(s, i, "masks") for i, s in enumerate(self._config.masks)]

    @property
    def cached_indices(self) -> list[int]:
        """The source indices currently in the cache (after the first draw)."""
        return [e.index for e in self._cache if e is not None]

    def sample(self, n: int) -> Patches:
        """Draw ``n`` patches (and mask crops) at random; counts as one batch in ``stats``."""
        return self._sample(n, crop=True)

    def sample_origins(self, n: int) -> np.ndarray:
        """Only the ``origins`` that :meth:`sample` would return, without cutting patches.

        Draws exactly as :meth:`sample` does (same random stream, same cache swaps), so
        a fresh sampler gives ``sample_origins(n) == sample(n).origins``.
        """
        return self._sample(n, crop=False).origins

    def batches(self, batch_size: int = 32, n_batches: int | None = None) -> Iterator[Patches]:
        """Yield batches of ``batch_size`` patches: ``n_batches`` of them, or endlessly."""
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if n_batches is not None and int(n_batches) < 0:
            raise ValueError(f"n_batches must be >= 0, got {n_batches!r}")
        done = 0
        while n_batches is None or done < n_batches:
            yield self.sample(int(batch_size))
            done += 1

    def close(self) -> None:
        """Stop the loader threads and drop the cache; the sampler cannot be used after."""
        if self._closed:
            return
        self._closed = True
        for _, _, fut in self._pending:
            if fut is not None:
                fut.cancel()
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._cache = [None] * self.cache_size

    def __enter__(self) -> PatchSampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # pragma: no cover - interpreter shutdown
            self.close()

    def __repr__(self) -> str:
        return (
            f"PatchSampler({len(self._config.images)} images, patch_size={self.patch_size}, "
            f"cache_size={self.cache_size}, replace_every={self.replace_every}, "
            f"mode={self.mode!r}, border={self.border!r}, seed={self.seed!r})"
        )

    # ---------------------------------------------------------------- loading

    def _order_stream(self) -> Iterator[int]:
        n = len(self._config.images)
        while True:
            yield from (int(i) for i in self._rng_order.permutation(n))

    def _plan_events(self) -> Iterator[tuple[int, int]]:
        """(slot, image index) events: the initial fill, then one per replacement.

        Decided from the seed alone, ahead of time, so loader threads can decode in this
        order. Tracks the cache contents to skip images that are already cached.
        """
        stream = self._order_stream()
        k, n = self.cache_size, len(self._config.images)
        content = []
        for slot in range(k):
            idx = next(stream)
            content.append(idx)
            yield slot, idx
        if k >= n:
            return
        while True:
            slot = int(self._rng_evict.integers(k))
            cached = set(content)
            idx = next(i for i in stream if i not in cached)
            content[slot] = idx
            yield slot, idx

    def _top_up(self) -> None:
        """Keep the rest of the initial fill plus ``depth`` planned loads in the threads."""
        if self._executor is None:
            return
        missing = sum(e is None for e in self._cache)
        while len(self._pending) < missing + self._depth:
            try:
                slot, idx = next(self._plan)
            except StopIteration:
                return
            fut = self._executor.submit(_load_job, self._config, idx)
            self._pending.append((slot, idx, fut))

    def _next_entry(self) -> tuple[int, _Entry] | None:
        """The next planned (slot, entry): waits for its loader thread, or loads it now."""
        if not self._pending:
            try:
                slot, idx = next(self._plan)
            except StopIteration:
                return None
            self._pending.append((slot, idx, None))
        slot, idx, fut = self._pending.popleft()
        t0 = time.perf_counter()
        entry = fut.result() if fut is not None else self._config.load(idx)
        self.stats.wait_seconds += time.perf_counter() - t0
        self._check_consistent(entry)
        return slot, entry

    def _check_consistent(self, entry: _Entry) -> None:
        image = entry.image
        channels = image.shape[self.ndim :]
        name = _name(self._config.images[entry.index], entry.index, "images")
        if self._dtype is None:
            self._dtype, self._channels = image.dtype, channels
            if entry.mask is not None:
                self._mask_dtype = entry.mask.dtype
            return
        if channels != self._channels:
            raise ValueError(
                f"{name} has {channels[0] if channels else 'no'} channel(s) but earlier images "
                f"have {self._channels[0] if self._channels else 'none'}; all images must "
                f"have the same channels"
            )
        if not np.can_cast(image.dtype, self._dtype, "safe"):
            raise ValueError(
                f"{name} has dtype {image.dtype} but earlier images have {self._dtype}; "
                f"convert the dataset to one dtype"
            )
        if entry.mask is not None and not np.can_cast(entry.mask.dtype, self._mask_dtype, "safe"):
            mname = _name(self._config.masks[entry.index], entry.index, "masks")
            raise ValueError(
                f"mask {mname} has dtype {entry.mask.dtype} but earlier masks have "
                f"{self._mask_dtype}; convert the masks to one dtype"
            )

    def _apply(self, slot: int, entry: _Entry) -> None:
        old = self._cache[slot]
        self._cache[slot] = entry
        if old is not None:  # no patch refers to its arrays (patches are copies)
            self._config.buffers.release(old.image)
            self._config.buffers.release(old.mask)
        self._version += 1
        self.stats.images_loaded += 1
        self.stats.seen.add(entry.index)
        self._top_up()

    def _ensure_filled(self) -> None:
        if self._filled:
            return
        for _ in range(self.cache_size):
            self._apply(*self._next_entry())
        self._filled = True

    def _swap(self) -> None:
        event = self._next_entry()
        if event is not None:
            self._apply(*event)

    # ---------------------------------------------------------------- drawing

    def _sample(self, n: int, crop: bool) -> Patches:
        if self._closed:
            raise RuntimeError("this PatchSampler is closed")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        n = int(n)
        with self._lock:
            self._ensure_filled()
            origins = np.empty((n, 1 + self.ndim), dtype=np.int64)
            images = masks = None
            if crop:
                images = np.empty((n, *self.patch_size, *self._channels), dtype=self._dtype)
                if self._config.masks is not None:
                    masks = np.empty((n, *self.patch_size), dtype=self._mask_dtype)
            done = 0
            while done < n:
                if self._until_swap == 0:
                    self._swap()
                    self._until_swap = self.replace_every
                m = min(n - done, self._until_swap)
                slots, corners = self._draw(m)
                index = np.array([e.index for e in self._cache], dtype=np.int64)
                origins[done : done + m, 0] = index[slots]
                origins[done : done + m, 1:] = corners
                if crop:
                    self._crop_many(slots, corners, images, masks, done)
                done += m
                self._until_swap -= m
            self.stats.patches += n
            if n:
                self.stats.batches += 1
                self.stats.distinct_sum += int(np.unique(origins[:, 0]).size)
        return Patches(images, masks, origins, self.patch_size)

    def _draw(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """``m`` (slot, corner) draws from the current cache."""
        if self.mode == "foreground":
            out = self._draw_foreground(m)
        elif self.mode == "class_balanced":
            out = self._draw_class_balanced(m)
        else:
            out = None
        if out is None:
            out = self._draw_uniform(m)
        return out

    def _draw_uniform(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        k = len(self._cache)
        slots = self._rng.integers(k, size=m)
        lo = np.stack([e.lo for e in self._cache])[slots]
        npos = np.stack([e.npos for e in self._cache])[slots]
        corners = lo + self._rng.integers(0, npos)
        return slots, corners

    def _fallback(self, m: int, why: str) -> None:
        self.stats.fallback_patches += m
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{why}: drawing uniform patches until a suitable image enters the cache "
                f"(counted in stats.fallback_patches)",
                RuntimeWarning,
                stacklevel=4,
            )

    def _centres_to_corners(self, slots, flat_idx) -> np.ndarray:
        half = np.asarray([p // 2 for p in self.patch_size], dtype=np.int64)
        corners = np.empty((len(slots), self.ndim), dtype=np.int64)
        for j, (s, f) in enumerate(zip(slots, flat_idx)):
            e = self._cache[s]
            corners[j] = np.asarray(np.unravel_index(int(f), e.region)) + e.offset - half
        return corners

    def _draw_foreground(self, m: int):
        sizes = np.array([e.fg.size for e in self._cache], dtype=np.int64)
        eligible = np.flatnonzero(sizes)
        if eligible.size == 0:
            where = " at least half a patch from the border" if self.border == "valid" else ""
            self._fallback(m, f"no cached mask has foreground{where}")
            return None
        slots = eligible[self._rng.integers(eligible.size, size=m)]
        picks = self._rng.integers(0, sizes[slots])
        flat = [self._cache[s].fg[r] for s, r in zip(slots, picks)]
        return slots, self._centres_to_corners(slots, flat)

    def _classes_in_cache(self):
        if self._class_table is not None and self._class_table[0] == self._version:
            return self._class_table[1:]
        labels = np.unique(np.concatenate([e.labels for e in self._cache]))
        k = len(self._cache)
        # where[c, s]: position of class labels[c] in slot s's tables, or -1
        where = np.full((labels.size, k), -1, dtype=np.int64)
        for s, e in enumerate(self._cache):
            where[np.searchsorted(labels, e.labels), s] = np.arange(e.labels.size)
        if self.class_weights is None:
            weights = np.ones(labels.size)
        else:
            weights = np.array([self.class_weights.get(int(c), 0.0) for c in labels])
        holders = [np.flatnonzero(row >= 0) for row in where]  # slots holding each class
        n_holders = np.array([h.size for h in holders], dtype=np.int64)
        self._class_table = (self._version, labels, where, weights, holders, n_holders)
        return self._class_table[1:]

    def _draw_class_balanced(self, m: int):
        labels, where, weights, holders, n_holders = self._classes_in_cache()
        total = weights.sum()
        if total <= 0:
            self._fallback(m, "no class with a weight > 0 is in the cached masks")
            return None
        cls = self._rng.choice(labels.size, size=m, p=weights / total)
        slots = np.array(
            [holders[c][r] for c, r in zip(cls, self._rng.integers(0, n_holders[cls]))],
            dtype=np.int64,
        )
        pos = where[cls, slots]
        counts = np.array([self._cache[s].counts[q] for s, q in zip(slots, pos)], dtype=np.int64)
        picks = self._rng.integers(0, counts)
        flat = [
            self._cache[s].order[self._cache[s].starts[q] + r]
            for s, q, r in zip(slots, pos, picks)
        ]
        return slots, self._centres_to_corners(slots, flat)

    # ---------------------------------------------------------------- cropping

    def _crop_many(self, slots, corners, images, masks, start: int) -> None:
        """Cut patch ``j`` from cache slot ``slots[j]`` at ``corners[j]`` into row ``start + j``.

        Patches fully inside their image (all of them with ``border="valid"``) are copied
        per slot in one go; the others go through :meth:`_crop` (padding).
        """
        p = np.asarray(self.patch_size, dtype=np.int64)
        spatial = np.array([e.spatial for e in self._cache], dtype=np.int64)[slots]
        inside = np.all((corners >= 0) & (corners + p <= spatial), axis=1)
        for s in np.unique(slots).tolist():
            entry = self._cache[s]
            sel = np.flatnonzero(slots == s)
            ins = sel[inside[sel]]
            if ins.size:
                _copy_inside(entry.image, corners[ins], ins + start, images, self.patch_size)
                if masks is not None:
                    _copy_inside(entry.mask, corners[ins], ins + start, masks, self.patch_size)
            for j in sel[~inside[sel]].tolist():
                self._crop(entry, corners[j], images, masks, start + j)

    def _crop(self, entry: _Entry, corner, images, masks, k: int) -> None:
        """Cut one patch that crosses its image's border (``border="pad"``) into row ``k``,
        padded with zeros or by reflection (patches inside go through :func:`_copy_inside`)."""
        p = self.patch_size
        if self.pad_mode == "reflect":
            idx = np.ix_(
                *[
                    _reflect_index(np.arange(c, c + q), s)
                    for c, q, s in zip(corner, p, entry.spatial)
                ]
            )
            images[k] = entry.image[idx]
            if masks is not None:
                masks[k] = entry.mask[idx]
            return
        src, dst = [], []
        for c, q, s in zip(corner, p, entry.spatial):
            a, b = max(int(c), 0), min(int(c) + q, s)
            src.append(slice(a, max(a, b)))
            dst.append(slice(a - int(c), a - int(c) + max(b - a, 0)))
        images[k] = 0
        images[k][tuple(dst)] = entry.image[tuple(src)]
        if masks is not None:
            masks[k] = 0
            masks[k][tuple(dst)] = entry.mask[tuple(src)]
