"""Checkpoints: state dicts plus the config as plain data.

They load anywhere with ``torch.load(path, weights_only=True)``: no pickled classes, no ganvas
import needed to read them. They are written atomically, so a crash mid-save keeps the old one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganvas.errors import GanvasError
from ganvas.utils.io import atomic_path

FORMAT = "ganvas-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, state dicts and plain data) atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)


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


def find_checkpoint(path: str | os.PathLike, which: str = "latest") -> Path:
    """A checkpoint file from a file path or a run folder (``checkpoints/<which>.pt``)."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / f"{which}.pt"
        if not candidate.is_file():
            raise GanvasError(f"{path}: no checkpoint found (expected {candidate})")
        return candidate
    if not path.exists():
        raise GanvasError(f"{path}: no such run folder or checkpoint")
    return path
