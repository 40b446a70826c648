"""A whole dataset: :func:`folder` (plan, resume from the journal, run, report) and its
:class:`FolderReport`."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import presize  # the settings (JOURNAL_NAME, DURABLE) are read at call time
from .._progress import ProgressCallback, report
from ..io import Journal, remove_stale_temporaries
from ._job import FileResult
from ._mask import MASK_METHODS
from ._plan import _check_folders, _plan
from ._run import EXECUTORS, _execute
from ._shape import PathLike, Size, _check_size


@dataclass
class FolderReport:
    """The outcome of :func:`folder`: counts, failures with reasons, time, per-file results."""

    written: int = 0
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    results: list[FileResult] = field(default_factory=list)
    missing_masks: list[Path] = field(default_factory=list)
    """Images (relative paths) with no mask in the ``masks`` tree; presized alone."""
    removed: list[Path] = field(default_factory=list)
    """Temporary files of killed runs removed from the destination folders."""

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line, e.g. ``'40 images: 38 written, 0 skipped, 2 failed in 3.1 s (12.9/s)'``."""
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"{self.total} images: {self.written} written, {self.skipped} skipped, "
            f"{len(self.failed)} failed in {self.seconds:.1f} s ({rate:.1f} written/s)"
        )
        if self.missing_masks:
            text += f"; {len(self.missing_masks)} without a mask"
        if self.removed:
            text += f"; removed {len(self.removed)} temporary files of an interrupted run"
        return text


