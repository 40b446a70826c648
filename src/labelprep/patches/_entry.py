"""One cache entry: an image (and mask) read, checked, and indexed for drawing centres.

The loader threads run :func:`_load_job` (so :class:`_Config` holds only what they need,
no reference to the sampler); :func:`_index_classes` builds the foreground list or the
per-class voxel lists that ``mode="foreground"`` and ``"class_balanced"`` draw from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import BufferPool, read_image_pooled
from ._options import MAX_CHANNELS
from ._sources import _name


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
    from .._kernels.patches import counting_sort

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


def _load_job(config: _Config, i: int) -> _Entry:
    return config.load(i)
