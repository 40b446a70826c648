"""Numba kernels for multi-class run-length encoding (see :mod:`labelprep.rle`).

All positions are flat indices in column-major (Fortran) order: the first axis varies
fastest, as in COCO. Label arrays reach these kernels as unsigned integers of the same
width (signed and bool masks are viewed, not converted): equality is all that matters
for finding runs, and the caller views the values back to the original dtype.

The kernels live in two modules of this package, re-exported here (``labelprep.rle``
uses them as ``_kernels.rle.<name>``):

- ``_rle_runs``: runs in arrays: finding them (``count_changes``, ``column_slots``,
  ``record_changes`` and their flat versions, ``starts_to_counts``) and writing them
  back (``check_counts``, ``min_max``, ``fill_runs``);
- ``_rle_strings``: COCO's compressed strings (``coco_string_encode``,
  ``write_coco_number``, ``coco_string_decode``, ``fill_runs_from_strings``).
"""

from __future__ import annotations

from ._rle_runs import (
    P_BLOCK,
    check_counts,
    column_slots,
    count_changes,
    fill_runs,
    flat_count_changes,
    flat_record_changes,
    min_max,
    record_changes,
    starts_to_counts,
)
from ._rle_strings import (
    BAD_CHAR,
    COCO_FIRST_CHAR,
    COCO_LAST_CHAR,
    OK,
    OVERFLOW,
    TRUNCATED,
    _read_number,
    coco_string_decode,
    coco_string_encode,
    fill_runs_from_strings,
    write_coco_number,
)

__all__ = [
    "BAD_CHAR", "COCO_FIRST_CHAR", "COCO_LAST_CHAR", "OK", "OVERFLOW", "P_BLOCK", "TRUNCATED",
    "_read_number", "check_counts", "coco_string_decode", "coco_string_encode",
    "column_slots", "count_changes", "fill_runs", "fill_runs_from_strings",
    "flat_count_changes", "flat_record_changes", "min_max", "record_changes",
    "starts_to_counts", "write_coco_number",
]
