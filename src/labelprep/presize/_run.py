"""Running the jobs of a folder run: in this thread, a thread pool, a process pool or on a
dask cluster, each result handed to ``on_done`` as it finishes."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ._job import FileResult, _Job, _run_chunk, _run_job
from ._mask import mask
from ._read import _PIL_FORMATS

#: How :func:`folder` runs its workers.
EXECUTORS = ("auto", "threads", "processes")


def _chunks(jobs: list[_Job], workers: int) -> list[list[_Job]]:
    per = max(1, min(16, len(jobs) // (workers * 8)))
    return [jobs[i : i + per] for i in range(0, len(jobs), per)]


def _warm_mode_kernel() -> None:
    """Load (or compile) the mode kernel here, so forked workers inherit it ready."""
    with contextlib.suppress(Exception):
        mask(np.zeros((4, 4), np.uint8), 2, method="mode")


def _pool_context(preload_kernels: bool = False):
    """Start method for the worker processes.

    ``fork`` is the cheapest but unsafe in a process that runs other threads (napari, a
    ``thread_worker``, a dask client): there we use ``forkserver`` (its server imports
    this package once, then forks clean workers) or ``spawn`` where it does not exist.
    """
    import multiprocessing as mp
    import threading

    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1 and sys.platform == "linux":
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        preload = [__package__] + (["labelprep._kernels.presize"] if preload_kernels else [])
        ctx.set_forkserver_preload(preload)
        return ctx
    return mp.get_context("spawn")


def _releases_gil(job: _Job) -> bool:
    """Whether the work of ``job`` runs in Pillow's C code (which releases the GIL)."""
    return job.src.suffix.lower() in _PIL_FORMATS and (
        job.mask_src is None or job.mask_src.suffix.lower() in _PIL_FORMATS
    )


def _execute(
    jobs: list[_Job],
    workers: int,
    scheduler: Any,
    on_done: Callable[[list[FileResult]], None],
    executor: str = "auto",
) -> None:
    if scheduler is not None:
        _execute_dask(jobs, scheduler, on_done)
        return
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_done([_run_job(job)])
        return
    if executor == "auto":
        executor = "threads" if all(_releases_gil(j) for j in jobs) else "processes"
    if executor == "threads":
        _execute_threads(jobs, min(workers, len(jobs)), on_done)
    else:
        _execute_processes(jobs, workers, on_done)


def _execute_threads(
    jobs: list[_Job], n: int, on_done: Callable[[list[FileResult]], None]
) -> None:
    """Run the jobs in ``n`` threads, one file at a time, at most ``2 n`` queued."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    pending = iter(jobs)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="labelprep-presize") as pool:
        running = {pool.submit(_run_job, job) for job in itertools.islice(pending, 2 * n)}
        try:
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    on_done([fut.result()])
                    job = next(pending, None)
                    if job is not None:
                        running.add(pool.submit(_run_job, job))
        except BaseException:
            for fut in running:
                fut.cancel()
            raise


def _execute_processes(
    jobs: list[_Job], workers: int, on_done: Callable[[list[FileResult]], None]
) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    n = min(workers, len(jobs))
    use_mode = any(j.method == "mode" and j.mask_src is not None for j in jobs)
    if use_mode:
        _warm_mode_kernel()  # once here instead of importing numba in every worker
    with ProcessPoolExecutor(max_workers=n, mp_context=_pool_context(use_mode)) as pool:
        futures = [pool.submit(_run_chunk, chunk) for chunk in _chunks(jobs, n)]
        try:
            for fut in as_completed(futures):
                on_done(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _execute_dask(jobs: list[_Job], scheduler: Any, on_done) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "scheduler= needs dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    if isinstance(scheduler, (str, os.PathLike)):
        client = Client(str(scheduler))
        own = True
    elif isinstance(scheduler, Client):
        client, own = scheduler, False
    else:
        raise TypeError(
            f"scheduler must be a dask.distributed address string or Client, got {scheduler!r}"
        )
    try:
        n = max(1, sum(client.nthreads().values()))
        futures = client.map(_run_chunk, _chunks(jobs, n), pure=False)
        for fut in as_completed(futures):
            on_done(fut.result())
    finally:
        if own:
            client.close()
