"""The in-memory build's threads: how many, running the parts of a pass, sorting segments.

:func:`_run_parts` runs one pass of :func:`labelprep._index_build._build_numpy` over its
parts (one thread each; the numba kernels release the GIL) and reports progress from the
calling thread only; :func:`_sort_segments` restores raster order within each label's
segment when the stack's memory order is not C order.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

import numpy as np

from ._progress import report

if TYPE_CHECKING:
    from ._index_build import _Part


def _run_parts(fn, parts: list[_Part], progress, base: int, total: int) -> None:
    """Run ``fn(part, stop)`` for each part (threads if several; the kernels release the
    GIL) while reporting progress from this thread only; re-raise the first error."""
    for part in parts:
        part.done = 0
    stop = threading.Event()
    if len(parts) == 1:
        fn(parts[0], stop, lambda: report(progress, base + parts[0].done, total))
        return
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        futures = [pool.submit(fn, part, stop, None) for part in parts]
        pending = set(futures)
        try:
            while pending:
                _, pending = wait(pending, timeout=0.05, return_when=FIRST_EXCEPTION)
                if any(f.done() and f.exception() is not None for f in futures):
                    stop.set()
                report(progress, base + sum(p.done for p in parts), total)
        finally:
            if pending:  # an error (or KeyboardInterrupt) in this thread: stop the others
                stop.set()
        for f in futures:
            f.result()


def default_workers() -> int:
    """Threads used by :meth:`LabelIndex.build` by default: the usable cores, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))



def _sort_segments(out, offsets, workers, progress, base, span, total) -> None:
    """Sort each label's indices (in place), labels split over ``workers`` threads."""
    from ._kernels.index import sort_segments

    n = offsets.shape[0] - 1
    steps = np.unique(np.searchsorted(offsets, np.linspace(0, offsets[-1], 33)[1:-1]))
    bounds = [0, *[int(b) for b in steps if 0 < b < n], n]
    chunks = list(itertools.pairwise(bounds))
    done = 0
    nvox = max(int(offsets[-1]), 1)

    def run(chunk):
        sort_segments(out, offsets, chunk[0], chunk[1])
        return chunk

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i0, i1 in pool.map(run, chunks):
            done += int(offsets[i1] - offsets[i0])
            report(progress, base + span * done // nvox, total)
