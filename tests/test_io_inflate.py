"""Inflating a TIFF's deflate strips (labelprep.io._inflate): libdeflate through ctypes,
all strips in one call without the GIL, or strip by strip; the same bytes and the same
refusals either way."""

from __future__ import annotations

import ctypes.util
import sys
import threading
import time
import zlib

import numpy as np
import pytest

from labelprep.io import _inflate
from labelprep.io._inflate import inflate_strips, native_inflater


def strips(rng, n=5, strip_bytes=3000, last=1234):
    """``n`` zlib streams of random runs after a 7-byte header, the last one shorter."""
    sizes = [strip_bytes] * (n - 1) + [last]
    raw = [np.repeat(rng.integers(0, 256, size // 10 + 1, dtype=np.uint8), 10)[:size].tobytes()
           for size in sizes]
    streams = [zlib.compress(r) for r in raw]
    offsets = np.cumsum([7] + [len(s) for s in streams[:-1]])
    data = b"header!" + b"".join(streams)
    return data, offsets, np.array([len(s) for s in streams]), b"".join(raw), strip_bytes


def test_every_strip_into_its_rows(rng, inflater):
    data, offsets, counts, raw, strip_bytes = strips(rng)
    out = np.zeros(len(raw), np.uint8)
    assert inflate_strips(data, offsets, counts, out, strip_bytes)
    assert out.tobytes() == raw


def test_streams_not_exactly_their_strip_are_refused(rng, inflater):
    data, offsets, counts, raw, strip_bytes = strips(rng)
    for nbytes in (len(raw) - 1, len(raw) + 1):  # the last stream too long, too short
        assert not inflate_strips(data, offsets, counts, np.zeros(nbytes, np.uint8),
                                  strip_bytes)
    # one strip fewer than the streams: no room for the last one
    assert not inflate_strips(data, offsets, counts, np.zeros(4 * strip_bytes, np.uint8),
                              strip_bytes)


def test_corrupt_streams_are_refused(rng, inflater):
    data, offsets, counts, raw, strip_bytes = strips(rng)
    out = np.zeros(len(raw), np.uint8)
    for pos in (offsets[2] + counts[2] // 2, offsets[4] + counts[4] - 1):  # data, Adler-32
        bad = data[:pos] + bytes([data[pos] ^ 0x10]) + data[pos + 1:]
        assert not inflate_strips(bad, offsets, counts, out, strip_bytes), pos
    assert not inflate_strips(data[:-3], offsets, counts, out, strip_bytes)  # truncated


@pytest.mark.parametrize("change", ["offset 0", "count 0", "past the end", "negative"])
def test_streams_outside_the_data_are_refused(rng, inflater, change):
    data, offsets, counts, raw, strip_bytes = strips(rng)
    offsets, counts = offsets.copy(), counts.copy()
    if change == "offset 0":
        offsets[1] = 0
    elif change == "count 0":
        counts[3] = 0
    elif change == "past the end":
        counts[4] += 1
    else:
        offsets[2] = -5
    assert not inflate_strips(data, offsets, counts, np.zeros(len(raw), np.uint8), strip_bytes)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the wheels' layout")
def test_libdeflate_is_found_beside_imagecodecs():
    native = native_inflater()
    assert native is not None
    assert "imagecodecs" in native.path


def test_no_loadable_libdeflate_means_strip_by_strip(rng, monkeypatch, tmp_path):
    fake = tmp_path / "libdeflate-0.so"
    fake.write_bytes(b"not a library")
    others = [str(fake), ctypes.util.find_library("z") or str(fake)]  # zlib: no such symbols
    monkeypatch.setattr(_inflate, "_candidates", lambda: others)
    monkeypatch.setattr(_inflate, "_loaded", [])
    assert native_inflater() is None
    data, offsets, counts, raw, strip_bytes = strips(rng)
    out = np.zeros(len(raw), np.uint8)
    assert inflate_strips(data, offsets, counts, out, strip_bytes) and out.tobytes() == raw


def test_a_library_that_fails_the_self_test_is_not_used(monkeypatch):
    if native_inflater() is None:  # pragma: no cover
        pytest.skip("no libdeflate found")
    monkeypatch.setattr(_inflate._Native, "works", lambda self: False)
    monkeypatch.setattr(_inflate, "_loaded", [])
    assert native_inflater() is None


def test_the_native_path_lets_other_threads_run(rng):
    """All strips in one call without the GIL: this thread keeps counting at its own pace
    meanwhile (a call that held the GIL would stop it until the call returned)."""
    native = native_inflater()
    if native is None:  # pragma: no cover
        pytest.skip("no libdeflate found")
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # the decoding thread enters the call at once
    raw = np.repeat(rng.integers(0, 256, 1 << 20, dtype=np.uint8), 16).tobytes()  # 16 MiB
    stream = zlib.compress(raw, 1)
    n = 12
    data = b"\0" + stream * n
    offsets = 1 + len(stream) * np.arange(n)
    counts = np.full(n, len(stream))
    out = np.zeros(n * len(raw), np.uint8)
    started, done, result = threading.Event(), threading.Event(), []

    def count_while(running) -> int:
        counted = 0
        while running():
            counted += 1
        return counted

    def work():
        started.set()
        t0 = time.perf_counter()
        result.append(inflate_strips(data, offsets, counts, out, len(raw)))
        result.append(time.perf_counter() - t0)
        done.set()

    try:
        t0 = time.perf_counter()
        rate = count_while(lambda: time.perf_counter() - t0 < 0.05) / 0.05
        t = threading.Thread(target=work)
        t.start()
        started.wait()
        counted = count_while(lambda: not done.is_set())
        t.join()
    finally:
        sys.setswitchinterval(switch)
    ok, seconds = result
    assert ok and out[-len(raw):].tobytes() == raw
    assert seconds > 0.02  # long enough to tell
    assert counted > 0.25 * rate * seconds, "this thread stopped while the strips inflated"
