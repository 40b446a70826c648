"""Collect the indexed waves, then assemble the voxel indices in label order.

:class:`_Collector` consumes the waves of :func:`~._schedule._produce` (merging each
into one part, kept in memory up to ``keep_in_memory`` bytes, spilled to disk
beyond), then gives the global per-object arrays (:meth:`_Collector.summary`) and
merges the voxel indices batch by batch into a sink: a NumPy array
(:class:`_ArraySink`) or a zarr array (:class:`_ZarrSink`). :class:`_Progress` puts
both passes on one ``(done, total)`` scale.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressCallback, report
from ._parts import _merge_parts, _merge_stats, _merge_voxels, _Part
from ._plan import PathLike, _Plan
from ._schedule import _produce


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
