"""napari reader and writer for multi-class RLE files (*.rle.json)."""

from __future__ import annotations


def get_rle_reader(path):
    """Not yet available: returns None so napari falls back to other readers."""
    return None


def write_labels_rle(path, data, meta):
    """Not yet available: writes nothing and tells napari so."""
    return []
