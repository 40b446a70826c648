"""Exceptions shared by the core modules."""

from __future__ import annotations


class InputChangedError(RuntimeError):
    """An array was modified while a function was reading it (e.g. a napari layer painted
    on during a build in a worker thread): its passes over the array disagree, so the
    result is refused rather than returned half-old, half-new. Run it again once the
    array is no longer being edited, or on a copy."""


class ImageReadError(ValueError):
    """A file could not be read (corrupt, truncated, not an image, too big for this
    machine); the message names the file and why."""

    def __init__(self, path, reason: str):
        from pathlib import Path

        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read {_shown(self.path)}: {reason}")


class SkippedFileWarning(UserWarning):
    """An input could not be used and was left out of a batch run (e.g. by
    ``PatchSampler(on_error="skip")``); the message names it and the reason, once. The
    run goes on without it."""


class OutputError(OSError):
    """An output could not be written completely (full disk, read-only folder, size
    mismatch...). The target was left as it was; the message names it and the reason."""

    def __init__(self, code: int, message: str, path=None):
        super().__init__(code, message)
        self.path = path

    def __str__(self) -> str:
        return str(self.strerror)


class OutputPathError(ValueError):
    """An output path was refused before any work: wrong extension, missing folder, a
    collision with another output, or a place inside the sources or outside the
    destination (through a symlink). The message names the path and the reason."""


def _shown(path) -> str:
    """A path as text that can always be printed (undecodable bytes escaped)."""
    import os

    return os.fsdecode(os.fsencode(path)).encode("utf-8", "backslashreplace").decode("utf-8")
