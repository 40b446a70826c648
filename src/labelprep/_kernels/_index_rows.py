"""Row scanning helpers of the index build's passes (:mod:`.index`).

Prefetching the rows ahead of the scan (:func:`_prefetch_ahead`, also used by the
measurement kernels), marking where runs of equal values end in a row
(:func:`_mark_changes`: one bit per column) and listing those run ends as column
numbers (:func:`_run_ends`), so that both passes go from one run to the next.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic, overload

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
