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

import contextlib
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import ProgressCallback, report
from .index import LabelIndex
from .io import atomic_open

__all__ = [
    "ZARR_FORMAT_VERSION",
    "ZarrLabelIndex",
    "build_from_dask",
    "build_to_zarr",
    "is_index_zarr",
    "open_index",
    "save_zarr",
]

PathLike = str | os.PathLike

#: Version of the zarr index layout written by :func:`save_zarr` / :func:`build_to_zarr`.
ZARR_FORMAT_VERSION = 1
_MARKER = "labelprep_index_version"

#: Default number of stack voxels indexed per wave (the chunks of a wave run in parallel).
WAVE_VOXELS = 1 << 26
#: Default bytes of merged wave parts kept in memory before spilling to disk.
KEEP_IN_MEMORY = 64 << 20
#: Voxel indices assembled per batch in the final merge.
BATCH_ENTRIES = 1 << 23
#: Default zarr chunk length of ``voxel_indices`` on disk (256 KiB at uint32).
CHUNK_ENTRIES = 1 << 16


# ============================================================================ planning
def _index_dtype(size: int) -> np.dtype:
    # same rule as LabelIndex: uint32 below 2**32 voxels, uint64 above
    return np.dtype(np.uint32) if size < 2**32 else np.dtype(np.uint64)


def _c_strides(shape: tuple[int, ...]) -> np.ndarray:
    strides = np.ones(len(shape), dtype=np.int64)
    for a in range(len(shape) - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    return strides


@dataclass
class _Plan:
    """What every step needs to know about the stack being indexed."""

    shape: tuple[int, ...]
    dtype: np.dtype
    background: int | None
    label_dtype: np.dtype
    vdtype: np.dtype
    gstrides: np.ndarray
    blocks: list[tuple[tuple[int, ...], tuple[int, ...], int]]  # (block id, origin, voxels)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def empty_index(self) -> LabelIndex:
        ndim = self.ndim
        return LabelIndex(
            labels=np.zeros(0, self.label_dtype), counts=np.zeros(0, np.int64),
            offsets=np.zeros(1, np.int64), voxel_indices=np.zeros(0, self.vdtype),
            bboxes=np.zeros((0, ndim, 2), np.int64), centroids=np.zeros((0, ndim)),
            shape=self.shape, dtype=self.dtype, background=self.background,
        )


def _is_dask_array(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "to_delayed")


def _plan(labels: Any, background: Any) -> _Plan:
    if not _is_dask_array(labels):
        raise TypeError(
            f"labels must be a dask array, got {type(labels).__name__}; use "
            "LabelIndex.build for NumPy arrays or dask.array.from_array(x, chunks=...)"
        )
    if labels.ndim == 0:
        raise ValueError("labels must have at least one axis, got a 0-d array")
    if any(math.isnan(s) for c in labels.chunks for s in c):
        raise ValueError(
            "labels has unknown chunk sizes (NaN); call labels.compute_chunk_sizes() first"
        )
    dtype = np.dtype(labels.dtype)
    if dtype.kind not in "biuf":
        raise TypeError(
            f"labels must have an integer or bool dtype (or whole-number floats), got {dtype}"
        )
    # the in-memory builder validates `background` against the dtype and tells us the
    # dtype of idx.labels: ask it on an empty array of the same dtype
    probe = LabelIndex.build(np.zeros(0, dtype=dtype), background=background)
    shape = tuple(int(s) for s in labels.shape)
    size = int(np.prod(shape, dtype=np.int64))
    blocks = []
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64) for c in labels.chunks]
    for bid in np.ndindex(*labels.numblocks):
        origin = tuple(int(starts[a][i]) for a, i in enumerate(bid))
        voxels = int(np.prod([labels.chunks[a][i] for a, i in enumerate(bid)], dtype=np.int64))
        blocks.append((bid, origin, voxels))
    return _Plan(
        shape=shape, dtype=dtype, background=probe.background,
        label_dtype=probe.labels.dtype, vdtype=_index_dtype(size),
        gstrides=_c_strides(shape), blocks=blocks,
    )


