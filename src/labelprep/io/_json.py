"""Reading one JSON file: every failure is one error naming the file and the reason.

The file must be a regular file that fits in this machine's memory; its bytes must be
UTF-8 (a leading BOM is allowed, as other tools write one) and valid JSON. Malformed
JSON is reported with the line and column of the error, bytes that are not UTF-8 with
where they are; too deep nesting and numbers too long to convert are errors too.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import ImageReadError
from ._limits import check_fits

PathLike = str | os.PathLike


class JSONReadError(ImageReadError):
    """The bytes of a file are not JSON this project can read (malformed, empty, not
    UTF-8, nested too deeply, a number too long). An :class:`ImageReadError` (so a
    ``ValueError``); ``detail`` is the reason without the generic prefix, ``line`` and
    ``column`` (1-based) the position of the error when there is one, else None."""

    def __init__(self, path, detail: str, what: str | None = None,
                 line: int | None = None, column: int | None = None):
        self.detail = detail
        self.line = line
        self.column = column
        context = f" ({what})" if what else ""
        super().__init__(path, f"not a valid JSON file{context}: {detail}")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, column) of byte ``offset`` of ``data``."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, offset - start + 1


def read_json(path: PathLike, what: str | None = None) -> Any:
    """Read and parse one JSON file, checked like every file this project reads.

    ``what`` says what the file should hold (``"COCO annotations"``); it appears in
    the messages.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ImageReadError
        If ``path`` is a folder or not a regular file, cannot be opened or read, or is
        larger than this machine's memory; the message names the file.
    JSONReadError
        (an :class:`ImageReadError`) if its bytes are not UTF-8 or not valid JSON: the
        message names the file and, for malformed JSON, the line and column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> _ = p.write_text('{"a": [1, 2]}')
    >>> read_json(p)
    {'a': [1, 2]}
    >>> _ = p.write_text('{"a": [1, 2}')
    >>> try:
    ...     read_json(p)
    ... except JSONReadError as exc:
    ...     print(exc.detail, exc.line, exc.column)
    Expecting ',' delimiter at line 1, column 12 1 12
    """
    path = Path(path)
    for_what = f" ({what})" if what else ""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open it{for_what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(path, f"a folder, not a JSON file{for_what}")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device could block or never end
        raise ImageReadError(path, f"not a regular file{for_what}")
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            # the bytes and their text are held at once
            check_fits(2 * size, path, f"a JSON file of {size} bytes")
            data = fh.read()
    except FileNotFoundError:  # removed since the stat
        raise FileNotFoundError(f"no such file: {path}") from None
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(path, "too big for this machine's memory") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot read it{for_what}: {exc.strerror or exc}") from None
    return _parse(path, data, what)


def _parse(path: Path, data: bytes, what: str | None) -> Any:
    if not data.strip():
        raise JSONReadError(path, "the file is empty" if not data else
                            "the file holds only white space", what)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise JSONReadError(
            path, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column "
                  f"{column} is not valid UTF-8 (is this a binary file?)",
            what, line, column) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONReadError(path, f"{exc.msg} at line {exc.lineno}, column {exc.colno}",
                            what, exc.lineno, exc.colno) from None
    except RecursionError:
        raise JSONReadError(path, "nested too deeply for this reader", what) from None
    except MemoryError:
        raise ImageReadError(path, "too big for this machine's memory") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise JSONReadError(path, f"a number too long to read: {exc}", what) from None
