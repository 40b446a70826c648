"""Benchmark: object measurements (``labelprep.measure.measure``) against scikit-image's
``regionprops_table`` with the same properties.

Data: the **blobs** stack of ``bench_index.py`` (smoothed Gaussian noise above its 93rd
percentile, connected components, int32, 250 x 700 x 700, ~37k objects; the same cached
file) with a float32 intensity image (seeded Gaussian noise around 1000), and the same
recipe at 1000 x 700 x 700 (~150k objects) for the large-stack target.

Methods, in the same process on the same arrays:

- **ours, given the index**: ``measure(idx, image, properties=PROPS)`` warm (median of
  repeats; default threads and one thread), and its first call in this process (numba
  cache load, or compilation with an empty cache);
- **ours, build + measure**: ``build_and_measure(stack, image, properties=PROPS)``, the
  fused path (the build's second pass gathers the intensity sums as it reads the stack),
  and the same unfused, ``measure(LabelIndex.build(stack), image, ...)``;
- **regionprops_table**: ``skimage.measure.regionprops_table(stack, image,
  properties=("label", *PROPS))`` (median of ``--rp-repeats`` runs, each after three of
  ours of each kind; the ratios use the medians of those), its output checked
  against ours (exact for label, bbox, area, min, max; float statistics within float32
  precision, which regionprops computes them in for a float32 image).

``PROPS``: area, centroid, bbox, extent, equivalent_diameter_area, intensity_mean,
intensity_min, intensity_max, intensity_std, centroid_weighted (every property both
compute; ``intensity_sum`` is ours only). Also timed: ours with ``intensity_median`` and
``intensity_sum`` added. Run::

    .venv/bin/python tests/benchmarks/bench_measure.py [--quick] [--no-big] [--out FILE]

Stacks are cached in ``bench-data/`` (gitignored). It prints; ``--out`` also writes the
markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _bench import blob_stack, publish, run_stamp

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data" / "measure"
PROPS = ("area", "centroid", "bbox", "extent", "equivalent_diameter_area", "intensity_mean",
         "intensity_min", "intensity_max", "intensity_std", "centroid_weighted")
TARGETS = {"ratio": 50.0, "big_s": 2.0}
#: the large stack is skipped if less memory than this is available (stack, image, index
#: and the blob recipe's temporaries)
BIG_NEEDS_GIB = 9.0


def cached(name: str, make) -> tuple[Path, str]:
    """Path of the cached ``name`` .npy under bench-data/ (any benchmark's), made if needed."""
    for path in [DATA / name, *sorted((ROOT / "bench-data").rglob(name))]:
        if path.is_file():
            return path, f"cached {path.relative_to(ROOT)}"
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    arr = make()
    tmp = DATA / f".{name}.tmp.npy"
    np.save(tmp, arr)
    del arr
    os.replace(tmp, DATA / name)
    return DATA / name, f"generated in {time.perf_counter() - t0:.0f} s"


def blobs(shape) -> tuple[np.ndarray, str]:
    path, origin = cached(f"blobs_{'x'.join(map(str, shape))}_s2.5_q0.93.npy",
                          lambda: blob_stack(shape))
    return np.load(path), origin


def intensity_image(shape, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.standard_normal(shape, dtype=np.float32)
    image *= 50
    image += 1000
    return image


def available_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeats):
        del result
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def check_equal(ours, ref) -> None:
    """Ours against regionprops_table: same columns; exact or float32-close values."""
    assert list(ours.columns) == list(ref), (list(ours.columns), list(ref))
    for name, expected in ref.items():
        got = ours[name].to_numpy()
        base = name.split("-")[0]
        if base in ("label", "bbox", "area", "intensity_min", "intensity_max"):
            np.testing.assert_array_equal(got, expected, err_msg=name)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9, err_msg=name)


def fmt_s(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.0f} ms"


