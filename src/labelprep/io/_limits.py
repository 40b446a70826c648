"""Sizes beyond this machine are refused before anything is allocated."""

from __future__ import annotations

import os

from ..errors import ImageReadError


def memory_bytes() -> int:
    """Physical memory of this machine in bytes (a large number if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 62


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def too_big(nbytes: int, what: str) -> str | None:
    """Why an allocation of ``nbytes`` for ``what`` cannot fit in memory, or None."""
    limit = memory_bytes()
    if nbytes < 0:
        return f"{what} declares a negative size"
    if nbytes > limit:
        return f"{what} needs {_gib(nbytes)}, more than this machine's {_gib(limit)} of memory"
    return None


def check_fits(nbytes: int, path, what: str) -> None:
    """Raise :class:`ImageReadError` naming ``path`` if ``nbytes`` cannot fit in memory."""
    reason = too_big(nbytes, what)
    if reason is not None:
        raise ImageReadError(path, reason)
