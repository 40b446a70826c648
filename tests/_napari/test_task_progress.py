"""Long work reports through napari.utils.progress too (napari's activity dock)."""

from __future__ import annotations

import threading
import time

import numpy as np

from labelprep._napari.index_widget import VoxelIndexWidget


def test_a_task_shows_in_napari_progress_and_closes(viewer, qtbot):
    from napari.utils import progress

    widget = VoxelIndexWidget(viewer)
    viewer.window.add_dock_widget(widget)
    release = threading.Event()

    def job(report):
        report(1, 10)
        time.sleep(1.2)
        report(3, 10)  # 3 of 10 after ~1.2 s: about 3 s left
        release.wait(10)
        return 42

    done = []
    widget.tasks.start(job, label="Testing", on_done=done.append)
    activity = widget.tasks.activity
    assert isinstance(activity, progress) and activity.desc == "Testing"
    qtbot.waitUntil(lambda: activity.n == 3 and activity.total == 10, timeout=10_000)
    assert "s left" in widget.progress_bar.format()  # a time estimate for long work
    release.set()
    qtbot.waitUntil(lambda: done == [42], timeout=10_000)
    qtbot.waitUntil(lambda: widget.tasks.activity is None, timeout=10_000)
    viewer.add_labels(np.zeros((4, 4), np.uint8))  # the dock still works afterwards
