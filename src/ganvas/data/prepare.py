"""``ganvas prepare``: turn a messy image source into a clean packed dataset, in one pass.

Every candidate is decoded and transformed once (in parallel, see ``pipeline.py``); its pixels are
appended to a scratch file in whatever order they finish, and only at the end are the kept images
copied into ``images.npy`` in their final order (sorted source order or ``--shuffle-seed``), with
duplicates and images past ``--max-images`` left out. All of it happens in a hidden temporary
folder beside DEST that is renamed to DEST at the very end, so an error or Ctrl-C leaves no
half-written dataset behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from ganvas.data.options import PrepareOptions
from ganvas.data.packed import (IMAGES, MANIFEST, PackedDataset, dataset_info, finish_packed,
                                is_packed)
from ganvas.data.pipeline import CHUNK, TransformPool
from ganvas.data.opening import open_source, source_identity
from ganvas.data.sources import IMAGE_EXTENSIONS, Entry, Source
from ganvas.data.transforms import ItemResult
from ganvas.errors import GanvasError
from ganvas.utils.cache import cache_dir
from ganvas.utils.lock import file_lock

__all__ = ["PackedDataset", "PrepareOptions", "PrepareReport", "dataset_info", "is_packed",
           "prepare", "prepare_cached"]

CACHE_VERSION = 1
_SCRATCH = "scratch.u8"
_COPY_CHUNK = 512


@dataclass
class PrepareReport:
    """Counts of one prepare run; ``summary`` is the line the command ends with."""

    dest: Path
    candidates: int
    kept: int
    skipped: int
    duplicates: int
    not_taken: int  # left out by --max-images
    converted: int
    upscaled: int
    face_fallbacks: int
    ignored: int  # paths in the source that are not image candidates
    channels: int
    resolution: int
    seconds: float

    @property
    def summary(self) -> str:
        dropped = [f"{self.skipped:,} skipped"]
        if self.duplicates:
            dropped.append(f"{self.duplicates:,} duplicates dropped")
        if self.not_taken:
            dropped.append(f"{self.not_taken:,} over --max-images")
        notes = [f"{n:,} {what}" for n, what in (
            (self.converted, "converted"), (self.upscaled, "upscaled"),
            (self.face_fallbacks, "face fallbacks to centre crop"),
            (self.ignored, "non-image paths ignored")) if n]
        line = (f"kept {self.kept:,} of {self.candidates:,}; {', '.join(dropped)}, "
                f"see {self.dest / MANIFEST}")
        return line + (f" ({', '.join(notes)})" if notes else "")


class _Collector:
    """Takes results in any order: pixels go to a scratch file, the rest is kept only for the
    images that have something to report, so memory stays small for big sources."""

    def __init__(self, folder: Path, positions: int, options: PrepareOptions) -> None:
        self.path = folder / _SCRATCH
        self._file = open(self.path, "wb")
        self.slot_of = np.full(positions, -1, dtype=np.int64)
        self.grey: list[bool] = []
        self.digests: dict[int, bytes] = {}
        self.notes: dict[int, ItemResult] = {}
        self.processed = 0
        self._dedupe = options.dedupe
        self._unique: set[bytes] = set()
        self._shape = (options.channels or 3, options.resolution, options.resolution)

    def add(self, result: ItemResult) -> None:
        self.processed += 1
        if result.pixels is not None:
            self._file.write(result.pixels.tobytes())
            self.slot_of[result.pos] = len(self.grey)
            self.grey.append(result.grey)
            if result.digest is not None:
                self.digests[result.pos] = result.digest
                self._unique.add(result.digest)
            result.pixels = None
        if result.skip or result.changes:
            self.notes[result.pos] = result

    @property
    def usable(self) -> int:
        """Images kept so far, duplicates counted once."""
        return len(self._unique) if self._dedupe else len(self.grey)

    def slots(self) -> np.ndarray:
        self._file.close()
        if not self.grey:
            return np.zeros((0, *self._shape), dtype=np.uint8)
        return np.memmap(self.path, dtype=np.uint8, mode="r", shape=(len(self.grey), *self._shape))

    def close(self) -> None:
        self._file.close()


def _rounds(count: int, max_images: int | None, collector: _Collector) -> Iterator[range]:
    """Positions to process: all of them, or with ``--max-images`` just enough to reach it
    (a second round tops up what skips and duplicates took away)."""
    if max_images is None:
        yield range(count)
        return
    done = 0
    while done < count and collector.usable < max_images:
        need = max_images - collector.usable
        take = need if done == 0 else max(need + need // 4, CHUNK)
        yield range(done, min(count, done + take))
        done += take


def _reason_kind(reason: str) -> str:
    return re.split(r"[:(]", reason, maxsplit=1)[0].strip()


def _check_paths(src: Path, dest: Path, overwrite: bool) -> None:
    if not src.exists():
        raise GanvasError(f"{src}: no such file or folder")
    if is_packed(src):
        raise GanvasError(f"{src}: already a packed dataset; use it directly")
    if dest.exists() or dest.is_symlink():
        if not overwrite:
            raise GanvasError(f"{dest}: already exists (use --overwrite to replace it)")
        if not dest.is_dir() or (any(dest.iterdir()) and not is_packed(dest)):
            raise GanvasError(f"{dest}: exists and is not a packed dataset; refusing to replace "
                              "it")
    if src.is_dir() and (dest.resolve() == src.resolve() or
                         src.resolve() in dest.resolve().parents):
        raise GanvasError(f"{dest}: must not be inside the source folder {src}")


def _default_permissions(folder: Path) -> None:
    """Temporary files are private (0600/0700); a finished dataset gets the usual umask modes."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def _install(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Rename the finished temporary folder to DEST (replacing an old dataset if allowed)."""
    _default_permissions(tmp)
    try:
        os.rename(tmp, dest)  # atomic when DEST is absent: no check-then-rename window
        return
    except OSError as exc:
        if not (overwrite and dest.exists()):
            raise GanvasError(f"{dest}: cannot create it ({exc.strerror or exc})") from None
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _select(collector: _Collector, ordered: Sequence[Entry], options: PrepareOptions, src: Path
            ) -> tuple[list[int], list[dict[str, str]], int]:
    """Kept positions in final order, the duplicates dropped, and how many --max-images cut."""
    not_square = [(p, r.not_square) for p, r in sorted(collector.notes.items()) if r.not_square]
    if not_square:
        shown = ", ".join(f"{ordered[p].name} ({w}×{h})" for p, (w, h) in not_square[:5])
        raise GanvasError(f"--crop none: {len(not_square):,} of {len(ordered):,} images are not "
                          f"square: {shown}{', …' if len(not_square) > 5 else ''}; use --crop "
                          "center or pad")
    kept: list[int] = []
    duplicates: list[dict[str, str]] = []
    first_of: dict[bytes, int] = {}
    for pos in np.flatnonzero(collector.slot_of >= 0).tolist():
        digest = collector.digests.get(pos)
        if digest is not None and digest in first_of:
            duplicates.append({"name": ordered[pos].name,
                               "same_as": ordered[first_of[digest]].name})
            continue
        if digest is not None:
            first_of[digest] = pos
        kept.append(pos)
    over = 0
    if options.max_images is not None and len(kept) > options.max_images:
        over = len(kept) - options.max_images
        kept = kept[:options.max_images]
    if not kept:
        reasons = Counter(_reason_kind(r.skip) for r in collector.notes.values() if r.skip)
        why = "; ".join(f"{n:,} {k}" for k, n in reasons.most_common(4))
        raise GanvasError(f"{src}: no usable image among {len(ordered):,} candidates"
                          + (f" ({why})" if why else ""))
    return kept, duplicates, over


