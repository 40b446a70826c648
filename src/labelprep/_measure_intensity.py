"""The intensity statistics of :func:`labelprep.measure.measure`: the image checked into the
``(voxels, channels)`` array the kernels read, the statistics from one numba pass over the
objects' voxels (or from the sums an index build gathered, :class:`FusedIntensity`), and
the median from a second pass.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .index import LabelIndex


class FusedIntensity:
    """The per-object intensity sums of an index build given an image (internal).

    Made by ``LabelIndex.build(..., image=)`` before its passes (which checks the image:
    :attr:`values` is what the scan reads), filled per build part
    (:meth:`part_sums`, the kernel ``intensity_run``) and merged by :meth:`attach`, which
    leaves it on the index as ``_fused_intensity``: the merged :attr:`sums` (see
    ``labelprep._kernels.measure.FUSED_N``) and a weak reference to the image, so that
    :func:`measure` recognises the same array without keeping it alive.
    """

    def __init__(self, image: Any, shape: tuple[int, ...]):
        self.values: np.ndarray | None = _check_image(image, shape)
        self.shape = np.shape(image)
        self.dtype = np.asarray(image).dtype
        self.ndim = len(shape)
        try:
            self.ref = weakref.ref(image)
        except TypeError:  # not an object a weak reference can follow (a list...)
            self.ref = None
        self.sums: np.ndarray | None = None
        self.counts: np.ndarray | None = None

    def part_sums(self, n: int) -> np.ndarray:
        """Zeroed sums for ``n`` ids of one build part."""
        from ._kernels.measure import FUSED_W

        return np.zeros((n, self.values.shape[1], FUSED_W + self.ndim), np.float64)

    @staticmethod
    def attach(fused: FusedIntensity | None, parts: list, n: int,
               index: LabelIndex) -> LabelIndex:
        """Merge the parts' sums (``(rows, sums)`` pairs, in raster order) into ``n`` rows
        and keep them on ``index`` (returned); nothing if ``fused`` is None."""
        from ._kernels.measure import FUSED_W, merge_intensity

        if fused is None:
            return index
        sums = np.zeros((n, fused.values.shape[1], FUSED_W + fused.ndim), np.float64)
        for rows, src in parts:
            merge_intensity(sums, rows, src)
        fused.sums, fused.counts, fused.values = sums, index.counts, None
        index._fused_intensity = fused
        return index

    def matches(self, index: LabelIndex, image: Any) -> bool:
        """Whether these sums are of ``image`` (the same object, shape and dtype) and of
        ``index``."""
        return (self.ref is not None and self.ref() is image and self.counts is index.counts
                and np.shape(image) == self.shape and getattr(image, "dtype", None) == self.dtype)



def _check_image(image: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The image as a C-contiguous ``(voxels, channels)`` array the kernels can read."""
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"image must have an integer, float or bool dtype, got {arr.dtype}")
    if arr.shape == shape:
        nchan = 1
    elif arr.ndim == len(shape) + 1 and arr.shape[:-1] == shape:
        nchan = arr.shape[-1]
    else:
        raise ValueError(
            f"image has shape {arr.shape}, but the labelled stack has shape {shape}: it must "
            f"be {shape} or {shape} + (channels,)"
        )
    if nchan == 0:
        raise ValueError(f"image has shape {arr.shape}: no channels on its last axis (the "
                         f"labelled stack has shape {shape})")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)  # numba has no float16
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr = np.ascontiguousarray(arr)
    return arr.reshape(-1, nchan)



def _intensity_stats(index: LabelIndex, values: Any, pitch: np.ndarray, props: list[str],
                     fused: FusedIntensity | None = None) -> dict[str, np.ndarray]:
    """The intensity properties in ``props``, each ``(n, C)`` (``(n, ndim, C)`` for
    ``centroid_weighted``), from the kernels' raw sums: those of ``fused`` (the build's)
    if given (``values`` is then read only for the median), else of one pass over
    ``values`` (the checked image, ``(voxels, C)``)."""
    from ._kernels import measure as K
    from .measure import _STATS

    n, ndim = len(index), index.ndim
    out: dict[str, np.ndarray] = {}
    want = [p for p in props if p in _STATS]
    weighted = "centroid_weighted" in want
    if want and fused is not None:
        sums = fused.sums
        shift, s1, s2 = (sums[:, :, j] for j in (K.FUSED_K, K.FUSED_S1, K.FUSED_S2))
        mins, maxs = sums[:, :, K.FUSED_MIN], sums[:, :, K.FUSED_MAX]
        nans = sums[:, :, K.FUSED_NAN] != 0
        ws = sums[:, :, K.FUSED_W:].transpose(0, 2, 1)
    elif want:
        nchan = values.shape[1]
        shift = np.empty((n, nchan), np.float64)
        s1 = np.empty((n, nchan), np.float64)
        s2 = np.empty((n, nchan), np.float64)
        mins = np.empty((n, nchan), values.dtype)
        maxs = np.empty((n, nchan), values.dtype)
        nans = np.zeros((n, nchan), np.bool_)
        ws = np.zeros((n, ndim, nchan) if weighted else (0, ndim, nchan), np.float64)
        if n:
            K.intensity_stats(values, index.voxel_indices, index.offsets,
                              np.array(index.shape, dtype=np.int64), weighted, shift, s1, s2,
                              mins, maxs, nans, ws)
    if want:
        count = index.counts.astype(np.float64)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean1 = s1 / count
            total = shift * count + s1
            out["intensity_sum"] = total
            out["intensity_mean"] = shift + mean1
            out["intensity_std"] = np.sqrt(np.maximum(s2 / count - mean1 * mean1, 0.0))
            for name, arr in (("intensity_min", mins), ("intensity_max", maxs)):
                arr = arr.astype(np.float64)
                arr[nans] = np.nan
                out[name] = arr
            if weighted:
                out["centroid_weighted"] = ws / total[:, None, :] * pitch[None, :, None]
    if "intensity_median" in props:
        med = np.empty((n, values.shape[1]), np.float64)
        if n:
            K.medians(values, index.voxel_indices, index.offsets, med)
        out["intensity_median"] = med
    return out
