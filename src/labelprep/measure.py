"""Object measurements through a :class:`~labelprep.LabelIndex`: shape and intensity
statistics of every object, with scikit-image's ``regionprops_table`` names.

The geometric properties come from the index's per-object counts, boxes and centroids
(O(objects)); the intensity statistics from one numba pass over the objects' voxels,
gathered from the image at the index's ``voxel_indices`` (parallel over objects), so the
cost is O(foreground voxels) instead of regionprops' O(sum of bounding boxes) Python loop.

From a labelled stack and its image, :func:`build_and_measure` does better: the index
build's second pass, which reads every row of the stack anyway, reads the image's values
of each run of an object's voxels there too (a stream, in memory order), so the
statistics need no second, random-access pass over the voxels
(``LabelIndex.build(labels, image=image)`` keeps them for ``idx.measure(image)``).

>>> import numpy as np
>>> from labelprep import LabelIndex
>>> from labelprep.measure import measure
>>> stack = np.array([[1, 1, 0], [0, 2, 2]], dtype=np.uint8)
>>> image = np.array([[10, 20, 0], [0, 5, 7]], dtype=np.uint16)
>>> measure(LabelIndex.build(stack), image, properties=["area", "intensity_mean"])
   label  area  intensity_mean
0      1   2.0            15.0
1      2   2.0             6.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._measure_intensity import FusedIntensity as FusedIntensity  # the build imports it from here
from ._measure_intensity import _check_image, _intensity_stats

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .index import LabelIndex

__all__ = [
    "DEFAULT_INTENSITY_PROPERTIES", "DEFAULT_PROPERTIES", "GEOMETRY_PROPERTIES",
    "INTENSITY_PROPERTIES", "PROPERTIES", "build_and_measure", "measure",
]

#: Properties that need only the labels.
GEOMETRY_PROPERTIES = ("area", "bbox", "centroid", "extent", "equivalent_diameter_area")
#: Properties that need an intensity image.
INTENSITY_PROPERTIES = ("intensity_mean", "intensity_min", "intensity_max", "intensity_sum",
                        "intensity_std", "intensity_median", "centroid_weighted")
#: Every property :func:`measure` knows (``"label"`` is accepted too: it is always the first
#: column).
PROPERTIES = GEOMETRY_PROPERTIES + INTENSITY_PROPERTIES
#: Measured when ``properties`` is None.
DEFAULT_PROPERTIES = ("area", "centroid", "bbox")
#: Added to :data:`DEFAULT_PROPERTIES` when ``properties`` is None and an image is given.
DEFAULT_INTENSITY_PROPERTIES = ("intensity_mean", "intensity_min", "intensity_max",
                                "intensity_sum", "intensity_std")

# the intensity properties of one pass (all but the median), for _intensity_stats
_STATS = frozenset(INTENSITY_PROPERTIES) - {"intensity_median"}


def measure(
    index: LabelIndex,
    image: Any = None,
    spacing: Sequence[float] | None = None,
    properties: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """Measure every object of ``index``: one row per object (labels ascending).

    Parameters
    ----------
    index : LabelIndex
        Index of the labelled stack.
    image : ndarray, optional
        Intensity image of the stack's shape, or of the stack's shape plus one last axis
        of channels (then every intensity property gives one column per channel, suffixed
        ``-0``, ``-1``, ... as in ``regionprops_table``). Integer, float or bool. A copy is
        made only if it is not C-contiguous, float16 or in non-native byte order.
    spacing : sequence of float, optional
        Physical size of a voxel along each axis (default 1). As in ``regionprops_table``,
        ``area``, ``centroid``, ``centroid_weighted`` and ``equivalent_diameter_area`` are
        physical; ``bbox`` stays in voxels and ``extent`` is a ratio.
    properties : sequence of str, optional
        Columns to compute, in this order after ``label`` (which always comes first):

        - ``area``: voxels times the voxel volume (``prod(spacing)``);
        - ``centroid``: ``centroid-0`` ... mean physical coordinate per axis;
        - ``bbox``: ``bbox-0`` ... all starts, then all (exclusive) stops, in voxels;
        - ``extent``: voxels / voxels of the bounding box;
        - ``equivalent_diameter_area``: ``(2 * ndim * area / pi) ** (1 / ndim)``;
        - ``intensity_mean``, ``intensity_min``, ``intensity_max``, ``intensity_std``
          (population std, ``ddof=0``), ``intensity_median``: of the image over the
          object's voxels;
        - ``intensity_sum``: the sum of the image over the object's voxels (not a
          regionprops property: ``intensity_mean * area`` with unit spacing);
        - ``centroid_weighted``: ``centroid_weighted-k`` (``-k-c`` with channels), the
          intensity-weighted mean physical coordinate.

        Default: :data:`DEFAULT_PROPERTIES`, plus :data:`DEFAULT_INTENSITY_PROPERTIES`
        if an image is given.

    Returns
    -------
    pandas.DataFrame
        Columns named as by ``skimage.measure.regionprops_table``. Every statistic is
        float64 (accumulated in float64, also for float32 images, where regionprops
        keeps mean, std and median in float32; sums of integer images are exact below
        2**53); ``bbox-k`` are int64. A NaN in the image makes that object's statistics
        NaN, as with NumPy.

    Raises
    ------
    TypeError
        ``index`` is not a LabelIndex, ``image`` has a non-numeric dtype.
    ValueError
        ``image`` does not match the stack's shape, ``spacing`` has the wrong length or a
        value that is not positive and finite, a property is unknown, or an intensity
        property is asked for without an image.

    Notes
    -----
    ``intensity_median`` takes a second pass over the voxels (each object's values are
    copied and partially sorted); all the other intensity properties come from one.
    If ``index`` was built with ``image=`` this same array object (and it still has the
    same shape and dtype), the sums gathered by the build are used and the voxels are
    not visited again (except for the median): the image must not have been modified in
    place since the build.

    See Also
    --------
    build_and_measure : build the index and measure in one pass.
    skimage.measure.regionprops_table : the same columns, one Python loop per object.

    Examples
    --------
    >>> from labelprep import LabelIndex
    >>> idx = LabelIndex.build(np.array([[1, 1, 0], [0, 0, 2]]))
    >>> measure(idx, spacing=(2.0, 0.5), properties=("area", "centroid"))
       label  area  centroid-0  centroid-1
    0      1   2.0         0.0        0.25
    1      2   1.0         2.0        1.00
    """
    import pandas as pd

    from .index import LabelIndex

    if not isinstance(index, LabelIndex):
        raise TypeError(f"index must be a LabelIndex, got {type(index).__name__}")
    props = _check_properties(properties, image is not None)
    pitch = _check_spacing(spacing, index.ndim)
    fused = getattr(index, "_fused_intensity", None)
    if image is None or fused is None or not fused.matches(index, image):
        fused = None
    if image is None:
        values = None
    elif fused is None or "intensity_median" in props:
        values = _check_image(image, index.shape)
    else:
        values = image  # checked at the build, not read again
    multichannel = image is not None and np.ndim(image) == index.ndim + 1
    counts = index.counts.astype(np.float64)
    columns: dict[str, np.ndarray] = {"label": np.array(index.labels)}

    stats = {} if image is None else _intensity_stats(index, values, pitch, props, fused)

    def channels(name: str, data: np.ndarray) -> None:  # data: (n, C)
        if multichannel:
            for c in range(data.shape[1]):
                columns[f"{name}-{c}"] = data[:, c]
        else:
            columns[name] = data[:, 0]

    for prop in props:
        if prop == "area":
            columns["area"] = counts * np.prod(pitch)
        elif prop == "centroid":
            for k in range(index.ndim):
                columns[f"centroid-{k}"] = index.centroids[:, k] * pitch[k]
        elif prop == "bbox":
            for j in (0, 1):
                for k in range(index.ndim):
                    columns[f"bbox-{k + j * index.ndim}"] = np.array(index.bboxes[:, k, j])
        elif prop == "extent":
            boxes = np.prod(index.bboxes[:, :, 1] - index.bboxes[:, :, 0], axis=1)
            columns["extent"] = counts / np.maximum(boxes, 1)
        elif prop == "equivalent_diameter_area":
            area = counts * np.prod(pitch)
            columns[prop] = (2 * index.ndim * area / np.pi) ** (1 / index.ndim)
        elif prop == "centroid_weighted":
            for k in range(index.ndim):
                channels(f"centroid_weighted-{k}", stats[prop][:, k, :])
        else:
            channels(prop, stats[prop])
    return pd.DataFrame(columns)


def build_and_measure(
    labels: Any,
    image: Any,
    spacing: Sequence[float] | None = None,
    properties: Sequence[str] | str | None = None,
    *,
    background: int | None = 0,
    progress: Any = None,
    workers: int | None = None,
) -> tuple[LabelIndex, pd.DataFrame]:
    """Index a labelled stack and measure its objects in ``image``, in one go.

    The same as ``idx = LabelIndex.build(labels, background, progress, workers=workers)``
    then ``measure(idx, image, spacing, properties)``, with the same results (up to
    float64 rounding of the sums), but faster: the intensity sums, minimum and maximum of
    each object are gathered by the build's second pass over the stack, which reads the
    image's values of each run of foreground voxels in memory order, instead of by a
    second pass over every object's voxels gathered from the image through
    ``voxel_indices`` (``intensity_median`` still takes that second pass).

    Parameters are those of :meth:`LabelIndex.build` and :func:`measure`; ``image`` is
    required. ``properties`` and ``spacing`` are checked before the build starts.

    Returns
    -------
    (LabelIndex, pandas.DataFrame)
        The index (which keeps the sums for ``idx.measure(image)`` with this same image
        object) and the measurements.

    Examples
    --------
    >>> stack = np.array([[1, 1, 0], [0, 2, 2]], dtype=np.uint8)
    >>> image = np.array([[10, 20, 0], [0, 5, 7]], dtype=np.uint16)
    >>> idx, df = build_and_measure(stack, image, properties=["area", "intensity_max"])
    >>> df
       label  area  intensity_max
    0      1   2.0           20.0
    1      2   2.0            7.0
    """
    from .index import LabelIndex

    if image is None:
        raise ValueError("build_and_measure needs an intensity image (image=None given); "
                         "use LabelIndex.build(labels).measure() for geometry only")
    _check_properties(properties, True)
    _check_spacing(spacing, np.ndim(labels))
    idx = LabelIndex.build(labels, background=background, progress=progress,
                             workers=workers, image=image)
    return idx, measure(idx, image, spacing, properties)


# ---------------------------------------------------------------------- helpers
def _check_properties(properties: Sequence[str] | str | None, has_image: bool) -> list[str]:
    if properties is None:
        return list(DEFAULT_PROPERTIES + (DEFAULT_INTENSITY_PROPERTIES if has_image else ()))
    if isinstance(properties, str):
        properties = [properties]
    try:
        names = list(properties)
    except TypeError:
        raise TypeError(
            f"properties must be a sequence of property names, got {properties!r}"
        ) from None
    out: list[str] = []
    unknown = []
    for name in names:
        if not isinstance(name, str) or (name not in PROPERTIES and name != "label"):
            unknown.append(name)
        elif name != "label" and name not in out:
            out.append(name)
    if unknown:
        raise ValueError(
            f"properties: unknown {', '.join(map(repr, unknown))}; valid names are "
            f"{', '.join(PROPERTIES)}"
        )
    needs = [p for p in out if p in INTENSITY_PROPERTIES]
    if needs and not has_image:
        raise ValueError(f"properties {', '.join(needs)} need an intensity image: pass image=")
    return out


def _check_spacing(spacing: Sequence[float] | None, ndim: int) -> np.ndarray:
    if spacing is None:
        return np.ones(ndim, dtype=np.float64)
    if np.ndim(spacing) != 1:
        raise ValueError(f"spacing must be a sequence of {ndim} numbers (one per axis), "
                         f"got {spacing!r}")
    try:
        pitch = np.asarray(spacing, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"spacing must be a sequence of numbers, got {spacing!r}") from None
    if pitch.shape != (ndim,):
        raise ValueError(f"spacing has {pitch.shape[0]} values for a {ndim}D stack "
                         f"(one per axis expected): {spacing!r}")
    if not np.all(np.isfinite(pitch) & (pitch > 0)):
        raise ValueError(f"spacing values must be positive and finite, got {spacing!r}")
    return pitch
