"""Subcommands of the ``labelprep`` CLI: each module has ``add_arguments`` and ``run``."""

from __future__ import annotations

import sys


def fail(command: str, message: str, code: int) -> int:
    """Print ``labelprep COMMAND: error: MESSAGE`` on stderr (printable whatever bytes
    a path in it holds) and return the exit ``code``."""
    from ..errors import _shown

    print(f"labelprep {command}: error: {_shown(message)}", file=sys.stderr)
    return code
