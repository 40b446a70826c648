"""How a :class:`~labelprep.patches.PatchSampler` draws (slot, corner) pairs in each mode.

Uniform corners, foreground centres, or class-balanced centres (a class, then a cached
image holding it, then one of its voxels), with the uniform fallback when no cached
image can serve the mode. A mixin: the state it uses (``_cache``, ``_rng``,
``_version``, ``_class_table``, ``stats``...) is set up by ``PatchSampler.__init__``.
"""

from __future__ import annotations

import warnings

import numpy as np


class _Drawing:
    """The drawing half of :class:`~labelprep.patches.PatchSampler`."""

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