def _write(tmp: Path, source: Source, ordered: Sequence[Entry], collector: _Collector,
           options: PrepareOptions, src: Path, dest: Path, seconds: float) -> PrepareReport:
    """Copy the kept images into ``images.npy`` in final order and write the manifest."""
    kept, duplicates, over = _select(collector, ordered, options, src)
    slots = collector.slots()
    slot_index = collector.slot_of[kept]
    channels = options.channels or (1 if all(collector.grey[s] for s in slot_index) else 3)
    res = options.resolution
    images = np.lib.format.open_memmap(tmp / IMAGES, mode="w+", dtype=np.uint8,
                                       shape=(len(kept), channels, res, res))
    for start in range(0, len(kept), _COPY_CHUNK):
        rows = np.sort(slot_index[start:start + _COPY_CHUNK])  # read the scratch file forwards
        order = np.argsort(np.argsort(slot_index[start:start + _COPY_CHUNK]))
        images[start:start + len(rows)] = slots[rows][order, :channels]
    del slots
    collector.path.unlink()
    labels = None
    label_info = None
    if source.label_names and all(ordered[p].label is not None for p in kept):
        labels = np.array([ordered[p].label for p in kept], dtype=np.int64)
        counts = np.bincount(labels, minlength=len(source.label_names))
        histogram = zip(source.label_names, counts.tolist(), strict=True)
        label_info = {"names": source.label_names, "histogram": dict(histogram)}
    notes = collector.notes
    kept_set = set(kept)
    altered = [(p, notes[p]) for p in sorted(notes) if p in kept_set and notes[p].changes]
    skipped = [{"name": ordered[p].name, "reason": r.skip} for p, r in sorted(notes.items())
               if r.skip]
    report = PrepareReport(
        dest=dest, candidates=len(ordered), kept=len(kept), skipped=len(skipped),
        duplicates=len(duplicates), not_taken=len(ordered) - collector.processed + over,
        converted=sum(r.converted for _, r in altered),
        upscaled=sum(r.upscaled for _, r in altered),
        face_fallbacks=sum(r.face_fallback for _, r in altered), ignored=len(source.ignored),
        channels=channels, resolution=res, seconds=seconds)
    ignored_reasons = Counter(i["reason"] for i in source.ignored)
    meta: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {"path": str(src.resolve()), "kind": source.kind},
        "options": {**options.pixel_fields(), "channels": options.channels or "auto",
                    "min_size": options.effective_min_size},
        "counts": {k: getattr(report, k) for k in (
            "candidates", "kept", "skipped", "duplicates", "not_taken", "converted",
            "upscaled", "face_fallbacks", "ignored")},
        "labels": label_info,
        "skipped": skipped,
        "altered": [{"name": ordered[p].name, "changes": r.changes} for p, r in altered],
        "duplicates": duplicates,
        "ignored": {"count": len(source.ignored), "by_reason": dict(ignored_reasons),
                    "examples": source.ignored[:100]},
    }
    finish_packed(tmp, images, labels, meta)
    return report


