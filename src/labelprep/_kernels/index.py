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
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic, overload

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier (2**64 / phi)

#: count_rows / scatter_rows return codes
DONE, GROW, NOT_INTEGRAL, HASH, CHANGED = 0, 1, 2, 3, 4


# The helpers below are specialised at compile time on their argument *types* (via
# ``numba.extending.overload``): float or integer labels, a background value or None.
# A run-time flag tested in the hot
# loop instead made the build several times slower. Each plain-Python body says what
# the compiled version computes.
def _key_of(v):
    """The table key of a label value: its unsigned bits, or its int64 value for floats."""
    if isinstance(v, (float, np.floating)):
        return np.uint64(np.int64(v))
    return np.uint64(v)


@overload(_key_of, jit_options={"nogil": True})
def _key_of_impl(v):
    if isinstance(v, types.Float):
        return lambda v: np.uint64(np.int64(v))
    return lambda v: np.uint64(v)


def _not_integral(v):
    """True if ``v`` is a float that is not a whole number within the int64 range."""
    if isinstance(v, (float, np.floating)):
        return v != np.floor(v) or not (-9.2e18 < v < 9.2e18)
    return False


@overload(_not_integral, jit_options={"nogil": True})
def _not_integral_impl(v):
    if isinstance(v, types.Float):
        return lambda v: v != np.floor(v) or not (-9.2e18 < v < 9.2e18)
    return lambda v: False


def _is_bg(v, bg):
    """``v == bg``, always False when there is no background (``bg is None``)."""
    return bg is not None and v == bg


@overload(_is_bg, jit_options={"nogil": True})
def _is_bg_impl(v, bg):
    if isinstance(bg, (types.NoneType, types.Omitted)):
        return lambda v, bg: False
    return lambda v, bg: v == bg


def _insert(key, lut, table, shift, keys, state):
    """The id of ``key``, giving it the next id ``state[0]`` if it is new.

    Keys below ``len(lut)`` use the direct look-up table: ``lut[key]`` is the id or -1
    (every key of an 8/16-bit stack; small labels, the common case, of wider ones).
    Larger keys use ``table``, an open-addressing hash table of ``(key, id + 1)`` rows
    with linear probing from slot ``(key * golden) >> shift`` (``id + 1 == 0``: empty)
    holding ``state[3]`` keys. Returns -1 (and changes nothing) when a new id would
    exceed ``len(keys)`` or fill the hash table beyond half; -2 for a large key when
    ``table`` is None (the caller then retries with a hash table).
    """
    if key < len(lut):
        if lut[key] < 0:
            if state[0] == len(keys):
                return -1
            lut[key] = state[0]
            keys[state[0]] = key
            state[0] += 1
        return int(lut[key])
    if table is None:
        return -2
    for k, id1 in table:  # (in probing order in the real thing)
        if id1 != 0 and k == key:
            return int(id1) - 1
    if state[0] == len(keys) or 2 * (state[3] + 1) > len(table):
        return -1
    slot = next(j for j in range(len(table)) if table[j, 1] == 0)
    table[slot] = (key, state[0] + 1)
    keys[state[0]] = key
    state[0] += 1
    state[3] += 1
    return int(state[0] - 1)


@numba.njit(inline="always", nogil=True)
def _lut_insert(key, lut, keys, state):
    """The id of a ``key < len(lut)`` from the direct table, giving it the next id if it
    is new; -1 (nothing changed) when ``keys`` is full."""
    i = np.int64(lut[key])
    if i >= 0:
        return i
    n = state[0]
    if n == keys.shape[0]:
        return np.int64(-1)
    lut[key] = n
    keys[n] = key
    state[0] = n + 1
    return n


@overload(_insert, jit_options={"nogil": True})
def _insert_impl(key, lut, table, shift, keys, state):
    # Two versions: with ``table=None`` the hot loop holds only the direct look-up (the
    # hash probing loop alone, even never run, made the whole scan ~30% slower).
    def lut_insert(key, lut, table, shift, keys, state):
        if key >= np.uint64(lut.shape[0]):
            return np.int64(-2)
        return _lut_insert(key, lut, keys, state)

    if isinstance(table, (types.NoneType, types.Omitted)):
        return lut_insert

    def hybrid_insert(key, lut, table, shift, keys, state):
        if key < np.uint64(lut.shape[0]):
            return _lut_insert(key, lut, keys, state)
        mask = table.shape[0] - 1
        h = np.int64((key * _GOLDEN) >> shift)
        while True:
            t = table[h, 1]
            if t == 0:
                n = state[0]
                if n == keys.shape[0] or 2 * (state[3] + 1) > table.shape[0]:
                    return np.int64(-1)
                table[h, 0] = key
                table[h, 1] = n + 1
                keys[n] = key
                state[0] = n + 1
                state[3] += 1
                return n
            if table[h, 0] == key:
                return np.int64(t) - 1
            h = (h + 1) & mask
    return hybrid_insert


