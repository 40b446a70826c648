"""How a :class:`~labelprep.patches.PatchSampler` fills and refreshes its cache.

The seeded plan of (slot, image) events (:class:`_Plan`), the loader threads kept ahead
of it, the swaps that apply it, and, with ``on_error="skip"``, the sources dropped when
they cannot be read or used. A mixin: the state it uses (``_plan``, ``_pending``,
``_cache``, ``_executor``, ``_skipped``, ``_exhausted``, ``stats``...) is set up by
``PatchSampler.__init__``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..errors import SkippedFileWarning
from ._entry import _Entry, _load_job
from ._sources import _name

#: What loading one source raises when that source is bad (the file cannot be read, has
#: vanished, or its image/mask cannot be sampled): ImageReadError and the shape, dtype
#: and channel checks are ValueErrors, a vanished or unreadable file an OSError.
SOURCE_ERRORS = (ValueError, OSError)


class _Plan:
    """The seeded (slot, image) events: the initial fill, then one per replacement.

    Decided from the seed alone, ahead of time, so loader threads can decode in this
    order: images enter in a shuffled order that cycles through the dataset (images
    already cached are passed over), each replacement in a slot drawn at random.

    An image that failed (``on_error="skip"``) is dropped by :meth:`drop`: the plan goes
    back to just after that image's event (``snapshots`` keeps that state with every
    event), and the slot is refilled with the next usable image of the same order, or
    removed when every usable image is already cached. What follows depends only on the
    seed and on which images failed, not on how far ahead the loader threads were, so
    prefetching still does not change the patches.
    """

    def __init__(self, rng_order, rng_evict, n: int, k: int, snapshots: bool):
        self._rng_order = rng_order
        self._rng_evict = rng_evict
        self.n = n
        self.k = k  # planned number of cache slots (fewer when too few images are usable)
        self._snapshots = snapshots
        self._perm = np.empty(0, dtype=np.int64)
        self._pos = 0
        self._content: list[int] = []  # the image planned in each slot
        self._refill: int | None = None  # a slot whose image was dropped
        self.dropped: set[int] = set()

    def next(self) -> tuple[int, int | None, tuple | None] | None:
        """``(slot, image, state)``: image None removes the slot; None: no more events."""
        if self._refill is not None:
            slot, self._refill = self._refill, None
            idx = self._next_image()
            if idx is None:
                del self._content[slot]
                self.k -= 1
            else:
                self._content[slot] = idx
        elif len(self._content) < self.k:  # the initial fill
            slot = len(self._content)
            idx = self._next_image()
            if idx is None:
                self.k -= 1
            else:
                self._content.append(idx)
        elif self.k >= self.n - len(self.dropped):  # every usable image is cached
            return None
        else:
            slot = int(self._rng_evict.integers(self.k))
            idx = self._next_image()
            self._content[slot] = idx
        return slot, idx, self._state() if self._snapshots else None

    def drop(self, slot: int, idx: int, state: tuple) -> None:
        """Image ``idx`` (planned in ``slot``) failed: never plan it again, refill ``slot``.

        ``state`` is the one returned with its event; the events planned after it are
        void (the caller discards them) and are planned again.
        """
        (order, evict, self._perm, self._pos, content, self.k) = state
        self._rng_order.bit_generator.state = order
        self._rng_evict.bit_generator.state = evict
        self._content = list(content)
        self.dropped.add(idx)
        self._refill = slot

    def _state(self) -> tuple:
        return (
            self._rng_order.bit_generator.state, self._rng_evict.bit_generator.state,
            self._perm, self._pos, tuple(self._content), self.k,
        )

    def _next_image(self) -> int | None:
        """The next image of the order not cached nor dropped (None if there is none)."""
        taken = set(self._content)
        if len(taken | self.dropped) >= self.n:
            return None
        while True:
            if self._pos == len(self._perm):
                self._perm = self._rng_order.permutation(self.n)
                self._pos = 0
            idx = int(self._perm[self._pos])
            self._pos += 1
            if idx not in taken and idx not in self.dropped:
                return idx


class _CacheLoading:
    """The cache-loading half of :class:`~labelprep.patches.PatchSampler`."""

    def _top_up(self) -> None:
        """Keep the rest of the initial fill plus ``depth`` planned loads in the threads."""
        if self._executor is None:
            return
        missing = sum(e is None for e in self._cache)
        while len(self._pending) < missing + self._depth:
            event = self._plan.next()
            if event is None:
                return
            slot, idx, state = event
            fut = None if idx is None else self._executor.submit(_load_job, self._config, idx)
            self._pending.append((slot, idx, state, fut))

    def _next_entry(self) -> tuple[int, _Entry | None] | None:
        """The next planned (slot, entry): waits for its loader thread, or loads it now.

        The entry is None when the slot is to be removed (too few usable images left);
        with ``on_error="skip"`` a source that fails is dropped and the next event taken.
        """
        if self._exhausted is not None:  # every source was skipped: nothing to draw from
            raise self._exhausted
        while True:
            if not self._pending:
                event = self._plan.next()
                if event is None:
                    return None
                self._pending.append((*event, None))
            slot, idx, state, fut = self._pending.popleft()
            if idx is None:
                return slot, None
            t0 = time.perf_counter()
            try:
                entry = fut.result() if fut is not None else self._config.load(idx)
                self.stats.wait_seconds += time.perf_counter() - t0
                self._check_consistent(entry)
            except SOURCE_ERRORS as exc:
                if self.on_error == "raise":
                    raise
                self._skip(slot, idx, state, exc)
                continue
            return slot, entry

    def _skip(self, slot: int, idx: int, state: tuple, exc: Exception) -> None:
        """Drop source ``idx`` for the rest of the run: record it, warn, re-plan."""
        name = _name(self._config.images[idx], idx, "images")
        reason = str(exc) or type(exc).__name__
        self._skipped[name] = reason
        for _, _, _, fut in self._pending:  # planned before the drop: void
            if fut is not None:
                fut.cancel()
        self._pending.clear()
        self._plan.drop(slot, idx, state)
        # user code -> sample -> _sample -> _swap / _ensure_filled -> _next_entry -> here
        warnings.warn(
            f"skipping {name} for the rest of the run: {reason}", SkippedFileWarning,
            stacklevel=6,
        )
        n = len(self._config.images)
        if len(self._plan.dropped) >= n:
            first, why = next(iter(self._skipped.items()))
            self._exhausted = ValueError(
                f'all {n} image(s) were skipped (on_error="skip"), none can be sampled; '
                f"the first: {first}: {why}"
            )
            raise self._exhausted from exc
        self._top_up()

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

    def _apply(self, slot: int, entry: _Entry | None) -> None:
        if entry is None:  # fewer usable images than slots: the slot goes
            old = self._cache.pop(slot)
        else:
            old = self._cache[slot]
            self._cache[slot] = entry
            self.stats.images_loaded += 1
            self.stats.seen.add(entry.index)
        if old is not None:  # no patch refers to its arrays (patches are copies)
            self._config.buffers.release(old.image)
            self._config.buffers.release(old.mask)
        self._version += 1
        self._top_up()

    def _ensure_filled(self) -> None:
        if self._filled:
            return
        while any(e is None for e in self._cache):
            event = self._next_entry()
            if event is None:  # only after an error was raised (on_error="raise")
                break
            self._apply(*event)
        self._filled = True

    def _swap(self) -> None:
        event = self._next_entry()
        if event is not None:
            self._apply(*event)
