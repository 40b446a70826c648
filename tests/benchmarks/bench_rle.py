"""Benchmark: multi-class RLE encode/decode against pycocotools per class and the seed's NumPy code.

Data (seeded): realistic multi-class masks made of blobs (smoothed Gaussian noise above
its 60th percentile, connected components, each blob given one of 10 classes at random,
background 0), C-ordered uint8 as an image reader returns them:

- 700 x 700 and 2048 x 2048 (2D), 100 x 512 x 512 (a 3D stack);
- 700 x 700 i.i.d. random labels 0..10 (the worst case: a run per pixel or so).

Methods, measured in the same process on the same arrays (median of repeats, numba
already compiled; the first call in a fresh process is timed separately):

- **ours**: ``labelprep.rle.encode(mask)`` -> JSON-ready dict of Python lists;
  ``labelprep.rle.decode(r)`` from that dict. **ours compact**: the same with
  ``compact=True`` (COCO-style strings, what pycocotools stores).
- **pycocotools per class**: encode = make each class's binary mask (from one
  Fortran-ordered copy of the mask, so each binary mask is already Fortran-ordered: the
  fastest way we found) and ``pycocotools.mask.encode`` it (a 3D stack: all slices of a
  class in one call); decode = ``pycocotools.mask.decode`` every class and write it into
  a label image (``np.copyto(..., where=)``, faster than boolean-index assignment).
  The class list is given, not computed.
- **seed (NumPy)**: the seed's approach, written straightforwardly: ``ravel(order="F")``,
  run starts with ``np.flatnonzero`` of the neighbour differences, values and counts as
  tuples of Python ints; decode with ``np.repeat(values, counts)`` reshaped in Fortran
  order (faster than the published per-run Python loop, so the baseline is not
  weakened). **seed, published decode**: the per-run Python loop of the seed's README
  code (uint8 output), for reference.

Targets (issue 5): encode >= 5x faster than pycocotools per class, decode >= 20x faster
than pycocotools decoding all classes into a label image, and both faster than the seed.

Run: ``.venv/bin/python tests/benchmarks/bench_rle.py [--quick] [--write]``. A full run
writes ``docs/benchmarks/rle.md`` (and ``rle.png``); ``--quick`` (small arrays, few
repeats) only prints unless ``--write`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import machine

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks" / "rle.md"
PLOT = ROOT / "docs" / "benchmarks" / "rle.png"
N_CLASSES = 10

FULL = {
    "cases": [
        ("700 x 700, 10 classes (blobs)", (700, 700), "blobs"),
        ("2048 x 2048, 10 classes (blobs)", (2048, 2048), "blobs"),
        ("100 x 512 x 512 stack, 10 classes (blobs)", (100, 512, 512), "blobs"),
        ("700 x 700, i.i.d. random labels (worst case)", (700, 700), "random"),
    ],
    "repeats": 9,
    "repeats_3d": 3,
}
QUICK = {
    "cases": [
        ("256 x 256, 10 classes (blobs)", (256, 256), "blobs"),
        ("512 x 512, 10 classes (blobs)", (512, 512), "blobs"),
        ("24 x 128 x 128 stack, 10 classes (blobs)", (24, 128, 128), "blobs"),
        ("256 x 256, i.i.d. random labels (worst case)", (256, 256), "random"),
    ],
    "repeats": 3,
    "repeats_3d": 2,
}
ENCODE_TARGET = 5.0
DECODE_TARGET = 20.0


# ----------------------------------------------------------------------------- data
def blob_mask(shape, seed=0, n_classes=N_CLASSES) -> np.ndarray:
    """Blobs of ``n_classes`` classes on background 0 (uint8, C order)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    sigma = max(shape[-2:]) / 100.0  # blobs of about 5 % of the image width
    noise = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    blobs, n = ndi.label(noise > np.quantile(noise[::3, ::3], 0.6))
    classes = rng.integers(1, n_classes + 1, size=n + 1).astype(np.uint8)
    classes[0] = 0
    return classes[blobs]


def random_mask(shape, seed=0, n_classes=N_CLASSES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes + 1, size=shape, dtype=np.uint8)


# ----------------------------------------------------------------------------- baselines
def coco_encode(mask: np.ndarray, classes) -> list:
    """pycocotools: one compressed RLE per class (per class and slice for a 3D stack)."""
    from pycocotools import mask as mask_utils

    if mask.ndim == 2:
        mf = np.asfortranarray(mask)
    else:  # (z, y, x) -> (y, x, z) in Fortran order: pycocotools' (h, w, n) batch layout
        mf = np.asfortranarray(mask.transpose(1, 2, 0))
    return [mask_utils.encode((mf == c).view(np.uint8)) for c in classes]


