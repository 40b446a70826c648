"""What every part of :mod:`labelprep.rle` shares: the dtypes, the numba kernels
(imported on first use), the mask check and the split of work into chunks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

SUFFIX = ".rle.json"
"""Conventional file name suffix of a multi-class RLE file."""

DTYPES = (
    "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
)
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# split work into chunks (for progress reports) only above this many elements
_CHUNK_ELEMENTS = 1 << 22
_N_CHUNKS = 32

RLE = dict[str, Any]

_KERNELS = None
# dtype -> its name, without NumPy's (slow) dtype.name
_DTYPE_NAMES = {np.dtype(name): name for name in DTYPES}


def _kernels():
    """The numba kernels, imported on first use (keeps ``import labelprep.rle`` cheap)."""
    global _KERNELS
    if _KERNELS is None:
        from .._kernels import rle as kernels

        _KERNELS = kernels
    return _KERNELS


def _as_mask(mask: Any, name: str = "mask") -> np.ndarray:
    """``mask`` as a native-byte-order integer or bool array, or a clear error."""
    if isinstance(mask, Mapping):
        raise TypeError(f"{name} must be an array, got a dict (decode it first)")
    a = np.asarray(mask)
    if a.dtype.kind not in "biu":
        if a.dtype.kind == "f":
            raise TypeError(
                f"{name} has float dtype {a.dtype}: RLE stores integer labels; cast it "
                f"first, e.g. {name}.astype(np.uint16), if its values are whole numbers"
            )
        raise TypeError(f"{name} must be an integer or bool array, got dtype {a.dtype}")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _chunks(n: int, split: bool) -> list[tuple[int, int]]:
    """``0 .. n`` in about ``_N_CHUNKS`` pieces if ``split`` (to report progress), else whole."""
    if not split or n <= 1:
        return [(0, n)]
    step = -(-n // _N_CHUNKS)
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]

