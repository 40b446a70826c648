"""Exceptions shared by the core modules."""

from __future__ import annotations


class InputChangedError(RuntimeError):
    """An array was modified while a function was reading it (e.g. a napari layer painted
    on during a build in a worker thread): its passes over the array disagree, so the
    result is refused rather than returned half-old, half-new. Run it again once the
    array is no longer being edited, or on a copy."""
