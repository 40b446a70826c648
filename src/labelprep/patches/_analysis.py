"""Where patches fall: the class under their centres, how often each voxel is covered, and
the centre classes a sampling mode aims for (for previews, reports and tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._crop import _reflect_index
from ._options import BORDERS, MODES


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
