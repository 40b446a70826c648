"""The unit of work of a folder run: one image and its mask, presized into a FileResult.

Module-level and picklable, so process pools and dask workers can run it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ImageReadError, OutputPathError
from ..io import OutputTree, image_size
from ._read import _FileError
from ._write import _presize_image_file, _presize_mask_file


@dataclass
class FileResult:
    """What happened to one source image (and its mask) in :func:`folder`."""

    source: Path
    """Path of the source image relative to ``src``."""
    status: Literal["written", "skipped", "failed"]
    output: Path | None = None
    mask: Path | None = None
    """Absolute path of the paired mask, if any."""
    mask_output: Path | None = None
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    reason: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class _Job:
    rel: Path
    src: Path
    dst: Path
    mask_src: Path | None
    mask_dst: Path | None
    size: Any
    upscale: bool
    method: str
    error: str | None = None
    tree: OutputTree | None = None
    mask_tree: OutputTree | None = None

    @property
    def sources(self) -> list[Path]:
        return [self.src] + ([self.mask_src] if self.mask_src is not None else [])

    @property
    def outputs(self) -> list[Path]:
        return [self.dst] + ([self.mask_dst] if self.mask_dst is not None else [])


def _run_job(job: _Job) -> FileResult:
    """Presize one image (and its mask): the unit of work of a process or dask worker."""
    t0 = time.perf_counter()
    result = FileResult(job.rel, "failed", job.dst, job.mask_src, job.mask_dst)
    try:
        if job.error:
            raise _FileError(job.error)
        if job.mask_src is not None:
            # check the pair before writing anything
            image_hw = image_size(job.src)
            mask_hw = image_size(job.mask_src)
            if mask_hw != image_hw:
                raise _FileError(
                    f"mask {job.mask_src.name} has shape {mask_hw} but the image "
                    f"has shape {image_hw} (after EXIF orientation)"
                )
        in_hw, out_hw = _presize_image_file(job.src, job.dst, job.size, job.upscale, job.tree)
        if job.mask_src is not None:
            _presize_mask_file(
                job.mask_src, job.mask_dst, in_hw, job.size, job.upscale, job.method,  # type: ignore[arg-type]
                job.mask_tree,
            )
        result.status, result.input_shape, result.output_shape = "written", in_hw, out_hw
    except _FileError as exc:
        result.reason = str(exc)
    except (ImageReadError, OutputPathError) as exc:
        result.reason = getattr(exc, "reason", None) or str(exc)
    except OSError as exc:  # an output that could not be written (full disk, ...)
        result.reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
        result.reason = f"{type(exc).__name__}: {exc}"
    finally:
        result.seconds = time.perf_counter() - t0
    return result


def _run_chunk(jobs: list[_Job]) -> list[FileResult]:
    return [_run_job(job) for job in jobs]
