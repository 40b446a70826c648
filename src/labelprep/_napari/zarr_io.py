"""napari reader: a labelled zarr / OME-Zarr stack as a lazy (dask-backed) Labels layer.

napari's built-in reader opens ``*.zarr`` folders as *Image* layers. This reader opens
those holding integer or bool data as *Labels*, lazily: the layer's data is the dask
array of :func:`labelprep.io.open_lazy` (for an OME-Zarr image, its highest-resolution
level), so only the displayed planes are read, and the "Voxel index" dock indexes it
chunk by chunk (:mod:`labelprep.chunked`) without loading it whole. Float data, and
folders that are a labelprep on-disk index rather than a stack, are left to other
readers (``get_zarr_reader`` returns ``None``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["get_zarr_reader", "read_zarr_labels"]


def _path(path) -> Path | None:
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if not isinstance(path, (str, os.PathLike)):
        return None
    return Path(path)


def _labels_array(path: Path):
    """The lazy stack at ``path`` if it is an integer/bool zarr stack, else None."""
    from labelprep import io

    if not (io.is_zarr_path(path) or (path.suffix.lower() == ".zarr" and path.is_dir())):
        return None
    try:
        data = io.open_lazy(path)
    except (ValueError, OSError, ImportError):
        return None
    if data.dtype.kind not in "biu" or data.ndim < 2:
        return None
    return data


def get_zarr_reader(path):
    """Return :func:`read_zarr_labels` for a zarr folder of integer/bool data, else None.

    Never raises: anything else is declined (left to napari's own zarr reader).
    """
    try:
        p = _path(path)
        if p is None or _labels_array(p) is None:
            return None
    except Exception:  # noqa: BLE001 - a reader probe must never raise
        return None
    return read_zarr_labels


def read_zarr_labels(path) -> list[tuple]:
    """``[(dask_array, {"name": ...}, "labels")]`` for a zarr labelled stack."""
    p = _path(path)
    data = _labels_array(p) if p is not None else None
    if data is None:
        raise ValueError(f"{path} is not a zarr stack of integer labels")
    name = p.name
    for suffix in (".zarr", ".ome"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return [(data, {"name": name or p.name}, "labels")]
