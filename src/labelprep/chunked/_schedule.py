"""The pass over the chunks: which dask scheduler runs it, and the producer thread.

:func:`_produce` (run in a background thread by :class:`~._collect._Collector`)
submits the chunks wave by wave to the active ``dask.distributed`` client, or to a
local dask scheduler, and hands each wave's parts to the consumer through a queue.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from ._parts import _index_block
from ._plan import _Plan, _waves


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
