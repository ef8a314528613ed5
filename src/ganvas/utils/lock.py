"""An exclusive lock between processes, on a folder or on a small lock file.

Two ``ganvas train`` started at once must not take the same run number, and two processes that
prepare the same folder must prepare it once: the second waits, then finds the result. The lock
is an OS lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so it is released when its
process dies, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from ganvas.errors import GanvasError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def file_lock(path: str | os.PathLike) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on ``path`` for the block, waiting for it.

    ``path`` may be an existing folder (POSIX locks the folder itself, so nothing new appears in
    it; Windows uses a hidden ``.lock`` file inside) or a lock file, created if missing.
    """
    path = Path(path)
    if fcntl is None and path.is_dir():  # pragma: no cover - Windows
        path = path / ".lock"
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    return _locked(path, wait=True)


def exclusive(path: str | os.PathLike, busy: str) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on the lock file ``path`` for the block, or raise
    ``GanvasError(busy)`` at once if another process holds it."""
    return _locked(Path(path), wait=False, busy=busy)


@contextlib.contextmanager
def _locked(path: Path, wait: bool, busy: str = "") -> Iterator[None]:
    fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_lock(fd, wait):
            raise GanvasError(busy)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def held_elsewhere(path: str | os.PathLike) -> bool:
    """Whether another process holds the lock file ``path`` now (it is not waited for)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        if _try_lock(fd):
            _unlock(fd)
            return False
        return True
    finally:
        os.close(fd)


def _try_lock(fd: int, wait: bool = False) -> bool:
    """Lock ``fd`` exclusively (waiting for it, or not); False if another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
    except OSError:
        if wait:
            raise
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
