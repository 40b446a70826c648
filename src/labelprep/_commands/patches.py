"""``labelprep patches``: not yet available."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    print("labelprep patches: not yet available in this version", file=sys.stderr)
    return 2
