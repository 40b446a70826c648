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

# The package's modules, each one part of the story above:
#   _options   the choices (MODES, BORDERS, PAD_MODES) and shared constants
#   _results   Patches (one draw) and SamplerStats (running counters)
#   _sources   images/masks given as lists, folders or arrays; match_masks
#   _entry     one cache entry: read, checked, class-indexed (what loader threads run)
#   _loading   the seeded cache plan, the loader threads, the swaps, skipped sources
#              (on_error="skip") (PatchSampler mixin)
#   _drawing   (slot, corner) draws per mode, uniform fallback (PatchSampler mixin)
#   _crop      cutting patches out, with zero or mirror padding
#   _analysis  centre_values, coverage, expected_centre_classes
#   _sampler   PatchSampler: arguments, public API, the sampling loop

from ._analysis import centre_values, coverage, expected_centre_classes
from ._options import BORDERS, MODES, ON_ERROR, PAD_MODES
from ._options import MAX_CHANNELS as MAX_CHANNELS  # module attributes before the split
from ._options import PathLike as PathLike
from ._results import Patches, SamplerStats
from ._sampler import PatchSampler
from ._sources import match_masks

__all__ = [
    "BORDERS",
    "MODES",
    "ON_ERROR",
    "PAD_MODES",
    "PatchSampler",
    "Patches",
    "SamplerStats",
    "centre_values",
    "coverage",
    "expected_centre_classes",
    "match_masks",
]
