"""napari reader for LabelIndex files (``*.npz`` written by ``LabelIndex.save``).

Opening such a file gives a Labels layer holding the stack rebuilt from the index
(``idx.to_labels()``), with the object table as its ``features`` (so the status bar
shows an object's voxels, bounding box and centroid on hover). The index itself is
attached to the layer's metadata, so the "Voxel index" dock uses it without rebuilding.
Other ``.npz`` files are left to other readers (``get_index_reader`` returns ``None``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["features_for", "get_index_reader", "read_index"]

#: Key under which the loaded index is attached to the layer's metadata.
METADATA_KEY = "labelprep_index"


def features_for(table):
    """A layer ``features`` table from ``idx.table()``: adds napari's ``index`` column.

    napari maps a label to its features row through the ``index`` column (without it,
    row i is taken as label i). The explicit ``label`` column stays for the user.
    """
    features = table.copy()
    features["index"] = features["label"]
    return features


def _paths(path) -> list[str] | None:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    if (
        isinstance(path, (list, tuple))
        and path
        and all(isinstance(p, (str, os.PathLike)) for p in path)
    ):
        return [os.fspath(p) for p in path]
    return None


def get_index_reader(path):
    """Return :func:`read_index` if every path is a LabelIndex ``.npz`` file, else None.

    Never raises: a file this plugin does not own is simply declined.
    """
    try:
        paths = _paths(path)
        if not paths:
            return None
        from labelprep import LabelIndex

        if all(LabelIndex.is_index_file(p) for p in paths):
            return read_index
    except Exception:  # noqa: BLE001 - a reader must never raise for foreign files
        return None
    return None


def read_index(path) -> list[tuple]:
    """Layer data for each index file: ``(labels, {name, features, metadata}, "labels")``."""
    from labelprep import LabelIndex

    layers = []
    for p in _paths(path) or []:
        idx = LabelIndex.load(p)
        labels = idx.to_labels()
        name = Path(p).name
        name = name[: -len(".npz")] if name.lower().endswith(".npz") else name
        meta = {
            "name": name,
            "features": features_for(idx.table()),
            "metadata": {METADATA_KEY: idx, METADATA_KEY + "_path": str(p)},
        }
        layers.append((labels, meta, "labels"))
    return layers
