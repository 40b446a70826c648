"""Assemble docs/benchmarks.md from the parts each benchmark script writes.

Every ``tests/benchmarks/bench_<name>.py`` writes its latest result to
``docs/benchmarks/<name>.md`` (and maybe a plot). This script concatenates them, in
the order of the mission, under one page with a summary of how to re-run them::

    .venv/bin/python tests/benchmarks/collect.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ROOT / "docs" / "benchmarks"
ORDER = ["index", "index_select", "chunked", "rle", "presize", "patches", "safety",
         "core_modules", "read_stack"]

HEADER = """# Benchmarks

Each section below is the latest output of one benchmark script in
`tests/benchmarks/`, run on this project's machine (2 cores, 24 GiB) against the baselines
of the problem it solves, measured in the same run and reported as ratios. Re-run one with
`.venv/bin/python tests/benchmarks/bench_<name>.py` (add `--quick` for a small smoke run),
then `.venv/bin/python tests/benchmarks/collect.py` to rebuild this page.
"""


def main() -> None:
    parts = sorted(PARTS.glob("*.md"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER
                                                      else len(ORDER), p.stem))
    body = [HEADER]
    for part in parts:
        text = part.read_text().strip()
        # images in a part are relative to docs/benchmarks/: re-anchor them for docs/
        text = text.replace("](" + part.stem, "](benchmarks/" + part.stem)
        body.append(text)
    out = ROOT / "docs" / "benchmarks.md"
    out.write_text("\n\n".join(body) + "\n")
    print(f"wrote {out.relative_to(ROOT)} from {len(parts)} parts")


if __name__ == "__main__":
    main()
