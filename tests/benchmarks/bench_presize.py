"""Benchmark: presizing a folder of 4-megapixel JPEGs (and PNG masks) to 160 px.

Compares, in one run and with the same number of workers for every method (each
baseline with a process pool and with a thread pool, keeping the faster):

- ours: ``labelprep.presize.folder`` (JPEG DCT-domain draft decode + reduce + LANCZOS),
  images only and with the masks;
- the FastAI tutorial's approach: full decode, ``scipy.ndimage.gaussian_filter`` with
  sigma = 0.25 / ratio per axis, ``scipy.ndimage.zoom(order=1)``, save;
- Pillow full decode + LANCZOS resize + save;
- Pillow ``Image.thumbnail`` (draft + reducing_gap=2, Pillow's own fast path);
- pyvips ``thumbnail`` (if pyvips is importable).

and the PSNR of each method's output against a full-resolution LANCZOS reference (full
decode, one LANCZOS resize, no JPEG compression).

Run: ``.venv/bin/python tests/benchmarks/bench_presize.py [--quick]``. The generated
dataset is cached in ``bench-data/presize/`` (gitignored). Writes
``docs/benchmarks/presize.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _bench import machine
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data" / "presize"
DOC = ROOT / "docs" / "benchmarks" / "presize.md"
SIZE = 160
SHAPE = (1632, 2448)  # 4 megapixels, 3:2
JPEG_QUALITY = 90
# every method saves the same way: quality 90, no chroma subsampling (what ours writes)
SAVE = {"quality": JPEG_QUALITY, "subsampling": 0}


# ----------------------------------------------------------------------------- data
def _texture(shape, rng) -> np.ndarray:
    """Multi-octave value noise in [-1, 1]: natural-looking detail at every scale."""
    h, w = shape
    tex = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for cell in (256, 64, 16, 4, 1):
        small = rng.uniform(-1, 1, size=(max(2, h // cell + 1), max(2, w // cell + 1)))
        up = Image.fromarray(small.astype(np.float32)).resize((w, h), Image.Resampling.BICUBIC)
        tex += amp * np.asarray(up)
        total += amp
        amp *= 0.7
    return tex / total


def make_image(seed: int, shape=SHAPE) -> tuple[np.ndarray, np.ndarray]:
    from labelprep.samples import photo_2d

    rng = np.random.default_rng(1000 + seed)
    rgb, mask = photo_2d(shape=shape, n_objects=40, seed=seed)
    tex = _texture(shape, rng)[..., None]
    out = rgb.astype(np.float32) * (1.0 + 0.25 * tex) + rng.normal(0, 4.0, size=rgb.shape)
    return np.clip(out, 0, 255).astype(np.uint8), mask


def ensure_dataset(n: int) -> tuple[Path, Path]:
    images, masks = DATA / "images", DATA / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        jpg, png = images / f"img_{i:03d}.jpg", masks / f"img_{i:03d}.png"
        if jpg.exists() and png.exists():
            continue
        print(f"generating {jpg.name} ...", file=sys.stderr)
        rgb, mask = make_image(i)
        Image.fromarray(rgb).save(jpg, quality=92)
        Image.fromarray(mask).save(png)
    return images, masks


# ------------------------------------------------------------------------- baselines
def _out_hw(h: int, w: int) -> tuple[int, int]:
    from labelprep.presize import output_shape

    return output_shape((h, w), SIZE)


def tutorial_one(args) -> None:
    """The tutorial's presizeimage: Gaussian sigma 0.25/ratio, then a linear resize."""
    from scipy import ndimage

    src, dst = args
    img = np.asarray(Image.open(src).convert("RGB"), dtype=np.float32)
    h, w = img.shape[:2]
    ratio = SIZE / min(h, w)  # = max(sz ./ size(image)) for sz = (160, 160)
    oh, ow = round(h * ratio), round(w * ratio)
    sigma = 0.25 / ratio
    blurred = ndimage.gaussian_filter(img, sigma=(sigma, sigma, 0))
    small = ndimage.zoom(blurred, (oh / h, ow / w, 1), order=1)
    Image.fromarray(np.clip(small + 0.5, 0, 255).astype(np.uint8)).save(dst, **SAVE)


def pillow_full_one(args) -> None:
    src, dst = args
    with Image.open(src) as im:
        im = im.convert("RGB")
        oh, ow = _out_hw(im.height, im.width)
        im.resize((ow, oh), Image.Resampling.LANCZOS).save(dst, **SAVE)