def _lookup(key, lut, table, shift):
    """The id of ``key`` in the tables (see :func:`_insert`), or -1 if it is not there
    (the stack changed since pass 1); ``table`` is None when every key seen was below
    ``len(lut)``."""
    if key < len(lut):
        return int(lut[key])
    if table is None:
        return -1
    return next((int(id1) - 1 for k, id1 in table if id1 != 0 and k == key), -1)


@overload(_lookup, jit_options={"nogil": True})
def _lookup_impl(key, lut, table, shift):
    def lut_lookup(key, lut, table, shift):
        if key >= np.uint64(lut.shape[0]):
            return np.int64(-1)
        return np.int64(lut[key])

    if isinstance(table, (types.NoneType, types.Omitted)):
        return lut_lookup

    def hybrid_lookup(key, lut, table, shift):
        if key < np.uint64(lut.shape[0]):
            return np.int64(lut[key])
        mask = table.shape[0] - 1
        h = np.int64((key * _GOLDEN) >> shift)
        while True:
            t = table[h, 1]
            if t == 0:
                return np.int64(-1)
            if table[h, 0] == key:
                return np.int64(t) - 1
            h = (h + 1) & mask
    return hybrid_lookup


def _cache_ids(table):
    """Whether the scans reuse the previous run's id when its key repeats: worth it when
    ids come from the hash table; with only the direct table a look-up is one read, and
    the extra comparison would mispredict whenever labels alternate."""
    return table is not None


@overload(_cache_ids, jit_options={"nogil": True})
def _cache_ids_impl(table):
    if isinstance(table, (types.NoneType, types.Omitted)):
        return lambda table: False
    return lambda table: True


#: How far ahead of the scan :func:`_prefetch_ahead` asks for rows, in bytes (at least
#: one row): the hardware prefetcher alone left each pass ~10-15% slower (measured).
PREFETCH_BYTES = 8192
#: Rows shorter than this are left to the hardware prefetcher (a prefetch per row cost
#: more than it saved on rows of a few voxels; such scans are plain streams).
PREFETCH_MIN_ROW_BYTES = 256


@intrinsic
def _prefetch(typingctx, arr, r, c):
    """Hint that ``arr[r, c]`` will soon be read (LLVM ``llvm.prefetch`` into the L2
    cache level: x86 ``PREFETCHT1``, so that a long row fetched ahead cannot evict the
    row being scanned from L1). A prefetch never faults: no bounds check is needed."""
    sig = types.void(arr, r, c)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1], args[2]],
                                       wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        # read (0), locality 2 (L2 and below), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0),
                          ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _rows_ahead(a):
    """How many rows ahead of the current one :func:`_prefetch_ahead` fetches (0: none,
    the rows are too short to be worth it)."""
    row_bytes = a.shape[1] * a.itemsize
    if row_bytes < PREFETCH_MIN_ROW_BYTES:
        return 0
    return max(1, (PREFETCH_BYTES + row_bytes - 1) // row_bytes)


@numba.njit(inline="always", nogil=True)
def _prefetch_ahead(a, r, ahead):
    """Ask for every cache line of row ``r + ahead`` of the 2D array ``a`` (if there is
    one and ``ahead > 0``), so that memory is read while the current row is worked on."""
    r += ahead
    if ahead > 0 and r < a.shape[0]:
        step = max(1, 64 // max(1, abs(a.strides[1])))
        for c in range(0, a.shape[1], step):
            _prefetch(a, r, c)


@numba.njit(cache=True, nogil=True)
def _change_bits(ncols):
    """Scratch for :func:`_mark_changes`: one bit per column and one past the last."""
    return np.zeros((ncols + 64) >> 6, np.uint64)


@intrinsic
def _changes64(typingctx, row, base):
    """The 64-bit mask of ``row[base + j] != row[base + j - 1]`` (bit ``j``, ``0 <= j <
    64``) of a contiguous ``row``, for ``1 <= base`` and ``base + 64 <= len(row)`` (not
    checked). Two unaligned 64-element vector loads and one vector compare whose
    64 one-bit lanes are the mask (on AVX-512: four compares straight into mask
    registers). Numba's own vectorisation of the loop in :func:`_mark_changes` ORs 64
    shifted bits together: marking every row of the benchmark's blob stack took 27 ms
    with it and 24 ms with this on 2 threads (reading the stack alone: 18 ms)."""
    sig = types.uint64(row, base)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]],
                                       wraparound=False)
        vec = ir.VectorType(context.get_value_type(aryty.dtype), 64).as_pointer()
        prev = builder.gep(ptr, [ir.Constant(ir.IntType(64), -1)])
        cur = builder.load(builder.bitcast(ptr, vec), align=1)
        before = builder.load(builder.bitcast(prev, vec), align=1)
        if isinstance(aryty.dtype, types.Float):  # as ``!=`` on floats: -0.0 == 0.0
            ne = builder.fcmp_unordered("!=", cur, before)
        else:
            ne = builder.icmp_unsigned("!=", cur, before)
        return builder.bitcast(ne, ir.IntType(64))

    return sig, codegen