def coco_decode(encoded: list, classes, shape) -> np.ndarray:
    """pycocotools: decode every class and write it into one label image."""
    from pycocotools import mask as mask_utils

    if len(shape) == 2:
        out = np.zeros(shape, np.uint8, order="F")
        for c, r in zip(classes, encoded):
            np.copyto(out, c, where=mask_utils.decode(r).view(np.bool_))
        return out
    out = np.zeros((shape[1], shape[2], shape[0]), np.uint8, order="F")
    for c, rs in zip(classes, encoded):
        np.copyto(out, c, where=mask_utils.decode(rs).view(np.bool_))
    return out.transpose(2, 0, 1)


def seed_encode(mask: np.ndarray) -> dict:
    """The seed's approach: Fortran ravel, run starts from neighbour differences."""
    flat = mask.ravel(order="F")
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], starts))
    counts = np.diff(np.concatenate((starts, [flat.size])))
    return {
        "size": tuple(mask.shape),
        "values": tuple(flat[starts].tolist()),
        "counts": tuple(counts.tolist()),
    }


def seed_decode(r: dict, dtype=np.uint8) -> np.ndarray:
    """The seed's approach with np.repeat (vectorised)."""
    values = np.asarray(r["values"], dtype=dtype)
    return np.repeat(values, np.asarray(r["counts"])).reshape(r["size"], order="F")


def seed_decode_published(r: dict) -> np.ndarray:
    """The seed README's decode: a Python loop writing each run (uint8 output)."""
    out = np.zeros(int(np.prod(r["size"])), dtype=np.uint8)
    start = 0
    for val, cnt in zip(r["values"], r["counts"]):
        out[start : start + cnt] = val
        start += cnt
    return out.reshape(r["size"], order="F")


# ----------------------------------------------------------------------------- timing
def median_ms(func, repeats: int) -> float:
    func()  # warm (caches, numba already compiled)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from labelprep import rle
