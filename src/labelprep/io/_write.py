"""Atomic, checked writes: the one way this project puts a file on disk.

A write goes to a hidden temporary file beside its target, named
``.<name>.lp<pid>-<random>.tmp`` and created with the umask's mode (like any new file).
The caller writes through a file object that hides its descriptor (so encoders such as
Pillow's cannot bypass the checks with raw ``write(2)`` calls whose short writes they
ignore); every byte goes through ``os.write`` until it is all written or the system
refuses (a full disk raises). On success the file is flushed, ``fsync``-ed, its size on
disk compared with the bytes written, an optional ``verify(path)`` run, and only then
is it renamed over the target (atomic on one file system) and the folder ``fsync``-ed.
On any failure the temporary file is removed and the target is left as it was: an old
file stays whole, a missing one stays missing.

A temporary file left by a killed process (SIGKILL, power loss) is recognised by its
name and its dead process id: :func:`remove_stale_temporaries` removes those of a
destination folder at the start of a run over it.
"""

from __future__ import annotations

import contextlib
import errno
import io as _pyio
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import OutputError, _shown

PathLike = str | os.PathLike

#: Name of a temporary file of ours: ``.<target name>.lp<pid>-<8 hex>.tmp``.
TEMP_PATTERN = re.compile(r"^\.(?P<target>.+)\.lp(?P<pid>\d+)-[0-9a-f]{8}\.tmp(\.\w+)*$")


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.lp{os.getpid()}-{secrets.token_hex(4)}.tmp")


class _CheckedRaw(_pyio.RawIOBase):
    """A raw binary file over a descriptor that writes every byte or raises.

    ``fileno()`` is unsupported on purpose: libraries then write through ``write()``.
    ``end`` is the furthest byte written (the size the file must have on disk).
    """

    def __init__(self, fd: int, path: Path):
        super().__init__()
        self._fd = fd
        self.name = os.fspath(path)
        self.end = 0
        self._aborted = False

    def abort(self) -> None:
        """Drop whatever is still buffered above: later writes are discarded."""
        self._aborted = True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise _pyio.UnsupportedOperation("fileno")

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self._aborted:
            return len(view)
        done = 0
        while done < len(view):
            n = os.write(self._fd, view[done:])
            if n <= 0:  # pragma: no cover - os.write raises rather than return 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done += n
        pos = os.lseek(self._fd, 0, os.SEEK_CUR)
        self.end = max(self.end, pos)
        return done

    def readinto(self, buffer) -> int:
        data = os.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def truncate(self, size: int | None = None) -> int:
        size = self.tell() if size is None else size
        os.ftruncate(self._fd, size)
        self.end = size
        return size

    def close(self) -> None:  # the descriptor is closed by the writer, after its checks
        super().close()


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _MissingFolderError(OutputError, FileNotFoundError):
    pass


class _PermissionOutputError(OutputError, PermissionError):
    pass


_BY_ERRNO = {errno.ENOENT: _MissingFolderError, errno.EACCES: _PermissionOutputError,
             errno.EPERM: _PermissionOutputError}


def _refuse(path: Path, reason: str, exc: BaseException | None = None) -> OutputError:
    """An :class:`OutputError` for ``path`` (also a ``FileNotFoundError`` or a
    ``PermissionError`` where the system said so)."""
    code = getattr(exc, "errno", None) or errno.EIO
    return _BY_ERRNO.get(code, OutputError)(code, f"cannot write {_shown(path)}: {reason}", path)


