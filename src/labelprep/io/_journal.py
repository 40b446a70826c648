"""What completed writes produced: the only thing a resumed batch trusts.

A batch command (presize, ...) appends one JSON line per finished item to a hidden
journal in its destination, *after* the item's outputs were written completely
(fsync-ed and renamed): the item's key, the size and modification time of each source,
and the size and modification time of each output. A later run skips an item only if
its line is there, the run's settings are the same, and every source and output still
has the recorded stamp. A crash, a full disk or a power loss can cost a line (the item
is then redone) but never make a half-written or stale file count as done: an output
replaced, truncated or touched since no longer matches its stamp. Lines that do not
parse (a torn last line) are ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._write import atomic_open

PathLike = str | os.PathLike

_VERSION = 1


def stamp(path: PathLike) -> list[int] | None:
    """[size, mtime in ns] of a file, or None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [int(st.st_size), int(st.st_mtime_ns)]


class Journal:
    """The resume journal of a batch run, kept at ``path`` (a hidden file in the
    destination); ``settings`` are the run's options: lines of other settings are ignored.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.png").write_bytes(b"x")
    1
    >>> j = Journal(d / ".journal", {"size": 160})
    >>> j.record("a", sources=[d / "a.png"], outputs=[d / "a.png"])
    >>> Journal(d / ".journal", {"size": 160}).done("a", [d / "a.png"], [d / "a.png"])
    {}
    >>> Journal(d / ".journal", {"size": 80}).done("a", [d / "a.png"], [d / "a.png"]) is None
    True
    """

    def __init__(self, path: PathLike, settings: Mapping[str, Any]):
        self.path = Path(path)
        self.settings = json.loads(json.dumps(dict(settings), default=str))
        self._lock = threading.Lock()
        self._records: dict[str, dict] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return
        with os.fdopen(fd, "rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn line
                if (isinstance(rec, dict) and rec.get("v") == _VERSION
                        and rec.get("settings") == self.settings
                        and isinstance(rec.get("key"), str)):
                    self._records[rec["key"]] = rec

    def done(
        self, key: str, sources: Iterable[PathLike], outputs: Iterable[PathLike]
    ) -> dict | None:
        """The ``info`` recorded for ``key`` if it was completed with these sources and
        outputs and none of them changed since; else None (the item must be redone)."""
        with self._lock:
            self._load()
            rec = self._records.get(key)
        if rec is None:
            return None
        srcs = [stamp(p) for p in sources]
        outs = [stamp(p) for p in outputs]
        fresh = None not in srcs and None not in outs and rec.get("sources") == srcs and (
            rec.get("outputs") == outs
        )
        return dict(rec.get("info") or {}) if fresh else None

    def record(
        self, key: str, sources: Iterable[PathLike], outputs: Iterable[PathLike],
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Append ``key`` as done, with the stamps its sources and outputs have now and
        ``info`` (JSON-able) to hand back to :meth:`done`."""
        rec = {"v": _VERSION, "key": key, "settings": self.settings,
               "sources": [stamp(p) for p in sources], "outputs": [stamp(p) for p in outputs],
               "info": dict(info or {})}
        line = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        with self._lock:
            self._load()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                         | getattr(os, "O_NOFOLLOW", 0), 0o666)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            self._records[key] = rec

    def compact(self) -> None:
        """Rewrite the journal with one line per key (atomically), dropping old lines."""
        with self._lock:
            self._load()
            if not self._records:
                return
            with contextlib.suppress(OSError), atomic_open(self.path, "wb", durable=False) as f:
                for rec in self._records.values():
                    f.write((json.dumps(rec, separators=(",", ":")) + "\n").encode())
