"""napari-labelprep: prepare labelled image datasets fast.

The public API is a pure NumPy core, usable without napari::

    from labelprep import LabelIndex, rle, presize, patches

Submodules are imported lazily, so ``import labelprep`` stays cheap (no numba
compilation, no Qt) until a feature is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any


def _version() -> str:
    """The installed distribution's version: pyproject.toml is its one source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("napari-labelprep")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0+unknown"


__version__ = _version()

__all__ = [
    "EditSession", "LabelIndex", "TimeLapseIndex", "__version__", "export", "io", "measure",
    "patches", "presize", "qa", "rle", "samples",
]
_MODULES = {"rle", "presize", "patches", "samples", "io", "measure", "qa", "export"}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import export, io, measure, patches, presize, qa, rle, samples
    from .edit import EditSession
    from .index import LabelIndex
    from .timelapse import TimeLapseIndex


def __getattr__(name: str) -> Any:
    if name == "LabelIndex":
        from .index import LabelIndex

        return LabelIndex
    if name == "EditSession":
        from .edit import EditSession

        return EditSession
    if name == "TimeLapseIndex":
        from .timelapse import TimeLapseIndex

        return TimeLapseIndex
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labelprep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
