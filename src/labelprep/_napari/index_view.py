"""Moving napari's view to one object of a :class:`labelprep.LabelIndex`.

Everything here reads the index only (bounding box, centroid and, for the slice
position, the object's own raveled voxel indices); it never looks at the label stack,
so focusing an object costs the same on a 100-voxel test stack and on a
hundreds-of-millions-of-voxels one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._compat import camera as camera_of
from ._compat import viewbox_size

__all__ = ["focus_object", "plane_inside", "plane_most", "world_box"]


def plane_inside(idx, label, axes: Sequence[int]) -> dict[int, int]:
    """Position along each of ``axes`` of a voxel of ``label`` nearest its centroid.

    The slice shown for those (non-displayed) axes then always cuts the object, even
    when the centroid itself lies outside it (a C- or ring-shaped object). When the
    only axis is axis 0 (a 3D stack seen in 2D), the voxels are sorted by their
    raveled index and hence by plane, so two binary searches find the planes nearest
    the centroid: O(log n). Otherwise the object's coordinates along ``axes`` are
    computed: O(object size), still independent of the stack size.
    """
    axes = [int(a) for a in axes]
    if not axes:
        return {}
    pos = idx.position(label)
    centroid = np.asarray(idx.centroids[pos], dtype=float)
    flat = idx.flat(label)
    shape = tuple(int(s) for s in idx.shape)
    if flat.size == 0:  # pragma: no cover - a present label has voxels
        return {a: round(centroid[a]) for a in axes}
    if axes == [0]:
        stride = math.prod(shape[1:])
        target = centroid[0]
        z = round(target)
        i = int(np.searchsorted(flat, np.asarray(z * stride, dtype=flat.dtype)))
        candidates = []
        if i < flat.size:
            candidates.append(int(flat[i]) // stride)  # first plane >= z
        if i > 0:
            candidates.append(int(flat[i - 1]) // stride)  # last plane < z
        best = min(candidates, key=lambda p: (abs(p - target), p))
        return {0: best}
    strides = np.cumprod((1,) + shape[::-1][:-1])[::-1]  # C-order strides in voxels
    coords = np.stack(
        [(flat // flat.dtype.type(strides[a])) % flat.dtype.type(shape[a]) for a in axes],
        axis=1,
    ).astype(np.float64)
    d2 = ((coords - centroid[axes]) ** 2).sum(axis=1)
    best = coords[int(np.argmin(d2))]
    return {a: int(v) for a, v in zip(axes, best)}


def plane_most(idx, label, axes: Sequence[int]) -> dict[int, int]:
    """Position along each of ``axes`` where ``label`` has most voxels (the plane that
    shows most of it; ties: the lowest). O(object size), from the index only.

    For several axes the most common combination of positions is taken.
    """
    axes = [int(a) for a in axes]
    if not axes:
        return {}
    flat = idx.flat(label)
    shape = tuple(int(s) for s in idx.shape)
    strides = np.cumprod((1,) + shape[::-1][:-1])[::-1]
    coords = [(flat // flat.dtype.type(strides[a])) % flat.dtype.type(shape[a]) for a in axes]
    key = np.ravel_multi_index(coords, [shape[a] for a in axes]) if len(axes) > 1 else coords[0]
    values, counts = np.unique(key, return_counts=True)
    best = int(values[int(np.argmax(counts))])
    position = np.unravel_index(best, [shape[a] for a in axes])
    return {a: int(p) for a, p in zip(axes, position)}


def world_box(layer, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-coordinate centre and size of the data box ``[lo, hi]`` (voxel edges)."""
    w_lo = np.asarray(layer.data_to_world(list(lo)), dtype=float)
    w_hi = np.asarray(layer.data_to_world(list(hi)), dtype=float)
    return (w_lo + w_hi) / 2.0, np.abs(w_hi - w_lo)


def focus_object(
    viewer,
    layer,
    idx,
    label,
    *,
    fill: float = 0.4,
    min_extent: float = 8.0,
    move_camera: bool = True,
    move_slice: bool = True,
    plane: str = "centroid",
    lead: Sequence[int] = (),
) -> None:
    """Centre ``viewer`` on object ``label`` of ``idx`` (indexed from ``layer``'s data).

    - the slice (``viewer.dims`` point of every non-displayed axis of the layer) moves to
      a plane that cuts the object: nearest its centroid (``plane="centroid"``) or the
      one where it has most voxels (``plane="most"``); ``move_slice=False`` keeps it;
    - the camera centre goes to the centre of the object's bounding box, and the zoom
      makes that box fill ``fill`` of the canvas (boxes smaller than ``min_extent``
      voxels per axis are treated as that size, so a 1-voxel object does not fill the
      screen).

    Coordinates go through ``layer.data_to_world``, so scale and translate are honoured.
    ``lead`` are the positions along the layer's first axes that ``idx`` does not cover
    (a time-lapse layer indexed per time point: ``(t,)``); they are kept as they are.
    """
    pos = idx.position(label)
    lead = [float(v) for v in lead]
    bbox = np.asarray(idx.bboxes[pos], dtype=float)  # (ndim, 2) [start, stop)
    bbox = np.concatenate([np.array([[v, v + 1] for v in lead]).reshape(-1, 2), bbox])
    ndim = layer.ndim
    dims = viewer.dims
    offset = dims.ndim - ndim  # layer axes are the last ones of the world
    displayed_world = [int(a) for a in dims.order[-dims.ndisplay :]]
    displayed_layer = [a - offset for a in displayed_world if a - offset >= 0]
    # the index's axes hidden in the view (the lead axes stay where they are)
    hidden_layer = [a for a in range(len(lead), ndim) if a not in displayed_layer]

    start, stop = bbox[:, 0], bbox[:, 1]
    middle = (start + stop - 1.0) / 2.0  # voxel centres are at integer positions
    half = np.maximum(stop - start, float(min_extent)) / 2.0
    lo, hi = middle - half, middle + half
    if plane not in ("centroid", "most"):
        raise ValueError(f"plane must be 'centroid' or 'most', got {plane!r}")
    find = plane_most if plane == "most" else plane_inside
    k = len(lead)
    found = find(idx, label, [a - k for a in hidden_layer]) if (move_slice and hidden_layer) \
        else {}
    plane = {a + k: p for a, p in found.items()}
    for a, p in plane.items():
        lo[a] = hi[a] = p
    centre, size = world_box(layer, lo, hi)

    if plane:
        dims.set_point([a + offset for a in plane], [float(centre[a]) for a in plane])
    if not move_camera or not displayed_layer:
        return
    camera = camera_of(viewer)
    current = list(camera.center)[-len(displayed_world) :]
    new_centre = []
    for k, a in enumerate(displayed_world):
        new_centre.append(float(centre[a - offset]) if a - offset >= 0 else float(current[k]))
    extent = np.array([size[a] for a in displayed_layer], dtype=float)
    extent[extent <= 0] = 1.0
    canvas = viewbox_size(viewer)
    if dims.ndisplay == 2:
        zoom = fill * float(np.min(canvas / extent[-2:]))
    else:
        zoom = fill * float(np.min(canvas)) / float(np.max(extent))
    camera.center = tuple(new_centre)
    if np.isfinite(zoom) and zoom > 0:
        camera.zoom = zoom