@contextlib.contextmanager
def atomic_open(
    path: PathLike,
    mode: str = "wb",
    *,
    verify: Callable[[Path], None] | None = None,
    durable: bool = True,
    **kwargs,
) -> Iterator:
    """Open ``path`` for writing; it is replaced only if the ``with`` block succeeds.

    Yields a binary file (``mode="wb"``) or a text file (``"w"``, with ``encoding``,
    ``newline`` and ``errors`` from ``kwargs``). On exit the data is flushed and
    ``fsync``-ed (``durable=False`` skips the fsync, for scratch files), its size on disk
    checked against the bytes written, ``verify(temporary_path)`` called if given (it
    raises to refuse the file), then the file is renamed over ``path``. The folder of
    ``path`` must exist. The new file gets the umask's mode.

    Raises
    ------
    labelprep.errors.OutputError
        (an ``OSError``) naming ``path`` and the reason, when the data could not be written
        completely (full disk, read-only folder, size mismatch, failed ``verify``).
        Exceptions raised inside the block propagate unchanged. Either way ``path`` is
        untouched and no temporary file is left.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_open(out, "w", newline="") as f:
    ...     _ = f.write("label,voxels\\n1,3\\n")
    >>> out.read_text()
    'label,voxels\\n1,3\\n'
    """
    if mode not in ("w", "wb", "wt", "x", "xb", "xt"):
        raise ValueError(f"atomic_open is for writing ('w' or 'wb'); got mode {mode!r}")
    path = Path(path)
    tmp = _temp_name(path)
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc), exc) from exc
    raw = _CheckedRaw(fd, tmp)
    buffered = _pyio.BufferedRandom(raw, buffer_size=1 << 20)
    text = "b" not in mode
    handle = _pyio.TextIOWrapper(buffered, **kwargs) if text else buffered
    committed = False
    try:
        try:
            yield handle
            handle.flush()
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise _refuse(path, exc.strerror or str(exc), exc) from exc
        try:
            if durable:
                os.fsync(fd)
            size = os.fstat(fd).st_size
        except OSError as exc:
            raise _refuse(path, exc.strerror or str(exc), exc) from exc
        if size != raw.end:
            raise _refuse(path, f"{size} bytes on disk, {raw.end} written")
        if verify is not None:
            try:
                verify(tmp)
            except Exception as exc:  # noqa: BLE001 - any failure refuses the file
                raise _refuse(path, f"the written file does not read back ({exc})", exc) from exc
        os.close(fd)
        fd = -1
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _refuse(path, exc.strerror or str(exc), exc) from exc
        committed = True
        if durable:
            _fsync_folder(path.parent)
    finally:
        if not committed:
            raw.abort()
        with contextlib.suppress(Exception):
            handle.close()
        if fd >= 0:
            os.close(fd)
        if not committed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(
    path: PathLike, suffix: str = ".tmp", *, verify: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a library that writes by file name.

    Prefer :func:`atomic_open` (it sees every byte written). With a path, the library's
    own writes are trusted; afterwards the file is ``fsync``-ed, checked to exist and
    be non-empty, passed to ``verify`` if given, and renamed over ``path``. ``suffix`` lets
    libraries that choose a format by extension see the right one. On any failure
    ``path`` is untouched and the temporary file removed.
    """
    path = Path(path)
    tmp = _temp_name(path)
    if suffix != ".tmp":
        tmp = tmp.with_name(tmp.name + suffix)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        os.close(fd)
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc), exc) from exc
    committed = False
    try:
        yield tmp
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
        except OSError as exc:
            raise _refuse(path, exc.strerror or str(exc), exc) from exc
        if size == 0:
            raise _refuse(path, "nothing was written")
        if verify is not None:
            try:
                verify(tmp)
            except Exception as exc:  # noqa: BLE001 - any failure refuses the file
                raise _refuse(path, f"the written file does not read back ({exc})", exc) from exc
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _refuse(path, exc.strerror or str(exc), exc) from exc
        committed = True
        _fsync_folder(path.parent)
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_bytes(path: PathLike, data: bytes, **kwargs) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`); return the path."""
    with atomic_open(path, "wb", **kwargs) as f:
        f.write(data)
    return Path(path)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def stale_temporaries(folders: Iterable[PathLike], recursive: bool = True) -> list[Path]:
    """Temporary files of ours left in ``folders`` by processes that no longer run."""
    found = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            continue
        walker = os.walk(root) if recursive else [(str(root), [], os.listdir(root))]
        for dirpath, _dirs, files in walker:
            for name in files:
                m = TEMP_PATTERN.match(name)
                if m and not _pid_alive(int(m.group("pid"))):
                    found.append(Path(dirpath) / name)
    return sorted(found)


def remove_stale_temporaries(folders: Iterable[PathLike], recursive: bool = True) -> list[Path]:
    """Remove the temporary files that killed runs left in ``folders``; return them.

    Only files named as :func:`atomic_open` names them, whose process is gone, are
    removed; a run still writing keeps its own. Callers say how many were removed.
    """
    removed = []
    for p in stale_temporaries(folders, recursive):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed
