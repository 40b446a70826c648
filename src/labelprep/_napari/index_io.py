"""napari reader for LabelIndex files (*.npz written by LabelIndex.save)."""

from __future__ import annotations


def get_index_reader(path):
    """Not yet available: returns None so napari falls back to other readers."""
    return None
