"""Atomic file output: every file ganvas writes appears whole or not at all.

A temporary file is written in the destination folder and renamed over the target, so a crash or
Ctrl-C never leaves a half-written checkpoint, image or JSON file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
from PIL import Image

from ganvas.errors import GanvasError

_UMASK = os.umask(0o022)  # os.umask can only be read by setting it: put it straight back
os.umask(_UMASK)


TMP_SUFFIX = ".tmp"


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's) contents to the disk (folders: not on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):  # pragma: no cover - Windows folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The file and then its folder are fsynced around the rename, so after a crash or power cut
    ``path`` holds the old contents or the new ones. A failed write (a full disk) is one
    GanvasError naming the file, and leaves the previous file as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private (0600); files should be ordinary
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            fsync_path(tmp_path)
            os.replace(tmp_path, path)
            fsync_path(path.parent)
        except OSError as exc:
            raise GanvasError(f"{path}: could not be written ({exc.strerror or exc}); the "
                              "previous version, if any, is unchanged") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files an interrupted atomic write left in ``folder`` (a kill -9
    during a checkpoint save leaves a model-sized one). Call it when nothing else writes there."""
    stale = [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()] if folder.is_dir() else []
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; it replaces ``path`` on success."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Save a uint8 image (H×W, H×W×1 or H×W×3) atomically: JPEG (quality 95) for a .jpg or
    .jpeg name, PNG otherwise."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    pil = Image.fromarray(np.ascontiguousarray(image))
    is_jpeg = Path(path).suffix.lower() in (".jpg", ".jpeg")
    options: dict[str, Any] = {"format": "JPEG", "quality": 95} if is_jpeg else {"format": "PNG"}
    with atomic_path(path) as tmp:
        pil.save(tmp, **options)


def writable_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``path`` if needed and check that files can be written there (else one error
    line naming ``option``)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".ganvas-write-test-"):
            pass  # a unique name: runs started at once must not remove each other's probe
    except OSError as exc:
        raise GanvasError(f"{option}: cannot write to {path} ({exc.strerror or exc})") from None
    return path
