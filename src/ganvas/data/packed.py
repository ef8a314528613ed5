"""The packed dataset format: what ``ganvas prepare`` writes and training and metrics read.

A packed dataset is a folder::

    images.npy    uint8 N×C×H×W (C = 1 or 3, H = W = resolution), memory-mapped when read
    labels.npy    int64 N, only for labelled sources; class names are in dataset.json
    dataset.json  format version, source, options, counts, label names and histogram, per-channel
                  mean/std (0-255), and every skipped, altered, duplicate or ignored file
    preview.png   a grid of up to 64 random images

Training never decodes an image file: it reads ``images.npy`` through a memory map.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganvas.errors import GanvasError
from ganvas.utils.io import atomic_open, save_image

FORMAT = "ganvas-packed"
FORMAT_VERSION = 1
IMAGES, LABELS, MANIFEST, PREVIEW = "images.npy", "labels.npy", "dataset.json", "preview.png"
PREVIEW_COUNT = 64
_STATS_CHUNK = 1024
_PER_FILE_LISTS = ("skipped", "altered", "duplicates")


def is_packed(path: str | os.PathLike) -> bool:
    """True if ``path`` looks like a packed dataset (it may still be broken: open it to check)."""
    path = Path(path)
    return path.is_dir() and ((path / MANIFEST).is_file() or (path / IMAGES).is_file())


@dataclass
class PackedDataset:
    """An opened, validated packed dataset; ``images`` is a read-only memory map."""

    path: Path
    images: np.ndarray
    labels: np.ndarray | None
    meta: dict[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike) -> PackedDataset:
        """Open ``path``, checking that its files agree with each other (GanvasError if not)."""
        path = Path(path)
        if not path.is_dir():
            raise GanvasError(f"{path}: not a packed dataset (no such folder)")
        meta = _read_manifest(path)
        images = _load_array(path / IMAGES, mmap=True)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3) \
                or images.shape[2] != images.shape[3]:
            raise GanvasError(f"{path / IMAGES}: expected uint8 N×C×H×W with C 1 or 3 and H = W, "
                              f"got {images.dtype} {images.shape}")
        expected = (meta.get("count"), meta.get("channels"), meta.get("resolution"),
                    meta.get("resolution"))
        if tuple(images.shape) != expected:
            raise GanvasError(f"{path}: images.npy has shape {tuple(images.shape)} but "
                              f"dataset.json says {expected}; prepare it again")
        labels = None
        if meta.get("labels"):
            labels = _load_array(path / LABELS, mmap=False)
            names = meta["labels"].get("names") or []
            if labels.shape != (len(images),) or labels.dtype != np.int64:
                raise GanvasError(f"{path / LABELS}: expected int64 of shape ({len(images)},), "
                                  f"got {labels.dtype} {labels.shape}")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
                raise GanvasError(f"{path / LABELS}: labels outside the {len(names)} classes")
        return cls(path, images, labels, meta)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[2])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def label_names(self) -> list[str] | None:
        labels = self.meta.get("labels")
        return list(labels["names"]) if labels else None

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GanvasError(f"{path}: not a packed dataset (no {MANIFEST}); run ganvas prepare "
                          "to make one") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GanvasError(f"{path / MANIFEST}: unreadable ({exc}); prepare it again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GanvasError(f"{path / MANIFEST}: not a ganvas packed dataset manifest")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise GanvasError(f"{path}: format version {meta.get('format_version')} is newer than "
                          f"this ganvas understands ({FORMAT_VERSION}); upgrade ganvas")
    return meta


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise GanvasError(f"{path}: missing; prepare the dataset again") from None
    except (OSError, ValueError, EOFError) as exc:
        raise GanvasError(f"{path}: truncated or corrupt ({exc}); prepare the dataset "
                          "again") from None


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation in 0-255 units, read in chunks.

    Exact, from a 256-bin histogram per channel (faster than float sums over every pixel)."""
    channels = images.shape[1]
    hist = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, len(images), _STATS_CHUNK):
        chunk = np.asarray(images[start:start + _STATS_CHUNK])
        for c in range(channels):
            hist[c] += np.bincount(chunk[:, c].reshape(-1), minlength=256)
    values = np.arange(256, dtype=np.float64)
    n = np.maximum(hist.sum(axis=1), 1)
    mean = (hist * values).sum(axis=1) / n
    std = np.sqrt((hist * (values - mean[:, None]) ** 2).sum(axis=1) / n)
    return [round(float(v), 3) for v in mean], [round(float(v), 3) for v in std]


