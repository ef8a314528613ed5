"""Interpolation videos: a walk through latent space from seed to seed.

Between consecutive key seeds the walk takes ``frames`` steps (slerp in z, lerp in w; see
:class:`~ganvas.render.LatentSpace`), so every segment lasts as long whatever the
distance. A grid of walks shows several at once: the walk in cell k (row-major, from 0) visits
each key seed plus k, so ``--seeds 1,5,9 --grid 2x1`` walks 1→5→9 and 2→6→10 side by side.

A conditional run's walk also has classes: one class for every key seed, one seed walking
through several classes (``--seeds 7 --class cat,dog``: the same seed turning from one class
into the other), or a class per seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganvas.errors import GanvasError
from ganvas.explore.media import video_format, write_video
from ganvas.render import LatentSpace
from ganvas.utils.grid import make_grid


def key_sequence(seeds: list[int], loop: bool) -> list[int]:
    """The seeds the walk passes through; a loop ends where it started."""
    if len(seeds) < 2:
        raise GanvasError(f"--seeds: a walk needs at least two seeds, got {len(seeds)}")
    return seeds + seeds[:1] if loop else list(seeds)


def key_pairs(seeds: list[int], classes: list[int] | None
              ) -> tuple[list[int], list[int] | None]:
    """The key seeds and their classes: one class for every seed, one seed through every
    class, or one class per seed."""
    if classes is None or len(classes) == len(seeds):
        return seeds, classes
    if len(classes) == 1:
        return seeds, classes * len(seeds)
    if len(seeds) == 1:
        return seeds * len(classes), classes
    raise GanvasError(f"--class: {len(classes)} classes for {len(seeds)} key seeds; give one "
                      "class, one seed, or a class per seed")


def walk(space: LatentSpace, seeds: list[int], frames: int, loop: bool = False,
         classes: list[int] | None = None) -> torch.Tensor:
    """Latents of one walk: ``frames`` per segment, plus the last key unless it loops (a looping
    video would otherwise show the first seed twice in a row)."""
    if frames < 1:
        raise GanvasError(f"--frames: {frames} must be >= 1")
    seeds, classes = key_pairs(seeds, classes)
    key_seeds = key_sequence(seeds, loop)
    key_classes = key_sequence(classes, loop) if classes is not None else None
    keys = space.from_seeds(key_seeds, key_classes)
    t = torch.arange(frames, dtype=torch.float32) / frames
    segments = [space.interpolate(keys[i:i + 1], keys[i + 1:i + 2], t)
                for i in range(len(keys) - 1)]
    if not loop:
        segments.append(keys[-1:])
    return torch.cat(segments)


def interpolation_frames(space: LatentSpace, seeds: list[int], frames: int = 60,
                         loop: bool = False, grid: tuple[int, int] = (1, 1),
                         progress: bool = False,
                         classes: list[int] | None = None) -> np.ndarray:
    """uint8 video frames (T×H×W×C): one walk per grid cell, tiled ``grid`` = (columns, rows)."""
    columns, rows = grid
    walks = [walk(space, [s + cell for s in seeds], frames, loop, classes)
             for cell in range(columns * rows)]
    length = len(walks[0])
    images = space.render(torch.cat(walks), progress=progress)
    per_cell = images.reshape(columns * rows, length, *images.shape[1:])
    if columns * rows == 1:
        return per_cell[0].transpose(0, 2, 3, 1)
    return np.stack([make_grid(per_cell[:, i], columns=columns) for i in range(length)])


def interpolate(G: torch.nn.Module, seeds: list[int], out: str | Path, frames: int = 60,
                loop: bool = False, grid: tuple[int, int] = (1, 1), fps: float = 30.0,
                truncation_psi: float | None = None, noise_mode: str | None = None,
                batch: int = 64, progress: bool = False, precision: str = "fp32",
                classes: list[int] | None = None) -> Path:
    """Render the walk(s) through ``seeds`` (of ``classes``, for a conditional ``G``) with
    generator ``G`` and write ``out`` (.mp4/.gif)."""
    video_format(out)  # a bad name fails before any rendering
    if not fps > 0:
        raise GanvasError(f"--fps: {fps} must be > 0")
    space = LatentSpace(G, truncation_psi=truncation_psi, noise_mode=noise_mode, batch=batch,
                        precision=precision)
    video = interpolation_frames(space, seeds, frames, loop, grid, progress, classes)
    return write_video(out, video, fps)