def _mark_contiguous(row, bits):
    """:func:`_mark_changes` by 64-wide vector compares (:func:`_changes64`) only, for a
    contiguous row of at least 65 values; returns False (and does nothing) otherwise.

    The first word compares ``row[1:65]`` with ``row[0:64]`` (shifted up one bit: column
    0 never ends a run); the last, partial word compares the 64 values that end the
    row and shifts off those that belong to the word before. Without this, those two
    words of each row took a 64-step loop each: ~20% of marking a 700-column row.
    """
    return False


@overload(_mark_contiguous, jit_options={"nogil": True})
def _mark_contiguous_impl(row, bits):
    if not (isinstance(row, types.Array) and row.layout == "C"):
        return lambda row, bits: False  # rows of a strided view: the loop handles them

    def vector(row, bits):
        n = row.shape[0]
        if n < 65:
            return False
        one = np.uint64(1)
        bits[0] = _changes64(row, 1) << one
        for w in range(1, bits.shape[0]):
            base = w << 6
            if base + 64 <= n:
                bits[w] = _changes64(row, base)
            elif base < n:
                tail = _changes64(row, n - 64) >> np.uint64(base + 64 - n)
                bits[w] = tail | (one << np.uint64(n - base))
            else:  # base == n: the word holds only the end of the last run
                bits[w] = one
        return True
    return vector


@numba.njit(cache=True, nogil=True)
def _mark_changes(row, bits):
    """Set bit ``c`` of ``bits`` (bit ``c & 63`` of word ``c >> 6``) where a run ends.

    That is ``row[c] != row[c - 1]`` for ``0 < c < len(row)``, and always ``c = len(row)``
    (the end of the row's last run); every other bit is 0. The scans go from one run
    end to the next (listed by :func:`_run_ends`) instead of testing every voxel with
    a branch that mispredicts at every run end.
    """
    if _mark_contiguous(row, bits):
        return
    n = row.shape[0]
    for w in range(bits.shape[0]):
        base = w << 6
        m = np.uint64(0)
        if base > 0 and base + 64 <= n:  # the common case: no bound to check
            for j in range(64):
                m |= np.uint64(row[base + j] != row[base + j - 1]) << np.uint64(j)
        else:
            for j in range(64):
                c = base + j
                if c > 0 and c < n:
                    m |= np.uint64(row[c] != row[c - 1]) << np.uint64(j)
                elif c == n:
                    m |= np.uint64(1) << np.uint64(j)
        bits[w] = m


@intrinsic
def _popcount(typingctx, x):
    """The number of set bits of an unsigned 64-bit integer (LLVM ``ctpop``)."""
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


#: Words of run-end bits that :func:`_run_ends` lists at a time (4096 columns): the
#: scans' position scratch stays small whatever the row length.
SEGMENT_WORDS = 64


@numba.njit(cache=True, nogil=True)
def _positions_scratch(nwords):
    """Scratch for :func:`_run_ends`: room for every bit of a segment, plus 8."""
    return np.empty(min(nwords, SEGMENT_WORDS) * 64 + 8, np.int64)


