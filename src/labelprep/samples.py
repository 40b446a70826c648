"""Deterministic synthetic data: the napari sample data, the demo and the tests share it.

Everything here is seeded and fast (well under a second), so tests can regenerate the
exact same arrays instead of shipping binary fixtures.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cells_3d", "photo_2d", "blobs_labels"]


def _relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Map the present non-zero ids to 1..K in ascending order (0 stays 0)."""
    present = np.unique(labels)
    present = present[present != 0]
    lut = np.zeros(int(labels.max()) + 1 if labels.size else 1, dtype=np.int32)
    lut[present] = np.arange(1, present.size + 1, dtype=np.int32)
    return lut[labels]


def cells_3d(
    shape: tuple[int, int, int] = (64, 256, 256),
    n_cells: int = 600,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A 3D stack of touching, cell-like ellipsoids and its grey-level image.

    Each cell is an ellipsoid with a random centre and radii (flatter in z, as in
    confocal stacks); where ellipsoids overlap the voxel goes to the cell whose
    normalised distance is smallest, so cells touch along curved faces like real
    segmentations. Hidden cells are dropped and ids are made sequential.

    Returns
    -------
    image : (Z, Y, X) uint16 array
        Bright cells with a soft edge on a dim background, with Gaussian noise.
    labels : (Z, Y, X) int32 array
        0 for background, 1..K for cells (K is a few hundred with the defaults).

    Examples
    --------
    >>> image, labels = cells_3d()
    >>> labels.shape, labels.dtype
    ((64, 256, 256), dtype('int32'))
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive ints, got {shape!r}")
    labels = np.zeros(shape, dtype=np.int32)
    dist = np.full(shape, np.inf, dtype=np.float32)
    zscale = max(shape[0] / 64.0, 0.25)
    yxscale = max(min(shape[1:]) / 256.0, 0.25)
    for cell in range(1, n_cells + 1):
        centre = rng.uniform(0, shape)
        radii = np.array(
            [rng.uniform(3.0, 7.0) * zscale, *rng.uniform(6.0, 14.0, size=2) * yxscale]
        )
        lo = np.maximum(np.floor(centre - radii).astype(int), 0)
        hi = np.minimum(np.ceil(centre + radii).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        grids = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        d = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii)).astype(np.float32)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        win = (d < 1.0) & (d < dist[box])
        labels[box][win] = cell
        dist[box][win] = d[win]
    labels = _relabel_sequential(labels) if labels.any() else labels
    # Grey level: bright interior fading to the cell edge, dim background, noise.
    inside = np.isfinite(dist)
    cell_brightness = np.zeros(shape, dtype=np.float32)
    final_brightness = rng.uniform(0.5, 1.0, size=int(labels.max()) + 1).astype(np.float32)
    cell_brightness[inside] = final_brightness[labels[inside]] * (1.0 - 0.6 * dist[inside])
    noise = rng.normal(0.0, 0.04, size=shape).astype(np.float32)
    image = np.clip(0.08 + cell_brightness + noise, 0.0, 1.0)
    return (image * 4000).astype(np.uint16), labels


def photo_2d(
    shape: tuple[int, int] = (480, 640),
    n_objects: int = 40,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A 2D RGB "photo" with a multi-class segmentation mask.

    Class 1 are discs, class 2 axis-aligned rectangles, class 3 ellipses; each class has
    its own hue, with per-object variation, on a textured gradient background.

    Returns
    -------
    rgb : (H, W, 3) uint8 array
    mask : (H, W) uint8 array with values in {0, 1, 2, 3}
    """
    rng = np.random.default_rng(seed)
    h, w = (int(s) for s in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be two positive ints, got {shape!r}")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.35 + 0.25 * (yy / max(h - 1, 1)) + 0.1 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    rgb = np.stack([base * 0.9, base * 0.85, base * 0.7], axis=-1)
    mask = np.zeros((h, w), dtype=np.uint8)
    hues = {1: (0.85, 0.25, 0.2), 2: (0.2, 0.6, 0.9), 3: (0.95, 0.85, 0.2)}
    scale = min(h, w) / 480.0
    for _ in range(n_objects):
        cls = int(rng.integers(1, 4))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        if cls == 1:
            r = rng.uniform(12, 40) * scale
            obj = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        elif cls == 2:
            hh, ww = rng.uniform(15, 60, size=2) * scale
            obj = (np.abs(yy - cy) < hh) & (np.abs(xx - cx) < ww)
        else:
            ry, rx = rng.uniform(10, 50, size=2) * scale
            obj = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1.0
        colour = np.array(hues[cls]) * rng.uniform(0.75, 1.05)
        rgb[obj] = colour
        mask[obj] = cls
    rgb += rng.normal(0.0, 0.03, size=rgb.shape).astype(np.float32)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8), mask


def blobs_labels(
    shape: tuple[int, ...] = (64, 128, 128),
    n_objects: int = 200,
    seed: int = 0,
    dtype: np.dtype | type = np.int32,
) -> np.ndarray:
    """Only the label stack of :func:`cells_3d` (3D) cast to ``dtype``: handy for tests."""
    _, labels = cells_3d(shape=shape, n_cells=n_objects, seed=seed)  # type: ignore[arg-type]
    return labels.astype(dtype)
