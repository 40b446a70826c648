"""Benchmark: from "read this folder" to an index ready for a click (issue #20).

Data: the **blobs** recipe of ``bench_index.py`` (smoothed Gaussian noise above its 93rd
percentile, connected components) at ``N x 700 x 700`` (N = 1000 by default, ~150k
objects), saved as a folder of slices three ways:

- **16-bit PNG**: ``(label - 1) % 65535 + 1`` (a 16-bit slice cannot hold 150k ids; the
  folded ids are what such a folder would hold);
- **32-bit TIFF**: the labels as uint32, zlib-compressed (``--tiff-compression none``
  for uncompressed files);
- **RGB-coded PNG**: every object its own random colour (distinct, not black), as a
  connected-components tool saves them.

Methods, per format, in the same process (median of ``--repeats`` rounds, each round
running all methods in turn so that load changes on the shared machine hit all):

- **ours**: ``io.read_label_stack(folder)`` (all cores) + ``LabelIndex.build``;
- **serial loop**: one Pillow / tifffile read per file into a preallocated array
  (``np.asarray(Image.open(f))``; for RGB then ``io.colours_to_labels``) + build;
- **decode floor**: only decoding every file on all cores, results dropped, plus the
  build of the same stack timed separately; with the fastest decoder we know: for PNG
  both Pillow (``Image.open(f).load()``) and libpng (``imagecodecs.png_decode`` of the
  file's bytes, what ours uses after the first slice) are timed and the faster is the
  floor; for TIFF both ``tifffile.imread(f)`` and libtiff (``imagecodecs.tiff_decode``
  of the file's bytes: faster than ours, which inflates each strip with libdeflate,
  but it does not check the deflate streams, so ours cannot use it);
- **first touch**: allocating the output stack and touching each of its pages once
  (what any reader that returns the stack in fresh memory pays the kernel, and the
  decode floor does not: in this VM a fresh page costs much more than a reused one);
- for TIFF also **tifffile sequence**: ``tifffile.imread(files, ioworkers=cores)`` + build.

Ours is checked equal to the serial loop's stack. Run::

    .venv/bin/python tests/benchmarks/bench_read_stack.py [--slices N] [--repeats R] [--out FILE]

The slices are made once and cached in ``bench-data/read_stack/`` (gitignored).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _bench import blob_stack, publish, run_stamp

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data" / "read_stack"
SHAPE = (700, 700)
TARGETS = {"floor": 1.15, "floor_rgb": 1.3, "serial": 1.7}
FORMATS = ("png16", "tiff32", "rgb")
SECOND = {"png16": "libpng", "tiff32": "libtiff", "rgb": "libpng"}  # the other decoder
TITLES = {"png16": "16-bit PNG", "tiff32": "32-bit TIFF", "rgb": "RGB-coded PNG"}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def blobs(n: int) -> np.ndarray:
    """The blobs stack of n slices (cached .npy under bench-data/, any benchmark's)."""
    name = f"blobs_{n}x{SHAPE[0]}x{SHAPE[1]}_s2.5_q0.93.npy"
    for path in [DATA / name, *sorted((ROOT / "bench-data").rglob(name))]:
        if path.is_file():
            return np.load(path, mmap_mode="r")
    DATA.mkdir(parents=True, exist_ok=True)
    arr = blob_stack((n, *SHAPE))
    tmp = DATA / f".{name}.tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, DATA / name)
    return np.load(DATA / name, mmap_mode="r")


def make_folders(n: int, compression: str) -> dict[str, Path]:
    """The three folders of n slices (made once; a folder is complete when its
    ``.done`` marker exists)."""
    import tifffile
    from PIL import Image

    folders = {"png16": DATA / f"png16_{n}", "tiff32": DATA / f"tiff32_{compression}_{n}",
               "rgb": DATA / f"rgb_{n}"}
    todo = [k for k, f in folders.items() if not (f / ".done").exists()]
    if not todo:
        return folders
    t0 = time.perf_counter()
    stack = blobs(n)
    top = int(stack.max())
    rng = np.random.default_rng(20)
    palette = np.zeros((top + 1, 3), np.uint8)
    codes = rng.choice((1 << 24) - 1, size=top, replace=False) + 1  # distinct, not black
    palette[1:] = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1)

    def write(args) -> None:
        kind, z = args
        plane = np.asarray(stack[z])
        path = folders[kind] / f"z{z:04d}"
        if kind == "png16":
            folded = np.where(plane > 0, (plane - 1) % 65535 + 1, 0).astype(np.uint16)
            Image.fromarray(folded).save(path.with_suffix(".png"))
        elif kind == "tiff32":
            tifffile.imwrite(path.with_suffix(".tif"), plane.astype(np.uint32),
                             compression=None if compression == "none" else compression)
        else:
            Image.fromarray(palette[plane]).save(path.with_suffix(".png"))

    for kind in todo:
        folders[kind].mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(cores()) as pool:
        list(pool.map(write, [(k, z) for k in todo for z in range(n)]))
    for kind in todo:
        (folders[kind] / ".done").write_text("ok")
    print(f"made {', '.join(todo)} ({n} slices) in {time.perf_counter() - t0:.0f} s",
          flush=True)
    return folders


