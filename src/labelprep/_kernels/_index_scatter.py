"""Pass 2 of the index build (:mod:`.index`): :func:`scatter_rows` writes each voxel's
raveled index into its label's slots and gathers bounding boxes and coordinate sums (and,
given an image, the intensity sums of :mod:`.measure`); :func:`part_slots` sets up a
part's slots and statistics beforehand and :func:`merge_stats` folds them afterwards."""

from __future__ import annotations

import numba
import numpy as np

# the intensity sums of a build given an image live with the other measurement kernels
from . import measure as _measure
from ._index_keys import CHANGED, DONE, _cache_ids, _is_bg, _key_of, _lookup
from ._index_rows import (
    SEGMENT_WORDS,
    _change_bits,
    _mark_changes,
    _positions_scratch,
    _prefetch,
    _prefetch_ahead,
    _rows_ahead,
    _run_ends,
)

#: Runs up to this long are written by :func:`_write_run` as a fixed number of stores
#: (measured: pass 2 ~10% faster on the blob stack than a loop of the run's length).
SHORT_RUN = 8


@numba.njit(cache=True, nogil=True)
def _write_run(out, q, f, step, n, room):
    """``out[q + j] = f + j * step`` for ``j < n``, writing ``SHORT_RUN`` values instead
    when ``1 < n <= SHORT_RUN <= room`` (``room``: slots the id has left from ``q``).

    Most runs are short (4.6 voxels on average in the benchmark's blob stack), and a
    loop whose length changes from run to run mispredicts its exit nearly every time;
    a fixed count of stores does not. The values past the run land in the id's own
    next slots, which its next runs overwrite (an id's slots fill in order), so only
    correct values remain. A single voxel (most runs of a noisy stack) is one store.
    Measured and not kept: the ``SHORT_RUN`` values as one vector store (1.6x slower on
    blobs, 3x on an i.i.d. random stack) and fixed stores for single voxels too (1.3x
    slower on the random stack). The index is unsigned: with a signed one, each store
    carries a wraparound test and LLVM vectorises the long-run loop as a scatter; now it
    compiles to plain vector stores.
    """
    if n == 1:
        out[q] = f
    elif n <= SHORT_RUN and room >= SHORT_RUN:
        for j in range(SHORT_RUN):
            out[q + np.uint64(j)] = f + j * step
    else:
        for j in range(n):
            out[q + np.uint64(j)] = f + j * step


@numba.njit(inline="always", nogil=True)
def _scatter_run(i, c, e, flat_row, col_cs, coord, col_axis, stats, out, last_slot):
    """Write the voxels ``c <= col < e`` of the current row (coordinates ``coord``) into
    id i's slots of ``out`` and add them to its statistics.

    ``stats[i] = [cursor, end, min_0, max_0, sum_0, min_1, max_1, sum_1, ...]`` (one row
    per id: an object's write cursor, the end of its slots and its statistics share a
    cache line or two). The write starts at ``min(cursor, last_slot)``, so it stays in
    ``out`` even if the stack changed since pass 1 and a cursor ran past its end (a
    bounds test per run instead cost ~10% of the build).

    Inlined into :func:`scatter_rows` by Numba (``inline="always"``): once the write
    moved into :func:`_write_run`, LLVM stopped inlining this function, and a call per
    run made pass 2 ~1.4x slower.
    """
    n = e - c
    p = stats[i, 0]
    f = flat_row + c * col_cs
    _write_run(out, np.uint64(min(p, last_slot)), f, col_cs, n, stats[i, 1] - p)
    stats[i, 0] = p + n
    for k in range(coord.shape[0]):
        if k == col_axis:
            continue
        x = coord[k]
        j = 2 + 3 * k
        stats[i, j] = min(stats[i, j], x)
        stats[i, j + 1] = max(stats[i, j + 1], x)
        stats[i, j + 2] += n * x
    j = 2 + 3 * col_axis
    stats[i, j] = min(stats[i, j], c)
    stats[i, j + 1] = max(stats[i, j + 1], e - 1)
    stats[i, j + 2] += (n * (c + e - 1)) // 2


