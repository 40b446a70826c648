"""Reading small CSV tables a user gives back to us (review marks, object lists)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_csv_table"]


def read_csv_table(path: str | os.PathLike, required: tuple[str, ...] = ()):
    """Read a CSV file into a DataFrame, with ``required`` columns checked.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file
    for one that is not CSV, is empty or lacks a column; never a pandas traceback.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "marks.csv"
    >>> _ = p.write_text("label,review\\n3,ok\\n")
    >>> read_csv_table(p, ("label", "review")).to_dict("list")
    {'label': [3], 'review': ['ok']}
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not a readable CSV table ({exc})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name} has no column {missing[0]!r} (columns: "
                         f"{', '.join(map(str, frame.columns)) or 'none'})")
    return frame
