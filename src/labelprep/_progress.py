"""Progress reporting shared by the core, the CLI and the napari widgets.

Long-running core functions take ``progress: ProgressCallback | None``: a callable
``progress(done, total)`` called with monotonically increasing ``done`` up to
``total``. The CLI passes a tqdm bar (:func:`tqdm_progress`); the napari widgets pass a
function that forwards to a ``thread_worker``'s progress bar. The core never imports
either of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

ProgressCallback = Callable[[int, int], None]


def report(progress: ProgressCallback | None, done: int, total: int) -> None:
    """Call ``progress(done, total)`` if a callback was given."""
    if progress is not None:
        progress(int(done), int(total))


@contextlib.contextmanager
def tqdm_progress(desc: str, unit: str = "it", disable: bool = False) -> Iterator[ProgressCallback]:
    """A :data:`ProgressCallback` that drives a tqdm bar on stderr (for the CLI)."""
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, unit=unit, disable=disable, leave=True, dynamic_ncols=True)

    def callback(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield callback
    finally:
        bar.close()
