"""Benchmark: selecting one object in the "Voxel index" dock on a big labelled stack.

"Select label L" = ``VoxelIndexWidget.select_label(L)``: the layer's ``selected_label`` set
(with ``show_selected_label`` on), the camera centred and zoomed on the object's bounding
box, the slice moved onto the object, its table row highlighted and scrolled to. Measured
in a real napari viewer (under Xvfb) on a blob stack of about 250 x 700 x 700 voxels and
~40k objects (smoothed noise, thresholded, connected components), for:

- **ours**: the widget, which reads only the index (bbox, centroid, a binary search in
  the object's voxel list): the synchronous call, and the call plus processing the
  pending Qt events (the canvas redraw of the new slice);
- **scan**: the same view update, but with the object's voxels found by scanning the
  stack (``np.flatnonzero(labels.ravel() == L)``), i.e. what selecting costs without an
  index;
- **ours, 3D view**: the same selection with the volume rendered in 3D.

Target: ours under 50 ms. Run (a display is needed; the script re-runs itself under
``xvfb-run`` when there is none)::

    .venv/bin/python tests/benchmarks/bench_index_select.py [--quick]

The stack is cached in ``bench-data/index_select/`` (gitignored); a cached stack of the
same shape elsewhere under ``bench-data/`` is reused. Writes
``docs/benchmarks/index_select.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _bench import blob_stack
from _bench import machine as _machine

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data" / "index_select"
DOC = ROOT / "docs" / "benchmarks" / "index_select.md"
FULL_SHAPE = (250, 700, 700)
QUICK_SHAPE = (64, 256, 256)
TARGET_MS = 50.0


# ----------------------------------------------------------------------------- data
def load_stack(shape) -> tuple[np.ndarray, str]:
    """Our cached blob stack of ``shape``, else another helper's cached blob stack of that
    shape under bench-data/, else a newly generated one."""
    own = DATA / f"blobs_{'x'.join(map(str, shape))}_s2.5_q0.93.npy"
    others = sorted(p for p in (ROOT / "bench-data").rglob("*.npy") if "blob" in p.name.lower())
    for path in [own, *others]:
        if not path.is_file():
            continue
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            continue
        if arr.shape == tuple(shape) and arr.dtype.kind in "iu":
            return np.array(arr), f"cached {path.relative_to(ROOT)}"
    DATA.mkdir(parents=True, exist_ok=True)
    path = own
    t0 = time.perf_counter()
    labels = blob_stack(shape)
    np.save(path, labels)
    return labels, f"generated in {time.perf_counter() - t0:.1f} s, cached {path.relative_to(ROOT)}"


# ------------------------------------------------------------------------ baselines
class _ScannedObject:
    """One object found by scanning the stack, shaped like the index's accessors.

    Lets the baseline use exactly the widget's view code (``focus_object``), so the only
    difference with ours is where the voxels, bbox and centroid come from.
    """

    def __init__(self, labels: np.ndarray, label: int):
        flat = np.flatnonzero(labels.ravel() == label)  # the scan
        coords = np.stack(np.unravel_index(flat, labels.shape), axis=1)
        self.shape = labels.shape
        self.label = label
        self._flat = flat.astype(np.uint32 if labels.size < 2**32 else np.uint64)
        self.bboxes = np.stack([coords.min(0), coords.max(0) + 1], axis=1)[None]
        self.centroids = coords.mean(0)[None]

    def position(self, label):
        return 0

    def flat(self, label):
        return self._flat


def select_by_scan(viewer, layer, labels, label):
    from labelprep._napari.index_view import focus_object

    obj = _ScannedObject(labels, label)
    layer.selected_label = label
    focus_object(viewer, layer, obj, label)


# ---------------------------------------------------------------------------- timing
def summarise(times_s: list[float]) -> dict:
    ms = np.asarray(times_s) * 1e3
    return {
        "n": ms.size,
        "median": float(np.median(ms)),
        "p95": float(np.percentile(ms, 95)),
        "max": float(ms.max()),
    }


def run(shape, n_labels: int, n_scan: int, n_3d: int) -> dict:
    import napari
    from qtpy.QtWidgets import QApplication

    from labelprep._napari.index_widget import VoxelIndexWidget

    labels, origin = load_stack(shape)
    viewer = napari.Viewer(title="bench_index_select")
    from labelprep._napari._compat import qt_window

    qt_window(viewer).resize(1500, 950)
    app = QApplication.instance()

    def settle():
        for _ in range(3):
            app.processEvents()

    try:
        layer = viewer.add_labels(labels, name="blobs")
        widget = VoxelIndexWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Voxel index")
        settle()
        t0 = time.perf_counter()
        widget.build_index()
        while widget.busy:
            app.processEvents()
            time.sleep(0.002)
        build_s = time.perf_counter() - t0
        idx = widget.index
        assert idx is not None, widget.message_label.text()

        rng = np.random.default_rng(1)
        biggest = int(idx.labels[int(np.argmax(idx.counts))])
        chosen = [
            int(v) for v in rng.choice(idx.labels, size=min(n_labels, len(idx)), replace=False)
        ]
        chosen[0] = biggest
        for L in chosen[1:4]:  # warm up (first draws, numpy paths)
            widget.select_label(L)
            settle()

        sync, drawn = [], []
        for L in chosen:
            settle()
            t0 = time.perf_counter()
            widget.select_label(L)
            t1 = time.perf_counter()
            app.processEvents()  # the canvas redraw of the new slice and camera
            t2 = time.perf_counter()
            assert layer.selected_label == L and widget.current_row_label() == L
            sync.append(t1 - t0)
            drawn.append(t2 - t0)

        # what the index part alone costs (no napari): every number select_label needs
        from labelprep._napari.index_view import plane_most

        lookups = []
        for L in chosen:
            t0 = time.perf_counter()
            pos = idx.position(L)
            _ = idx.bboxes[pos], idx.centroids[pos], idx.counts[pos]
            plane_most(idx, L, [0])  # the plane select_label slices to
            widget.model.row_of_label(L)
            lookups.append(time.perf_counter() - t0)

        scan = []
        for L in chosen[:n_scan]:
            settle()
            t0 = time.perf_counter()
            select_by_scan(viewer, layer, labels, L)
            scan.append(time.perf_counter() - t0)

        # review mode: Next through the table sorted by size, biggest first (issue 17)
        from qtpy.QtCore import Qt

        widget.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        widget.next_object()
        settle()
        steps = []
        for _ in chosen:
            settle()
            t0 = time.perf_counter()
            label = widget.next_object()
            steps.append(time.perf_counter() - t0)
            assert label is not None and layer.selected_label == label
            assert widget.selected_labels == (label,)

        viewer.dims.ndisplay = 3
        settle()
        sync3d = []
        for L in chosen[:n_3d]:
            settle()
            t0 = time.perf_counter()
            widget.select_label(L)
            sync3d.append(time.perf_counter() - t0)
        viewer.dims.ndisplay = 2

        return {
            "shape": shape,
            "origin": origin,
            "objects": len(idx),
            "voxels": int(np.sum(idx.counts)),
            "biggest": int(np.max(idx.counts)),
            "build_s": build_s,
            "ours": summarise(sync),
            "ours_drawn": summarise(drawn),
            "lookups": summarise(lookups),
            "scan": summarise(scan),
            "ours_3d": summarise(sync3d),
            "next": summarise(steps),
        }
    finally:
        viewer.close()


def report(res: dict) -> str:
    ours = res["ours"]["median"]
    rows = [
        ("ours: `select_label` (index only)", res["ours"]),
        ("ours + Qt events processed (canvas redrawn)", res["ours_drawn"]),
        ("ours: index lookups alone (bbox, centroid, plane, table row)", res["lookups"]),
        ("ours, 3D view (`select_label`)", res["ours_3d"]),
        ("ours: Next in review (`next_object`, biggest first)", res["next"]),
        ("baseline: scan the stack (`labels == L`), same view update", res["scan"]),
    ]
    z, y, x = res["shape"]
    lines = [
        "# Selecting an object in the Voxel index dock",
        "",
        f"{dt.date.today().isoformat()}; {_machine()}, rendering under Xvfb (software OpenGL).",
        "",
        (
            f"Stack {z} x {y} x {x} ({z * y * x / 1e6:.0f} M voxels, int32), "
            f"{res['objects']:,} objects, {res['voxels']:,} foreground voxels, biggest object "
            f"{res['biggest']:,} voxels ({res['origin']}). Index built by the dock in "
            f"{res['build_s']:.2f} s."
        ),
        "",
        (
            "Time from `select_label(L)` to: `selected_label` set with `show_selected_label` on, "
            "camera centred and zoomed on the bounding box, slice moved onto the object, table "
            "row highlighted and scrolled to. Random objects plus the biggest; median, 95th "
            "percentile and max over n selections."
        ),
        "",
        "| method | n | median (ms) | p95 (ms) | max (ms) | median vs ours |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['n']} | {s['median']:.3g} | {s['p95']:.3g} | {s['max']:.3g} | "
            f"{s['median'] / ours:.2g}x |"
        )
    met = res["ours"]["p95"] < TARGET_MS and res["next"]["median"] < TARGET_MS
    lines += [
        "",
        (
            f"Target: under {TARGET_MS:.0f} ms (selection; Next in review, issue 17). Ours: "
            f"median {ours:.1f} ms, p95 {res['ours']['p95']:.1f} ms; Next median "
            f"{res['next']['median']:.1f} ms: **{'met' if met else 'missed'}**."
        ),
        "",
        (
            "Ours never reads the stack: the bounding box and centroid come from the index "
            "and the slice (the plane where the object has most voxels) from a count over "
            "the object's own voxel list, so the cost does not grow with the stack. What "
            "remains is napari's own work: re-slicing the 2D view at the new plane and "
            "recolouring it for `show_selected_label`. In the 3D view napari refreshes the "
            "whole volume when the selected label changes, which dominates the 3D figure. "
            "The \"canvas redrawn\" row adds the drawing of the new frame by vispy, here "
            "with software OpenGL under Xvfb: it depends on the graphics stack, not on the "
            "index."
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"small stack {QUICK_SHAPE}")
    parser.add_argument("--labels", type=int, default=50, help="objects selected (ours)")
    parser.add_argument("--no-doc", action="store_true", help="do not write the markdown")
    args = parser.parse_args(argv)
    if (
        not os.environ.get("DISPLAY")
        and shutil.which("xvfb-run")
        and not os.environ.get("_BENCH_XVFB")
    ):
        env = dict(os.environ, _BENCH_XVFB="1")
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
        return subprocess.call(cmd, env=env)
    shape = QUICK_SHAPE if args.quick else FULL_SHAPE
    res = run(shape, n_labels=args.labels, n_scan=5, n_3d=5)
    text = report(res)
    print(text)
    if not args.no_doc:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
