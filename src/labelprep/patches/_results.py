"""What sampling returns: the :class:`Patches` of one draw and the running :class:`SamplerStats`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
