"""Bigger than memory: build a LabelIndex chunk by chunk from a dask array, in memory or on disk.

:func:`build_from_dask` (what ``LabelIndex.build`` calls for a dask array) indexes each
chunk in parallel with the in-memory builder, maps the chunk's voxel indices to
raveled indices of the whole stack and merges the pieces into exactly the index
:meth:`LabelIndex.build` gives for ``np.asarray(stack)``: same labels, counts, CSR
offsets, voxel indices (ascending within each label), bounding boxes and centroids.

:func:`build_to_zarr` does the same but writes the index to a zarr directory, for
indexes that do not fit in memory, and :func:`open_index` opens such a directory
lazily: ``idx.coords(L)`` reads only object L's slice of the voxel indices.
:func:`save_zarr` writes an in-memory :class:`~labelprep.LabelIndex` in that format.

How it works, and what it costs
-------------------------------
1. Chunks are indexed in waves of a bounded number of voxels (``wave_voxels``), in
   parallel on dask's threaded scheduler (or the active ``dask.distributed`` client,
   or ``scheduler=``). Each chunk gives a small CSR of its labels; the chunks of a
   wave are merged into one CSR ("wave part"). Objects cut by chunk borders get one
   ascending run per chunk; runs are merged in O(n log runs) (usually they are
   already in order and merging is a check).
2. Wave parts stay in memory up to ``keep_in_memory`` bytes; later ones are spilled
   to a temporary folder (``spill_dir``) and read back once.
3. Labels, counts, boxes and exact coordinate sums of all waves give the global
   offsets; the voxel indices are then assembled batch by batch in label order,
   straight into the result (a NumPy array, or the zarr array on disk).

Peak memory: the result, plus ``keep_in_memory``, plus one wave in flight (a few
chunks and their indexes), plus one batch. The stack is never held whole.

>>> import dask.array as da, numpy as np
>>> from labelprep import LabelIndex
>>> stack = np.array([[0, 7, 7, 0], [2, 0, 7, 7]], dtype=np.uint16)
>>> idx = LabelIndex.build(da.from_array(stack, chunks=(1, 2)))
>>> idx.coords(7).tolist()
[[0, 1], [0, 2], [1, 2], [1, 3]]
"""

from __future__ import annotations

# The package's modules, in the order of a build:
#   _plan      checks the dask stack, lists its blocks, groups them into waves
#   _parts     indexes one chunk (the dask task) and merges chunk parts
#   _schedule  runs the waves on dask (distributed client or local scheduler)
#   _collect   keeps the merged waves (in memory or spilled), assembles the result
#   _format    the on-disk zarr layout: writing and recognising it
#   _reader    ZarrLabelIndex / open_index: reading it lazily
#   _build     build_from_dask, build_to_zarr, save_zarr
# The default sizes and PathLike are not in __all__ but stay attributes of the package.
from ._build import build_from_dask, build_to_zarr, save_zarr
from ._format import CHUNK_ENTRIES as CHUNK_ENTRIES
from ._format import ZARR_FORMAT_VERSION, is_index_zarr
from ._plan import BATCH_ENTRIES as BATCH_ENTRIES
from ._plan import KEEP_IN_MEMORY as KEEP_IN_MEMORY
from ._plan import WAVE_VOXELS as WAVE_VOXELS
from ._plan import PathLike as PathLike
from ._reader import ZarrLabelIndex, open_index

__all__ = [
    "ZARR_FORMAT_VERSION",
    "ZarrLabelIndex",
    "build_from_dask",
    "build_to_zarr",
    "is_index_zarr",
    "open_index",
    "save_zarr",
]
