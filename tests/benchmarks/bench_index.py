"""Benchmark: building a per-label voxel index (``LabelIndex.build``) against the baselines.

Two stacks:

- **blobs** (realistic): smoothed Gaussian noise above its 93rd percentile, connected
  components (int32), 250 x 700 x 700 voxels, ~37k objects of tens to thousands of voxels
  covering ~7% of the stack (the same recipe and cache as ``bench_index_select.py``);
- **random** (worst case for locality): i.i.d. labels 0..11999 in 100 x 100 x 1000 (int32),
  the input of the seed answer's own benchmark.

Methods, all on the same array in the same run:

- **ours**: ``LabelIndex.build(stack)`` warm (median of repeats; default threads and one
  thread), and its first call in a fresh process (numba cache load; and with an empty
  numba cache, i.e. compilation included); plus ``build + to_dict()`` (the seed's full
  ``{label: np.where tuple}`` output);
- **value_indices**: ``scipy.ndimage.value_indices(stack, ignore_value=0)``;
- **argsort**: the seed answer's argsort code, copied verbatim (only its typo ``counts``
  -> ``groupSizes`` fixed), run 3 times in a fresh process (median: a single run's time
  swings between about 6 and 12 s on this machine, with the state of its 5 GB of memory);
- **where loop**: the seed's ``np.where(stack == label)`` loop, extrapolated from
  ``np.unique`` plus a few timed labels times the number of labels.

Also ``idx.coords(L)`` for the object closest to 10k voxels, and the peak extra memory of
each method per foreground voxel (``ru_maxrss`` growth in a fresh process, and
``tracemalloc`` peak for ours). Run::

    .venv/bin/python tests/benchmarks/bench_index.py [--quick]

Stacks are cached in ``bench-data/`` (gitignored). A full run writes
``docs/benchmarks/index.md`` and ``docs/benchmarks/index.png``; ``--quick`` only prints
(unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _bench import blob_stack, machine_info

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data" / "index"
DOC = ROOT / "docs" / "benchmarks" / "index.md"
TARGETS = {"argsort": 50.0, "value_indices": 5.0, "coords_ms": 1.0, "bytes_per_voxel": 4.0}
MAX_BYTES_PER_OBJECT = 512


# ----------------------------------------------------------------------------- data
def random_stack(shape, n_labels=12000, seed=0) -> np.ndarray:
    """i.i.d. uniform labels ``0 .. n_labels - 1`` (int32)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_labels, size=shape, dtype=np.int32)


def cached(name: str, make) -> tuple[Path, str]:
    """Path of the cached ``name`` .npy under bench-data/ (reusing another benchmark's
    file of the same name), generating it with ``make()`` if needed."""
    for path in [DATA / name, *sorted((ROOT / "bench-data").rglob(name))]:
        if path.is_file():
            return path, f"cached {path.relative_to(ROOT)}"
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    arr = make()
    tmp = DATA / f".{name}.tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, DATA / name)
    return DATA / name, f"generated in {time.perf_counter() - t0:.0f} s"


# ------------------------------------------------------------------------ baselines
def seed_argsort(img_stack_np):
    """The seed answer's argsort code, verbatim except ``counts`` -> ``groupSizes``."""
    s1, s2, s3 = img_stack_np.shape

    # Classification by label.
    # Remove the "kind='stable'" argument if you do not care about the ordering
    # of the voxel positions for a given label in the resulting dict (much faster).
    index = np.argsort(img_stack_np, axis=None, kind='stable')
    labels = img_stack_np.reshape(img_stack_np.size)[index]  # noqa: F841 (as in the seed)

    # Generate the associated position
    i1 = np.arange(s1).repeat(s2*s3)[index]
    i2 = np.tile(np.arange(s2), s1).repeat(s3)[index]
    i3 = np.tile(np.arange(s3), s1*s2)[index]

    groupLabels, groupSizes = np.unique(img_stack_np, return_counts=True)
    groupOffsets = np.concatenate(([0], groupSizes.cumsum()))

    dict_labels_and_voxels = {}

    for i, label in enumerate(groupLabels):
        if label == 0:
            continue
        start, end = groupOffsets[i], groupOffsets[i] + groupSizes[i]
        index = (i1[start:end], i2[start:end], i3[start:end])
        dict_labels_and_voxels[label] = [index]
    return dict_labels_and_voxels