# ====================================================================== chunk parts
@dataclass
class _Part:
    """A CSR piece of the index: some labels, their stats and their global voxel indices.

    ``voxels`` holds the raveled stack indices of ``labels[i]`` (ascending) at
    ``offsets[i]:offsets[i + 1]``; it is ``None`` when spilled to ``path``.
    """

    labels: np.ndarray
    counts: np.ndarray
    offsets: np.ndarray
    bboxes: np.ndarray
    sums: np.ndarray
    voxels: np.ndarray | None
    path: str | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def nbytes(self) -> int:
        return 0 if self.voxels is None else int(self.voxels.nbytes)

    def read(self, r0: int, r1: int, dtype: np.dtype) -> np.ndarray:
        """Voxel indices of rows ``r0 <= i < r1``."""
        s, e = int(self.offsets[r0]), int(self.offsets[r1])
        if self.voxels is not None:
            return self.voxels[s:e]
        return np.fromfile(self.path, dtype=dtype, count=e - s, offset=s * dtype.itemsize)

    def spill(self, folder: str) -> None:
        path = os.path.join(folder, f"part-{uuid.uuid4().hex}.bin")
        self.voxels.tofile(path)
        self.path = path
        self.voxels = None


def _build_one_thread(arr: np.ndarray, background: int | None) -> LabelIndex:
    """``LabelIndex.build`` on one thread: dask already runs one task per core."""
    global _WORKERS_KEYWORD
    if _WORKERS_KEYWORD is None:
        import inspect

        _WORKERS_KEYWORD = "workers" in inspect.signature(LabelIndex.build).parameters
    if _WORKERS_KEYWORD:
        return LabelIndex.build(arr, background=background, workers=1)
    return LabelIndex.build(arr, background=background)  # pragma: no cover


_WORKERS_KEYWORD: bool | None = None