@numba.njit(cache=True, nogil=True)
def scatter_rows(a, r0, r1, row_dims, row_axes, col_axis, coord0, row_cs, col_cs, flat0,
                 bg, lut, table, shift, stats, out, img=None, ist=None):
    """Pass 2: write each voxel's raveled C index into its label's slots of ``out`` and
    gather each label's bounding box and coordinate sums.

    In plain Python, for every non-background voxel ``v = a[r, c]`` of rows
    ``r0 <= r < r1`` in raster order, ``i = id_of(v)`` (every label was seen by
    :func:`count_rows`)::

        out[stats[i, 0]] = flat_index(r, c)       # stats[i, 0]: the label's write cursor
        stats[i, 0] += 1
        for k, x in enumerate(coordinate_of(r, c)):
            stats[i, 2 + 3 * k] = min(stats[i, 2 + 3 * k], x)    # bbox start
            stats[i, 3 + 3 * k] = max(stats[i, 3 + 3 * k], x)    # bbox end (inclusive)
            stats[i, 4 + 3 * k] += x                             # coordinate sum

    Voxels are taken in runs of equal values along a row (one look-up, one write loop
    and one statistics update per run). Both are kept incrementally: row ``r`` unravels
    over ``row_dims`` onto the original axes ``row_axes``, the column is the original
    axis ``col_axis``, ``coord0`` holds the fixed coordinates of the other axes, and
    ``flat_index(r, c) = flat0 + sum(row_coord[k] * row_cs[k]) + c * col_cs``
    (``row_cs``/``col_cs``: C strides of the stack, in voxels).

    With an intensity image ``img`` (``(voxels, channels)``, raveled like the stack), each
    run's intensities are also added to the id's sums ``ist[i]`` (see
    ``labelprep._kernels.measure.FUSED_N``), and each segment's image lines under objects
    are prefetched before its runs are visited; without (the default), Numba compiles the
    scan without that code.

    ``out`` has ``ncols`` spare slots at its end. Returns ``DONE``, or ``CHANGED`` (at
    once) if a value is not in the tables: the stack was modified between the passes.
    So does a label with more or fewer voxels than pass 1 counted: its cursor ends past
    or short of its end ``stats[i, 1]``, which the caller checks after the pass.
    """
    ncols = a.shape[1]
    nra = row_dims.shape[0]
    coord = coord0.copy()
    rem = r0
    flat_row = flat0
    for k in range(nra - 1, -1, -1):
        x = rem % row_dims[k]
        rem //= row_dims[k]
        coord[row_axes[k]] = x
        flat_row += x * row_cs[k]
    bits = _change_bits(ncols)
    nwords = bits.shape[0]
    pos = _positions_scratch(nwords)
    ahead = _rows_ahead(a)
    cache = _cache_ids(table)
    last_key = np.uint64(0)
    last_id = np.int64(-1)
    last_slot = out.shape[0] - ncols
    if ist is not None:  # the image as one flat array, read at unsigned indices (no
        flat_img = img.reshape(img.size)  # wraparound test per value)
        nch = np.uint64(img.shape[1])
        ustep = np.uint64(col_cs) * nch
        usize = np.uint64(img.size)
    for r in range(r0, r1):
        row = a[r]
        _prefetch_ahead(a, r, ahead)
        _mark_changes(row, bits)
        start = 0
        for w in range(0, nwords, SEGMENT_WORDS):
            count = _run_ends(bits, w, min(w + SEGMENT_WORDS, nwords), ~np.uint64(0), pos)
            if ist is not None:  # ask for the image lines of the segment's objects at once
                s0 = start
                for t in range(count):
                    if not _is_bg(row[s0], bg):
                        _prefetch(img, flat_row + s0 * col_cs, 0)
                        _prefetch(img, flat_row + (pos[t] - 1) * col_cs, 0)
                    s0 = pos[t]
            for t in range(count):
                c = pos[t]
                v = row[start]
                if not _is_bg(v, bg):
                    key = _key_of(v)
                    if cache and last_id >= 0 and key == last_key:
                        i = last_id
                    else:
                        i = _lookup(key, lut, table, shift)
                        if i < 0:
                            return CHANGED
                        last_key = key
                        last_id = i
                    _scatter_run(i, start, c, flat_row, col_cs, coord, col_axis, stats, out,
                                 last_slot)
                    if ist is not None:  # pruned by Numba without an image
                        # the run's intensities, shifted by the object's first value
                        # (see _measure.FUSED_N; inline: see there why)
                        c0, e0 = start, c
                        f0 = flat_row + start * col_cs
                        nax = ist.shape[2] - _measure.FUSED_W
                        n = e0 - c0
                        for ch in range(img.shape[1]):
                            q = np.uint64(f0) * nch + np.uint64(ch)
                            if ist[i, ch, _measure.FUSED_N] == 0.0:
                                first = np.float64(flat_img[q])
                                ist[i, ch, _measure.FUSED_K] = first
                                ist[i, ch, _measure.FUSED_MIN] = first
                                ist[i, ch, _measure.FUSED_MAX] = first
                            k0 = ist[i, ch, _measure.FUSED_K]
                            mn = ist[i, ch, _measure.FUSED_MIN]
                            mx = ist[i, ch, _measure.FUSED_MAX]
                            a1 = 0.0  # sum(d) over the run, d = v - K
                            a2 = 0.0  # sum(d ** 2)
                            aj = 0.0  # sum(d * j), j = col - c0
                            if n <= _measure.RUN_BLOCK and \
                                    q + np.uint64(_measure.RUN_BLOCK - 1) * ustep < usize:
                                # masked past the run (see _measure.RUN_BLOCK)
                                for j in range(_measure.RUN_BLOCK):
                                    keep = j < n
                                    v = np.float64(flat_img[q + np.uint64(j) * ustep])
                                    d = v - k0 if keep else 0.0
                                    a1 += d
                                    a2 += d * d
                                    aj += d * np.float64(j)
                                    lo = v if keep else mn
                                    hi = v if keep else mx
                                    mn = lo if lo < mn else mn
                                    mx = hi if hi > mx else mx
                            else:
                                for j in range(n):
                                    v = np.float64(flat_img[q + np.uint64(j) * ustep])
                                    d = v - k0
                                    a1 += d
                                    a2 += d * d
                                    aj += d * np.float64(j)
                                    mn = v if v < mn else mn
                                    mx = v if v > mx else mx
                            if a1 != a1:  # a NaN (or inf - inf): look for a NaN
                                for j in range(n):
                                    v = np.float64(flat_img[q + np.uint64(j) * ustep])
                                    if v != v:
                                        ist[i, ch, _measure.FUSED_NAN] = 1.0
                            fn = np.float64(n)
                            rs = a1 + fn * k0  # sum(v)
                            # sum(v * col) = sum((d + K) * (c0 + j))
                            wc = aj + np.float64(c0) * a1 + k0 * (
                                fn * np.float64(c0) + 0.5 * fn * (fn - 1.0))
                            ist[i, ch, _measure.FUSED_N] += n
                            ist[i, ch, _measure.FUSED_S1] += a1
                            ist[i, ch, _measure.FUSED_S2] += a2
                            ist[i, ch, _measure.FUSED_MIN] = mn
                            ist[i, ch, _measure.FUSED_MAX] = mx
                            for k in range(nax):
                                if k == col_axis:
                                    ist[i, ch, _measure.FUSED_W + k] += wc
                                else:
                                    ist[i, ch, _measure.FUSED_W + k] += rs * np.float64(coord[k])

                start = c
        k = nra - 1
        while k >= 0:
            ax = row_axes[k]
            coord[ax] += 1
            flat_row += row_cs[k]
            if coord[ax] < row_dims[k]:
                break
            flat_row -= coord[ax] * row_cs[k]
            coord[ax] = 0
            k -= 1
    return DONE