def write_preview(path: Path, images: np.ndarray, seed: int = 0) -> None:
    """Save a grid of up to 64 randomly chosen images."""
    from ganvas.utils.grid import make_grid  # imports torch; only needed here

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(images), size=min(PREVIEW_COUNT, len(images)), replace=False))
    save_image(path, make_grid(np.asarray(images[pick])))  # 8×8 for 64 images


def finish_packed(folder: Path, images: np.ndarray, labels: np.ndarray | None,
                  meta: dict[str, Any]) -> dict[str, Any]:
    """Complete a folder whose ``images.npy`` is filled: labels, stats, preview and manifest.

    ``meta`` gets the format keys, shape and statistics; the manifest is written last, so a
    folder with a manifest is a finished one."""
    if hasattr(images, "flush"):
        images.flush()
    if labels is not None:
        np.save(folder / LABELS, labels.astype(np.int64))
    mean, std = channel_stats(images)
    write_preview(folder / PREVIEW, images)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta,
            "count": int(images.shape[0]), "channels": int(images.shape[1]),
            "resolution": int(images.shape[2]), "mean": mean, "std": std,
            "stats_scale": "0-255", "preview": PREVIEW}
    with atomic_open(folder / MANIFEST, "w", encoding="utf-8") as f:
        f.write(manifest_text(full))
    return full


def manifest_text(meta: dict[str, Any]) -> str:
    """Indented JSON, except that each entry of the per-file lists sits on one line: the file
    stays small for big sources and ``grep truncated dataset.json`` finds one line per file."""
    lists = {k: v for k, v in meta.items() if k in _PER_FILE_LISTS and v}
    text = json.dumps({k: (f"@{k}@" if k in lists else v) for k, v in meta.items()}, indent=2)
    for key, entries in lists.items():
        rows = ",\n".join("    " + json.dumps(e) for e in entries)
        text = text.replace(json.dumps(f"@{key}@"), "[\n" + rows + "\n  ]", 1)
    return text + "\n"


def dataset_info(path: str | os.PathLike) -> str:
    """A short human description of a packed dataset (``ganvas dataset info``)."""
    ds = PackedDataset.open(path)
    meta = ds.meta
    size = (ds.path / IMAGES).stat().st_size
    kind = "grey" if ds.channels == 1 else "RGB"
    source = meta.get("source") or {}
    counts = meta.get("counts") or {}
    lines = [f"{ds.path}: {len(ds):,} images, {ds.resolution}×{ds.resolution} {kind} "
             f"({size / 2**20:,.1f} MiB)",
             f"source: {source.get('path', '?')} ({source.get('kind', '?')}), "
             f"prepared {meta.get('created', '?')}"]
    if counts:
        lines.append("counts: " + ", ".join(f"{k.replace('_', ' ')} {v:,}"
                                             for k, v in counts.items() if v))
    labels = meta.get("labels")
    if labels:
        hist = labels.get("histogram", {})
        shown = ", ".join(f"{name} {hist.get(name, 0):,}" for name in labels["names"][:20])
        more = f", … ({len(labels['names']) - 20} more)" if len(labels["names"]) > 20 else ""
        lines.append(f"labels: {len(labels['names'])} classes: {shown}{more}")
    else:
        lines.append("labels: none")
    bands = ["grey"] if ds.channels == 1 else ["R", "G", "B"]
    for key, title in (("mean", "mean (0-255)"), ("std", "std  (0-255)")):
        values = zip(bands, meta[key], strict=True)
        lines.append(f"{title}: " + "  ".join(f"{b} {v:.1f}" for b, v in values))
    lines.append(f"preview: {ds.path / meta.get('preview', PREVIEW)}")
    return "\n".join(lines)