def folder(
    src: PathLike,
    dst: PathLike,
    size: Size,
    masks: PathLike | None = None,
    masks_out: PathLike | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    method: Literal["nearest", "mode"] = "nearest",
    upscale: bool = False,
    progress: ProgressCallback | None = None,
    scheduler: Any = None,
    executor: Literal["auto", "threads", "processes"] = "auto",
) -> FolderReport:
    """Presize every image under ``src`` into ``dst`` (and masks into ``masks_out``).

    The source tree is mirrored: ``src/a/b.jpg`` becomes ``dst/a/b.jpg``, in the same
    format (JPEG at quality 90; PNG, TIFF, .npy, WebP... as they were, 16-bit stays
    16-bit). JPEGs are decoded at reduced scale in the DCT domain (Pillow ``draft``), one
    decode per file, then resampled with :func:`image`'s filter. EXIF orientation is
    applied before resizing (outputs are upright, with no orientation tag), for images
    and masks alike, so a pair stays aligned. Files already small enough are copied
    unchanged (unless ``upscale``).

    Masks come from a parallel tree: the mask of ``src/a/b.jpg`` is the file
    ``masks/a/b.<ext>`` with the same relative folder and the same stem, any image
    extension (the rule of :func:`labelprep.patches.match_masks`). Several candidates
    for one image (``b.png`` and ``b.tif``), or two images sharing one mask (``b.jpg``
    and ``b.png``), fail those images as ambiguous. A mask must have its image's shape;
    it is shrunk with :func:`mask` (``method``) to the image's output shape and written
    to ``masks_out/a/b.<ext>``, losslessly (palette PNGs keep their palette and ids;
    JPEG masks are written as PNG).

    Parameters
    ----------
    src, dst : path
        Source and destination folders; ``dst`` must not be ``src`` or inside it.
    size : int or (int, int)
        See :func:`output_shape`.
    masks, masks_out : path, optional
        Mask source folder and its destination (required with ``masks``; not inside
        ``masks``, not equal to ``dst``).
    workers : int, optional
        Files presized at the same time (default ``os.cpu_count()``); ``1`` runs
        everything in the calling thread.
    overwrite : bool
        Redo outputs that are up to date. By default an image is skipped (resume) only
        when an earlier run with the same settings recorded it as completely written
        (in ``dst/.labelprep-presize.jsonl``) and neither its sources nor its outputs
        changed since (size and modification time): a half-written, replaced or
        touched output is redone, never trusted.
    method : {"nearest", "mode"}
        Mask method, see :func:`mask`.
    upscale : bool
        Enlarge images smaller than the target too.
    progress : callable, optional
        ``progress(done, total)`` after each finished file.
    scheduler : str or distributed.Client, optional
        Run the same per-file work on a ``dask.distributed`` cluster (its address, or a
        client) instead of the local workers.
    executor : {"auto", "threads", "processes"}
        How the ``workers`` run. ``"threads"``: a thread pool in this process, with no
        start-up cost; Pillow releases the GIL while it decodes, resizes and encodes, so
        threads use every core for Pillow formats (JPEG, PNG, ...). ``"processes"``: a
        process pool (started by ``fork`` where safe, else ``forkserver``, which costs
        up to a second), for the NumPy-heavy work on TIFF and ``.npy`` files.
        ``"auto"`` (default): threads when every image and mask is a Pillow format,
        else processes. The files written are the same either way.

    Returns
    -------
    FolderReport
        ``written``, ``skipped``, ``failed`` (``(relative path, reason)`` for corrupt or
        unreadable files, mismatched masks...; the others are still written),
        ``seconds`` and per-file ``results``.

    Raises
    ------
    ValueError
        Bad folders (missing ``src``, ``dst`` equal to or inside ``src``...), size or method.

    Notes
    -----
    Sources are only ever read. Every output goes through :func:`labelprep.io.atomic_open`
    (a hidden temporary file, every byte checked, fsync, then renamed into place) and
    :class:`labelprep.io.OutputTree` (no write through a symlink out of ``dst`` or into
    a source: such files fail alone, with the reason). Temporary files that a killed run
    left in ``dst`` and ``masks_out`` are removed first (``FolderReport.removed``).
    Corrupt or truncated sources fail alone; the others are written.

    See Also
    --------
    image : one image.
    mask : one segmentation mask, never interpolated.
    """
    t0 = time.perf_counter()
    size = _check_size(size)
    if method not in MASK_METHODS:
        raise ValueError(f"method must be one of {MASK_METHODS}, got {method!r}")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    (src_p, dst_p, masks_p, masks_out_p), trees, scans = _check_folders(
        src, dst, masks, masks_out)
    jobs, missing = _plan(src_p, dst_p, masks_p, masks_out_p, size, upscale, method, trees,
                          scans)
    out = FolderReport(missing_masks=missing)
    out.removed = remove_stale_temporaries([p for p in (dst_p, masks_out_p) if p is not None])
    journal = Journal(dst_p / presize.JOURNAL_NAME, {"size": size, "upscale": upscale,
                                                     "method": method, "masks": masks_out_p})
    by_rel: dict[Path, FileResult] = {}
    by_key = {j.rel.as_posix(): j for j in jobs}
    todo = []
    for job in jobs:
        info = None if overwrite or job.error else journal.done(
            job.rel.as_posix(), job.sources, job.outputs)
        if info is None:
            todo.append(job)
        else:
            by_rel[job.rel] = FileResult(
                job.rel, "skipped", job.dst, job.mask_src, job.mask_dst,
                input_shape=tuple(info.get("in", ())), output_shape=tuple(info.get("out", ())))
    report(progress, len(by_rel), len(jobs))

    def on_done(results: list[FileResult]) -> None:
        for r in results:
            by_rel[r.source] = r
            if r.status == "written":  # its outputs are complete: resume may trust them
                job = by_key[r.source.as_posix()]
                with contextlib.suppress(OSError):
                    journal.record(r.source.as_posix(), job.sources, job.outputs,
                                   {"in": r.input_shape, "out": r.output_shape})
        report(progress, len(by_rel), len(jobs))

    try:
        _execute(todo, int(workers), scheduler, on_done, executor)
    finally:
        if not presize.DURABLE and todo:
            os.sync()  # one flush for the whole run instead of one fsync per file
        journal.compact()
    out.results = [by_rel[j.rel] for j in jobs]
    for r in out.results:
        if r.status == "written":
            out.written += 1
        elif r.status == "skipped":
            out.skipped += 1
        else:
            out.failed.append((r.source, r.reason or "unknown error"))
    out.seconds = time.perf_counter() - t0
    return out