@numba.njit(cache=True, nogil=True)
def _run_ends(bits, w0, w1, first_mask, pos):
    """List the set bits of ``bits[w0:w1]`` (the first word ANDed with ``first_mask``)
    as ascending column numbers in ``pos``; return how many.

    The scans then walk one list per row instead of each word's bits in turn, whose
    loop exit (after a varying number of bits) mispredicted once per word. Positions
    are written 8 at a time whatever the word holds (the extra ones are overwritten or
    past the count), so a word with up to 8 run ends costs no data-dependent branch.
    Measured (paired builds in one process): ~8% faster on the blob stack (pass 1
    ~13%, pass 2 ~7%), ~7% slower on the i.i.d. random stack, where nearly every voxel
    ends a run and listing them is extra work; segmentations look like the former.
    """
    cnt = 0
    one = np.uint64(1)
    for w in range(w0, w1):
        m = bits[w]
        if w == w0:
            m &= first_mask
        base = w << 6
        k = cnt
        cnt += _popcount(m)
        while True:
            for j in range(8):
                pos[k + j] = base + np.int64(trailing_zeros(m))  # 64 past the last bit
                m &= m - one
            k += 8
            if k >= cnt:
                break
    return cnt


@numba.njit(cache=True, nogil=True)
def count_rows(a, r0, c0, r1, bg, lut, table, shift, keys, counts, state):
    """Pass 1: give each label an id and count its voxels.

    In plain Python, for every voxel ``v = a[r, c]`` from ``(r0, c0)`` up to row ``r1``
    (raster order) that is not the background::

        counts[id_of(v)] += 1             # a new label gets the next id, state[0]

    Voxels are taken in runs of equal values along a row: one look-up per run.

    The number of ids so far lives in ``state[0]`` (of hashed keys in ``state[3]``).
    Returns ``DONE``; or ``GROW`` when a new label does not fit in ``keys``/``counts``
    (capacity ``len(keys)``) or the hash table, or ``HASH`` when a key needs the hash
    table and ``table`` is None, with the voxel to resume from in ``state[1:3]``; or
    ``NOT_INTEGRAL`` for a float value that is not a whole number (its position in
    ``state[1:3]``).
    """
    ncols = a.shape[1]
    bits = _change_bits(ncols)
    nwords = bits.shape[0]
    pos = _positions_scratch(nwords)
    ahead = _rows_ahead(a)
    cache = _cache_ids(table)
    last_key = np.uint64(0)
    last_id = np.int64(-1)
    start = c0
    for r in range(r0, r1):
        row = a[r]
        _prefetch_ahead(a, r, ahead)
        _mark_changes(row, bits)
        w = start >> 6
        # resuming inside the row: no run end at or before start
        first_mask = ~np.uint64(1) << np.uint64(start & 63)
        while w < nwords:
            w1 = min(w + SEGMENT_WORDS, nwords)
            count = _run_ends(bits, w, w1, first_mask, pos)
            first_mask = ~np.uint64(0)
            w = w1
            for t in range(count):
                c = pos[t]
                v = row[start]  # the run start..c holds v
                if not _is_bg(v, bg):
                    if _not_integral(v):
                        state[1] = r
                        state[2] = start
                        return NOT_INTEGRAL
                    key = _key_of(v)
                    if cache and last_id >= 0 and key == last_key:
                        i = last_id
                    else:
                        i = _insert(key, lut, table, shift, keys, state)
                        if i < 0:
                            state[1] = r
                            state[2] = start
                            return GROW if i == -1 else HASH
                        last_key = key
                        last_id = i
                    counts[i] += c - start
                start = c
        start = 0
    return DONE


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


@numba.njit(cache=True, nogil=True)
def rehash(keys, n, lut_size, table, shift):
    """Insert each ``keys[i] >= lut_size`` (id ``i < n``) into an empty (all-zero) hash table."""
    mask = table.shape[0] - 1
    for i in range(n):
        key = keys[i]
        if key < np.uint64(lut_size):
            continue
        h = np.int64((key * _GOLDEN) >> shift)
        while table[h, 1] != 0:
            h = (h + 1) & mask
        table[h, 0] = key
        table[h, 1] = i + 1


@numba.njit(cache=True, nogil=True)
def sort_segments(values, offsets, i0, i1):
    """``values[offsets[i]:offsets[i+1]].sort()`` for each ``i0 <= i < i1`` (in place)."""
    for i in range(i0, i1):
        s = offsets[i]
        e = offsets[i + 1]
        ordered = True
        for j in range(s + 1, e):
            if values[j] < values[j - 1]:
                ordered = False
                break
        if not ordered:
            values[s:e].sort()


