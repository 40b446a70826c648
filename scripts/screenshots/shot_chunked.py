"""docs/images/chunked.png: a zarr stack opened lazily as Labels, indexed chunk by chunk."""

import tempfile
from pathlib import Path

import dask
import zarr
from _stage import voxel_index_dock
from qtpy.QtCore import Qt

from labelprep._napari.zarr_io import get_zarr_reader
from labelprep.samples import cells_3d

OUTPUT = "docs/images/chunked.png"


def stage(viewer, wait_until):
    _, labels = cells_3d()
    path = Path(tempfile.mkdtemp(prefix="labelprep-shot-")) / "cells.zarr"
    z = zarr.open_array(str(path), mode="w", shape=labels.shape, chunks=(16, 64, 64),
                        dtype=labels.dtype)
    z[...] = labels
    # small dask chunks so that this small sample is indexed in many chunks, as a big
    # stack would be
    with dask.config.set({"array.chunk-size": "1MiB"}):
        [(data, meta, _kind)] = get_zarr_reader(str(path))(str(path))
    layer = viewer.add_labels(data, **meta)
    widget = voxel_index_dock(viewer, wait_until, 560, layer=layer)
    widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    row = 3
    widget.table.selectRow(row)
    wait_until(lambda: widget.current_row_label() == widget.model.label_at(row), 10)
    widget.show_selected_check.setChecked(False)  # the neighbours too, for context
    layer.opacity = 0.8
    widget.table.scrollToTop()
    widget.show_message(
        f"Layer data: dask array, {data.npartitions} chunks of "
        f"{' x '.join(map(str, data.chunksize))} read from {path.name} (zarr)"
    )