def bench_blobs(shape, args) -> dict:
    import numba
    from skimage.measure import regionprops_table

    from labelprep import LabelIndex
    from labelprep.measure import build_and_measure, measure

    stack, origin = blobs(shape)
    image = intensity_image(shape)

    def fused():
        return build_and_measure(stack, image, properties=PROPS)[1]

    r: dict = {"shape": " x ".join(map(str, shape)), "origin": origin}
    t0 = time.perf_counter()
    idx = LabelIndex.build(stack)
    r["build_first"] = time.perf_counter() - t0
    r["objects"], r["foreground"] = len(idx), int(idx.voxel_indices.size)
    print(f"blobs {r['shape']} ({origin}): {r['objects']} objects, {r['foreground']:,} "
          f"foreground voxels ({100 * r['foreground'] / stack.size:.1f}%)", flush=True)

    t0 = time.perf_counter()
    measure(idx, image, properties=PROPS)
    r["first"] = time.perf_counter() - t0
    r["ours"], ours = timed(lambda: measure(idx, image, properties=PROPS), args.repeats)
    extra = PROPS + ("intensity_sum", "intensity_median")
    measure(idx, image, properties=extra)
    r["ours_extra"], _ = timed(lambda: measure(idx, image, properties=extra), args.repeats)
    threads = numba.get_num_threads()
    r["threads"] = threads
    numba.set_num_threads(1)
    try:
        r["ours_1"], _ = timed(lambda: measure(idx, image, properties=PROPS), args.repeats)
    finally:
        numba.set_num_threads(threads)
    r["build"], _ = timed(lambda: LabelIndex.build(stack), args.repeats)
    t0 = time.perf_counter()
    fused()
    r["fused_first"] = time.perf_counter() - t0
    r["both"], _ = timed(lambda: measure(LabelIndex.build(stack), image, properties=PROPS),
                         args.repeats)
    r["fused"], fused_out = timed(fused, args.repeats)
    r["fused_build"], _ = timed(lambda: LabelIndex.build(stack, image=image), args.repeats)
    print(f"   ours {fmt_s(r['ours'])} given the index ({threads} threads; 1 thread "
          f"{fmt_s(r['ours_1'])}; first call {fmt_s(r['first'])}), build + measure "
          f"{fmt_s(r['both'])}, fused {fmt_s(r['fused'])} (first call "
          f"{fmt_s(r['fused_first'])})", flush=True)

    # regionprops runs alternate with ours (given the index, and build + measure), so that
    # load changes on a shared machine hit both sides
    rp_times, paired, paired_both, paired_fused = [], [], [], []

    def ours_runs() -> None:
        paired.append(timed(lambda: measure(idx, image, properties=PROPS), 3)[0])
        paired_both.append(timed(
            lambda: measure(LabelIndex.build(stack), image, properties=PROPS), 3)[0])
        paired_fused.append(timed(fused, 3)[0])

    for _ in range(args.rp_repeats):
        ours_runs()
        t0 = time.perf_counter()
        ref = regionprops_table(stack, image, properties=("label", *PROPS))
        rp_times.append(time.perf_counter() - t0)
        print(f"   regionprops_table {fmt_s(rp_times[-1])}", flush=True)
    ours_runs()
    check_equal(ours, ref)
    check_equal(fused_out, ref)
    r["rp"] = statistics.median(rp_times)
    r["ours_paired"] = statistics.median(paired)
    r["both_paired"] = statistics.median(paired_both)
    r["fused_paired"] = statistics.median(paired_fused)
    r["ratio"] = r["rp"] / r["ours_paired"]
    r["ratio_both"] = r["rp"] / r["both_paired"]
    r["ratio_fused"] = r["rp"] / r["fused_paired"]
    print(f"   regionprops_table {fmt_s(r['rp'])} (median of {len(rp_times)}): x"
          f"{r['ratio']:.0f} ours given the index, x{r['ratio_fused']:.0f} build + measure "
          f"fused, x{r['ratio_both']:.0f} unfused (ours between its runs: "
          f"{fmt_s(r['ours_paired'])}, {fmt_s(r['fused_paired'])}, "
          f"{fmt_s(r['both_paired'])}); outputs checked equal", flush=True)
    return r


def bench_big(shape, args) -> dict | None:
    from labelprep import LabelIndex
    from labelprep.measure import measure

    avail = available_gib()
    if avail < BIG_NEEDS_GIB:
        print(f"big stack skipped: {avail:.1f} GiB available, {BIG_NEEDS_GIB} needed")
        return None
    stack, origin = blobs(shape)
    r: dict = {"shape": " x ".join(map(str, shape)), "origin": origin}
    t0 = time.perf_counter()
    idx = LabelIndex.build(stack)
    r["build"] = time.perf_counter() - t0
    del stack
    image = intensity_image(shape, seed=2)
    r["objects"], r["foreground"] = len(idx), int(idx.voxel_indices.size)
    measure(idx, image, properties=PROPS)  # warm-up
    r["ours"], _ = timed(lambda: measure(idx, image, properties=PROPS), args.big_repeats)
    print(f"blobs {r['shape']} ({origin}): {r['objects']} objects, {r['foreground']:,} "
          f"foreground voxels; build {fmt_s(r['build'])}, measure {fmt_s(r['ours'])} "
          f"(median of {args.big_repeats})", flush=True)
    return r