def prepare(src: str | os.PathLike, dest: str | os.PathLike,
            options: PrepareOptions | None = None, overwrite: bool = False,
            progress: bool = True) -> PrepareReport:
    """Decode, clean and pack every image of ``src`` into the packed dataset folder ``dest``."""
    started = time.monotonic()
    options = (options or PrepareOptions()).validated()
    src, dest = Path(src), Path(dest)
    _check_paths(src, dest, overwrite)
    with open_source(src) as source:
        entries = source.entries()
        if not entries:
            raise GanvasError(f"{src}: no image files found (looked for "
                              f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
        if options.shuffle_seed is None:
            ordered = entries
        else:
            perm = np.random.default_rng(options.shuffle_seed).permutation(len(entries))
            ordered = [entries[i] for i in perm]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
        collector = _Collector(tmp, len(ordered), options)
        try:
            total = min(len(ordered), options.max_images or len(ordered))
            workers = min(options.effective_workers, max(1, total // CHUNK))
            with TransformPool(options, workers) as pool, \
                    tqdm(total=total, unit="img", desc="prepare", disable=not progress,
                         dynamic_ncols=True, leave=False) as bar:
                for positions in _rounds(len(ordered), options.max_images, collector):
                    if bar.n + len(positions) > total:  # a top-up round after skips
                        total = int(bar.n) + len(positions)
                        bar.total = total
                    for result in pool.run(source, ordered, positions):
                        collector.add(result)
                        bar.update()
            report = _write(tmp, source, ordered, collector, options, src, dest,
                            time.monotonic() - started)
            _install(tmp, dest, overwrite)
        except BaseException:
            collector.close()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    report.seconds = time.monotonic() - started
    return report


def cache_key(src: str | os.PathLike, options: PrepareOptions) -> str:
    """Hash of the source's content identity (names, sizes, mtimes; nothing is read) and the
    options that change pixels."""
    payload = {"version": CACHE_VERSION, "source": source_identity(src),
               "options": options.validated().pixel_fields()}
    blob = json.dumps(payload, sort_keys=True, default=str).encode("utf-8", "surrogateescape")
    return hashlib.sha256(blob).hexdigest()[:16]


def prepare_cached(src: str | os.PathLike, options: PrepareOptions | None = None,
                   progress: bool = True) -> Path:
    """Prepare ``src`` into the cache once; later calls with the same source and options return
    the same folder at once (for ``ganvas train SRC_FOLDER``)."""
    options = (options or PrepareOptions()).validated()
    key = cache_key(src, options)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(src).resolve().name).strip("-.")[:40] or "data"
    dest = cache_dir("datasets") / f"{stem}-{options.resolution}px-{key}"
    # A second process (a parallel sweep, two runs started together) waits here, then reuses.
    with file_lock(dest.with_name(f".{dest.name}.lock")):
        if dest.exists():
            try:
                PackedDataset.open(dest)
                return dest
            except GanvasError:
                pass  # broken or unfinished: prepare it again
        report = prepare(src, dest, options, overwrite=True, progress=progress)
    if progress:
        print(report.summary, file=sys.stderr)
    return dest
