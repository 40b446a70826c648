"""The threads of a folder read: ``parallel`` runs one call per slice on a pool,
``scratch`` is each thread's reusable decode buffer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed, wait

import numpy as np

from .._progress import ProgressCallback, report

__all__ = ["parallel", "scratch"]

_local = threading.local()


def scratch(shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    """This thread's buffer of ``shape`` and ``dtype``, reused across calls (e.g. the
    RGBX decode buffer of RGB slices); one per dtype and thread."""
    dtype = np.dtype(dtype)
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    buf = bufs.get(dtype.str)
    if buf is None or buf.shape != tuple(shape):
        buf = bufs[dtype.str] = np.empty(shape, dtype)
    return buf


def parallel(fn: Callable[[int], None], count: int, workers: int,
             progress: ProgressCallback | None = None) -> None:
    """``fn(i)`` for i in 0..count-1 on ``workers`` threads; ``progress(done, count)``
    from the calling thread. On failure the others are cancelled (those running end)
    and the error of the lowest failing i is raised.

    (``as_completed`` waits on every future once; a ``wait(FIRST_COMPLETED)`` loop
    would register on all pending futures again after each one, O(count**2) work under
    the GIL that the decoding threads pay for.)
    """
    n = min(workers, count)
    if n <= 1:
        for i in range(count):
            fn(i)
            report(progress, i + 1, count)
        return
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(fn, i) for i in range(count)]
        failed = False
        for done, future in enumerate(as_completed(futures), 1):
            if future.exception() is not None:
                failed = True
                break
            report(progress, done, count)
        if failed:
            for f in futures:
                f.cancel()
            wait(futures)
            raise next(f.exception() for f in futures
                       if not f.cancelled() and f.exception() is not None)
