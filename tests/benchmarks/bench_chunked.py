"""Benchmark: indexing a zarr stack chunk by chunk (dask) against loading it whole.

The user's case: a labelled stack of about 1000 x 700 x 700 voxels (int32, 1.8 GiB in
memory) stored as zarr, ~120k objects. Data: ``n`` balls of radius 3..9 voxels at random
centres (later balls overwrite earlier ones), ids a random permutation of ``1..n`` (not
in raster order: the harder case for the merge), written slab by slab (never whole) to
``bench-data/chunked/`` (gitignored) with zarr chunks of 64 x 256 x 256.

Methods, each in a fresh process (median of ``--repeats`` runs; the stack is re-read
each time; numba kernels warmed on a tiny stack first, so JIT is not timed):

- **in memory**: ``zarr.open_array(path)[...]`` (read the whole stack into one array:
  cheaper than ``np.asarray`` of the dask array, which concatenates chunks, so a
  stronger baseline) then ``LabelIndex.build`` (its default threads); time of both,
  and of the build alone;
- **chunked (auto chunks)**: ``LabelIndex.build(io.open_lazy(path))``: dask chunks of
  about 128 MiB (multiples of the zarr chunks), dask threaded scheduler;
- **chunked (zarr chunks)**: the same on the 16 MiB storage chunks (``chunks=None``);
- **to disk**: ``chunked.build_to_zarr`` (index written as zarr, nothing index-sized
  kept in memory), then ``open_index(path).coords(L)`` for an object of ~10k voxels.

Memory: peak RSS of the process (Linux ``VmHWM``, reset after imports and warm-up, so
it is the build's peak including the interpreter), and the same minus the RSS after
warm-up ("extra"). Every chunked result is checked to be identical to the in-memory
index (a hash of all its arrays). Run::

    .venv/bin/python tests/benchmarks/bench_chunked.py [--quick] [--repeats N]

A full run writes ``docs/benchmarks/chunked.md``; ``--quick`` (200 x 256 x 256) only
prints unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _bench import machine_info

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data" / "chunked"
DOC = ROOT / "docs" / "benchmarks" / "chunked.md"

FULL = {"shape": (1000, 700, 700), "objects": 120_000}
QUICK = {"shape": (200, 256, 256), "objects": 4_000}
ZARR_CHUNKS = (64, 256, 256)


# ----------------------------------------------------------------------------- data
def _paint_kernel():
    import numba

    @numba.njit(cache=True, nogil=True)
    def paint(out, z0, centres, radii, ids):
        """Paint the balls that meet planes ``z0 .. z0 + len(out)`` into ``out``."""
        nz, ny, nx = out.shape
        for b in range(centres.shape[0]):
            cz, cy, cx = centres[b, 0], centres[b, 1], centres[b, 2]
            r = radii[b]
            if cz + r < z0 or cz - r >= z0 + nz:
                continue
            r2 = r * r
            for z in range(max(cz - r, z0), min(cz + r + 1, z0 + nz)):
                dz = z - cz
                for y in range(max(cy - r, 0), min(cy + r + 1, ny)):
                    dy = y - cy
                    for x in range(max(cx - r, 0), min(cx + r + 1, nx)):
                        dx = x - cx
                        if dz * dz + dy * dy + dx * dx <= r2:
                            out[z - z0, y, x] = ids[b]

    return paint


def make_stack(path: Path, shape, n_objects: int, seed: int = 0) -> None:
    """Write the ball stack to ``path`` (zarr), one 64-plane slab at a time."""
    import zarr

    rng = np.random.default_rng(seed)
    centres = np.stack([rng.integers(0, s, n_objects) for s in shape], axis=1).astype(np.int64)
    radii = rng.integers(3, 10, n_objects).astype(np.int64)
    ids = rng.permutation(np.arange(1, n_objects + 1, dtype=np.int32))
    paint = _paint_kernel()
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    z = zarr.open_array(str(tmp), mode="w", shape=shape, chunks=ZARR_CHUNKS, dtype=np.int32)
    step = ZARR_CHUNKS[0]
    for z0 in range(0, shape[0], step):
        slab = np.zeros((min(step, shape[0] - z0),) + tuple(shape[1:]), dtype=np.int32)
        paint(slab, z0, centres, radii, ids)
        z[z0:z0 + slab.shape[0]] = slab
    os.replace(tmp, path)


def dataset(cfg) -> tuple[Path, str]:
    shape = cfg["shape"]
    path = DATA / f"balls_{'x'.join(map(str, shape))}_{cfg['objects']}.zarr"
    if path.is_dir():
        return path, f"cached {path.relative_to(ROOT)}"
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    make_stack(path, shape, cfg["objects"])
    return path, f"generated in {time.perf_counter() - t0:.0f} s"


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------ fresh-process runs
def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _digest(idx) -> str:
    h = hashlib.sha1()
    for name in ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids"):
        h.update(np.ascontiguousarray(np.asarray(getattr(idx, name))).tobytes())
    return h.hexdigest()


def worker(method: str, data: str, scratch: str) -> None:
    """Run one method once in this fresh process; print a JSON line."""
    import dask.array as da

    from labelprep import LabelIndex, chunked, io

    # warm-up: imports, numba kernels (cached on disk) of every step, on a tiny stack
    tiny = np.arange(60, dtype=np.int32).reshape(3, 4, 5) % 7
    LabelIndex.build(tiny)
    LabelIndex.build(da.from_array(tiny, chunks=2))
    baseline = _status("VmRSS:")
    _reset_peak()
    out: dict = {}
    t0 = time.perf_counter()
    if method == "memory":
        import zarr

        stack = np.asarray(zarr.open_array(data, mode="r")[...])
        out["read"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        idx = LabelIndex.build(stack)
        out["build"] = time.perf_counter() - t1
    elif method in ("chunked_auto", "chunked_zarr"):
        lazy = io.open_lazy(data, chunks="auto" if method == "chunked_auto" else None)
        out["chunks"] = list(lazy.chunksize)
        out["nchunks"] = int(lazy.npartitions)
        idx = LabelIndex.build(lazy)
    elif method == "disk":
        target = Path(scratch) / "index.zarr"
        shutil.rmtree(target, ignore_errors=True)
        lazy = io.open_lazy(data, chunks="auto")
        idx = chunked.build_to_zarr(lazy, target)
    else:
        raise ValueError(method)
    out["time"] = time.perf_counter() - t0
    out["peak"] = _status("VmHWM:")
    out["baseline"] = baseline
    if method == "disk":
        # a ~10k-voxel object, read from disk (only its slice)
        i = int(np.argmin(np.abs(idx.counts - 10_000)))
        label = idx.labels[i]
        times = []
        for _ in range(20):
            t1 = time.perf_counter()
            idx.coords(label)
            times.append(time.perf_counter() - t1)
        out["coords_ms"] = statistics.median(times) * 1e3
        out["coords_voxels"] = int(idx.counts[i])
        out["index_disk"] = du(target)
        idx = idx.load()
    out["digest"] = _digest(idx)
    out["objects"] = len(idx)
    out["voxels"] = int(idx.offsets[-1])
    out["index_bytes"] = int(idx.voxel_indices.nbytes)
    print(json.dumps(out))


def in_fresh_process(method: str, data: Path, scratch: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--data", str(data),
           "--scratch", str(scratch)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- report
NAMES = {
    "memory": "in memory: `zarr.open_array(path)[...]` + `LabelIndex.build`",
    "chunked_auto": "chunked, dask chunks ~128 MiB (`open_lazy` default)",
    "chunked_zarr": "chunked, dask chunks = zarr chunks (16 MiB)",
    "disk": "chunked to disk: `build_to_zarr` (auto chunks)",
}


def mib(x: float) -> str:
    return f"{x / 2**20:,.0f} MiB"


def run(cfg, repeats: int, methods: list[str]) -> dict:
    path, how = dataset(cfg)
    scratch = DATA / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for method in methods:
        runs = [in_fresh_process(method, path, scratch) for _ in range(repeats)]
        results[method] = runs
        med = statistics.median(r["time"] for r in runs)
        peak = max(r["peak"] for r in runs)
        print(f"  {method:13s} {med:7.2f} s  peak RSS {mib(peak):>10s}  "
              f"(extra {mib(peak - runs[0]['baseline'])})", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return {"path": path, "how": how, "results": results, "zarr_bytes": du(path)}


def markdown(cfg, out: dict, mach: dict, repeats: int) -> str:
    res = out["results"]
    ref = res["memory"][0]
    shape = cfg["shape"]
    voxels = int(np.prod(shape))
    base_t = statistics.median(r["time"] for r in res["memory"])
    lines = [
        "## Chunked (dask/zarr) index build vs loading the stack whole",
        "",
        (f"Stack: {' x '.join(map(str, shape))} int32 voxels ({mib(voxels * 4)} in memory, "
        f"{mib(out['zarr_bytes'])} as zarr with {' x '.join(map(str, ZARR_CHUNKS))} chunks), "
        f"{ref['objects']:,} objects (balls of radius 3..9, random ids), "
        f"{ref['voxels']:,} object voxels ({ref['voxels'] / voxels:.0%}); index "
        f"{mib(ref['index_bytes'])}. Each method in a fresh process, median of {repeats} "
        "run(s); peak RSS is the whole process (Python, numba, dask, zarr: "
         f"{mib(ref['baseline'])} after imports and warm-up) during the build."),
        "",
        "| method | time | vs in memory | peak RSS | peak minus warm-up RSS | same index |",
        "|---|---:|---:|---:|---:|:-:|",
    ]
    for method, runs in res.items():
        t = statistics.median(r["time"] for r in runs)
        peak = max(r["peak"] for r in runs)
        extra = peak - runs[0]["baseline"]
        same = all(r["digest"] == ref["digest"] for r in runs)
        name = NAMES[method]
        if method == "memory":
            rd = statistics.median(r["read"] for r in runs)
            bd = statistics.median(r["build"] for r in runs)
            name += f" (read {rd:.1f} s + build {bd:.1f} s)"
        elif "chunks" in runs[0]:
            name += f"; {runs[0]['nchunks']} chunks of {' x '.join(map(str, runs[0]['chunks']))}"
        lines.append(
            f"| {name} | {t:.1f} s | {base_t / t:.2f}x | {mib(peak)} | {mib(extra)} | "
            f"{'yes' if same else '**NO**'} |"
        )
    if "disk" in res:
        d = res["disk"][0]
        lines += [
            "",
            (f"On disk the index takes {mib(d['index_disk'])} (zarr, compressed); "
            f"`open_index(path).coords(L)` for an object of {d['coords_voxels']:,} voxels "
            f"takes {statistics.median(r['coords_ms'] for r in res['disk']):.2f} ms (reads "
             "only that object's chunks of `voxel_indices`)."),
        ]
    lines += [
        "",
        (f"Run {mach['date']} on {mach['cpu']}, {mach['cores']} cores, "
        f"{mach['ram_gib']:.0f} GiB RAM (load average {mach['load']:.1f} at the start; other "
        "work shared the machine, so timings are noisy). Data "
         f"{out['how']}. Re-run: `.venv/bin/python tests/benchmarks/bench_chunked.py`."),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small stack, print only")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--methods", default="memory,chunked_auto,chunked_zarr,disk")
    parser.add_argument("--out", type=Path, default=None, help="markdown output path")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data, args.scratch)
        return 0
    cfg = QUICK if args.quick else FULL
    repeats = args.repeats or (1 if args.quick else 3)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "memory" not in methods:
        methods.insert(0, "memory")  # the baseline is always measured in the same run
    mach = {**machine_info(), "date": dt.date.today().isoformat()}
    print(f"{mach['date']}  {mach['cpu']}, {mach['cores']} cores, {mach['ram_gib']:.0f} GiB "
          f"RAM, load {mach['load']:.1f}")
    print(f"stack {cfg['shape']}, {cfg['objects']} balls, {repeats} run(s) per method")
    out = run(cfg, repeats, methods)
    text = markdown(cfg, out, mach, repeats)
    print()
    print(text)
    target = args.out if args.out else (None if args.quick else DOC)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
