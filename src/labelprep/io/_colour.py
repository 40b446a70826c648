"""Colour-coded labels: RGB(A) label images as uint32 ids, one id per distinct colour.

Connected-components tools often save their result as a colour image: every object has
its own colour. :func:`colours_to_labels` turns such an image (or a whole stack) into
integer ids that are the same for the same colour everywhere in the stack:

- the background colour (black by default) is id 0; for RGBA, fully transparent
  pixels (alpha 0, whatever their RGB) are background too;
- the other colours get ids 1..n in the order of their *packed value*: ``R<<16 | G<<8 | B``
  for RGB, ``R<<24 | G<<16 | B<<8 | A`` (alpha as the lowest byte) for RGBA, so the ids
  do not depend on the order in which slices are read or on the number of threads;
- the colour of each id is kept: ``colours[labels]`` gives the image back.

How: each plane is packed into uint32 (in place in the output, one numba pass that also
notes which colours occur), then packed values are replaced by their rank. For RGB a
2^24-entry presence table becomes, in place, the table of ranks (one 64 MB table,
whatever the image size); for RGBA the distinct values of each plane
(taken at the runs' starts, then ``np.unique``) are merged and looked up by binary
search, once per run of equal voxels. No Python loop per colour, no int64 copy.

:class:`ColourCoder` is that two-phase machinery, used by the parallel folder reader
(``io.read_label_stack``) and the lazy one (``io.open_lazy_labels``): ``pack`` each
plane (thread-safe), ``finish`` once, then ``remap`` each plane (thread-safe).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["ColourCoder", "colours_to_labels", "hex_colours"]

_RGB_TABLE = 1 << 24
_UNKNOWN = np.uint32(0xFFFFFFFF)  # table entry of a colour that has no id


# ----------------------------------------------------------------------------- kernels
@numba.njit(nogil=True, cache=True)
def _pack_rgb(src, out, present, mark):  # pragma: no cover - compiled
    h, w = out.shape
    prev = -1
    for y in range(h):
        for x in range(w):
            v = (np.int64(src[y, x, 0]) << 16) | (np.int64(src[y, x, 1]) << 8) | np.int64(
                src[y, x, 2])
            out[y, x] = v
            if mark and v != prev:
                present[v] = 1
                prev = v


@numba.njit(nogil=True, cache=True)
def _ranks_in_place(table, bg):  # pragma: no cover - compiled
    """Presence marks (non-zero) -> ids in place: the background key 0, the other marked
    keys 1..n in increasing order, the unmarked _UNKNOWN; returns the n keys."""
    n = 0
    for v in range(table.size):
        if table[v] != 0 and v != bg:
            n += 1
    keys = np.empty(n, np.int64)
    k = 0
    for v in range(table.size):
        if v == bg:
            table[v] = 0
        elif table[v] != 0:
            keys[k] = v
            k += 1
            table[v] = k
        else:
            table[v] = _UNKNOWN
    return keys


@numba.njit(nogil=True, cache=True)
def _pack_rgba(src, out):  # pragma: no cover - compiled
    h, w = out.shape
    for y in range(h):
        for x in range(w):
            a = np.int64(src[y, x, 3])
            if a == 0:
                out[y, x] = 0  # transparent: background whatever its RGB
            else:
                out[y, x] = ((np.int64(src[y, x, 0]) << 24) | (np.int64(src[y, x, 1]) << 16)
                             | (np.int64(src[y, x, 2]) << 8) | a)


@numba.njit(nogil=True, cache=True)
def _run_heads(a):  # pragma: no cover - compiled
    """The value of every run's first voxel (a superset of the distinct values)."""
    h, w = a.shape
    heads = np.empty(h * w, dtype=np.uint32)
    k = 0
    prev = -1
    for y in range(h):
        for x in range(w):
            v = np.int64(a[y, x])
            if v != prev:
                heads[k] = v
                k += 1
                prev = v
    return heads[:k].copy()


@numba.njit(nogil=True, cache=True)
def _remap_table(a, table):  # pragma: no cover - compiled
    """Packed -> id through a 2^24 table, in place; returns the number of voxels of
    colours that have no id (table entry _UNKNOWN; they become 0)."""
    h, w = a.shape
    bad = False
    for y in range(h):  # a plain gather (no run cache, no branch): the fastest
        for x in range(w):
            v = table[a[y, x]]
            bad |= v == _UNKNOWN
            a[y, x] = v
    unknown = 0
    if bad:
        for y in range(h):
            for x in range(w):
                if a[y, x] == _UNKNOWN:
                    a[y, x] = 0
                    unknown += 1
    return unknown


