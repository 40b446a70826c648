"""Benchmark: this checkout against an earlier commit, paired, on the hot paths.

Times, in fresh processes that alternate between the two trees (old, new, new, old,
...), the warm medians of: ``LabelIndex.build`` on the 250 x 700 x 700 blob stack,
``rle.encode`` / ``rle.decode`` (lists and compact strings) and ``rle.save`` on a
2048 x 2048 10-class mask, and ``presize.folder`` of the presize benchmark's 40 JPEGs
and masks to 160 px (2 workers). Each figure is compared pair by pair (the ratio of
the two processes run back to back), so this shared machine's drift cancels; the
median ratio is the answer to "is the change slower?".

Run: ``.venv/bin/python tests/benchmarks/bench_against.py --base 71aa8f2 [--pairs 7]``.
It checks the base out into a temporary git worktree (removed afterwards) and needs the
benchmarks' cached data: ``bench_presize.py`` and ``bench_measure.py`` make it.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "bench-data" / "measure" / "blobs_250x700x700_s2.5_q0.93.npy"
PHOTOS = ROOT / "bench-data" / "presize"


def _median_time(f, n: int) -> float:
    f()  # warm (numba, caches)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(tree: Path, scratch: Path) -> dict[str, float]:
    """The timings of the code in ``tree`` (run in a fresh process by :func:`main`)."""
    sys.path.insert(0, str(tree / "src"))
    import numpy as np

    from labelprep import LabelIndex, presize, rle

    out = {"LabelIndex.build, 250 x 700 x 700 blobs": _median_time(
        lambda stack=np.load(STACK): LabelIndex.build(stack), 7)}  # noqa: B008 - loaded once
    mask = np.load(scratch / "mask2048.npy")
    lists, compact = rle.encode(mask), rle.encode(mask, compact=True)
    out["rle.encode, 2048 x 2048, 10 classes"] = _median_time(lambda: rle.encode(mask), 21)
    out["rle.encode compact"] = _median_time(lambda: rle.encode(mask, compact=True), 21)
    out["rle.decode"] = _median_time(lambda: rle.decode(lists), 21)
    out["rle.decode compact"] = _median_time(lambda: rle.decode(compact), 21)
    files = Path(tempfile.mkdtemp(dir=scratch))
    out["rle.save (a file)"] = _median_time(lambda: rle.save(files / "m.rle.json", lists), 21)
    src, masks = scratch / "photos", scratch / "masks"

    def run_presize() -> None:
        dst = Path(tempfile.mkdtemp(dir=scratch))
        rep = presize.folder(src, dst / "d", 160, masks=masks, masks_out=dst / "m", workers=2)
        if rep.written != 40 or rep.failed:
            raise RuntimeError(f"presize wrote {rep.written} of 40: {rep.failed[:3]}")
        shutil.rmtree(dst)

    out["presize.folder, 40 JPEGs + masks to 160"] = _median_time(run_presize, 5)
    return out


def _prepare(scratch: Path) -> None:
    import numpy as np
    from scipy import ndimage as ndi

    noise = ndi.gaussian_filter(np.random.default_rng(0).random((2048, 2048)), 12)
    cuts = np.quantile(noise, np.linspace(0, 1, 11)[1:-1])
    np.save(scratch / "mask2048.npy", np.digitize(noise, cuts).astype(np.uint8))
    (scratch / "photos").mkdir()
    (scratch / "masks").mkdir()
    for jpg in sorted((PHOTOS / "images").glob("*.jpg"))[:40]:
        os.symlink(jpg, scratch / "photos" / jpg.name)
        os.symlink(PHOTOS / "masks" / f"{jpg.stem}.png", scratch / "masks" / f"{jpg.stem}.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit to compare with")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(Path(args.worker[0]), Path(args.worker[1]))))
        return 0
    if not STACK.is_file() or not (PHOTOS / "images").is_dir():
        print("missing cached data: run bench_measure.py and bench_presize.py once",
              file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench_against_"))
    old = scratch / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old),
                    args.base], check=True)
    try:
        _prepare(scratch)
        trees = {"base": old, "this": ROOT}

        def run(name: str) -> dict[str, float]:
            done = subprocess.run(
                [sys.executable, __file__, "--base", args.base, "--worker",
                 str(trees[name]), str(scratch)],
                capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the {name} worker failed:\n{done.stderr[-3000:]}")
            return json.loads(done.stdout.strip().splitlines()[-1])

        run("base"), run("this")  # first calls: numba compiles into each tree's cache
        results: dict[str, list] = {"base": [], "this": []}
        for k in range(args.pairs):
            for name in ("this", "base") if k % 2 == 0 else ("base", "this"):
                results[name].append(run(name))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                       check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    print(f"{args.pairs} pairs of fresh processes, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"\n| path | {args.base} | {rev} (this) | this / base: median of the paired "
          "ratios (min-max) |\n|---|---:|---:|---:|")
    for key in results["this"][0]:
        base = [r[key] for r in results["base"]]
        this = [r[key] for r in results["this"]]
        ratios = sorted(b / a for a, b in zip(base, this))
        print(f"| {key} | {statistics.median(base) * 1e3:.1f} ms | "
              f"{statistics.median(this) * 1e3:.1f} ms | {statistics.median(ratios):.3f} "
              f"({ratios[0]:.3f}-{ratios[-1]:.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
