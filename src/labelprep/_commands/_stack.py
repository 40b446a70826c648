"""The labelled stack of the commands that index one (``index``, ``measure``, ``qa``):
their ``--background`` (a label value, 'none', or the background colour of colour-coded
labels), the read that turns it into the stack, its colours and the background value
for :meth:`labelprep.LabelIndex.build`, and the ``colour`` column of their tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["Labels", "add_background_argument", "add_colour_column", "parse_background",
           "read_labels"]


def parse_background(text: str) -> int | None | tuple[int, ...]:
    """An integer label value, 'none', or a colour: ``R,G,B[,A]`` or ``#rrggbb[aa]``."""
    if text.lower() in ("none", "no", "off"):
        return None
    colour: list[int] | None = None
    if text.startswith("#") and len(text) in (7, 9):
        try:
            colour = list(bytes.fromhex(text[1:]))
        except ValueError:
            colour = None
    elif "," in text:
        try:
            colour = [int(v, 0) for v in text.split(",")]
        except ValueError:
            colour = None
    else:
        try:
            return int(text, 0)
        except ValueError:
            pass
    if colour is not None and len(colour) in (3, 4) and all(0 <= v <= 255 for v in colour):
        return tuple(colour)
    raise argparse.ArgumentTypeError(
        f"expected an integer, 'none' or a colour R,G,B (0..255 each, or #rrggbb), "
        f"got {text!r}"
    )


def add_background_argument(parser: argparse.ArgumentParser) -> None:
    """``--background VALUE|R,G,B`` (default 0), parsed by :func:`parse_background`."""
    parser.add_argument("--background", type=parse_background, default=0,
                        metavar="VALUE|R,G,B",
                        help="label value that is not an object (default 0; 'none' indexes "
                             "every value); for colour-coded labels the background colour "
                             "R,G,B (or #rrggbb; default black)")


class Labels(NamedTuple):
    """A labelled stack as read for indexing."""

    labels: Any  #: the label ids (a NumPy array, or a dask array if read lazily)
    colours: Any  #: the colour of each id (row i: id i) if colour-coded, else None
    background: int | None  #: the label value that is not an object, for the build


def read_labels(path: Path, background, *, lazy: bool = False, progress=None) -> Labels:
    """Read the labelled stack at ``path`` for ``--background`` ``background``.

    Colour-coded labels become ids (:func:`labelprep.io.read_label_stack`, or
    :func:`labelprep.io.open_lazy_labels` if ``lazy``) with a colour ``background`` as
    id 0, which is then the background of the build. A colour for a stack that is not
    colour-coded, or a label value other than 0 for one that is, raises ``ValueError``
    naming ``--background``.
    """
    from .. import io

    colour = background if isinstance(background, tuple) else None
    if lazy:
        read = io.open_lazy_labels(path, progress=progress, background=colour)
    else:
        read = io.read_label_stack(path, progress=progress, background=colour)
    if colour is not None and read.colours is None:
        raise ValueError(
            f"--background {','.join(map(str, colour))} is a colour, but the stack is not "
            f"colour-coded (it holds {read.labels.dtype} values): give an integer label value"
        )
    if colour is None and read.colours is not None and background not in (0, None):
        raise ValueError(
            f"--background {background} is a label value, but the stack is colour-coded "
            "(its ids are made from the colours): give the background colour as R,G,B "
            "(default black)")
    return Labels(read.labels, read.colours, 0 if colour is not None else background)


def add_colour_column(table, colours) -> None:
    """Insert a ``colour`` column (``"#rrggbb"``, :func:`labelprep.io.hex_colours`) right
    after ``label`` in ``table``, in place: the colour each id was read from, for the
    ``colours`` of :func:`read_labels` (row i: id i). Nothing if ``colours`` is None.
    """
    if colours is None:
        return
    import numpy as np

    from .. import io

    ids = table["label"].to_numpy().astype(np.int64)
    table.insert(table.columns.get_loc("label") + 1, "colour",
                 np.asarray(io.hex_colours(colours))[ids])