@numba.njit(nogil=True, cache=True)
def _remap_sorted(a, keys, ids):  # pragma: no cover - compiled
    """Packed -> id by binary search in the sorted ``keys``, in place; returns the
    number of voxels of colours not in ``keys`` (they become 0)."""
    h, w = a.shape
    prev = -1
    cur = np.uint32(0)
    unknown = 0
    bad = False
    n = keys.size
    for y in range(h):
        for x in range(w):
            v = np.int64(a[y, x])
            if v != prev:
                k = np.searchsorted(keys, a[y, x])
                bad = k >= n or keys[min(k, n - 1)] != a[y, x]
                cur = np.uint32(0) if bad else ids[k]
                prev = v
            if bad:
                unknown += 1
            a[y, x] = cur
    return unknown


# ----------------------------------------------------------------------------- coder
def _background(background: Sequence[int], channels: int) -> np.ndarray:
    bg = np.asarray(tuple(background), dtype=np.int64)
    if bg.ndim != 1 or bg.size not in (3, 4) or (bg.size == 4 and channels == 3):
        raise ValueError(
            f"background must be an (R, G, B){' or (R, G, B, A)' if channels == 4 else ''} "
            f"colour, got {tuple(background)!r}"
        )
    if np.any((bg < 0) | (bg > 255)):
        raise ValueError(f"background colour values must be 0..255, got {tuple(background)!r}")
    if channels == 4 and bg.size == 3:
        bg = np.append(bg, 255)  # an RGB background of an RGBA image: opaque
    return bg.astype(np.uint8)


def _pack_one(colour: np.ndarray) -> int:
    c = [int(v) for v in colour]
    if len(c) == 3:
        return (c[0] << 16) | (c[1] << 8) | c[2]
    return 0 if c[3] == 0 else (c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3]


def _unpack(packed: np.ndarray, channels: int) -> np.ndarray:
    shifts = (16, 8, 0) if channels == 3 else (24, 16, 8, 0)
    p = packed.astype(np.uint32, copy=False)
    return np.stack([(p >> s) & 0xFF for s in shifts], axis=-1).astype(np.uint8)


class ColourCoder:
    """Stack-wide colour -> id mapping, built plane by plane (see the module docstring).

    Phase 1: :meth:`pack` every plane (any thread); :meth:`finish` once; phase 2:
    :meth:`remap` every packed plane (any thread). ``colours`` (after ``finish``) is the
    ``(n + 1, channels)`` uint8 table, row 0 the background colour.

    Examples
    --------
    >>> rgb = np.zeros((2, 3, 3), np.uint8); rgb[0, 1] = (255, 0, 0); rgb[1, 2] = (0, 0, 9)
    >>> coder = ColourCoder(3)
    >>> plane = np.empty((2, 3), np.uint32)
    >>> coder.pack(rgb, plane)
    >>> coder.finish()
    2
    >>> coder.remap(plane); plane
    array([[0, 2, 0],
           [0, 0, 1]], dtype=uint32)
    """

    def __init__(self, channels: int, background: Sequence[int] = (0, 0, 0)):
        if channels not in (3, 4):
            raise ValueError(f"colour images have 3 (RGB) or 4 (RGBA) channels, not {channels}")
        self.channels = int(channels)
        self.background = _background(background, self.channels)
        self._bg_keys = {_pack_one(self.background)} | ({0} if channels == 4 else set())
        # RGB: the presence marks, made the id table in place by finish() (one 64 MB
        # table, its pages first written by the threads that pack, not by finish)
        self._present = np.zeros(_RGB_TABLE, np.uint32) if channels == 3 else None
        self._heads: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._table: np.ndarray | None = None
        self._keys: np.ndarray | None = None
        self._ids: np.ndarray | None = None
        self.colours: np.ndarray | None = None

    def pack(self, src: np.ndarray, out: np.ndarray) -> None:
        """Pack the ``(h, w, channels)`` uint8 plane ``src`` into ``out`` (``(h, w)``
        uint32, may be a view into the stack) and note its colours. Thread-safe."""
        if src.dtype != np.uint8 or src.ndim != 3 or src.shape[2] != self.channels:
            raise ValueError(f"expected an (h, w, {self.channels}) uint8 plane, got "
                             f"{src.shape} {src.dtype}")
        if self.channels == 3:  # after finish() the marks are the ids: left alone
            _pack_rgb(src, out, self._present, self._table is None)
        else:
            _pack_rgba(src, out)
            if self.colours is not None:
                return
            heads = np.unique(_run_heads(out))
            with self._lock:
                self._heads.append(heads)
                if len(self._heads) >= 64:  # keep the pending list short
                    self._heads = [np.unique(np.concatenate(self._heads))]

    def finish(self) -> int:
        """Fix the ids (after every plane was packed); returns n, the number of colours
        other than the background."""
        if self.colours is not None:  # done already: the ids stay
            return len(self.colours) - 1
        bg = np.array(sorted(self._bg_keys), dtype=np.int64)
        if self.channels == 3:
            keys = _ranks_in_place(self._present, int(bg[0]))
            self._table = self._present
        else:
            seen = np.unique(np.concatenate(self._heads)) if self._heads else np.zeros(0, np.uint32)
            self._heads = []
            keys = seen[~np.isin(seen, bg)].astype(np.uint32)
            self._keys = np.union1d(keys, bg.astype(np.uint32)).astype(np.uint32)
            self._ids = np.searchsorted(keys, self._keys).astype(np.uint32) + 1
            self._ids[np.isin(self._keys, bg)] = 0
        self.colours = np.concatenate([self.background[None], _unpack(keys, self.channels)])
        return int(keys.size)

    def remap(self, packed: np.ndarray) -> None:
        """Replace the packed colours of a ``(h, w)`` uint32 plane by ids, in place.

        Raises ValueError if the plane holds a colour that was not packed before
        :meth:`finish` (e.g. a file that changed between two passes over it).
        """
        if self.colours is None:
            raise RuntimeError("ColourCoder.remap before finish()")
        if self._table is not None:
            unknown = _remap_table(packed, self._table)
        else:
            unknown = _remap_sorted(packed, self._keys, self._ids)
        if unknown:
            raise ValueError(f"{unknown} pixels have colours that were not there when the "
                             "ids were assigned (did the file change?)")