# ----------------------------------------------------------------------------- methods
def files_of(folder: Path) -> list[Path]:
    from labelprep.io import natural_key

    return sorted((p for p in folder.iterdir() if p.suffix in (".png", ".tif")),
                  key=natural_key)


def serial_read(files: list[Path], kind: str) -> np.ndarray:
    """The loop a user would write: one read per file into a preallocated array."""
    import tifffile
    from PIL import Image

    from labelprep import io

    def one(f):
        if kind == "tiff32":
            return tifffile.imread(f)
        with Image.open(f) as im:
            return np.asarray(im)

    first = one(files[0])
    stack = np.empty((len(files), *first.shape), first.dtype)
    for i, f in enumerate(files):
        stack[i] = one(f)
    if kind == "rgb":
        return io.colours_to_labels(stack)[0]
    return stack


def decode_only(files: list[Path], kind: str, workers: int, decoder: str = "first") -> None:
    """The decode floor: every file decoded on ``workers`` threads, the pixels dropped;
    ``decoder`` "first": Pillow (PNG) or tifffile (TIFF), "second": ``SECOND[kind]``."""
    import imagecodecs
    import tifffile
    from PIL import Image

    def one(f):
        if decoder == "second":
            decode = imagecodecs.tiff_decode if kind == "tiff32" else imagecodecs.png_decode
            decode(f.read_bytes())
        elif kind == "tiff32":
            tifffile.imread(f)
        else:
            with Image.open(f) as im:
                im.load()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, files))


def first_touch(shape, dtype) -> None:
    """Allocate a stack and touch every page once (the page faults of fresh memory)."""
    stack = np.empty(shape, dtype)
    flat = stack.reshape(-1).view(np.uint8)
    flat[::4096] = 0


