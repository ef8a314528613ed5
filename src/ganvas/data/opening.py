"""Which kind of source a path is: a folder, a zip or tar archive, idx files or CIFAR batches.

Kept apart from :mod:`ganvas.data.sources` (the archive and folder readers) and
:mod:`ganvas.data.array_sources` (idx and CIFAR) so that neither imports the other.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

from ganvas.data.array_sources import CifarSource, IdxSource, idx_labels_path
from ganvas.data.sources import (CIFAR_BATCH, IDX_IMAGES, FolderSource, Source, TarSource,
                                 ZipSource, display_name, has_image_extension, walk_files)
from ganvas.errors import GanvasError


def _open_tar(path: Path) -> Source:
    try:
        tar = tarfile.open(path, "r:*")
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise GanvasError(f"{path}: cannot open tar archive ({exc})") from None
    blobs = {m.name.rsplit("/", 1)[-1]: m for m in members
             if m.isfile() and (CIFAR_BATCH.search(m.name) or m.name.endswith("batches.meta"))}
    if any(CIFAR_BATCH.search(n) for n in blobs):
        def read_member(m: tarfile.TarInfo) -> bytes:
            f = tar.extractfile(m)
            assert f is not None
            return f.read()
        return CifarSource(path, blobs, read_member, on_close=tar.close)
    return TarSource(path, tar, members)


def open_source(path: str | os.PathLike) -> Source:
    """Pick the source type for ``path`` (a folder, an archive, an idx file or CIFAR batches)."""
    path = Path(path)
    if not path.exists():
        raise GanvasError(f"{path}: no such file or folder")
    if path.is_dir():
        names = set(os.listdir(path))
        if any(CIFAR_BATCH.search(n) for n in names):
            return CifarSource(path, {n: path / n for n in names
                                      if CIFAR_BATCH.search(n) or n == "batches.meta"},
                               lambda p: Path(p).read_bytes())
        idx_files = sorted(path / n for n in names if IDX_IMAGES.search(n))
        if idx_files and not any(has_image_extension(n) for n in names):
            return IdxSource(path, idx_files)
        return FolderSource(path)
    name = path.name.lower()
    if IDX_IMAGES.search(name):
        return IdxSource(path, [path])
    if name.endswith(".zip") or (not name.endswith((".tar", ".tgz", ".tar.gz"))
                                 and zipfile.is_zipfile(path)):
        return ZipSource(path)
    if name.endswith((".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")) or \
            tarfile.is_tarfile(path):
        return _open_tar(path)
    raise GanvasError(f"{path}: not a folder, zip, tar, idx or CIFAR source")


def source_identity(path: str | os.PathLike) -> list[Any]:
    """What identifies a source's content, cheaply: for a folder its relative paths, sizes and
    modification times; for a file its path, size and modification time (nothing is read)."""
    path = Path(path).resolve()
    if not path.exists():
        raise GanvasError(f"{path}: no such file or folder")
    if path.is_dir():
        return [str(path)] + [[display_name(rel), st.st_size, st.st_mtime_ns]
                              for rel, _, st in walk_files(path, accept=lambda n: True)]
    st = path.stat()
    extra = []
    if IDX_IMAGES.search(path.name.lower()):
        labels = idx_labels_path(path)
        if labels is not None:
            lst = labels.stat()
            extra = [str(labels), lst.st_size, lst.st_mtime_ns]
    return [str(path), st.st_size, st.st_mtime_ns, *extra]
