"""Benchmark: object edits through the voxel index (``labelprep.edit.EditSession``) and
review flags (``labelprep.qa.flags``) against whole-stack NumPy edits.

Stack: the blob stack of ``_bench.blob_stack`` (smoothed Gaussian noise above its 93rd
percentile, connected components, int32), 1000 x 700 x 700 voxels (~127k objects, 7% of
the voxels; ``--slices 250`` for a quarter of it). Cached in ``bench-data/``.

All in one process, on the same array:

- **delete, merge of two, relabel, split, undo** for ``--objects`` objects of up to 20k
  voxels (sizes spread over the size distribution; each merged with its nearest
  neighbour, and the split is of that merged pair, so it has two pieces). Ours: the
  ``EditSession`` operation plus taking ``session.index`` (the up-to-date index), each
  timed once per object, the median reported. Baseline: ``w = np.where(stack == L);
  stack[w] = value`` (the split: that scan, then ``scipy.ndimage.label`` of the object's
  bbox crop); its "undo" is the same kind of edit back (``np.where(stack == new)`` after
  the relabel). Every edit's result is checked equal to the baseline's on the objects'
  bbox; at the end the stack's checksum and the session's index equal the original and a
  fresh build.
- **remove_small(50)** vs ``skimage.morphology.remove_small_objects(stack, max_size=49)``
  (same output, checked).
- **flags** for all objects (default thresholds, connectivity 1).

Run::

    .venv/bin/python tests/benchmarks/bench_edits.py [--slices 250] [--objects 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
import zlib
from pathlib import Path

import numpy as np
from _bench import blob_stack, machine

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data" / "edits"
TARGET_RATIO, TARGET_MS, SMALL_RATIO, FLAGS_S = 40.0, 50.0, 10.0, 2.0


def cached(shape) -> tuple[np.ndarray, str]:
    """The blob stack of ``shape`` (its first slices cut from a cached taller one)."""
    name = "blobs_{}_s2.5_q0.93.npy"
    for rows in (shape[0], 1000):
        for path in [DATA / name.format("x".join(map(str, (rows, *shape[1:])))),
                     *(ROOT / "bench-data").rglob(name.format(
                         "x".join(map(str, (rows, *shape[1:])))))]:
            if path.is_file():
                arr = np.load(path, mmap_mode="r")
                if arr.shape[0] >= shape[0]:
                    return np.array(arr[:shape[0]]), f"cached {path.relative_to(ROOT)}"
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    arr = blob_stack(shape)
    tmp = DATA / ".blobs.tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, DATA / name.format("x".join(map(str, shape))))
    return arr, f"generated in {time.perf_counter() - t0:.0f} s"


def checksum(arr: np.ndarray) -> int:
    return zlib.crc32(memoryview(arr.reshape(-1)).cast("B"))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def pick_objects(idx, k: int) -> list[tuple[int, int]]:
    """``k`` objects of up to 20k voxels at spread-out size quantiles, each with the
    object of up to 20k voxels whose centroid is nearest (its merge partner)."""
    ok = np.flatnonzero(idx.counts <= 20_000)
    order = ok[np.argsort(idx.counts[ok], kind="stable")]
    qs = 1 - np.geomspace(0.5, 1e-4, k)  # median ... the largest
    rows = order[np.minimum((qs * (len(order) - 1)).round().astype(int), len(order) - 1)]
    pairs = []
    for r in rows:
        d = np.linalg.norm(idx.centroids[ok] - idx.centroids[r], axis=1)
        d[ok == r] = np.inf
        pairs.append((int(idx.labels[r]), int(idx.labels[ok[np.argmin(d)]])))
    return pairs


def region(idx, labels) -> tuple[slice, ...]:
    boxes = np.stack([idx.bboxes[idx.position(L)] for L in labels])
    return tuple(slice(int(a), int(b)) for a, b in zip(boxes[:, :, 0].min(0),
                                                       boxes[:, :, 1].max(0)))


def where_set(stack, old, new):
    w = np.where(stack == old)
    stack[w] = new
    return w


def where_split(stack, label, new_ids):
    from scipy import ndimage as ndi

    w = np.where(stack == label)
    box = tuple(slice(int(c.min()), int(c.max()) + 1) for c in w)
    crop = stack[box]
    pieces, n = ndi.label(crop == label)
    sizes = np.bincount(pieces.ravel())[1:]
    others = [p for p in range(1, n + 1) if p != int(np.argmax(sizes)) + 1]
    for p, new in zip(others, new_ids):
        crop[pieces == p] = new


def bench_edits(stack, session, pairs) -> dict:
    from labelprep import LabelIndex

    base = session.index
    t = {k: [] for k in ("delete", "merge", "relabel", "split", "undo")}
    b = {k: [] for k in t}
    sizes = []
    for L, P in pairs:
        box = region(base, [L, P])
        before = stack[box].copy()
        sizes.append(int(base.counts[base.position(L)]))
        new = int(session.index.labels[-1]) + 1

        def ours(op, *args, box=box):
            dt_, res = timed(lambda: (getattr(session, op)(*args), session.index)[0])
            return dt_, res, stack[box].copy()

        def undo():
            dt_, _ = timed(lambda: (session.undo(), session.index))
            t["undo"].append(dt_)

        for op, args, old, value in (("delete", (L,), L, 0), ("merge", ([L, P],), max(L, P),
                                     min(L, P)), ("relabel", (L, new), L, new)):
            dt_, _, got = ours(op, *args)
            t[op].append(dt_)
            undo()
            dtb, w = timed(lambda old=old, value=value: where_set(stack, old, value))
            b[op].append(dtb)
            assert np.array_equal(stack[box], got), op
            if op == "relabel":  # the baseline's undo: the same edit back
                dtu, _ = timed(lambda new=new, L=L: where_set(stack, new, L))
                b["undo"].append(dtu)
            else:
                stack[w] = old
            assert np.array_equal(stack[box], before), op
        session.merge([L, P])  # a two-piece object to split
        merged = stack[box].copy()
        dt_, res, got = ours("split", min(L, P))
        assert len(res.added) == 1
        t["split"].append(dt_)
        undo()
        dtb, _ = timed(lambda L=L, P=P, res=res: where_split(stack, min(L, P), res.added))
        b["split"].append(dtb)
        assert np.array_equal(stack[box], got)
        stack[box] = merged
        session.undo()
        assert np.array_equal(stack[box], before)
    fresh = LabelIndex.build(stack)
    for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids"):
        assert np.array_equal(getattr(session.index, name), getattr(fresh, name)), name
    return {"ours": t, "base": b, "sizes": sizes}


def bench_small(stack, session, repeats: int) -> dict:
    from skimage.morphology import remove_small_objects

    ours, base = [], []
    for _ in range(repeats):
        dt_, res = timed(lambda: (session.remove_small(50), session.index)[0])
        ours.append(dt_)
        session.undo()
    for _ in range(max(2, repeats // 2)):
        dtb, want = timed(lambda: remove_small_objects(stack, max_size=49))
        base.append(dtb)
    session.remove_small(50)
    assert np.array_equal(stack, want)
    del want
    session.undo()
    return {"ours": ours, "base": base, "removed": len(res.removed), "voxels": res.voxels}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from labelprep import LabelIndex
    from labelprep.edit import EditSession
    from labelprep.qa import flags

    print(f"bench_edits {dt.datetime.now():%Y-%m-%d %H:%M}, {machine()}, "
          f"load {os.getloadavg()[0]:.1f}")
    warm = np.array([[1, 1, 0, 2], [0, 3, 0, 2]], dtype=np.int32)  # compile/load kernels
    s = EditSession(warm)
    s.merge([1, 3]), s.split(1), s.delete(2), s.relabel(1, 9), s.remove_small(2)
    flags(s.index)
    stack, origin = cached((args.slices, 700, 700))
    crc = checksum(stack)
    tb, idx = timed(lambda: LabelIndex.build(stack))
    ts, session = timed(lambda: EditSession(stack, idx))
    print(f"stack {' x '.join(map(str, stack.shape))} {stack.dtype} ({origin}): {len(idx):,} "
          f"objects, {idx.voxel_indices.size:,} foreground voxels; build {tb:.2f} s, "
          f"EditSession {ts * 1e3:.0f} ms")
    pairs = pick_objects(idx, args.objects)
    e = bench_edits(stack, session, pairs)
    print(f"objects edited (voxels): {', '.join(f'{n:,}' for n in e['sizes'])}")
    rows = []
    for op in ("delete", "merge", "relabel", "split", "undo"):
        ours, base = statistics.median(e["ours"][op]), statistics.median(e["base"][op])
        rows.append((op, ours, base, base / ours, ours * 1e3 < TARGET_MS and
                     base / ours >= TARGET_RATIO, f"max {max(e['ours'][op]) * 1e3:.1f} ms"))
    r = bench_small(stack, session, args.repeats)
    ours, base = statistics.median(r["ours"]), statistics.median(r["base"])
    rows.append(("remove_small(50)", ours, base, base / ours, base / ours >= SMALL_RATIO,
                 f"{r['removed']:,} objects, {r['voxels']:,} voxels; equal output"))
    tf = [timed(lambda: flags(idx))[0] for _ in range(3)]
    table = flags(idx)
    from labelprep._commands.qa import summary

    print("\n| operation | ours | baseline | x | target met | notes |")
    print("|---|---:|---:|---:|---|---|")
    for op, o, bl, x, met, note in rows:
        print(f"| {op} | {o * 1e3:.1f} ms | {bl * 1e3:,.0f} ms | {x:,.0f} | "
              f"{'yes' if met else 'NO'} | {note} |")
    print(f"| flags, all objects | {statistics.median(tf):.2f} s | | | "
          f"{'yes' if statistics.median(tf) < FLAGS_S else 'NO'} | {len(table):,} objects |")
    print("\nbaselines: np.where(stack == L) + assignment (split: + ndimage.label of the bbox "
          "crop; undo: the relabel's np.where edit back); remove_small_objects(max_size=49)")
    print(f"flags: {summary(table)}")
    assert checksum(stack) == crc
    print("stack checksum unchanged after all edits and undos; session index == fresh build")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
