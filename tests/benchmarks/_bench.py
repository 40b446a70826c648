"""Helpers shared by the benchmark scripts (run as scripts: this folder is on sys.path)."""

from __future__ import annotations

import os
import platform

import numpy as np


def machine_info() -> dict:
    """This machine: cores, CPU model, RAM (GiB) and the 1-minute load average."""
    try:
        ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        ram_gib = float("nan")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = float("nan")
    return {"cores": os.cpu_count(), "cpu": cpu, "ram_gib": ram_gib, "load": load}


def run_stamp(versions: str) -> dict:
    """:func:`machine_info` plus the time and ``versions`` of this run, also printed."""
    import datetime as dt

    mach = {**machine_info(), "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "versions": versions}
    print(f"{mach['date']}  {mach['cpu']}, {mach['cores']} cores, {mach['ram_gib']:.0f} GiB "
          f"RAM, load {mach['load']:.1f}\n{mach['versions']}", flush=True)
    return mach


def publish(text: str, out) -> None:
    """Print a benchmark's report, and write it to ``out`` too (a path, or None)."""
    print("\n" + text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")


def machine() -> str:
    """One line for a benchmark report: cores, CPU, RAM and Python version."""
    m = machine_info()
    return (f"{m['cores']} cores ({m['cpu']}), {m['ram_gib']:.0f} GiB RAM, "
            f"Python {platform.python_version()}")


def blob_stack(shape, seed=0, sigma=2.5, quantile=0.93) -> np.ndarray:
    """Smoothed Gaussian noise above its ``quantile``, connected components (int32)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape, dtype=np.float32)
    smooth = ndi.gaussian_filter(noise, sigma, output=np.float32)
    del noise
    threshold = np.quantile(smooth[::4, ::4, ::4], quantile)
    labels, _ = ndi.label(smooth > threshold, output=np.int32)
    return labels