def inflater() -> str:
    """Which deflate decoder ours uses for TIFF strips (``io._inflate``)."""
    from labelprep.io._inflate import native_inflater

    native = native_inflater()
    if native is None:
        return "strip by strip (imagecodecs.deflate_decode, no libdeflate passed the self-test)"
    return f"libdeflate in one nogil numba call per file ({Path(native.path).name})"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def bench_format(kind: str, folder: Path, args) -> dict:
    import tifffile

    from labelprep import LabelIndex, io

    files = files_of(folder)
    n = cores()
    decode_only(files, kind, n)  # warm the page cache
    ours = io.read_label_stack(folder)
    LabelIndex.build(ours.labels)  # numba warm-up
    ref = serial_read(files, kind)
    np.testing.assert_array_equal(ours.labels, ref)
    assert ours.labels.dtype == (np.uint16 if kind == "png16" else np.uint32)
    del ref
    r = {"kind": kind, "slices": len(files), "colours": ours.n_colours,
         "objects": len(LabelIndex.build(ours.labels))}
    t = {k: [] for k in ("ours", "ours_read", "serial", "decode", "build", "tifffile", "decode1",
                         "touch", "second")}
    shape, dtype = ours.labels.shape, ours.labels.dtype
    for _ in range(args.repeats):
        del ours
        t0 = time.perf_counter()
        ours = io.read_label_stack(folder)
        t1 = time.perf_counter()
        LabelIndex.build(ours.labels)
        t["ours"].append(time.perf_counter() - t0)
        t["ours_read"].append(t1 - t0)
        t0 = time.perf_counter()
        LabelIndex.build(ours.labels)
        t["build"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        decode_only(files, kind, n)
        t["decode"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        decode_only(files, kind, n, "second")
        t["second"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        first_touch(shape, dtype)
        t["touch"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        stack = serial_read(files, kind)
        LabelIndex.build(stack)
        t["serial"].append(time.perf_counter() - t0)
        del stack
        if kind == "tiff32":
            t0 = time.perf_counter()
            stack = tifffile.imread(files, ioworkers=n)
            LabelIndex.build(stack)
            t["tifffile"].append(time.perf_counter() - t0)
            del stack
    t0 = time.perf_counter()
    decode_only(files, kind, 1)
    t["decode1"].append(time.perf_counter() - t0)
    r.update({k: statistics.median(v) for k, v in t.items() if v})
    r["floor_first"] = r["decode"] + r["build"]  # Pillow / tifffile
    r["floor"] = min(r["decode"], r["second"]) + r["build"]
    r["vs_first"] = r["ours"] / r["floor_first"]
    r["vs_floor"] = r["ours"] / r["floor"]
    r["vs_floor_touch"] = r["ours"] / (r["floor"] + r["touch"])
    r["vs_serial"] = r["serial"] / r["ours"]
    r["gil"] = r["decode1"] / r["decode"]
    extra = f", tifffile sequence {fmt_s(r['tifffile'])}" if "tifffile" in r else ""
    print(f"{TITLES[kind]}: ours {fmt_s(r['ours'])} (read {fmt_s(r['ours_read'])}, build "
          f"{fmt_s(r['build'])}), floor {fmt_s(r['floor'])} (decode {fmt_s(r['decode'])}; "
          + f"{SECOND[kind]} {fmt_s(r['second'])}; " +
          f"1 thread {fmt_s(r['decode1'])}; first touch {fmt_s(r['touch'])}), serial "
          f"{fmt_s(r['serial'])}{extra}: "
          f"{r['vs_floor']:.2f}x floor, {r['vs_serial']:.2f}x faster than serial", flush=True)
    return r


def report(results: list[dict], mach: dict, args) -> str:
    n = results[0]["slices"]
    objects = {r["kind"]: r["objects"] for r in results}
    colours = {r["kind"]: r["colours"] for r in results}
    lines = [
        "# Reading a folder of label slices (`io.read_label_stack` + `LabelIndex.build`)",
        "",
        f"Run {mach['date']} on {mach['cpu']}, {mach['cores']} cores, {mach['ram_gib']:.0f} GiB "
        f"RAM (load {mach['load']:.1f} at the start; the machine is shared, so timings are "
        f"noisy: compare ratios within this run). {mach['versions']}. Produced by "
        f"`tests/benchmarks/bench_read_stack.py --slices {n}`; median of {args.repeats} "
        "rounds, files in the page cache.",
        "",
        f"TIFF strips inflated by: {inflater()}.",
        "",
        f"Blobs {n} x {SHAPE[0]} x {SHAPE[1]} (objects indexed: "
        + ", ".join(f"{TITLES[k]} {v}" for k, v in objects.items())
        + (f"; {colours['rgb']} colours" if "rgb" in colours else "")
        + f"), as 16-bit PNG (ids folded into 1..65535), 32-bit TIFF "
        f"({args.tiff_compression}) and RGB-coded PNG (one random colour per object). "
        "Time from \"read this folder\" to an index ready for a click.",
        "",
        "| format | ours: read + build | read | build | decode floor + build: Pillow or "
        "tifffile (decode alone, 1 thread) | libpng or libtiff (decode alone) | first touch of "
        "the stack "
        "| serial loop + build | ours / floor | ours / Pillow floor | ours / (floor + first "
        "touch) | serial / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {TITLES[r['kind']]} | {fmt_s(r['ours'])} | {fmt_s(r['ours_read'])} | "
            f"{fmt_s(r['build'])} | {fmt_s(r['floor_first'])} ({fmt_s(r['decode'])}, "
            f"{fmt_s(r['decode1'])}) | "
            + f"{fmt_s(r['second'] + r['build'])} ({fmt_s(r['second'])})"
            + f" | {fmt_s(r['touch'])} | {fmt_s(r['serial'])} | "
            f"{r['vs_floor']:.2f} | {r['vs_first']:.2f} | {r['vs_floor_touch']:.2f} | "
            f"{r['vs_serial']:.2f} |")
    for r in results:
        if "tifffile" in r:
            lines += ["", f"`tifffile.imread(files, ioworkers={mach['cores']})` + build on the "
                      f"TIFF folder: {fmt_s(r['tifffile'])} (ours {fmt_s(r['ours'])}); ours "
                      "reads each file through the checked reader straight into the stack."]
    lines += ["", "| target | measured | met |", "|---|---|:---:|"]
    for r in results:
        limit = TARGETS["floor_rgb" if r["kind"] == "rgb" else "floor"]
        lines.append(f"| {TITLES[r['kind']]}: ours ≤ {limit}× decode floor (the faster "
                     "decoder) + build | "
                     f"{r['vs_floor']:.2f}× | {'yes' if r['vs_floor'] <= limit else '**no**'} |")
    for r in results:
        ok = r["vs_serial"] >= TARGETS["serial"]
        lines.append(f"| {TITLES[r['kind']]}: ours ≥ {TARGETS['serial']}× faster than the "
                     f"serial loop | {r['vs_serial']:.2f}× | {'yes' if ok else '**no**'} |")
    gil = ", ".join(f"{TITLES[r['kind']]} {r['gil']:.2f}×" for r in results)
    lines += ["", f"Decoding on {mach['cores']} threads vs 1 (the GIL is released while "
              f"decoding): {gil}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=1000, help="slices (default 1000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--tiff-compression", choices=("zlib", "none"), default="zlib")
    parser.add_argument("--make-only", action="store_true", help="only make the folders")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    args = parser.parse_args(argv)
    import imagecodecs
    import numba
    import PIL
    import tifffile

    mach = run_stamp(f"Python {platform.python_version()}, NumPy {np.__version__}, numba "
                     f"{numba.__version__}, Pillow {PIL.__version__}, tifffile "
                     f"{tifffile.__version__}, imagecodecs {imagecodecs.__version__}")
    folders = make_folders(args.slices, args.tiff_compression)
    if args.make_only:
        return 0
    print(f"TIFF strips inflated by: {inflater()}", flush=True)
    results = [bench_format(k, folders[k], args) for k in args.formats]
    publish(report(results, mach, args), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
