"""Image sources: folders, zip and tar archives, MNIST idx files and CIFAR-10 python batches.

A source first lists its entries (cheap: names, labels, no pixels), then reads the payloads of the
entries it is asked for, lazily and in whatever order is cheapest for it (a gzipped tar can only be
read front to back). Archives are read in place, never extracted to disk. A payload is the raw
bytes of a file, a decoded uint8 array, a :class:`LocalFile` that the worker reads itself (so
folders are read in parallel), or an :class:`Unreadable` carrying the reason it could not be read.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np

from ganvas.errors import GanvasError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MAX_MEMBER_BYTES = 1 << 30  # an archive member bigger than this is refused, not read into memory
IDX_IMAGES = re.compile(r"images[-.]idx3[-.]ubyte(\.gz)?$")
CIFAR_BATCH = re.compile(r"(^|/)(data_batch_\d+|test_batch)$")


class LocalFile(NamedTuple):
    """A file on disk, read by the worker that decodes it."""

    path: str


class Unreadable(NamedTuple):
    """A payload that could not be read; the entry is skipped with this reason."""

    reason: str


Payload = bytes | np.ndarray | LocalFile | Unreadable


def read_local(path: str) -> bytes | Unreadable:
    """The bytes of a file, or why they can't be read (a folder may hold anything)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except PermissionError:
        return Unreadable("permission denied")
    except FileNotFoundError:
        return Unreadable("file disappeared while preparing")
    except OSError as exc:
        return Unreadable(f"cannot read file: {exc.strerror or exc}")


@dataclass(frozen=True)
class Entry:
    """One candidate image: a display name (valid UTF-8), its label and a source-specific ref."""

    name: str
    label: int | None
    ref: Any = field(compare=False, repr=False)


@dataclass(frozen=True)
class Item:
    """An entry together with its payload, as yielded by :meth:`Source.items`."""

    name: str
    data: Payload
    label: int | None


def display_name(name: str) -> str:
    """A printable, JSON-safe form of a file name: undecodable bytes appear as ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def _is_junk(parts: Sequence[str]) -> bool:
    """Hidden files and macOS metadata (``._x.jpg``, ``__MACOSX/``) are never images."""
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def has_image_extension(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def labels_from_paths(paths: Sequence[str]) -> tuple[list[int] | None, list[str] | None]:
    """Class labels from sub-folders: every image sits in an immediate sub-folder (after any
    folders that all images share are stripped) and there are at least two of them."""
    split = [p.strip("/").split("/") for p in paths]
    if not split:
        return None, None
    while all(len(s) > 2 for s in split) and len({s[0] for s in split}) == 1:
        split = [s[1:] for s in split]
    if not all(len(s) == 2 for s in split):
        return None, None
    names = sorted({s[0] for s in split})
    if len(names) < 2:
        return None, None
    index = {n: i for i, n in enumerate(names)}
    return [index[s[0]] for s in split], [display_name(n) for n in names]


class Source:
    """Base class: ``entries()``, ``read(entries)``, ``items()``; use as a context manager."""

    kind = "source"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label_names: list[str] | None = None
        self.ignored: list[dict[str, str]] = []  # paths that are not candidates, with reasons
        self._entries: list[Entry] | None = None

    def entries(self) -> list[Entry]:
        """Every candidate image in sorted source order (listed once, then cached)."""
        if self._entries is None:
            self._entries = self._list()
        return self._entries

    def _list(self) -> list[Entry]:
        raise NotImplementedError

    def read(self, entries: Sequence[Entry]) -> Iterator[tuple[int, Payload]]:
        """Yield ``(i, payload)`` once for each ``entries[i]``, in the order cheapest to read."""
        raise NotImplementedError

    def items(self) -> Iterator[Item]:
        """Every entry with its bytes, array or :class:`Unreadable` reason, lazily."""
        entries = self.entries()
        for i, data in self.read(entries):
            if isinstance(data, LocalFile):
                data = read_local(data.path)
            yield Item(entries[i].name, data, entries[i].label)

    def ignore(self, name: str, reason: str) -> None:
        self.ignored.append({"name": display_name(name), "reason": reason})

    def _archive_entries(self, members: list[tuple[str, Any, bool]]) -> list[Entry]:
        """Entries of an archive's (name, member, is_regular_file) list, sorted by name, with
        junk, links and non-images ignored and class labels taken from sub-folders."""
        kept = []
        for name, ref, regular in members:
            if _is_junk(name.strip("/").split("/")):
                self.ignore(name, "hidden file or macOS metadata")
            elif not regular:
                self.ignore(name, "link or special file inside the archive; not followed")
            elif not has_image_extension(name):
                self.ignore(name, "not an image file type")
            else:
                kept.append((name, ref))
        kept.sort(key=lambda item: item[0])
        labels, self.label_names = labels_from_paths([name for name, _ in kept])
        return [Entry(display_name(name), labels[k] if labels else None, ref)
                for k, (name, ref) in enumerate(kept)]

    def close(self) -> None:
        """Release open archive handles."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def walk_files(root: Path, ignored: list[dict[str, str]] | None = None,
               accept: Callable[[str], bool] = has_image_extension
               ) -> list[tuple[str, str, os.stat_result]]:
    """List ``(relative path, path, stat)`` of the accepted files under ``root``, following
    symlinks but entering each real folder and taking each real file only once (no symlink
    loops). Sorted by relative path."""
    found: list[tuple[str, str, os.stat_result]] = []
    note = (lambda n, r: ignored.append({"name": display_name(n), "reason": r})) \
        if ignored is not None else (lambda n, r: None)
    root_stat = os.stat(root)
    seen_dirs = {(root_stat.st_dev, root_stat.st_ino)}
    seen_files: dict[tuple[int, int], str] = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir)) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            note(rel_dir or ".", f"cannot list folder: {exc.strerror or exc}")
            continue
        sub_dirs = []
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            if _is_junk([child.name]):
                note(rel, "hidden file or folder")
                continue
            try:
                st = os.stat(child.path)  # follows symlinks
            except OSError as exc:
                reason = "symlink loop" if exc.errno == errno.ELOOP else \
                    ("broken symlink" if child.is_symlink() else f"cannot stat: {exc.strerror}")
                note(rel, reason)
                continue
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                if key in seen_dirs:
                    note(rel, "folder already visited (symlink loop or duplicate link); not "
                              "followed")
                else:
                    seen_dirs.add(key)
                    sub_dirs.append(rel)
            elif stat.S_ISREG(st.st_mode):
                if not accept(child.name):
                    note(rel, "not an image file type")
                elif key in seen_files:
                    note(rel, f"same file as {display_name(seen_files[key])} (link)")
                else:
                    seen_files[key] = rel
                    found.append((rel, child.path, st))
            else:
                note(rel, "not a regular file")
        stack.extend(reversed(sub_dirs))
    found.sort(key=lambda f: f[0])
    return found


