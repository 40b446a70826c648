"""The on-disk (zarr) index format: its version marker, writing it, recognising it.

An index directory is a zarr group whose attributes carry ``labelprep_index_version``
(:data:`ZARR_FORMAT_VERSION`), the stack's shape, dtype and background, with arrays
``labels``, ``counts``, ``offsets``, ``bboxes``, ``centroids`` and ``voxel_indices``.
It is always written under a temporary name and renamed when complete
(:func:`_write_dir`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from ._plan import PathLike

#: Version of the zarr index layout written by :func:`save_zarr` / :func:`build_to_zarr`.
ZARR_FORMAT_VERSION = 1
_MARKER = "labelprep_index_version"

#: Default zarr chunk length of ``voxel_indices`` on disk (256 KiB at uint32).
CHUNK_ENTRIES = 1 << 16


def _zarr():
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - zarr is an optional dependency
        raise ImportError(
            "on-disk indexes need zarr: pip install 'napari-labelprep[dask]'"
        ) from exc
    return zarr


def _check_target(path: Path, overwrite: bool) -> None:
    if path.exists():
        if not is_index_zarr(path):
            raise FileExistsError(
                f"{path} exists and is not a labelprep index: choose another path"
            )
        if not overwrite:
            raise FileExistsError(f"{path} exists: pass overwrite=True to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no such folder: {path.parent}")


def _write_dir(path: Path, fill, overwrite: bool) -> None:
    """Build the directory under a temporary name with ``fill(tmp)``, then rename it."""
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        fill(tmp)
        if path.exists():
            # only reached for an existing index and overwrite=True (see _check_target)
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _create(zarr, folder: Path, name: str, data: np.ndarray | None = None, *,
            shape=None, dtype=None, chunks=None):
    if data is not None:
        data = np.ascontiguousarray(data)
        shape, dtype = data.shape, data.dtype
    if chunks is None:
        chunks = tuple(max(1, s) for s in shape)
    arr = zarr.open_array(os.fspath(folder / name), mode="w", shape=shape, dtype=dtype,
                          chunks=chunks)
    if data is not None and data.size:
        arr[...] = data
    return arr


def _write_meta(folder: Path, labels, counts, offsets, bboxes, centroids, shape, dtype,
                background, total: int, vdtype: np.dtype, chunk_entries: int) -> dict:
    if not isinstance(chunk_entries, (int, np.integer)) or chunk_entries < 1:
        raise ValueError(f"chunk_entries must be a positive integer, got {chunk_entries!r}")
    zarr = _zarr()
    group = zarr.open_group(os.fspath(folder), mode="w")
    group.attrs.update({
        _MARKER: ZARR_FORMAT_VERSION,
        "shape": [int(s) for s in shape],
        "dtype": np.dtype(dtype).str,
        "background": None if background is None else int(background),
        "objects": int(labels.shape[0]),
        "voxels": int(total),
    })
    arrays = {
        "labels": _create(zarr, folder, "labels", labels),
        "counts": _create(zarr, folder, "counts", counts),
        "offsets": _create(zarr, folder, "offsets", offsets),
        "bboxes": _create(zarr, folder, "bboxes", bboxes),
        "centroids": _create(zarr, folder, "centroids", centroids),
        "voxel_indices": _create(zarr, folder, "voxel_indices", shape=(total,),
                                 dtype=np.dtype(vdtype), chunks=(int(chunk_entries),)),
    }
    return arrays


def _read_attrs(path: Path) -> dict | None:
    """The group attributes of a zarr index directory, or None (never raises)."""
    try:
        from ..io import read_json

        for name in ("zarr.json", ".zattrs"):
            meta = path / name
            if meta.is_file():
                data = read_json(meta, what="zarr metadata")
                attrs = data.get("attributes", {}) if name == "zarr.json" else data
                if isinstance(attrs, dict) and _MARKER in attrs:
                    return attrs
    except Exception:  # noqa: BLE001 - a probe must never raise
        return None
    return None


def is_index_zarr(path: PathLike) -> bool:
    """True if ``path`` is a directory written by :func:`save_zarr` / :func:`build_to_zarr`.

    Cheap (reads one small JSON file) and never raises.
    """
    try:
        return Path(path).is_dir() and _read_attrs(Path(path)) is not None
    except Exception:  # noqa: BLE001
        return False
