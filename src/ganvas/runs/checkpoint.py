"""Checkpoints: state dicts plus the config as plain data.

They load anywhere with ``torch.load(path, weights_only=True)``: no pickled classes, no ganvas
import needed to read them. They are written atomically, so a crash mid-save keeps the old one.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import torch

from ganvas.errors import GanvasError
from ganvas.utils.io import atomic_path

FORMAT = "ganvas-checkpoint"
VERSION = 1


def save_checkpoint(paths: str | os.PathLike | list[Path], state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, state dicts and plain data) atomically to one or more paths.

    Serialised once, in memory: a failed write (a full disk) is then a plain OSError that
    :func:`atomic_path` reports in one line, not an error from inside torch's zip writer.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    for path in paths if isinstance(paths, list) else [paths]:
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a ganvas checkpoint, or raise a GanvasError saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise GanvasError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a damaged pickle can fail in many ways (KeyError, struct.error...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanvasError(f"{path}: not a readable ganvas checkpoint (truncated or corrupt: "
                          f"{first[:120]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GanvasError(f"{path}: not a ganvas checkpoint")
    if state.get("version", 0) > VERSION:
        raise GanvasError(f"{path}: checkpoint version {state['version']} is newer than this "
                          "ganvas understands; upgrade ganvas")
    return state


_SNAPSHOT = re.compile(r"^snapshot-(\d{6,})(?:\.(\d{3}))?\.pt$")


def snapshot_name(nimg: int) -> str:
    """``snapshot-000200.pt`` at 200 kimg (``snapshot-000000.016.pt`` between whole kimg)."""
    return f"snapshot-{nimg // 1000:06d}" + (f".{nimg % 1000:03d}" if nimg % 1000 else "") + ".pt"


def list_snapshots(folder: Path) -> list[tuple[int, Path]]:
    """The ``snapshot-*.pt`` files in a checkpoints folder as (images seen, path), oldest first."""
    found = []
    for path in folder.glob("snapshot-*.pt") if folder.is_dir() else []:
        m = _SNAPSHOT.match(path.name)
        if m:
            found.append((int(m.group(1)) * 1000 + int(m.group(2) or 0), path))
    return sorted(found)


def prune_snapshots(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` snapshots (0 keeps all); ``best.pt`` is not one."""
    snapshots = list_snapshots(folder)
    doomed = [path for _, path in snapshots[:-keep]] if keep else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def split_snapshot(path: str | os.PathLike) -> tuple[Path, float | None]:
    """``RUN@200`` -> (RUN, 200.0): the run's snapshot at 200 kimg; other paths -> (path, None)."""
    text = os.fspath(path)
    base, at, kimg = text.rpartition("@")
    if not at or Path(text).exists():
        return Path(text), None
    try:
        value = float(kimg)
    except ValueError:
        raise GanvasError(f"{text}: after @ comes a snapshot's kimg, like RUN@200") from None
    return Path(base), value


def find_checkpoint(path: str | os.PathLike, which: str = "latest") -> Path:
    """A checkpoint file from a file path, a run folder (``checkpoints/<which>.pt``) or
    ``RUN@<kimg>`` (that run's ``checkpoints/snapshot-<kimg>.pt``)."""
    path, kimg = split_snapshot(path)
    if kimg is not None:
        return _find_snapshot(path, kimg)
    if path.is_dir():
        candidate = path / "checkpoints" / f"{which}.pt"
        if not candidate.is_file():
            raise GanvasError(f"{path}: no checkpoint found (expected {candidate})")
        return candidate
    if not path.exists():
        raise GanvasError(f"{path}: no such run folder or checkpoint")
    return path


def _find_snapshot(run_dir: Path, kimg: float) -> Path:
    if not run_dir.is_dir():
        raise GanvasError(f"{run_dir}: no such run folder")
    snapshots = list_snapshots(run_dir / "checkpoints")
    for nimg, path in snapshots:
        if nimg == round(kimg * 1000):
            return path
    have = ", ".join(f"{n / 1000:g}" for n, _ in snapshots) or "none"
    raise GanvasError(f"{run_dir}@{kimg:g}: no snapshot at {kimg:g} kimg (snapshots kept: "
                      f"{have})")
