"""Numba kernels of the per-label voxel index (:mod:`labelprep.index`).

The build is a two-pass counting sort over a labelled stack seen as a 2D array of rows
(all axes but the innermost scanned one, merged) by columns. Both passes walk each row
in *runs* of equal values, so a blob that covers 20 consecutive voxels costs one table
look-up and one update instead of 20: pass 1 counts the voxels of each label, pass 2
writes them into place and gathers the bounding boxes and centroids.

Label values reach the kernels as unsigned integers (signed stacks are viewed as the
unsigned type of the same width, so the bit pattern is the key) or as floats (checked
to be whole numbers, then keyed by their int64 value). A key is mapped to a dense
*id* (order of first appearance) by a direct look-up table indexed by the key when it
is small (every key of an 8/16-bit stack; labels below 2**17 of wider ones, such as
connected-component labels 1..N) and otherwise by an open-addressing hash table with
linear probing, so memory stays O(objects) whatever the label values. All large arrays
are allocated by the caller with NumPy, so ``tracemalloc`` sees them; the kernels only
allocate row-sized scratch (one bit per column, and the positions of up to 4096 run ends).

The kernels live in five modules of this package, re-exported here (the build,
``labelprep._index_build``, uses them as ``_kernels.index.<name>``):

- ``_index_keys``: keys and ids (the direct and hash tables, return codes, ``rehash``);
- ``_index_rows``: row scanning (prefetching rows ahead, marking and listing run ends);
- ``_index_count``: pass 1, ``count_rows``;
- ``_index_scatter``: pass 2, ``scatter_rows``, with ``part_slots`` and ``merge_stats``;
- ``_index_segments``: kernels on the index's CSR segments (``sort_segments``,
  ``check_segments``, ``unravel``, ``paint``, ``format_coords_csv``, ``segment_stats``).
"""

from __future__ import annotations

from ._index_count import count_rows
from ._index_keys import (
    _GOLDEN,
    CHANGED,
    DONE,
    GROW,
    HASH,
    NOT_INTEGRAL,
    _cache_ids,
    _insert,
    _is_bg,
    _key_of,
    _lookup,
    _lut_insert,
    _not_integral,
    rehash,
)
from ._index_rows import (
    PREFETCH_BYTES,
    PREFETCH_MIN_ROW_BYTES,
    SEGMENT_WORDS,
    _change_bits,
    _changes64,
    _mark_changes,
    _mark_contiguous,
    _popcount,
    _positions_scratch,
    _prefetch,
    _prefetch_ahead,
    _rows_ahead,
    _run_ends,
)
from ._index_scatter import (
    SHORT_RUN,
    _scatter_run,
    _write_run,
    merge_stats,
    part_slots,
    scatter_rows,
)
from ._index_segments import (
    check_segments,
    format_coords_csv,
    paint,
    segment_stats,
    sort_segments,
    unravel,
)

# every kernel and constant this module held before its split, for its importers
__all__ = [
    "count_rows",
    "_GOLDEN",
    "CHANGED",
    "DONE",
    "GROW",
    "HASH",
    "NOT_INTEGRAL",
    "_cache_ids",
    "_insert",
    "_is_bg",
    "_key_of",
    "_lookup",
    "_lut_insert",
    "_not_integral",
    "rehash",
    "PREFETCH_BYTES",
    "PREFETCH_MIN_ROW_BYTES",
    "SEGMENT_WORDS",
    "_change_bits",
    "_changes64",
    "_mark_changes",
    "_mark_contiguous",
    "_popcount",
    "_positions_scratch",
    "_prefetch",
    "_prefetch_ahead",
    "_rows_ahead",
    "_run_ends",
    "SHORT_RUN",
    "_scatter_run",
    "_write_run",
    "merge_stats",
    "part_slots",
    "scatter_rows",
    "check_segments",
    "format_coords_csv",
    "paint",
    "segment_stats",
    "sort_segments",
    "unravel",
]