def report(r: dict, big: dict | None, mach: dict) -> str:
    lines = [
        "# Benchmark: object measurements (`labelprep.measure.measure`)",
        "",
        f"Run {mach['date']} on {mach['cpu']}, {mach['cores']} cores, {mach['ram_gib']:.0f} "
        f"GiB RAM (load {mach['load']:.1f} at the start). {mach['versions']}.",
        "",
        f"Blobs {r['shape']} int32, {r['objects']} objects, {r['foreground']:,} foreground "
        f"voxels, float32 image; properties {', '.join(PROPS)}.",
        "",
        "| method | time | × ours |",
        "|---|---:|---:|",
        f"| ours, given the index ({r['threads']} threads) | {fmt_s(r['ours'])} | 1.0 |",
        f"| ours, given the index, 1 thread | {fmt_s(r['ours_1'])} | "
        f"{r['ours_1'] / r['ours']:.1f} |",
        f"| ours, first call in the process | {fmt_s(r['first'])} | "
        f"{r['first'] / r['ours']:.1f} |",
        f"| ours + intensity_sum, intensity_median | {fmt_s(r['ours_extra'])} | "
        f"{r['ours_extra'] / r['ours']:.1f} |",
        f"| LabelIndex.build alone | {fmt_s(r['build'])} | {r['build'] / r['ours']:.1f} |",
        f"| LabelIndex.build(stack, image=image) alone (fused sums) | "
        f"{fmt_s(r['fused_build'])} | {r['fused_build'] / r['ours']:.1f} |",
        f"| ours, build + measure, fused (`build_and_measure`) | {fmt_s(r['fused'])} | "
        f"{r['fused'] / r['ours']:.1f} |",
        f"| ours, build + measure, fused, first call in the process | "
        f"{fmt_s(r['fused_first'])} | {r['fused_first'] / r['ours']:.1f} |",
        f"| ours, build + measure, unfused (`measure(LabelIndex.build(stack), image)`) | "
        f"{fmt_s(r['both'])} | {r['both'] / r['ours']:.1f} |",
        f"| regionprops_table (ours between its runs: given the index "
        f"{fmt_s(r['ours_paired'])}; build + measure fused {fmt_s(r['fused_paired'])}, "
        f"unfused {fmt_s(r['both_paired'])}) | {fmt_s(r['rp'])} | {r['ratio']:.0f} |",
        "",
        "| target | measured | met |",
        "|---|---|:---:|",
        f"| given the index ≥ {TARGETS['ratio']:.0f}× regionprops_table | {r['ratio']:.0f}× "
        f"| {'yes' if r['ratio'] >= TARGETS['ratio'] else '**no**'} |",
        f"| build + measure (fused) ≥ {TARGETS['ratio']:.0f}× regionprops_table | "
        f"{r['ratio_fused']:.0f}× (unfused {r['ratio_both']:.0f}×) | "
        f"{'yes' if r['ratio_fused'] >= TARGETS['ratio'] else '**no**'} |",
    ]
    if big is not None:
        ok = big["ours"] < TARGETS["big_s"]
        lines.append(
            f"| {big['shape']} ({big['objects']} objects, {big['foreground']:,} voxels) "
            f"measured < {TARGETS['big_s']:.0f} s | {fmt_s(big['ours'])} | "
            f"{'yes' if ok else '**no**'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small stacks (seconds)")
    parser.add_argument("--no-big", action="store_true", help="skip the 1000 x 700 x 700 stack")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--rp-repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    args = parser.parse_args(argv)
    if args.quick:
        shape, big_shape = (64, 256, 256), (128, 256, 256)
    else:
        shape, big_shape = (250, 700, 700), (1000, 700, 700)
    args.repeats = args.repeats or (7 if not args.quick else 3)
    args.rp_repeats = args.rp_repeats or (3 if not args.quick else 1)
    args.big_repeats = 5
    import numba
    import skimage

    mach = run_stamp(f"Python {platform.python_version()}, NumPy {np.__version__}, "
                     f"numba {numba.__version__}, scikit-image {skimage.__version__}")
    r = bench_blobs(shape, args)
    big = None if args.no_big else bench_big(big_shape, args)
    publish(report(r, big, mach), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
