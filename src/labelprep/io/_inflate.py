"""Inflating a TIFF's deflate strips into the stack, all of a file's strips in one call.

:func:`inflate_strips` decodes each strip (a zlib stream: libdeflate checks its Adler-32)
into its rows of ``out``, each stream exactly filling them. With libdeflate found (the
copy imagecodecs ships, else the system's), one numba kernel calls it through ctypes
for every strip of the file without taking the GIL back in between. Otherwise each
strip is one ``imagecodecs.deflate_decode`` call (the same libdeflate), which holds the
GIL between strips: with the file's own Python (reading, parsing the IFD) that is enough
to keep a second thread waiting, so a folder read on two cores took about what one
took (0.41 s against 0.19 s for 1000 slices of 700 x 700, ``docs/benchmarks``).

Both give the same pixels and refuse the same streams (corrupt, shorter or longer than
their strip): then the function returns False and the caller leaves the file to tifffile.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import zlib
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["inflate_strips", "native_inflater"]


# libdeflate's functions are called through their addresses, passed in as integers:
# numba would type a ctypes function object on every call (~30 us each, under the GIL),
# and could not cache a kernel that has one as a global.
_WORD = ir.IntType(8 * np.dtype(np.uintp).itemsize)  # size_t and pointers


def _pointer_to(returns, n_args: int):
    return ir.FunctionType(returns, [_WORD] * n_args).as_pointer()


@intrinsic
def _call0(typingctx, fn):  # pragma: no cover - compiled
    """``fn()`` returning a pointer (libdeflate_alloc_decompressor)."""
    def codegen(context, builder, signature, args):
        return builder.call(builder.inttoptr(args[0], _pointer_to(_WORD, 0)), [])
    return types.uintp(types.uintp), codegen


@intrinsic
def _call1(typingctx, fn, a):  # pragma: no cover - compiled
    """``fn(a)`` returning nothing (libdeflate_free_decompressor)."""
    def codegen(context, builder, signature, args):
        builder.call(builder.inttoptr(args[0], _pointer_to(ir.VoidType(), 1)), [args[1]])
        return context.get_dummy_value()
    return types.none(types.uintp, types.uintp), codegen


@intrinsic
def _call6(typingctx, fn, a, b, c, d, e, f):  # pragma: no cover - compiled
    """``fn(a, ..., f)`` returning an int (libdeflate_zlib_decompress)."""
    def codegen(context, builder, signature, args):
        fn_ptr = builder.inttoptr(args[0], _pointer_to(ir.IntType(32), 6))
        return builder.call(fn_ptr, list(args[1:]))
    return types.int32(*([types.uintp] * 7)), codegen


@numba.njit(nogil=True, cache=True)
def _inflate_all(alloc, free, decompress, data, offsets, counts, out,
                 strip_bytes):  # pragma: no cover - compiled
    """Stream i (``data[offsets[i]:][:counts[i]]``) into ``out[i * strip_bytes:]`` (the
    last strip may be shorter), each filling its strip exactly; True if all did."""
    handle = _call0(alloc)
    if handle == 0:
        return False
    ok = True
    src, dst = numba.uintp(data.ctypes.data), numba.uintp(out.ctypes.data)
    zero = numba.uintp(0)
    for i in range(offsets.size):
        start = i * strip_bytes
        size = min(strip_bytes, out.size - start)
        o, c = offsets[i], counts[i]
        if size <= 0 or o <= 0 or c <= 0 or o + c > data.size:
            ok = False
            break
        # no actual-size pointer (0): libdeflate fails unless the stream fills `size`
        if _call6(decompress, handle, src + numba.uintp(o), numba.uintp(c),
                  dst + numba.uintp(start), numba.uintp(size), zero) != 0:
            ok = False
            break
    _call1(free, handle)
    return ok


class _Native:
    """libdeflate's decompressor functions, loaded with ctypes from ``path``."""

    def __init__(self, path: str):
        lib = ctypes.CDLL(path)
        self.path = path
        self.addresses = tuple(
            np.uintp(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value)
            for name in ("libdeflate_alloc_decompressor", "libdeflate_free_decompressor",
                         "libdeflate_zlib_decompress"))

    def __call__(self, data, offsets, counts, out, strip_bytes) -> bool:
        return bool(_inflate_all(*self.addresses, data, offsets, counts, out,
                                 int(strip_bytes)))

    def works(self) -> bool:
        """A stream decodes to its bytes; a corrupt, short or long one is refused."""
        raw = bytes(range(256)) * 64
        good = b"\0" + zlib.compress(raw)
        bad = good[:-1] + bytes([good[-1] ^ 1])  # the Adler-32
        one, size = np.array([1], np.int64), np.array([len(good) - 1], np.int64)

        def decodes(stream: bytes, nbytes: int) -> bool:
            out = np.zeros(nbytes, np.uint8)
            return self(np.frombuffer(stream, np.uint8), one, size, out, nbytes) and (
                out.tobytes() == raw)

        return (decodes(good, len(raw)) and not decodes(bad, len(raw))
                and not decodes(good, len(raw) + 1) and not decodes(good, len(raw) - 1))


