"""How a :class:`~labelprep.patches.PatchSampler` fills and refreshes its cache.

The seeded plan of (slot, image) events, the loader threads kept ahead of it, and the
swaps that apply it. A mixin: the state it uses (``_plan``, ``_pending``, ``_cache``,
``_executor``, the RNGs, ``stats``...) is set up by ``PatchSampler.__init__``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from ._entry import _Entry, _load_job
from ._sources import _name


class _CacheLoading:
    """The cache-loading half of :class:`~labelprep.patches.PatchSampler`."""

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
