"""The one shape rule: the (height, width) a target size gives, for images and masks alike."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

PathLike = str | os.PathLike
Size = int | tuple[int, int] | Sequence[int]


def _check_size(size: Size) -> int | tuple[int, int]:
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"size must be an int or a pair of ints (h, w), got {size!r}")
    if isinstance(size, (int, np.integer)):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        return int(size)
    try:
        pair = tuple(size)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"size must be an int or a pair of ints (h, w), got {size!r}") from None
    if len(pair) != 2 or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) for s in pair
    ):
        raise TypeError(f"size must be an int or a pair of ints (h, w), got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(pair[0]), int(pair[1])


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def output_shape(shape: Sequence[int], size: Size, upscale: bool = False) -> tuple[int, int]:
    """The (height, width) that :func:`image` and :func:`mask` give for an input ``shape``.

    The aspect ratio is kept and every side ends up at least the target:

    - ``size`` an int S: the shorter side becomes exactly S, the other
      ``round(side * S / shorter)`` (halves rounded up);
    - ``size`` a pair (h, w): ``ratio = max(h / H, w / W)`` as in the FastAI tutorial, so
      each output side is >= its target and one of them is equal to it.

    Without ``upscale``, an input that is already at or below the target
    (``ratio >= 1``) keeps its shape.

    Parameters
    ----------
    shape : sequence of int
        Input shape; only the first two entries (height, width) are used.
    size : int or (int, int)
        Target shorter side, or target (height, width).
    upscale : bool
        Allow enlarging inputs smaller than the target.

    Examples
    --------
    >>> output_shape((1632, 2448), 160)
    (160, 240)
    >>> output_shape((1000, 500), (160, 160))
    (320, 160)
    >>> output_shape((100, 120), 160)
    (100, 120)
    """
    checked = _check_size(size)
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions (height, width), got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"cannot presize an empty image of shape {tuple(shape)!r}")
    if isinstance(checked, int):
        ratio = checked / min(h, w)
        if ratio >= 1 and not upscale:
            return h, w
        if h <= w:
            return checked, max(checked, _round_half_up(w * checked / h))
        return max(checked, _round_half_up(h * checked / w)), checked
    th, tw = checked
    ratio = max(th / h, tw / w)
    if ratio >= 1 and not upscale:
        return h, w
    return max(th, _round_half_up(h * ratio)), max(tw, _round_half_up(w * ratio))