def _candidates() -> list[str]:
    """Where libdeflate may be: imagecodecs' own copy (wheels put it beside the
    package), then the system's."""
    found: list[str] = []
    try:
        import imagecodecs

        pkg = Path(imagecodecs.__file__).parent
        for folder, pattern in ((pkg.parent / "imagecodecs.libs", "*deflate*"),
                                (pkg / ".dylibs", "libdeflate*")):
            found += sorted(str(p) for p in folder.glob(pattern)
                            if p.suffix in (".so", ".dylib", ".dll") or ".so." in p.name)
    except (ImportError, OSError):  # pragma: no cover - imagecodecs is a dependency
        pass
    for name in ("deflate", "libdeflate"):
        path = ctypes.util.find_library(name)
        if path:
            found.append(path)
    return found


_lock = threading.Lock()
_loaded: list = []  # [the _Native in use, or None], once looked for


def native_inflater() -> _Native | None:
    """libdeflate through ctypes, or None when no copy of it loads and passes the
    self-test (then :func:`inflate_strips` inflates strip by strip)."""
    with _lock:
        if not _loaded:
            _loaded.append(_find())
        return _loaded[0]


def _find() -> _Native | None:
    for path in _candidates():
        try:
            native = _Native(path)
            if native.works():
                return native
        except (OSError, AttributeError, TypeError):  # not loadable, not libdeflate
            continue
    return None


def _strip_by_strip(data, offsets, counts, out, strip_bytes) -> bool:
    import imagecodecs

    view = memoryview(data)
    for i, (offset, count) in enumerate(zip(offsets.tolist(), counts.tolist())):
        start = i * strip_bytes
        size = min(strip_bytes, out.size - start)
        if size <= 0 or offset <= 0 or count <= 0 or offset + count > len(data):
            return False
        try:
            decoded = imagecodecs.deflate_decode(view[offset:offset + count],
                                                 out=out[start:start + size])
        except Exception:  # noqa: BLE001 - a corrupt or oversized stream
            return False
        if len(decoded) != size:
            return False
    return True


def inflate_strips(data: bytes, offsets, counts, out: np.ndarray, strip_bytes: int) -> bool:
    """Inflate the zlib stream ``data[offsets[i]:offsets[i] + counts[i]]`` into bytes
    ``i * strip_bytes`` onwards of ``out`` (1D uint8; the last strip may be shorter),
    every stream exactly filling its strip; False (``out`` then undefined) if one does
    not, is corrupt, lies outside ``data`` or is at offset 0 or of 0 bytes (in a TIFF,
    a missing strip).

    >>> import zlib, numpy as np
    >>> a, b = zlib.compress(b"ab"), zlib.compress(b"c")
    >>> out = np.empty(3, np.uint8)
    >>> inflate_strips(b"\\0" + a + b, [1, 1 + len(a)], [len(a), len(b)], out, 2)
    True
    >>> out.tobytes()
    b'abc'
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    native = native_inflater()
    if native is not None:
        return native(np.frombuffer(data, np.uint8), offsets, counts, out, strip_bytes)
    return _strip_by_strip(data, offsets, counts, out, strip_bytes)