def pillow_thumbnail_one(args) -> None:
    src, dst = args
    with Image.open(src) as im:
        oh, ow = _out_hw(im.height, im.width)
        im.thumbnail((ow, oh), Image.Resampling.LANCZOS, reducing_gap=2.0)
        im.save(dst, **SAVE)


def pyvips_one(args) -> None:
    import pyvips

    src, dst = args
    header = pyvips.Image.new_from_file(str(src), access="sequential")  # header only
    oh, ow = _out_hw(header.height, header.width)
    thumb = pyvips.Image.thumbnail(str(src), ow, height=oh, size="down")
    thumb.write_to_file(str(dst) + f"[Q={JPEG_QUALITY},subsample-mode=off]")


def decode_only_one(args) -> None:
    """Decode at the DCT scale presize picks (the cost floor): no resize, no save."""
    from labelprep import presize

    src, _ = args
    with Image.open(src) as im:
        oh, ow = _out_hw(im.height, im.width)
        im.draft(im.mode, (int(ow * presize.DRAFT_GAP), int(oh * presize.DRAFT_GAP)))
        im.load()


def reference(src: Path) -> np.ndarray:
    """Full decode + one LANCZOS resize to our output shape, no JPEG compression."""
    with Image.open(src) as im:
        im = im.convert("RGB")
        oh, ow = _out_hw(im.height, im.width)
        return np.asarray(im.resize((ow, oh), Image.Resampling.LANCZOS), dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# ---------------------------------------------------------------------------- timing
class Timer:
    """Wall time and CPU time (this process + finished child processes, all threads)."""

    def _cpu(self) -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def __enter__(self):
        self.wall0, self.cpu0 = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = self._cpu() - self.cpu0


def run_baseline(fn, files: list[Path], out: Path, workers: int, executor: str = "best") -> Timer:
    """Time ``fn`` over the files with ``workers`` processes or threads.

    ``executor="best"`` runs both and keeps the faster (the baselines get their best
    executor, as ours chooses its own); the returned timer says which in ``.executor``.
    """
    if executor == "best":
        timers = [run_baseline(fn, files, out, workers, e) for e in ("processes", "threads")]
        return min(timers, key=lambda t: t.wall)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    jobs = [(f, out / f.name) for f in files]
    with Timer() as timer:
        if workers == 1:
            for j in jobs:
                fn(j)
        else:
            pool_type = ProcessPoolExecutor if executor == "processes" else ThreadPoolExecutor
            with pool_type(workers) as pool:
                list(pool.map(fn, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
    timer.executor = executor
    return timer


def run_ours(images: Path, masks: Path | None, out: Path, workers: int, method="nearest") -> float:
    from labelprep import presize

    for p in (out, out.with_name(out.name + "_masks")):
        if p.exists():
            shutil.rmtree(p)
    kw = {}
    if masks is not None:
        kw = {"masks": masks, "masks_out": out.with_name(out.name + "_masks")}
    with Timer() as timer:
        rep = presize.folder(images, out, SIZE, workers=workers, overwrite=True, method=method,
                             **kw)
    assert not rep.failed, rep.failed
    # presize.folder's choice for JPEG/PNG (executor="auto")
    timer.executor = "threads" if workers > 1 else "serial"
    return timer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 images, 1 round (a smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="rounds (default 3, quick 1)")
    ap.add_argument("--no-write", action="store_true",
                    help="do not write docs/benchmarks/presize.md")
    args = ap.parse_args(argv)
    n = 8 if args.quick else 40
    repeats = args.repeats or (1 if args.quick else 3)
    workers = os.cpu_count() or 1

    import PIL

    from labelprep import presize

    images, masks = ensure_dataset(n)
    files = sorted(images.glob("*.jpg"))[:n]
    sub = tempfile.mkdtemp(prefix="bench_presize_")
    work = Path(sub)
    # a folder holding exactly the n files (the cache may hold more)
    src = work / "src"
    msrc = work / "src_masks"
    src.mkdir()
    msrc.mkdir()
    for f in files:
        os.symlink(f, src / f.name)
        os.symlink(masks / (f.stem + ".png"), msrc / (f.stem + ".png"))

    try:
        import pyvips

        have_vips = True
    except Exception as exc:  # noqa: BLE001 - ImportError, or OSError without libvips
        have_vips = False
        vips_note = f"pyvips not importable ({type(exc).__name__}: {exc}); skipped"

    methods = [
        ("ours: presize.folder", f"{workers}", lambda: run_ours(src, None, work / "ours", workers)),
        ("ours: presize.folder + masks (nearest)", f"{workers}",
         lambda: run_ours(src, msrc, work / "oursm", workers)),
        ("ours: presize.folder + masks (mode)", f"{workers}",
         lambda: run_ours(src, msrc, work / "oursmode", workers, method="mode")),
        ("ours: presize.folder, 1 worker", "1", lambda: run_ours(src, None, work / "ours1", 1)),
        ("tutorial: gaussian_filter + zoom (SciPy)", f"{workers}",
         lambda: run_baseline(tutorial_one, files, work / "tutorial", workers)),
        ("Pillow: full decode + LANCZOS", f"{workers}",
         lambda: run_baseline(pillow_full_one, files, work / "pillow", workers)),
        ("Pillow: Image.thumbnail (draft, reducing_gap=2)", f"{workers}",
         lambda: run_baseline(pillow_thumbnail_one, files, work / "thumb", workers)),
    ]
    if have_vips:
        # processes only: after libvips has run in this process, forking can hang
        methods.append(("pyvips: thumbnail", f"{workers}",
                        lambda: run_baseline(pyvips_one, files, work / "vips", workers,
                                             "processes")))
    methods.append(("floor: JPEG decode only, at the DCT scale ours uses", f"{workers}",
                    lambda: run_baseline(decode_only_one, files, work / "floor", workers)))
    outdirs = {
        "ours: presize.folder": work / "ours",
        "tutorial: gaussian_filter + zoom (SciPy)": work / "tutorial",
        "Pillow: full decode + LANCZOS": work / "pillow",
        "Pillow: Image.thumbnail (draft, reducing_gap=2)": work / "thumb",
        "pyvips: thumbnail": work / "vips",
    }

    # warm-up (imports, numba caches, page cache of the source files)
    run_ours(src, msrc, work / "warm", workers, method="mode")
    # ... and of the baselines in this process (imports), for their thread-pool runs
    warm = work / "warm_baselines"
    warm.mkdir()
    # (not pyvips: libvips keeps threads, and forking a process where it has run can hang)
    for fn in (tutorial_one, pillow_full_one, pillow_thumbnail_one, decode_only_one):
        fn((files[0], warm / files[0].name))
    # Rounds: every method once per round, so a burst of load from other processes hits
    # one round of all methods rather than all runs of one method; ratios are taken
    # within a round (then the median over rounds).
    per_round: list[dict[str, Timer]] = []
    for r in range(repeats):
        got = {}
        for name, _, fn in methods:
            got[name] = t = fn()
            print(f"round {r + 1}: {name:50s} {t.wall:7.2f} s  {n / t.wall:7.1f} img/s  "
                  f"cpu {1000 * t.cpu / n:6.1f} ms/img  ({t.executor})", file=sys.stderr)
        per_round.append(got)
    ours_name = "ours: presize.folder"
    times = {name: statistics.median(g[name].wall for g in per_round) for name, _, _ in methods}
    cpu = {name: statistics.median(g[name].cpu for g in per_round) / n for name, _, _ in methods}
    speedup = {
        name: statistics.median(g[name].wall / g[ours_name].wall for g in per_round)
        for name, _, _ in methods
    }
    cpu_speedup = {name: cpu[name] / cpu[ours_name] for name, _, _ in methods}

    # quality vs the full-resolution LANCZOS reference
    refs = {f.name: reference(f) for f in files}
    quality = {}
    for name, d in outdirs.items():
        if not d.exists():
            continue
        vals = []
        for f in files:
            got = np.asarray(Image.open(d / f.name).convert("RGB"))
            ref = refs[f.name]
            if got.shape != ref.shape:
                # pyvips may round the other side differently: compare the common part
                hh, ww = min(got.shape[0], ref.shape[0]), min(got.shape[1], ref.shape[1])
                got, ref = got[:hh, :ww], ref[:hh, :ww]
            vals.append(psnr(got, ref))
        quality[name] = float(np.mean(vals))

    presize_pixels = float(np.mean([psnr(presize.load(f, SIZE), refs[f.name]) for f in files]))
    rows = []
    for name, w, _ in methods:
        ips = n / times[name]
        executors = sorted({g[name].executor for g in per_round})
        if executors != ["serial"]:
            w = f"{w} ({' or '.join(executors)})"
        rows.append((name, w, times[name], ips, speedup[name], cpu[name], cpu_speedup[name],
                     quality.get(name)))
    tut = speedup["tutorial: gaussian_filter + zoom (SciPy)"]
    pil = speedup["Pillow: full decode + LANCZOS"]
    q = quality["ours: presize.folder"]
    checks = [
        (">= 20x the tutorial's approach", tut >= 20, f"{tut:.2f}x"),
        (">= 3x Pillow full decode + LANCZOS", pil >= 3, f"{pil:.2f}x"),
        ("PSNR >= 30 dB vs full-resolution LANCZOS", q >= 30, f"{q:.1f} dB"),
    ]

    today = dt.date.today().isoformat()
    vips = ""
    if have_vips:
        import pyvips

        vips = f", pyvips {pyvips.__version__} (libvips {pyvips.version(0)}.{pyvips.version(1)})"
    lines = [
        "# Presize benchmark",
        "",
        f"- date: {today}{' (quick run)' if args.quick else ''}",
        f"- machine: {machine()}",
        f"- Pillow {PIL.__version__}, NumPy {np.__version__}{vips}",
        (f"- data: {n} generated JPEGs of {SHAPE[1]}x{SHAPE[0]} "
         f"({SHAPE[0] * SHAPE[1] / 1e6:.1f} MP, quality 92, textured `photo_2d`) and their PNG "
         f"masks; target size {SIZE} (shorter side), outputs JPEG quality {JPEG_QUALITY}"),
        ("- every method runs with the same number of workers unless stated; ours uses "
         "threads (what `presize.folder` picks for JPEG/PNG files); every baseline runs "
         "with a process pool and with a thread pool in each round and keeps the faster "
         "(the workers column says which won), so no baseline pays for an executor that "
         f"does not suit it; {repeats} round(s), each running every method once; times are "
         "medians over the rounds, \"ours is faster by\" is the median over rounds of the "
         "time ratio within a round"),
        ("- pyvips runs in a process pool only (forking a process in which libvips has "
         "run can hang), with its own thread pool inside each worker process, so it can "
         "use idle cores beyond its worker"),
        ("- the tutorial's approach is computed in float32 (SciPy `gaussian_filter` with "
         "sigma 0.25/ratio on both image axes, `zoom(order=1)`): faster than the float64 a "
         "literal port of the Julia code would use, so the baseline is not weakened"),
        ("- PSNR: mean over the images of each output file vs a full-resolution reference "
         "(full decode + one LANCZOS resize, no JPEG compression); it includes the output's "
         "JPEG compression (quality 90, 4:4:4 for every method)"),
        ("- PSNR of ours before JPEG encoding (`presize.load`, the resampling alone): "
         f"{presize_pixels:.1f} dB"),
        "",
        ("| method | workers | time (s) | images/s | ours is faster by | CPU ms/image "
         "| ours uses less CPU by | PSNR (dB) |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, w, t, ips, ratio, c, cratio, qq in rows:
        lines.append(
            f"| {name} | {w} | {t:.2f} | {ips:.1f} | {ratio:.1f}x | {1000 * c:.0f} | "
            f"{cratio:.1f}x | {'' if qq is None else f'{qq:.1f}'} |"
        )
    if not have_vips:
        lines += ["", f"Note: {vips_note}."]
    lines += ["", "Targets (ours = presize.folder, images only, all workers):", ""]
    for text, ok, val in checks:
        lines.append(f"- {text}: **{val}**, {'met' if ok else 'NOT met'}")
    cpu_tut = cpu_speedup["tutorial: gaussian_filter + zoom (SciPy)"]
    cpu_pil = cpu_speedup["Pillow: full decode + LANCZOS"]
    floor_name = "floor: JPEG decode only, at the DCT scale ours uses"
    floor = cpu[floor_name]
    floor_vs_tut = statistics.median(
        g["tutorial: gaussian_filter + zoom (SciPy)"].wall / g[floor_name].wall for g in per_round
    )
    floor_vs_pil = statistics.median(
        g["Pillow: full decode + LANCZOS"].wall / g[floor_name].wall for g in per_round
    )
    note = (
        "Timings on a shared 2-core machine are noisy (other processes take cores, so wall "
        "times and images/s move between runs); ratios come from the same run. CPU time per "
        "image (all processes and threads of a method) is much less sensitive to that load: "
        f"by CPU, ours is {cpu_tut:.0f}x cheaper than the tutorial's approach and "
        f"{cpu_pil:.1f}x cheaper than Pillow full decode + LANCZOS. Just decoding the JPEGs "
        f"at the reduced DCT scale costs {1000 * floor:.0f} ms/image (mostly Huffman "
        "decoding, which no DCT scaling avoids): ours, Pillow's thumbnail and pyvips all sit "
        "close to that floor, so the ratios against full-decode methods are bounded by it "
        "on files like these (4 MP at about 2.8 bits per pixel): a method running at the "
        f"floor would be {floor_vs_tut:.1f}x the tutorial's approach and {floor_vs_pil:.1f}x "
        "Pillow full decode + LANCZOS in this run."
    )
    lines += ["", note, ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
