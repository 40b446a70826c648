"""The threads of a folder read (io._parallel): every index run once, progress from the
calling thread, the lowest failing index's error raised and the rest cancelled; each
thread's scratch buffer reused."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from labelprep.io._parallel import parallel, scratch


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_every_index_runs_once_and_progress_comes_from_the_caller(workers):
    seen, reports = [], []
    lock = threading.Lock()
    caller = threading.get_ident()

    def fn(i):
        with lock:
            seen.append(i)

    def progress(done, total):
        assert threading.get_ident() == caller
        reports.append((done, total))

    parallel(fn, 25, workers, progress)
    assert sorted(seen) == list(range(25))
    assert [d for d, _ in reports] == list(range(1, 26))
    assert {t for _, t in reports} == {25}


@pytest.mark.parametrize("workers", [1, 2])
def test_the_lowest_failing_index_is_raised(workers):
    def fn(i):
        if i in (3, 7):
            time.sleep(0.05 if i == 3 else 0)  # 7 fails first on two threads
            raise ValueError(f"slice {i}")

    with pytest.raises(ValueError, match="slice 3"):
        parallel(fn, 10, workers)


def test_a_failure_cancels_what_has_not_started():
    started = []

    def fn(i):
        started.append(i)
        if i == 0:
            raise OSError("broken")
        time.sleep(0.01)

    with pytest.raises(OSError, match="broken"):
        parallel(fn, 200, 2)
    assert len(started) < 200


def test_scratch_is_one_buffer_per_thread_and_dtype():
    a = scratch((4, 5))
    assert scratch((4, 5)) is a
    assert scratch((4, 5), np.uint16) is not a
    assert scratch((2, 5)).shape == (2, 5)  # another shape: a new buffer
    other = []
    t = threading.Thread(target=lambda: other.append(scratch((2, 5))))
    t.start()
    t.join()
    assert other[0] is not scratch((2, 5))