mask = np.random.default_rng(0).integers(0, 4, size=(512, 512), dtype=np.uint8)
r = rle.encode(mask)
t1 = time.perf_counter()
out = rle.decode(r)
t2 = time.perf_counter()
rle.decode(rle.encode(mask, compact=True))
t3 = time.perf_counter()
assert (out == mask).all()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def first_call(cache_dir: str | None) -> tuple[float, float, float]:
    """(import + first encode, first decode, first compact round trip) in a fresh process."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return tuple(float(x) for x in out)  # type: ignore[return-value]


def run_case(name, shape, kind, repeats) -> dict:
    from labelprep import rle

    mask = blob_mask(shape) if kind == "blobs" else random_mask(shape)
    classes = [int(c) for c in np.unique(mask) if c != 0]
    r = rle.encode(mask)
    rc = rle.encode(mask, compact=True)
    coco = coco_encode(mask, classes)
    seed = seed_encode(mask)
    # every method decodes to the same mask, and ours equals the seed's runs
    assert (rle.decode(r) == mask).all() and (rle.decode(rc) == mask).all()
    assert (coco_decode(coco, classes, shape) == mask).all()
    assert (seed_decode(seed) == mask).all()
    assert tuple(r["values"]) == seed["values"] and tuple(r["counts"]) == seed["counts"]

    published = mask.ndim == 2 or len(seed["counts"]) < 3_000_000
    rows = {}
    rows["ours"] = (median_ms(lambda: rle.encode(mask), repeats),
                    median_ms(lambda: rle.decode(r), repeats))
    rows["ours compact"] = (median_ms(lambda: rle.encode(mask, compact=True), repeats),
                            median_ms(lambda: rle.decode(rc), repeats))
    rows["pycocotools per class"] = (
        median_ms(lambda: coco_encode(mask, classes), repeats),
        median_ms(lambda: coco_decode(coco, classes, shape), repeats),
    )
    rows["seed (NumPy)"] = (median_ms(lambda: seed_encode(mask), repeats),
                            median_ms(lambda: seed_decode(seed), repeats))
    if published:
        rows["seed, published decode (Python loop)"] = (
            None, median_ms(lambda: seed_decode_published(seed), max(1, repeats // 3)))
    # the memory layout question: C input read in place (default) vs one Fortran copy
    mask_f = np.asfortranarray(mask)
    layout = {
        "C input, row sweep (default)": rows["ours"][0],
        "C input, np.asfortranarray copy + flat scan": median_ms(
            lambda: rle.encode(np.asfortranarray(mask)), repeats),
        "F input, flat scan": median_ms(lambda: rle.encode(mask_f), repeats),
    }
    dumps = lambda obj: len(json.dumps(obj, separators=(",", ":")))  # noqa: E731
    sizes = {
        "ours": dumps(r),
        "ours compact": dumps(rc),
        "pycocotools per class": dumps(
            [{"class": c, "rle": [{"size": x["size"], "counts": x["counts"].decode()}
                                  for x in (e if isinstance(e, list) else [e])]}
             for c, e in zip(classes, coco)]),
        "seed (NumPy)": dumps(seed),
    }
    return {"name": name, "shape": shape, "runs": len(r["counts"]), "classes": len(classes),
                "raw": mask.nbytes, "rows": rows, "layout": layout, "sizes": sizes}


# ----------------------------------------------------------------------------- report
def fmt_ms(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def case_table(case: dict) -> list[str]:
    enc0, dec0 = case["rows"]["ours"]
    encc, decc = case["rows"]["ours compact"]
    lines = [
        f"### {case['name']}",
        "",
        f"{case['runs']:,} runs, {case['classes']} classes, {case['raw']:,} bytes of uint8 "
        "pixels.",
        "",
        "| method | encode (ms) | decode (ms) | ours encode is | ours decode is "
        "| ours compact decode is | JSON bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method, (enc, dec) in case["rows"].items():
        ours = method.startswith("ours")
        speed_enc = "" if ours or enc is None else f"{enc / enc0:.1f}x faster"
        speed_dec = "" if ours else f"{dec / dec0:.1f}x faster"
        speed_decc = "" if ours else f"{dec / decc:.1f}x faster"
        size = case["sizes"].get(method)
        lines.append(
            f"| {method} | {fmt_ms(enc)} | {fmt_ms(dec)} | {speed_enc} | {speed_dec} | "
            f"{speed_decc} | {'' if size is None else f'{size:,}'} |"
        )
    lines.append("")
    lay = case["layout"]
    lines.append(
        "Encode by input layout (ms): "
        + "; ".join(f"{k}: {fmt_ms(v)}" for k, v in lay.items())
        + "."
    )
    lines.append("")
    return lines


def verdicts(cases) -> list[str]:
    lines = []
    for case in cases:
        rows = case["rows"]
        enc_coco, dec_coco = rows["pycocotools per class"]
        enc_seed, dec_seed = rows["seed (NumPy)"]
        for variant in ("ours", "ours compact"):
            enc, dec = rows[variant]
            e, d = enc_coco / enc, dec_coco / dec
            checks = [
                f"encode {e:.1f}x pycocotools ({'met' if e >= ENCODE_TARGET else 'NOT met'})",
                f"decode {d:.1f}x pycocotools ({'met' if d >= DECODE_TARGET else 'NOT met'})",
                f"encode {enc_seed / enc:.1f}x seed ({'met' if enc < enc_seed else 'NOT met'})",
                f"decode {dec_seed / dec:.1f}x seed ({'met' if dec < dec_seed else 'NOT met'})",
            ]
            lines.append(f"- {case['name']}, **{variant}**: " + "; ".join(checks) + ".")
    return lines


def plot(cases, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = ["ours", "ours compact", "pycocotools per class", "seed (NumPy)"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    width = 0.8 / len(methods)
    for ax, which, title in ((axes[0], 0, "encode"), (axes[1], 1, "decode")):
        for i, m in enumerate(methods):
            vals = [c["rows"][m][which] for c in cases]
            ax.bar(np.arange(len(cases)) + i * width, vals, width, label=m)
        ax.set_yscale("log")
        ax.set_ylabel("ms (log scale, lower is better)")
        ax.set_title(title)
        ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2)
        ax.set_xticklabels([c["name"].split(",")[0].replace(" stack", "\nstack")
                            + ("\nrandom" if "random" in c["name"] else "") for c in cases],
                           fontsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small arrays, few repeats")
    parser.add_argument("--write", action="store_true", help="write the docs even with --quick")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    import numba

    import labelprep

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {machine()}; load average {load:.2f}")
    with tempfile.TemporaryDirectory() as empty_cache:
        cold = first_call(empty_cache)
    warm_cache = first_call(None)
    print(f"first call, fresh process, empty numba cache (compiles): import+encode "
          f"{cold[0]:.2f} s, decode {cold[1]:.2f} s, compact round trip {cold[2]:.2f} s")
    print(f"first call, fresh process, numba cache on disk: import+encode {warm_cache[0]:.2f} s, "
          f"decode {warm_cache[1]:.2f} s, compact round trip {warm_cache[2]:.2f} s")
    cases = []
    for name, shape, kind in cfg["cases"]:
        repeats = cfg["repeats_3d"] if len(shape) == 3 else cfg["repeats"]
        case = run_case(name, shape, kind, repeats)
        cases.append(case)
        print("\n".join(case_table(case)))
    lines_verdict = verdicts(cases)
    print("\n".join(lines_verdict))

    if args.quick and not args.write:
        return 0
    doc = [
        "# Multi-class RLE benchmark",
        "",
        f"`tests/benchmarks/bench_rle.py`{' --quick' if args.quick else ''}, run on "
        f"{dt.date.today().isoformat()}: {machine()}; numpy {np.__version__}, numba "
        f"{numba.__version__}, pycocotools {importlib.metadata.version('pycocotools')}, "
        f"labelprep {labelprep.__version__}. Load average at start: {load:.2f} (the machine "
        "is shared, timings are noisy).",
        "",
        "Masks: blobs (smoothed Gaussian noise above its 60th percentile, connected "
        "components, each blob one of 10 classes, background 0) and i.i.d. random labels, "
        f"uint8, C-ordered. Median of {cfg['repeats']} repeats ({cfg['repeats_3d']} for the "
        "3D stack), numba compiled beforehand. Decode starts from each method's own stored "
        "form (ours: the dict of lists as `json.load` returns it, or the compact strings; "
        "pycocotools: its compressed RLE dicts; seed: its tuples). \"ours ... is Nx "
        "faster\" = that row's time / ours.",
        "",
        "Baselines: **pycocotools per class** encodes one binary mask per class (made from "
        "one Fortran-ordered copy, classes given) and decodes every class into one label "
        "image with `np.copyto(where=)`; **seed (NumPy)** is the seed's approach "
        "(`ravel('F')`, `np.flatnonzero` of neighbour differences, tuples of ints; decode "
        "`np.repeat`), and the seed's published per-run Python loop decode for reference.",
        "",
    ]
    for case in cases:
        doc += case_table(case)
    doc += [
        "## First call (numba compilation)",
        "",
        f"In a fresh process, 512 x 512 mask: with an empty numba cache (compiles the "
        f"kernels) import + first encode {cold[0]:.2f} s, first decode {cold[1]:.2f} s, "
        f"first compact round trip {cold[2]:.2f} s; with the on-disk cache (`cache=True`, "
        f"every later run) {warm_cache[0]:.2f} s, {warm_cache[1]:.2f} s and "
        f"{warm_cache[2]:.2f} s. Each new integer width compiles its own kernels once.",
        "",
        "## Targets (issue 5)",
        "",
        f"Encode >= {ENCODE_TARGET:g}x pycocotools per class, decode >= {DECODE_TARGET:g}x "
        "pycocotools into a label image, both faster than the seed:",
        "",
        *lines_verdict,
        "",
        "## Where the time goes",
        "",
        "- The format is JSON lists of Python ints, so `encode` ends by building two "
        "lists (`tolist()`; byte values through `bytes`) and `decode` starts by reading "
        "two (counts through `array.fromlist`, about 3 ns a number, the fastest route we "
        "measured; byte values through `bytearray`), then checks the counts while "
        "filling the output. On masks with many runs (700 x 700, and above all i.i.d. "
        "random labels) that conversion is a large part of our time; **ours compact** "
        "skips it on decode (one numba kernel reads both strings straight into the "
        "output).",
        "- The scans are single-threaded numba loops: C-ordered input is read row by row "
        "in memory order (the first entry of the layout line under each table: no copy), "
        "once to count the changes down each column (which lays out the output in "
        "column-major order) and once to write each change into its slot. Changes are "
        "found through byte flags of a row against the one above (vectorised) and their "
        "non-zero 8-byte words, without a branch per pixel.",
        "- The 3D stack is read along its first axis first (the format's column-major "
        "order): each of its 512 x 512 lines of 100 voxels along z holds a few runs, "
        "many more runs than pycocotools' per-slice encodings along lines of 512 pixels "
        "(compare the JSON bytes). The work per run (writing it into its column-major "
        "slot, converting it to a Python int) is most of our encode time there.",
        "",
    ]
    try:
        plot(cases, PLOT)
        doc += ["![encode and decode times](rle.png)", ""]
    except ImportError:
        print("matplotlib not installed: no plot")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(doc))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