def _writable_if(arr: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """``arr`` made writable if it has ``dtype`` and owns its memory, else None.

    The chunk's own index is private to the task: mapping its voxel indices to
    stack indices in place (the map is order-preserving and reads each index before
    writing it) saves an allocation per chunk.
    """
    if arr.dtype != dtype or arr.base is not None:
        return None
    try:
        arr.flags.writeable = True
    except ValueError:  # pragma: no cover - not owned after all
        return None
    return arr


def _index_block(block: Any, origin: tuple[int, ...], gstrides: np.ndarray, vdtype: np.dtype,
                 background: int | None) -> _Part:
    """Index one chunk in memory and express it in stack coordinates (a dask task)."""
    from ._kernels import chunked as K

    arr = np.asarray(block)
    ndim = arr.ndim
    idx = _build_one_thread(arr, background)
    n = len(idx)
    out = _writable_if(idx.voxel_indices, vdtype)
    if out is None:
        out = np.empty(idx.voxel_indices.shape[0], dtype=vdtype)
    sums = np.zeros((n, ndim), dtype=np.int64)
    org = np.asarray(origin, dtype=np.int64)
    if n:
        K.to_global(idx.voxel_indices, idx.offsets, np.array(arr.shape, dtype=np.int64), org,
                    gstrides, out, sums)
    bboxes = idx.bboxes + org[None, :, None]
    return _Part(labels=idx.labels, counts=idx.counts, offsets=idx.offsets, bboxes=bboxes,
                 sums=sums, voxels=out)


def _merge_stats(parts: list[_Part], label_dtype: np.dtype, ndim: int):
    """Union of the parts' labels with summed counts/sums and combined boxes.

    Returns ``(labels, counts, bboxes, sums, rows)`` where ``rows[p]`` maps part p's
    rows to rows of the union (ascending, since each part's labels are ascending).
    """
    if parts:
        cat = np.concatenate([p.labels for p in parts])
    else:
        cat = np.zeros(0, dtype=label_dtype)
    labels, inverse = np.unique(cat, return_inverse=True)
    labels = labels.astype(label_dtype, copy=False)
    n = labels.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    sums = np.zeros((n, ndim), dtype=np.int64)
    lo = np.full((n, ndim), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full((n, ndim), -1, dtype=np.int64)
    rows = []
    s = 0
    for p in parts:
        r = inverse[s:s + len(p)].astype(np.int64, copy=False)
        s += len(p)
        rows.append(r)
        # labels are unique within a part, so fancy-indexed updates do not collide
        counts[r] += p.counts
        sums[r] += p.sums
        lo[r] = np.minimum(lo[r], p.bboxes[:, :, 0])
        hi[r] = np.maximum(hi[r], p.bboxes[:, :, 1])
    bboxes = np.stack([lo, hi], axis=-1) if n else np.zeros((0, ndim, 2), dtype=np.int64)
    return labels, counts, bboxes, sums, rows


def _merge_voxels(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  out: np.ndarray, out_offsets: np.ndarray) -> None:
    """Fill the CSR ``out``/``out_offsets`` from pieces ``(voxels, offsets, rows)``.

    Each piece's segment for row ``r`` is appended to output row ``rows[r]`` (pieces
    in order), then rows made of several runs are merged into ascending order.
    """
    from ._kernels import chunked as K

    n = out_offsets.shape[0] - 1
    cursor = out_offsets[:-1].copy()
    all_rows, all_lens = [], []
    for voxels, offsets, rows in pieces:
        if rows.shape[0] == 0:
            continue
        K.place(voxels, offsets, rows, cursor, out)
        all_rows.append(rows)
        all_lens.append(np.diff(offsets))
    if not all_rows:
        return
    rows = np.concatenate(all_rows)
    if rows.shape[0] == n:  # every row came from one piece: nothing to merge
        return
    lens = np.concatenate(all_lens)
    order = np.argsort(rows, kind="stable")
    lens = lens[order]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    runs = np.diff(ptr)
    multi = runs > 1
    if not multi.any():
        return
    longest = int((np.diff(out_offsets)[multi]).max())
    scratch = np.empty(longest, dtype=out.dtype)
    K.merge_runs(out, out_offsets, lens, ptr, scratch)


def _merge_parts(parts: list[_Part], plan: _Plan, buffer: np.ndarray | None = None) -> _Part:
    """Merge the chunk parts of one wave into one part (in memory).

    The voxel indices go to a new array, or to the start of ``buffer`` if given (large
    enough; reusing one buffer for waves that are spilled anyway saves page faults).
    """
    labels, counts, bboxes, sums, rows = _merge_stats(parts, plan.label_dtype, plan.ndim)
    offsets = np.zeros(labels.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    out = np.empty(total, dtype=plan.vdtype) if buffer is None else buffer[:total]
    _merge_voxels([(p.voxels, p.offsets, r) for p, r in zip(parts, rows)], out, offsets)
    return _Part(labels=labels, counts=counts, offsets=offsets, bboxes=bboxes, sums=sums,
                 voxels=out)


# ========================================================================= execution
def _distributed_client(scheduler: Any):
    """The ``dask.distributed`` client to use, or None for a local scheduler."""
    if scheduler is not None and not isinstance(scheduler, str):
        if hasattr(scheduler, "compute") and hasattr(scheduler, "nthreads"):
            return scheduler
        raise TypeError(
            f"scheduler must be None, a dask scheduler name or a distributed Client, "
            f"got {type(scheduler).__name__}"
        )
    if scheduler is not None:
        return None
    try:
        from dask.base import get_scheduler
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is optional
        return None
    try:
        client = default_client()
    except ValueError:
        return None
    sched = get_scheduler()
    return client if getattr(sched, "__self__", None) is client else None


def _n_workers(client: Any, scheduler: Any) -> int:
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - only a sizing hint
            return 2
    if scheduler in ("sync", "synchronous", "single-threaded"):
        return 1
    import dask

    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def _waves(plan: _Plan, wave_voxels: int, workers: int) -> list[list[int]]:
    """Consecutive (C-order) groups of block numbers of about ``wave_voxels`` voxels,
    and at least ``2 * workers`` blocks each (so every worker stays busy)."""
    waves: list[list[int]] = []
    current: list[int] = []
    voxels = 0
    for i, (_bid, _origin, n) in enumerate(plan.blocks):
        if current and voxels + n > wave_voxels and len(current) >= 2 * workers:
            waves.append(current)
            current, voxels = [], 0
        current.append(i)
        voxels += n
    if current:
        waves.append(current)
    return waves


def _release_free_heap() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``; no-op elsewhere).

    Chunk-sized arrays freed by the chunk phase can stay in malloc's arenas; trimming
    them before the index is allocated lowers the peak RSS.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _local_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _produce(labels: Any, plan: _Plan, *, scheduler: Any, wave_voxels: int, events,
             slots, stop) -> None:
    """Index the chunks wave by wave (run in a background thread).

    Puts ``("chunk", None)`` after each chunk, ``("wave", parts)`` after each wave (the
    chunk parts in block order), then ``("done", None)``, or ``("error", exc)``. A wave
    starts only when one of the ``slots`` (released by the consumer after merging a
    wave) is free, so at most two waves exist at a time.
    """
    import dask

    try:
        client = _distributed_client(scheduler)
        workers = _n_workers(client, scheduler)
        delayed_blocks = labels.to_delayed()
        name = f"labelprep-index-chunk-{uuid.uuid4().hex[:12]}"
        task = dask.delayed(_index_block, pure=True)
        for wave in _waves(plan, wave_voxels, workers):
            while not slots.acquire(timeout=0.1):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            tasks = []
            for i in wave:
                bid, origin, _n = plan.blocks[i]
                tasks.append(task(delayed_blocks[bid], origin, plan.gstrides, plan.vdtype,
                                  plan.background, dask_key_name=(name, i)))
            if client is not None:
                from distributed import as_completed

                futures = client.compute(tasks)
                where = {f.key: k for k, f in enumerate(futures)}
                results: list[Any] = [None] * len(futures)
                for fut in as_completed(futures):
                    results[where[fut.key]] = fut.result()
                    fut.release()
                    events.put(("chunk", None))
                del futures
            else:
                from dask.callbacks import Callback

                def posttask(key, result, dsk, state, worker_id):
                    if isinstance(key, tuple) and key and key[0] == name:
                        events.put(("chunk", None))

                # keep any globally registered callbacks (progress bars, profilers)
                callbacks = [*Callback.active, Callback(posttask=posttask)._callback]
                kwargs: dict[str, Any] = {"callbacks": callbacks}
                if scheduler is not None:
                    kwargs["scheduler"] = scheduler
                results = list(dask.compute(*tasks, **kwargs))
            events.put(("wave", results))
            del results, tasks
        events.put(("done", None))
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
        events.put(("error", exc))


class _Progress:
    """Per-chunk progress, then the assembly, on one ``(done, total)`` scale."""

    def __init__(self, progress: ProgressCallback | None, nchunks: int):
        self.progress = progress
        self.nchunks = nchunks
        self.tail = max(1, nchunks // 8)
        self.total = nchunks + self.tail
        self.done = 0

    def chunk(self) -> None:
        self.done += 1
        report(self.progress, self.done, self.total)

    def assembly(self, fraction: float) -> None:
        report(self.progress, self.nchunks + int(self.tail * fraction), self.total)


class _Collector:
    """Index every chunk and keep the merged wave parts (in memory or spilled).

    Chunks are indexed by dask in a background thread while this thread merges the
    previous wave (and reports progress: always from the calling thread).
    """

    def __init__(self, labels: Any, plan: _Plan, *, scheduler: Any, wave_voxels: int,
                 keep_in_memory: int, spill_dir: PathLike | None, progress: _Progress):
        import queue
        import threading

        self.plan = plan
        self.parts: list[_Part] = []
        self._spill_parent = spill_dir
        self._spill: str | None = None
        in_memory = 0
        buffer: np.ndarray | None = None
        events: queue.Queue = queue.Queue()
        slots = threading.Semaphore(2)
        stop = threading.Event()
        producer = threading.Thread(
            target=_produce, name="labelprep-index-chunks", daemon=True,
            args=(labels, plan),
            kwargs={"scheduler": scheduler, "wave_voxels": wave_voxels, "events": events,
                    "slots": slots, "stop": stop},
        )
        producer.start()
        try:
            while True:
                kind, payload = events.get()
                if kind == "chunk":
                    progress.chunk()
                elif kind == "wave":
                    size = sum(int(p.voxels.nbytes) for p in payload)
                    spill = in_memory + size > keep_in_memory
                    if spill:  # merged into a reused buffer, written out, buffer kept
                        if buffer is None or buffer.nbytes < size:
                            buffer = None
                            buffer = np.empty(max(size // plan.vdtype.itemsize, 1),
                                              dtype=plan.vdtype)
                        part = _merge_parts(payload, plan, buffer)
                    else:
                        part = _merge_parts(payload, plan)
                        in_memory += size
                    del payload
                    slots.release()
                    if len(part) == 0:
                        continue
                    if spill:
                        part.spill(self.spill_folder())
                    self.parts.append(part)
                elif kind == "error":
                    raise payload
                else:
                    break
        except BaseException:
            self.close()
            raise
        finally:
            stop.set()
            slots.release()
            producer.join()

    def spill_folder(self) -> str:
        if self._spill is None:
            parent = self._spill_parent
            if parent is not None:
                Path(parent).mkdir(parents=True, exist_ok=True)
            self._spill = tempfile.mkdtemp(prefix="labelprep-spill-",
                                           dir=None if parent is None else os.fspath(parent))
        return self._spill

    def close(self) -> None:
        self.parts = []
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None

    def summary(self):
        """Global labels, counts, offsets, bboxes, centroids and each part's row map."""
        _release_free_heap()
        labels, counts, bboxes, sums, rows = _merge_stats(self.parts, self.plan.label_dtype,
                                                          self.plan.ndim)
        offsets = np.zeros(labels.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        with np.errstate(invalid="ignore", divide="ignore"):
            centroids = sums / counts[:, None]
        return labels, counts, offsets, bboxes, centroids, rows

    def _batch(self, offsets: np.ndarray, rows: list[np.ndarray], r0: int, r1: int,
               out: np.ndarray) -> np.ndarray:
        """Merge the voxel indices of global rows ``[r0, r1)`` into ``out``."""
        start = int(offsets[r0])
        pieces = []
        for part, prow in zip(self.parts, rows):
            a, b = np.searchsorted(prow, [r0, r1])
            if a == b:
                continue
            vox = part.read(int(a), int(b), self.plan.vdtype)
            poff = part.offsets[a:b + 1] - part.offsets[a]
            pieces.append((vox, poff, prow[a:b] - r0))
        _merge_voxels(pieces, out, offsets[r0:r1 + 1] - start)
        return out

    def assemble(self, offsets: np.ndarray, rows: list[np.ndarray], progress: _Progress,
                 batch_entries: int, sink) -> None:
        """Merge the voxel indices in label order, in batches of about ``batch_entries``.

        Batches are merged in parallel threads (the kernels release the GIL) and
        handed to ``sink.put`` in order, from this thread.
        """
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        n = offsets.shape[0] - 1
        total = int(offsets[-1])
        batches = []
        r0 = 0
        while r0 < n:
            r1 = int(np.searchsorted(offsets, offsets[r0] + batch_entries, side="right")) - 1
            r1 = min(max(r1, r0 + 1), n)  # about batch_entries voxels, at least one row
            batches.append((r0, r1))
            r0 = r1
        threads = _local_cores()
        with ThreadPoolExecutor(max_workers=threads,
                                thread_name_prefix="labelprep-index-merge") as pool:
            pending: deque = deque()

            def flush() -> None:
                start, stop, fut = pending.popleft()
                sink.put(start, stop, fut.result())
                progress.assembly(stop / total if total else 1.0)

            try:
                for r0, r1 in batches:
                    start, stop = int(offsets[r0]), int(offsets[r1])
                    out = sink.get(start, stop)
                    pending.append((start, stop,
                                    pool.submit(self._batch, offsets, rows, r0, r1, out)))
                    if len(pending) > threads:
                        flush()
                while pending:
                    flush()
            except BaseException:
                for _s, _e, fut in pending:
                    fut.cancel()
                raise


class _ArraySink:
    def __init__(self, out: np.ndarray):
        self.out = out

    def get(self, start: int, stop: int) -> np.ndarray:
        return self.out[start:stop]

    def put(self, start: int, stop: int, data: np.ndarray) -> None:
        pass


class _ZarrSink:
    def __init__(self, arr: Any, dtype: np.dtype):
        self.arr = arr
        self.dtype = dtype

    def get(self, start: int, stop: int) -> np.ndarray:
        return np.empty(stop - start, dtype=self.dtype)

    def put(self, start: int, stop: int, data: np.ndarray) -> None:
        self.arr[start:stop] = data


def _check_sizes(wave_voxels: int, keep_in_memory: int, batch_entries: int) -> None:
    for name, value in (("wave_voxels", wave_voxels), ("batch_entries", batch_entries)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(keep_in_memory, (int, np.integer)) or keep_in_memory < 0:
        raise ValueError(f"keep_in_memory must be a non-negative integer, got {keep_in_memory!r}")


# ============================================================================ public
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


# ===================================================================== zarr on disk
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
        import json

        for name in ("zarr.json", ".zattrs"):
            meta = path / name
            if meta.is_file():
                data = json.loads(meta.read_text())
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


class ZarrLabelIndex:
    """A LabelIndex on disk (zarr), opened lazily: see :func:`open_index`.

    The per-object arrays (``labels``, ``counts``, ``offsets``, ``bboxes``,
    ``centroids``: O(objects)) are read when opened; ``voxel_indices`` stays on disk
    (a ``zarr.Array``) and :meth:`flat`, :meth:`coords` and :meth:`where` read only
    the requested object's slice of it. The read API is the one of
    :class:`~labelprep.LabelIndex`; :meth:`load` gives an in-memory LabelIndex.
    """

    def __init__(self, path: PathLike, *, store: Any = None, check: bool = True):
        self.path = Path(path)
        zarr = _zarr()
        try:
            group = zarr.open_group(store if store is not None else os.fspath(self.path),
                                    mode="r")
            attrs = dict(group.attrs)
            if _MARKER not in attrs:
                raise ValueError(f"no {_MARKER!r} attribute (not a labelprep index)")
            version = int(attrs[_MARKER])
            if version > ZARR_FORMAT_VERSION:
                raise ValueError(
                    f"format version {version} is newer than this labelprep understands "
                    f"({ZARR_FORMAT_VERSION})"
                )
            meta = {k: np.asarray(group[k][...]) for k in
                    ("labels", "counts", "offsets", "bboxes", "centroids")}
            voxels = group["voxel_indices"]
            from ._index_file import check_header, validate

            shape, dtype, background = check_header(attrs["shape"], attrs["dtype"],
                                                    attrs["background"])
            vdtype = np.dtype(voxels.dtype)
            total = int(voxels.shape[0])
            # the per-object arrays checked by LabelIndex itself; the voxel indices
            # are a zero-copy stand-in of the right length and dtype
            self._meta = LabelIndex(
                labels=meta["labels"], counts=meta["counts"], offsets=meta["offsets"],
                voxel_indices=np.broadcast_to(np.zeros(1, dtype=vdtype), (total,)),
                bboxes=meta["bboxes"], centroids=meta["centroids"], shape=shape,
                dtype=dtype, background=background,
            )
            if check:  # every voxel, 16M at a time: O(voxels) reading, bounded memory
                validate(self._meta, voxels=voxels, window=1 << 24)
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ValueError(f"cannot open index {self.path}: {exc}") from exc
        except Exception as exc:  # zarr raises its own errors for broken metadata
            raise ValueError(f"cannot open index {self.path}: corrupt ({exc})") from exc
        self.voxel_indices = voxels
        m = self._meta
        self.labels, self.counts, self.offsets = m.labels, m.counts, m.offsets
        self.bboxes, self.centroids = m.bboxes, m.centroids
        self.shape, self.ndim, self.dtype = m.shape, m.ndim, m.dtype
        self.background, self.axis_names = m.background, m.axis_names

    def __len__(self) -> int:
        return len(self._meta)

    def __contains__(self, label: object) -> bool:
        return label in self._meta

    def __repr__(self) -> str:
        bg = "" if self.background is None else f", background={self.background}"
        return (
            f"ZarrLabelIndex({self.path}: {len(self)} objects, "
            f"{self.voxel_indices.shape[0]} voxels, shape={self.shape}, "
            f"dtype={self.dtype}{bg})"
        )

    def position(self, label: int) -> int:
        """Row of ``label`` in :attr:`labels`; ``KeyError`` naming it if absent."""
        return self._meta.position(label)

    def _one(self, label: int) -> tuple[LabelIndex, int]:
        """An in-memory index of just ``label`` (reads only its voxel indices)."""
        i = self.position(label)
        s, e = int(self.offsets[i]), int(self.offsets[i + 1])
        flat = np.asarray(self.voxel_indices[s:e])
        one = LabelIndex(
            labels=self.labels[i:i + 1], counts=self.counts[i:i + 1],
            offsets=np.array([0, e - s], dtype=np.int64), voxel_indices=flat,
            bboxes=self.bboxes[i:i + 1], centroids=self.centroids[i:i + 1],
            shape=self.shape, dtype=self.dtype, background=self.background,
        )
        return one, i

    def flat(self, label: int) -> np.ndarray:
        """Raveled C-order indices of the voxels of ``label`` (read from disk)."""
        one, _ = self._one(label)
        return one.voxel_indices

    def coords(self, label: int) -> np.ndarray:
        """``(n, ndim)`` coordinates of ``label`` in raster order (reads only its slice)."""
        one, _ = self._one(label)
        return one.coords(one.labels[0])

    def where(self, label: int) -> tuple[np.ndarray, ...]:
        """``np.where(stack == label)`` (reads only the slice of ``label``)."""
        one, _ = self._one(label)
        return one.where(one.labels[0])

    def bbox(self, label: int) -> tuple[slice, ...]:
        """Bounding box of ``label`` as slices."""
        return self._meta.bbox(label)

    def centroid(self, label: int) -> np.ndarray:
        """Mean voxel coordinate of ``label``."""
        return self._meta.centroid(label)

    def size(self, label: int) -> int:
        """Number of voxels of ``label``."""
        return self._meta.size(label)

    def table(self):
        """The per-object table of :meth:`LabelIndex.table` (no voxel data read)."""
        return self._meta.table()

    def subset(self, labels: Iterable[int]) -> LabelIndex:
        """An in-memory index of some objects (reads only their voxel indices)."""
        rows = np.unique(np.array([self.position(L) for L in labels], dtype=np.int64))
        return self._rows_index(rows)

    def _rows_index(self, rows: np.ndarray) -> LabelIndex:
        """An in-memory index of the objects in ``rows`` (ascending row numbers)."""
        counts = self.counts[rows]
        offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        if rows.shape[0] and rows[-1] - rows[0] + 1 == rows.shape[0]:  # consecutive: one read
            s, e = int(self.offsets[rows[0]]), int(self.offsets[rows[-1] + 1])
            voxels = np.asarray(self.voxel_indices[s:e])
        else:
            voxels = np.empty(int(offsets[-1]), dtype=self.voxel_indices.dtype)
            for j, i in enumerate(rows.tolist()):
                voxels[offsets[j]:offsets[j + 1]] = self.voxel_indices[
                    int(self.offsets[i]):int(self.offsets[i + 1])
                ]
        return LabelIndex(
            labels=self.labels[rows], counts=counts, offsets=offsets, voxel_indices=voxels,
            bboxes=self.bboxes[rows], centroids=self.centroids[rows], shape=self.shape,
            dtype=self.dtype, background=self.background,
        )

    def write_coords_csv(self, path: PathLike, labels: Iterable[int] | None = None,
                         progress: ProgressCallback | None = None,
                         batch_entries: int = BATCH_ENTRIES) -> None:
        """Write one CSV row per voxel, ``label,<axis names...>``, like
        :meth:`LabelIndex.write_coords_csv`, reading the index batch by batch (memory:
        one batch). The file is written under a temporary name, then renamed."""
        if labels is None:
            rows = np.arange(len(self), dtype=np.int64)
        else:
            rows = np.unique(np.array([self.position(L) for L in labels], dtype=np.int64))
        counts = self.counts[rows]
        ends = np.cumsum(counts)
        total = int(ends[-1]) if ends.size else 0
        path = Path(path)
        part = path.parent / f".{path.name}.part-{uuid.uuid4().hex[:8]}"
        try:
            with atomic_open(path, "wb") as out:
                out.write((",".join(("label",) + self.axis_names) + "\n").encode())
                j0, done = 0, 0
                while j0 < rows.shape[0]:
                    j1 = int(np.searchsorted(ends, done + batch_entries, side="right"))
                    j1 = min(max(j1, j0 + 1), rows.shape[0])
                    self._rows_index(rows[j0:j1]).write_coords_csv(part)
                    with open(part, "rb") as f:
                        f.readline()  # the header, written once above
                        shutil.copyfileobj(f, out, 1 << 20)
                    done = int(ends[j1 - 1])
                    report(progress, done, total)
                    j0 = j1
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        report(progress, total, total)

    def load(self) -> LabelIndex:
        """The whole index in memory (reads every voxel index)."""
        voxels = np.asarray(self.voxel_indices[...])
        return LabelIndex(
            labels=self.labels, counts=self.counts, offsets=self.offsets, voxel_indices=voxels,
            bboxes=self.bboxes, centroids=self.centroids, shape=self.shape, dtype=self.dtype,
            background=self.background,
        )


def open_index(path: PathLike, *, store: Any = None, check: bool = True) -> ZarrLabelIndex:
    """Open an on-disk index written by :func:`build_to_zarr` or :func:`save_zarr`.

    The per-object arrays are read (O(objects)); ``coords(L)``, ``where(L)`` and
    ``flat(L)`` read object L's slice of the voxel indices when asked. With ``check``
    (default) the file is not trusted: every field is validated, the voxel indices too
    (read 16M at a time, O(voxels), in bounded memory), as :meth:`LabelIndex.load` does.

    Parameters
    ----------
    path : str or Path
        The index directory.
    store : zarr store, optional
        Read through this store instead of ``path`` (e.g. a wrapped or remote store);
        ``path`` then only names the index in messages.
    check : bool
        Validate the voxel indices against the per-object arrays (default True).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist (and no ``store`` was given).
    ValueError
        ``path`` is not a labelprep index or is corrupt; the message names it.
    """
    path = Path(path)
    if store is None and not path.exists():
        raise FileNotFoundError(f"no such index: {path}")
    return ZarrLabelIndex(path, store=store, check=check)