@numba.njit(cache=True, nogil=True)
def check_segments(values, offsets, size):
    """True if each ``values[offsets[i]:offsets[i+1]]`` is strictly ascending and < size."""
    for i in range(offsets.shape[0] - 1):
        s = offsets[i]
        e = offsets[i + 1]
        for j in range(s, e):
            if np.int64(values[j]) >= size:
                return False
            if j > s and values[j] <= values[j - 1]:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def unravel(flat, shape, out):
    """``out[i, :] = np.unravel_index(flat[i], shape)`` for each ``i``.

    ``out`` may be any (n, ndim) view (pass ``out2.T`` for ``np.where``-style rows).
    Runs of consecutive indices along the last axis (common: indices are ascending
    within an object) are unravelled by incrementing the previous row.
    """
    ndim = shape.shape[0]
    n = flat.shape[0]
    last = shape[ndim - 1]
    prev = np.int64(-2)
    for i in range(n):
        f = np.int64(flat[i])
        if f == prev + 1 and out[i - 1, ndim - 1] + 1 < last:
            for ax in range(ndim - 1):
                out[i, ax] = out[i - 1, ax]
            out[i, ndim - 1] = out[i - 1, ndim - 1] + 1
        else:
            r = f
            for ax in range(ndim - 1, -1, -1):
                d = shape[ax]
                q = r // d
                out[i, ax] = r - q * d
                r = q
        prev = f


@numba.njit(cache=True, nogil=True)
def paint(out_flat, voxel_indices, offsets, values):
    """``out_flat[voxel_indices[offsets[i]:offsets[i+1]]] = values[i]`` for each ``i``."""
    for i in range(values.shape[0]):
        val = values[i]
        for j in range(offsets[i], offsets[i + 1]):
            out_flat[voxel_indices[j]] = val


@numba.njit(cache=True, nogil=True)
def format_coords_csv(voxel_indices, starts, stops, pre_start, pre_stop, prefixes,
                      shape, buf):
    """Write CSV rows ``<prefix><c0>,<c1>,...\\n`` into ``buf``; return the byte count.

    For each segment ``s`` and each ``j`` in ``range(starts[s], stops[s])``, the row is
    ``prefixes[pre_start[s]:pre_stop[s]]`` (e.g. ``b"17,"``) followed by the decimal
    coordinates of ``np.unravel_index(voxel_indices[j], shape)``.
    """
    ndim = shape.shape[0]
    coord = np.zeros(ndim, np.int64)
    digits = np.empty(24, np.uint8)
    pos = 0
    for s in range(starts.shape[0]):
        p0 = pre_start[s]
        p1 = pre_stop[s]
        for j in range(starts[s], stops[s]):
            for q in range(p0, p1):
                buf[pos] = prefixes[q]
                pos += 1
            r = np.int64(voxel_indices[j])
            for ax in range(ndim - 1, -1, -1):
                d = shape[ax]
                q = r // d
                coord[ax] = r - q * d
                r = q
            for ax in range(ndim):
                x = coord[ax]
                nd = 0
                while True:
                    digits[nd] = 48 + x % 10
                    x //= 10
                    nd += 1
                    if x == 0:
                        break
                for t in range(nd - 1, -1, -1):
                    buf[pos] = digits[t]
                    pos += 1
                buf[pos] = 44 if ax < ndim - 1 else 10
                pos += 1
    return pos


@numba.njit(cache=True, nogil=True)
def segment_stats(voxels, offsets, shape, bboxes, sums):
    """Per segment ``i`` of ``voxels``: ``bboxes[i]`` = ``[min, max + 1)`` per axis and
    ``sums[i]`` = the sum of the coordinates (int64), exactly as the index build
    computes them."""
    ndim = shape.shape[0]
    last = shape[ndim - 1]
    c = np.zeros(ndim, dtype=np.int64)
    for i in range(offsets.shape[0] - 1):
        for a in range(ndim):
            bboxes[i, a, 0] = np.iinfo(np.int64).max
            bboxes[i, a, 1] = -1
            sums[i, a] = 0
        prev = np.int64(-2)
        for k in range(offsets[i], offsets[i + 1]):
            f = np.int64(voxels[k])
            if f == prev + 1 and c[ndim - 1] + 1 < last:
                c[ndim - 1] += 1
            else:
                r = f
                for a in range(ndim - 1, -1, -1):
                    d = shape[a]
                    q = r // d
                    c[a] = r - q * d
                    r = q
            prev = f
            for a in range(ndim):
                bboxes[i, a, 0] = min(bboxes[i, a, 0], c[a])
                bboxes[i, a, 1] = max(bboxes[i, a, 1], c[a] + 1)
                sums[i, a] += c[a]


# the intensity sums of a build given an image live with the other measurement kernels
# (imported last: that module imports _prefetch from this one)
from . import measure as _measure  # noqa: E402