@numba.njit(cache=True, nogil=True)
def part_slots(stats, rows, counts, acc):
    """Set up a part's rows of statistics for pass 2: id ``i`` (merged row ``rows[i]``,
    ``counts[i]`` voxels in this part) gets the slots ``acc[rows[i]]`` onward as its
    write cursor and end (``acc`` advances past them, so the next part's slots follow)
    and empty boxes and zero sums (``[cursor, end, min_0, max_0, sum_0, ...]``)."""
    big = np.iinfo(np.int64).max
    for i in range(stats.shape[0]):
        r = rows[i]
        stats[i, 0] = acc[r]
        acc[r] += counts[i]
        stats[i, 1] = acc[r]
        for j in range(2, stats.shape[1], 3):
            stats[i, j] = big
            stats[i, j + 1] = -1
            stats[i, j + 2] = 0


@numba.njit(cache=True, nogil=True)
def merge_stats(bboxes, sums, rows, src, first):
    """Fold a part's statistics ``src`` (see :func:`part_slots`) into the results: for
    each id ``i``, ``bboxes[rows[i], k]`` becomes the union of ``[start, stop)`` along
    axis ``k`` and ``sums[rows[i], k]`` adds its coordinate sum, for ``k < ndim`` (a
    1D stack's extra slot, its dummy row axis, is ignored). For the ``first`` part,
    every row of ``bboxes`` and ``sums`` is emptied first (they may be uninitialised)."""
    ndim = bboxes.shape[1]
    if first:
        big = np.iinfo(np.int64).max
        for r in range(bboxes.shape[0]):
            for k in range(ndim):
                bboxes[r, k, 0] = big
                bboxes[r, k, 1] = 0
                sums[r, k] = 0
    for i in range(src.shape[0]):
        r = rows[i]
        for k in range(ndim):
            j = 2 + 3 * k
            bboxes[r, k, 0] = min(bboxes[r, k, 0], src[i, j])
            bboxes[r, k, 1] = max(bboxes[r, k, 1], src[i, j + 1] + 1)
            sums[r, k] += src[i, j + 2]