def seed_where_one(img_stack_np, label):
    """One iteration of the seed's loop."""
    index = np.where(img_stack_np == label)
    return [index]


def value_indices(stack):
    from scipy import ndimage as ndi

    return ndi.value_indices(stack, ignore_value=0)


def ours(stack, workers=None):
    from labelprep import LabelIndex

    return LabelIndex.build(stack, workers=workers)


def ours_dict(stack):
    from labelprep import LabelIndex

    return LabelIndex.build(stack).to_dict()


# ---------------------------------------------------------------- fresh-process runs
def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """VmHWM (peak RSS since the last reset), else ru_maxrss (peak since start)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(method: str, data: str, repeats: int) -> None:
    """Run ``method`` on the stack in ``data`` in this (fresh) process; print JSON.

    Except for ``ours_first``, the method first runs once on a tiny slab of the stack
    (same code path, same number of threads) so that imports, numba cache loading and
    thread start-up are not counted in the memory growth.
    """
    stack = np.load(data)
    fns = {
        "argsort": seed_argsort, "value_indices": value_indices, "ours_first": ours,
        "ours_warm": ours, "ours_dict": ours_dict,
    }
    fn = fns[method]
    if method != "ours_first":
        from labelprep.index import default_workers

        if method == "ours_warm":
            ours(stack[:4], workers=default_workers())
        else:
            fn(stack[:4])
    paired = method in ("argsort", "value_indices")
    ours_times = []
    if paired:  # our warm build just before (and after) the baseline, same process
        ours(stack[:4])
        ours_times += [median_time(lambda: ours(stack), 1) for _ in range(3)]
    reset_peak_rss()
    before = rss_now()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn(stack)
        times.append(time.perf_counter() - t0)
        del result
    rss_delta = max(0, peak_rss() - before)
    if paired:
        ours_times += [median_time(lambda: ours(stack), 1) for _ in range(3)]
    print(json.dumps({"times": times, "rss_delta": rss_delta, "ours_times": ours_times}))


def in_fresh_process(method: str, data: Path, repeats: int = 1, env: dict | None = None):
    cmd = [sys.executable, __file__, "--worker", method, "--data", str(data),
           "--repeats", str(repeats)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- timing
def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
    return statistics.median(times)


def describe(stack: np.ndarray, idx) -> dict:
    fg = int(idx.voxel_indices.size)
    return {
        "shape": " x ".join(map(str, stack.shape)), "dtype": str(stack.dtype),
        "voxels": int(stack.size), "objects": len(idx), "foreground": fg,
        "fg_fraction": fg / stack.size,
        "median_size": float(np.median(idx.counts)) if len(idx) else 0.0,
        "max_size": int(idx.counts.max()) if len(idx) else 0,
    }


def bench_stack(name: str, path: Path, origin: str, args) -> dict:
    """All measurements on one stack."""
    from labelprep import LabelIndex

    stack = np.load(path)
    reps = args.repeats
    print(f"\n== {name}: {stack.shape} {stack.dtype} ({origin})", flush=True)
    ours(stack[:1])  # compile / load the kernels outside the timings
    idx = LabelIndex.build(stack)
    info = describe(stack, idx)
    print(f"   {info['objects']} objects, {info['foreground']} foreground voxels "
          f"({100 * info['fg_fraction']:.1f}%)", flush=True)
    r: dict = {"name": name, "info": info, "origin": origin}

    # interleaved rounds, so that load changes on a shared machine hit all three alike
    rounds = {"ours": [], "ours_1": [], "value_indices": []}
    for _ in range(reps):
        rounds["ours"].append(median_time(lambda: ours(stack), 1))
        rounds["ours_1"].append(median_time(lambda: ours(stack, workers=1), 1))
        rounds["value_indices"].append(median_time(lambda: value_indices(stack), 1))
    for key, times in rounds.items():
        r[key] = statistics.median(times)
    r["ratio_value_indices"] = statistics.median(
        v / o for v, o in zip(rounds["value_indices"], rounds["ours"])
    )
    from labelprep.index import default_workers

    r["threads"] = default_workers()
    print(f"   ours warm {r['ours']:.3f} s ({r['threads']} threads), "
          f"1 thread {r['ours_1']:.3f} s; value_indices {r['value_indices']:.3f} s "
          f"(x{r['ratio_value_indices']:.1f} by round)", flush=True)

    tracemalloc.start()
    ours(stack)
    r["ours_tracemalloc"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    fresh = {}
    fresh["ours_first"] = in_fresh_process("ours_first", path)
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        fresh["ours_cold"] = in_fresh_process("ours_first", path, env=env)
    fresh["ours_rss"] = in_fresh_process("ours_warm", path)
    fresh["ours_dict"] = in_fresh_process("ours_dict", path)
    fresh["value_indices"] = in_fresh_process("value_indices", path)
    print(f"   ours first call {fresh['ours_first']['times'][0]:.3f} s, empty numba cache "
          f"{fresh['ours_cold']['times'][0]:.3f} s; build + to_dict "
          f"{fresh['ours_dict']['times'][0]:.3f} s", flush=True)
    argsort_reps = args.argsort_repeats
    fresh["argsort"] = in_fresh_process("argsort", path, repeats=argsort_reps)
    r["argsort"] = statistics.median(fresh["argsort"]["times"])
    r["ours_paired"] = statistics.median(fresh["argsort"]["ours_times"])
    r["ratio_argsort"] = r["argsort"] / r["ours_paired"]
    print(f"   argsort (seed) {r['argsort']:.3f} s; ours in the same process "
          f"{r['ours_paired']:.3f} s (x{r['ratio_argsort']:.0f})", flush=True)
    r["fresh"] = fresh

    # the seed's np.where loop: np.unique once + a few labels, extrapolated
    t0 = time.perf_counter()
    uniq = np.unique(stack, return_counts=True)[0]
    r["where_unique"] = time.perf_counter() - t0
    picks = idx.labels[np.linspace(0, len(idx) - 1, args.where_labels).astype(int)]
    per_label = [median_time(lambda L=L: seed_where_one(stack, L), 1) for L in picks]
    r["where_per_label"] = statistics.median(per_label)
    r["where_n"] = len(picks)
    r["where"] = r["where_unique"] + r["where_per_label"] * (len(uniq) - 1)
    print(f"   np.where loop: {r['where_per_label']:.3f} s/label x {len(uniq) - 1} labels "
          f"+ unique {r['where_unique']:.1f} s = {r['where']:.0f} s (extrapolated)", flush=True)

    # coords of the object closest to 10k voxels
    row = int(np.argmin(np.abs(idx.counts - 10_000)))
    label = idx.labels[row]
    idx.coords(label)
    times = []
    for _ in range(args.coords_repeats):
        t0 = time.perf_counter()
        idx.coords(label)
        times.append(time.perf_counter() - t0)
    r["coords_ms"] = 1e3 * statistics.median(times)
    r["coords_voxels"] = int(idx.counts[row])
    t0 = time.perf_counter()
    ref = np.argwhere(stack == label)
    r["argwhere_ms"] = 1e3 * (time.perf_counter() - t0)
    assert np.array_equal(ref, idx.coords(label))
    print(f"   coords({label}) for {r['coords_voxels']} voxels: {r['coords_ms']:.3f} ms "
          f"(np.argwhere on the stack: {r['argwhere_ms']:.0f} ms)", flush=True)
    return r


# ---------------------------------------------------------------------------- report
def fmt_s(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.0f} ms"


def table_rows(r: dict) -> list[tuple[str, str, str, str]]:
    fg = r["info"]["foreground"]
    fresh = r["fresh"]

    def mem(key):
        delta = fresh[key]["rss_delta"]
        return f"{delta / 2**20:,.0f} MB = {delta / fg:.1f}"

    base = r["ours"]
    rows = [
        (f"ours, warm ({r['threads']} threads)", fmt_s(base), "1.0",
         f"{mem('ours_rss')} ({r['ours_tracemalloc'] / fg:.2f} traced)"),
        ("ours, warm, 1 thread", fmt_s(r["ours_1"]), f"{r['ours_1'] / base:.1f}", ""),
        ("ours, first call in a fresh process", fmt_s(fresh["ours_first"]["times"][0]),
         f"{fresh['ours_first']['times'][0] / base:.1f}", ""),
        ("ours, first call, empty numba cache", fmt_s(fresh["ours_cold"]["times"][0]),
         f"{fresh['ours_cold']['times'][0] / base:.1f}", ""),
        ("ours + to_dict() (seed's output)", fmt_s(fresh["ours_dict"]["times"][0]),
         f"{fresh['ours_dict']['times'][0] / base:.1f}", mem("ours_dict")),
        ("scipy.ndimage.value_indices", fmt_s(r["value_indices"]),
         f"{r['ratio_value_indices']:.1f}", mem("value_indices")),
        (f"seed: argsort answer (ours in its process: {fmt_s(r['ours_paired'])})",
         fmt_s(r["argsort"]), f"{r['ratio_argsort']:.0f}",
         mem("argsort")),
        ("seed: np.where loop (extrapolated)", fmt_s(r["where"]), f"{r['where'] / base:.0f}",
         ""),
    ]
    return rows


def markdown(results: list[dict], mach: dict, quick: bool) -> str:
    lines = [
        "# Benchmark: per-label voxel index (`LabelIndex.build`)",
        "",
        f"Run {mach['date']} on {mach['cpu']}, {mach['cores']} cores, "
        f"{mach['ram_gib']:.0f} GiB RAM (load average {mach['load']:.1f} at the start: the "
        f"machine was shared, so compare ratios within this run). {mach['versions']}."
        + (" **Quick mode (small stacks).**" if quick else ""),
        "",
        ("Produced by `tests/benchmarks/bench_index.py`. Time = median of repeats (warm),"
        " or one call in a fresh process. *× ours* = time / our warm build time; for"
        " `value_indices` the median over rounds that time ours and it back to back, for"
        " the argsort answer (median of 3 runs: one run's time swings by up to 2x with the"
        " state of its 5 GB of memory) against our build timed in the same fresh process"
        " just before and after it (so that load changes on the shared machine cancel out)."
        " Memory = growth of the peak RSS (VmHWM, reset just before) during the call in a"
        " fresh process,"
        " per foreground voxel; for ours also the `tracemalloc` peak (all NumPy"
        " allocations of the build, including the result)."),
        "",
    ]
    for r in results:
        info = r["info"]
        lines += [
            f"## {r['name']}: {info['shape']} {info['dtype']}",
            "",
            (f"{info['objects']} objects, {info['foreground']:,} foreground voxels "
            f"({100 * info['fg_fraction']:.1f}% of {info['voxels']:,}); object size median "
            f"{info['median_size']:.0f}, max {info['max_size']:,} voxels ({r['origin']})."),
            "",
            "| method | time | × ours | peak extra memory: MB = B / foreground voxel |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table_rows(r)]
        lines += [
            "",
            (f"- `idx.coords(L)` for a {r['coords_voxels']:,}-voxel object: "
            f"**{r['coords_ms']:.3f} ms** (`np.argwhere(stack == L)`: "
            f"{r['argwhere_ms']:.0f} ms)."),
            (f"- np.where loop: {r['where_per_label'] * 1e3:.0f} ms per label (median of "
            f"{r['where_n']} labels) × {info['objects']} labels + `np.unique` "
            f"{r['where_unique']:.1f} s."),
            "",
        ]
    blobs = next((r for r in results if r["name"].startswith("blobs")), None)
    if blobs is not None:
        fg = blobs["info"]["foreground"]
        n_obj = max(blobs["info"]["objects"], 1)
        rss = blobs["fresh"]["ours_rss"]["rss_delta"]
        traced = blobs["ours_tracemalloc"]
        # beyond the 4 B / foreground voxel of the result: per-object tables and stats
        per_object = {k: (v - 4 * fg) / n_obj for k, v in (("rss", rss), ("traced", traced))}
        one = {
            "argsort": blobs["argsort"] / blobs["ours_1"],
            "value_indices": blobs["value_indices"] / blobs["ours_1"],
        }
        checks = [
            (f"≥ {TARGETS['argsort']:.0f}× faster than the seed's argsort answer",
             f"{blobs['ratio_argsort']:.1f}× (1 thread: {one['argsort']:.1f}×)",
             blobs["ratio_argsort"] >= TARGETS["argsort"]),
            (f"≥ {TARGETS['value_indices']:.0f}× faster than scipy.ndimage.value_indices",
             f"{blobs['ratio_value_indices']:.1f}× (1 thread: {one['value_indices']:.1f}×)",
             blobs["ratio_value_indices"] >= TARGETS["value_indices"]),
            ("`coords(L)` for ~10k voxels < 1 ms", f"{blobs['coords_ms']:.3f} ms",
             blobs["coords_ms"] < TARGETS["coords_ms"]),
            ("peak extra memory ≈ 4 B / foreground voxel + O(objects)",
             (f"{rss / fg:.2f} B/voxel (RSS) = 4 B/voxel + {per_object['rss']:.0f} B/object;"
             f" traced {traced / fg:.2f} = 4 + {per_object['traced']:.0f} B/object"),
             per_object["traced"] <= MAX_BYTES_PER_OBJECT),
        ]
        lines += ["## Targets (blobs stack)", "", "| target | measured | met |", "|---|---|:---:|"]
        for text, value, ok in checks:
            lines.append(f"| {text} | {value} | {'yes' if ok else '**no**'} |")
        lines += [
            "",
            ("The baselines are single-threaded; *1 thread* gives our ratios without threads"
            " (`LabelIndex.build(stack, workers=1)`). The per-object part of the memory is"
            " each thread's label table and running stats plus the index's own per-object"
            f" arrays; the memory target counts as met if it is at most"
            f" {MAX_BYTES_PER_OBJECT} B per object (traced)."),
            "",
            "![Build times](index.png)",
            "",
        ]
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 3.6), squeeze=False)
    for ax, r in zip(axes[0], results):
        names = ["np.where loop\n(extrapolated)", "argsort (seed)", "value_indices",
                 "ours, 1 thread", f"ours ({r['threads']} threads)"]
        values = [r["where"], r["argsort"], r["value_indices"], r["ours_1"], r["ours"]]
        colors = ["#999999", "#999999", "#999999", "#4c72b0", "#1f4e99"]
        ax.barh(names, values, color=colors)
        ax.set_xscale("log")
        ax.set_xlabel("seconds (log scale)")
        ax.set_title(f"{r['name']}: {r['info']['shape']}, {r['info']['objects']} objects",
                     fontsize=10)
        for y, v in enumerate(values):
            ax.text(v, y, " " + fmt_s(v), va="center", fontsize=8)
        ax.set_xlim(min(values) / 2, max(values) * 30)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small stacks (a few seconds)")
    parser.add_argument("--out", type=Path, help="markdown output (default: the docs page "
                        "for a full run, nothing for --quick)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data, args.repeats or 1)
        return 0
    if args.quick:
        blob_shape, random_shape = (64, 256, 256), (20, 100, 100)
    else:
        blob_shape, random_shape = (250, 700, 700), (100, 100, 1000)
    args.repeats = args.repeats or (5 if not args.quick else 3)
    args.argsort_repeats = 3  # its time swings by 2x between runs (memory state)
    args.where_labels = 5
    args.coords_repeats = 200
    import numba
    import scipy

    mach = {
        **machine_info(),
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "versions": f"Python {platform.python_version()}, NumPy {np.__version__}, "
                    f"numba {numba.__version__}, SciPy {scipy.__version__}",
    }
    print(f"{mach['date']}  {mach['cpu']}, {mach['cores']} cores, {mach['ram_gib']:.0f} GiB "
          f"RAM, load {mach['load']:.1f}\n{mach['versions']}")

    shape_txt = "x".join(map(str, blob_shape))
    blobs = cached(f"blobs_{shape_txt}_s2.5_q0.93.npy", lambda: blob_stack(blob_shape))
    shape_txt = "x".join(map(str, random_shape))
    rand = cached(f"random_{shape_txt}_12000.npy", lambda: random_stack(random_shape))
    results = [bench_stack("blobs", *blobs, args), bench_stack("random", *rand, args)]

    print()
    for r in results:
        print(f"{r['name']} ({r['info']['shape']}, {r['info']['objects']} objects)")
        for row in table_rows(r):
            print(f"  {row[0]:<40} {row[1]:>9} {row[2]:>7}x  {row[3]}")
    out = args.out if args.out is not None else (None if args.quick else DOC)
    if out is not None:
        text = markdown(results, mach, args.quick)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        plot(results, out.with_suffix(".png"))
        print(f"\nwrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
