"""The public builds: a dask stack into a LabelIndex in memory or on disk, and save_zarr.

Each build plans the chunks (:mod:`._plan`), collects the indexed waves
(:mod:`._collect`) and assembles the voxel indices into a NumPy array or, through
the on-disk format (:mod:`._format`), a zarr array.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressCallback, report
from ..index import LabelIndex
from ._collect import _ArraySink, _Collector, _Progress, _ZarrSink
from ._format import CHUNK_ENTRIES, _check_target, _write_dir, _write_meta
from ._plan import (
    BATCH_ENTRIES,
    KEEP_IN_MEMORY,
    WAVE_VOXELS,
    PathLike,
    _check_sizes,
    _plan,
)
from ._reader import ZarrLabelIndex, open_index


def build_from_dask(
    labels: Any,
    background: int | None = 0,
    progress: ProgressCallback | None = None,
    *,
    scheduler: Any = None,
    wave_voxels: int = WAVE_VOXELS,
    keep_in_memory: int = KEEP_IN_MEMORY,
    spill_dir: PathLike | None = None,
    batch_entries: int = BATCH_ENTRIES,
) -> LabelIndex:
    """Index a dask array chunk by chunk, in parallel, into an in-memory LabelIndex.

    The result is identical to ``LabelIndex.build(np.asarray(labels), background)``
    (same labels, counts, offsets, voxel indices, boxes and centroids) but the stack
    is never loaded whole. ``LabelIndex.build`` calls this for dask arrays.

    Parameters
    ----------
    labels : dask.array.Array
        Integer or bool stack (or whole-number floats), any chunking. Chunks need not
        follow objects: an object may span many chunks.
    background : int or None
        Value that is not an object (default 0); ``None`` indexes every value.
    progress : callable, optional
        ``progress(done, total)``, called after each chunk and during the final merge.
    scheduler : None, str or distributed.Client
        ``None``: the active ``dask.distributed`` client if there is one, else dask's
        threaded scheduler. A name (``"threads"``, ``"synchronous"``, ...) or a
        ``Client`` forces one.
    wave_voxels : int
        Stack voxels indexed per wave (at least two chunks per worker per wave).
    keep_in_memory : int
        Bytes of indexed waves kept in memory; beyond that they are spilled to
        ``spill_dir`` (default: the system temp folder) and read back once.
    batch_entries : int
        Voxel indices merged per step of the final assembly.

    Returns
    -------
    LabelIndex

    Notes
    -----
    Peak memory is about the index itself (4 bytes per object voxel, 8 for stacks of
    2**32 voxels or more) plus ``keep_in_memory``, plus one wave of chunks and their
    indexes, plus one batch.

    Examples
    --------
    >>> import dask.array as da
    >>> stack = da.from_array(np.array([[1, 1, 0], [0, 2, 1]]), chunks=(1, 2))
    >>> idx = build_from_dask(stack)
    >>> idx.labels.tolist(), idx.counts.tolist()
    ([1, 2], [3, 1])
    """
    _check_sizes(wave_voxels, keep_in_memory, batch_entries)
    plan = _plan(labels, background)
    prog = _Progress(progress, len(plan.blocks))
    if plan.size == 0:
        prog.assembly(1.0)
        return plan.empty_index()
    collector = _Collector(labels, plan, scheduler=scheduler, wave_voxels=wave_voxels,
                           keep_in_memory=keep_in_memory, spill_dir=spill_dir, progress=prog)
    try:
        lab, counts, offsets, bboxes, centroids, rows = collector.summary()
        out = np.empty(int(offsets[-1]), dtype=plan.vdtype)
        collector.assemble(offsets, rows, prog, batch_entries, _ArraySink(out))
    finally:
        collector.close()
    prog.assembly(1.0)
    return LabelIndex(labels=lab, counts=counts, offsets=offsets, voxel_indices=out,
                      bboxes=bboxes, centroids=centroids, shape=plan.shape, dtype=plan.dtype,
                      background=plan.background)


def build_to_zarr(
    labels: Any,
    path: PathLike,
    background: int | None = 0,
    progress: ProgressCallback | None = None,
    *,
    scheduler: Any = None,
    wave_voxels: int = WAVE_VOXELS,
    keep_in_memory: int = KEEP_IN_MEMORY,
    spill_dir: PathLike | None = None,
    batch_entries: int = BATCH_ENTRIES,
    chunk_entries: int = CHUNK_ENTRIES,
    overwrite: bool = False,
) -> ZarrLabelIndex:
    """Index a dask array chunk by chunk straight into an on-disk (zarr) index.

    Like :func:`build_from_dask` (same parameters, same index), but the voxel indices
    go to ``path/voxel_indices`` batch by batch, so the index never has to fit in
    memory. Spilled waves go to ``spill_dir`` (default: a temporary folder next to
    ``path``). The directory is written under a temporary name and renamed when
    complete, so a failed build leaves nothing at ``path``.

    Parameters
    ----------
    path : str or Path
        Directory to create (conventionally ending in ``.zarr``). An existing index
        there is replaced only with ``overwrite=True``; any other existing path is an
        error.
    chunk_entries : int
        zarr chunk length of ``voxel_indices``: ``coords(L)`` reads the chunks that
        overlap object L (default 2**16 indices, 256 KiB uncompressed at uint32).

    Returns
    -------
    ZarrLabelIndex
        The index, opened lazily (:func:`open_index`).
    """
    _check_sizes(wave_voxels, keep_in_memory, batch_entries)
    path = Path(path)
    _check_target(path, overwrite)
    plan = _plan(labels, background)
    prog = _Progress(progress, len(plan.blocks))
    if spill_dir is None:
        spill_dir = path.parent
    collector = None
    try:
        if plan.size:
            collector = _Collector(labels, plan, scheduler=scheduler, wave_voxels=wave_voxels,
                                   keep_in_memory=keep_in_memory, spill_dir=spill_dir,
                                   progress=prog)
            lab, counts, offsets, bboxes, centroids, rows = collector.summary()
        else:
            empty = plan.empty_index()
            lab, counts, offsets = empty.labels, empty.counts, empty.offsets
            bboxes, centroids, rows = empty.bboxes, empty.centroids, []

        def fill(tmp: Path) -> None:
            arrays = _write_meta(tmp, lab, counts, offsets, bboxes, centroids, plan.shape,
                                 plan.dtype, plan.background, int(offsets[-1]), plan.vdtype,
                                 chunk_entries)
            if collector is not None:
                collector.assemble(offsets, rows, prog, batch_entries,
                                   _ZarrSink(arrays["voxel_indices"], plan.vdtype))

        _write_dir(path, fill, overwrite)
    finally:
        if collector is not None:
            collector.close()
    prog.assembly(1.0)
    return open_index(path, check=False)  # written just now, by this call


def save_zarr(index: LabelIndex, path: PathLike, *, chunk_entries: int = CHUNK_ENTRIES,
              overwrite: bool = False, progress: ProgressCallback | None = None) -> None:
    """Write an in-memory :class:`LabelIndex` as an on-disk (zarr) index at ``path``.

    The layout is the one of :func:`build_to_zarr`; :func:`open_index` reads it. The
    directory is written under a temporary name and renamed when complete.

    >>> import tempfile, os
    >>> idx = LabelIndex.build(np.array([[0, 3, 3], [5, 0, 3]]))
    >>> folder = tempfile.mkdtemp()
    >>> save_zarr(idx, os.path.join(folder, "objects.zarr"))
    >>> open_index(os.path.join(folder, "objects.zarr")).coords(3).tolist()
    [[0, 1], [0, 2], [1, 2]]
    """
    if not isinstance(index, LabelIndex):
        raise TypeError(f"index must be a LabelIndex, got {type(index).__name__}")
    path = Path(path)
    _check_target(path, overwrite)
    voxels = index.voxel_indices
    total = int(voxels.shape[0])

    def fill(tmp: Path) -> None:
        arrays = _write_meta(tmp, index.labels, index.counts, index.offsets, index.bboxes,
                             index.centroids, index.shape, index.dtype, index.background,
                             total, voxels.dtype, chunk_entries)
        step = max(chunk_entries, (BATCH_ENTRIES // chunk_entries) * chunk_entries)
        for s in range(0, total, step):
            e = min(total, s + step)
            arrays["voxel_indices"][s:e] = voxels[s:e]
            report(progress, e, total)

    _write_dir(path, fill, overwrite)
    report(progress, total, total)