class FolderSource(Source):
    """A folder of image files, searched recursively; class labels from sub-folders."""

    kind = "folder"

    def _list(self) -> list[Entry]:
        files = walk_files(self.path, self.ignored)
        labels, self.label_names = labels_from_paths([rel for rel, _, _ in files])
        return [Entry(display_name(rel), labels[i] if labels else None, path)
                for i, (rel, path, _) in enumerate(files)]

    def read(self, entries: Sequence[Entry]) -> Iterator[tuple[int, Payload]]:
        for i, entry in enumerate(entries):
            yield i, LocalFile(entry.ref)


class ZipSource(Source):
    """A ``.zip`` archive, read member by member."""

    kind = "zip"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise GanvasError(f"{path}: cannot open zip archive ({exc})") from None

    def _list(self) -> list[Entry]:
        members = [(info.filename, info, True) for info in self._zip.infolist()
                   if not info.is_dir()]
        return self._archive_entries(members)

    def read(self, entries: Sequence[Entry]) -> Iterator[tuple[int, Payload]]:
        for i, entry in enumerate(entries):
            info: zipfile.ZipInfo = entry.ref
            if info.file_size > MAX_MEMBER_BYTES:
                yield i, Unreadable(f"archive member too large ({info.file_size:,} bytes)")
                continue
            try:
                yield i, self._zip.read(info)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError,
                    OSError) as exc:
                yield i, Unreadable(f"cannot read archive member: {exc}")

    def close(self) -> None:
        self._zip.close()


class TarSource(Source):
    """A ``.tar``, ``.tar.gz`` or ``.tgz`` archive, read member by member without extracting."""

    kind = "tar"

    def __init__(self, path: Path, tar: tarfile.TarFile, members: list[tarfile.TarInfo]) -> None:
        super().__init__(path)
        self._tar = tar
        self._members = members
        with open(path, "rb") as f:
            magic = f.read(6)
        # compressed streams can only be read forwards cheaply
        self._sequential = magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or \
            magic == b"\xfd7zXZ\x00"

    def _list(self) -> list[Entry]:
        return self._archive_entries([(m.name, m, m.isfile() or m.islnk())
                                      for m in self._members if not m.isdir()])

    def read(self, entries: Sequence[Entry]) -> Iterator[tuple[int, Payload]]:
        order = list(range(len(entries)))
        if self._sequential:
            order.sort(key=lambda i: entries[i].ref.offset)
        for i in order:
            yield i, self._read_member(entries[i].ref)

    def _read_member(self, member: tarfile.TarInfo) -> Payload:
        if member.size > MAX_MEMBER_BYTES:
            return Unreadable(f"archive member too large ({member.size:,} bytes)")
        try:
            f = self._tar.extractfile(member)
            if f is None:
                return Unreadable("not a regular file inside the archive")
            return f.read()
        except (tarfile.TarError, OSError, EOFError, zlib.error, KeyError) as exc:
            return Unreadable(f"cannot read archive member: {exc}")

    def close(self) -> None:
        self._tar.close()