# ----------------------------------------------------------------------------- arrays
def _workers(workers: int | None) -> int:
    if workers is not None:
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        return int(workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _row_blocks(shape: tuple[int, ...], min_pixels: int = 1 << 18):
    """(plane index, row slice) blocks covering an ``(..., h, w)`` array."""
    h, w = shape[-2], shape[-1]
    step = max(1, min(h, -(-min_pixels // max(w, 1))))
    for lead in np.ndindex(*shape[:-2]):
        for y in range(0, h, step):
            yield lead, slice(y, min(h, y + step))


def colours_to_labels(
    rgb: np.ndarray, background: Sequence[int] = (0, 0, 0), *, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Colour-coded labels to uint32 ids: one id per distinct colour (module docstring).

    Parameters
    ----------
    rgb : ndarray
        uint8 array of shape ``(..., h, w, 3)`` (RGB) or ``(..., h, w, 4)`` (RGBA): one
        image or a whole stack (the ids are stack-wide).
    background : (R, G, B) or (R, G, B, A)
        The colour that is id 0 (default black). For RGBA, alpha-0 pixels are id 0 too.
    workers : int, optional
        Threads (default: the usable cores); the result does not depend on it.

    Returns
    -------
    labels : ndarray
        uint32, ``rgb.shape[:-1]``; 0 is the background, ids 1..n ordered by the packed
        colour value (``R<<16 | G<<8 | B``; RGBA ``R<<24 | G<<16 | B<<8 | A``).
    colours : ndarray
        ``(n + 1, channels)`` uint8, the colour of each id; row 0 the background.

    Examples
    --------
    >>> rgb = np.zeros((2, 4, 3), np.uint8)
    >>> rgb[0, :2] = (200, 0, 0); rgb[1, 3] = (0, 80, 0)
    >>> labels, colours = colours_to_labels(rgb)
    >>> labels
    array([[2, 2, 0, 0],
           [0, 0, 0, 1]], dtype=uint32)
    >>> colours.tolist()
    [[0, 0, 0], [0, 80, 0], [200, 0, 0]]
    >>> bool((colours[labels] == rgb).all())
    True
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim < 3 or rgb.shape[-1] not in (3, 4):
        raise ValueError(
            f"colour-coded labels must be uint8 of shape (..., h, w, 3 or 4), got shape "
            f"{rgb.shape} and dtype {rgb.dtype}"
        )
    coder = ColourCoder(rgb.shape[-1], background)
    labels = np.empty(rgb.shape[:-1], np.uint32)
    blocks = list(_row_blocks(labels.shape))

    def pack(block) -> None:
        lead, rows = block
        coder.pack(rgb[lead][rows], labels[lead][rows])

    def remap(block) -> None:
        lead, rows = block
        coder.remap(labels[lead][rows])

    n = min(_workers(workers), len(blocks))
    if n <= 1:
        for b in blocks:
            pack(b)
        coder.finish()
        for b in blocks:
            remap(b)
    else:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(pack, blocks))
            coder.finish()
            list(pool.map(remap, blocks))
    return labels, coder.colours


def hex_colours(colours: np.ndarray) -> list[str]:
    """``"#rrggbb"`` (RGBA: ``"#rrggbbaa"``) for each row of a colour table.

    >>> hex_colours(np.array([[0, 0, 0], [255, 16, 1]], np.uint8))
    ['#000000', '#ff1001']
    """
    colours = np.asarray(colours, dtype=np.uint8)
    return ["#" + bytes(row).hex() for row in colours]
