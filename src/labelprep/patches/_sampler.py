"""The :class:`PatchSampler` itself: its arguments, its public API and the sampling loop.

Filling the cache lives in :mod:`._loading`, drawing positions in :mod:`._drawing`,
cutting the patches in :mod:`._crop`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ._crop import _crop_many
from ._drawing import _Drawing
from ._entry import _Config, _Entry
from ._loading import _CacheLoading, _Plan
from ._options import BORDERS, MODES, ON_ERROR, PAD_MODES, PathLike
from ._results import Patches, SamplerStats
from ._sources import _as_sources, _name


class PatchSampler(_CacheLoading, _Drawing):
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
    on_error : {"raise", "skip"}
        What a source that cannot be read or used does when it is loaded (a corrupt,
        truncated or vanished file, a mask of the wrong shape or dtype, an image smaller
        than the patch with ``border="valid"``, other channels or dtype than the first
        image loaded). ``"raise"`` (default): ``sample()`` raises the error, naming the
        file. ``"skip"``: the source is dropped for the rest of the run (never drawn
        again, its cache slot refilled with the next image of the seeded order), a
        :class:`~labelprep.errors.SkippedFileWarning` names it and the reason once, and
        :attr:`skipped` records it; when every source has failed, ``sample()`` raises a
        ValueError. Without bad sources both give the same patches. Bad arguments
        (including missing paths and arrays of the wrong shape, checked here) always
        raise at once.

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

    With ``on_error="skip"`` a bad source is left out (here a float mask, refused when
    it is loaded), with a warning:

    >>> import warnings
    >>> masks = [mask, mask.astype(np.float32), mask]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     with PatchSampler([image] * 3, masks, (8, 8), on_error="skip") as s:
    ...         drawn = set(s.sample(64).sources.tolist())
    >>> sorted(drawn), list(s.skipped)
    ([0, 2], ['images[1] (array)'])
    >>> s.skipped["images[1] (array)"][:47]
    'mask masks[1] (array) has dtype float32; masks '
    >>> [type(w.message).__name__ for w in caught]
    ['SkippedFileWarning']
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
        on_error: str = "raise",
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
        if not isinstance(on_error, str) or on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
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
        self.on_error = on_error
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
        self._plan = _Plan(self._rng_order, self._rng_evict, len(sources), self.cache_size,
                           snapshots=on_error == "skip")
        # (slot, image or None, plan state, future or None) per planned event
        self._pending: deque[tuple[int, int | None, tuple | None, Future | None]] = deque()
        self._skipped: dict[str, str] = {}
        self._exhausted: ValueError | None = None
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
    def skipped(self) -> Mapping[str, str]:
        """The sources left out (``on_error="skip"``): name -> reason, in skip order.

        A read-only view that grows as the run goes on; a source is named as in
        :attr:`sources` (also when its mask was the bad file: the reason names it).
        """
        return MappingProxyType(self._skipped)

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
        for _, _, _, fut in self._pending:
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


    # ---------------------------------------------------------------- sampling

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
                    _crop_many(
                        self._cache, slots, corners, images, masks, done,
                        self.patch_size, self.pad_mode,
                    )
                done += m
                self._until_swap -= m
            self.stats.patches += n
            if n:
                self.stats.batches += 1
                self.stats.distinct_sum += int(np.unique(origins[:, 0]).size)
        return Patches(images, masks, origins, self.patch_size)
