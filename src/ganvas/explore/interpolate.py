"""Interpolation videos: a walk through latent space from seed to seed.

Between consecutive key seeds the walk takes ``frames`` steps (slerp in z, lerp in w; see
:class:`~ganvas.render.LatentSpace`), so every segment lasts as long whatever the
distance. A grid of walks shows several at once: the walk in cell k (row-major, from 0) visits
each key seed plus k, so ``--seeds 1,5,9 --grid 2x1`` walks 1→5→9 and 2→6→10 side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganvas.errors import GanvasError
from ganvas.render import LatentSpace
from ganvas.explore.media import video_format, write_video
from ganvas.utils.grid import make_grid


def key_sequence(seeds: list[int], loop: bool) -> list[int]:
    """The seeds the walk passes through; a loop ends where it started."""
    if len(seeds) < 2:
        raise GanvasError(f"--seeds: a walk needs at least two seeds, got {len(seeds)}")
    return seeds + seeds[:1] if loop else list(seeds)


def walk(space: LatentSpace, seeds: list[int], frames: int, loop: bool = False) -> torch.Tensor:
    """Latents of one walk: ``frames`` per segment, plus the last key unless it loops (a looping
    video would otherwise show the first seed twice in a row)."""
    if frames < 1:
        raise GanvasError(f"--frames: {frames} must be >= 1")
    keys = space.from_seeds(key_sequence(seeds, loop))
    t = torch.arange(frames, dtype=torch.float32) / frames
    segments = [space.interpolate(keys[i:i + 1], keys[i + 1:i + 2], t)
                for i in range(len(keys) - 1)]
    if not loop:
        segments.append(keys[-1:])
    return torch.cat(segments)


def interpolation_frames(space: LatentSpace, seeds: list[int], frames: int = 60,
                         loop: bool = False, grid: tuple[int, int] = (1, 1),
                         progress: bool = False) -> np.ndarray:
    """uint8 video frames (T×H×W×C): one walk per grid cell, tiled ``grid`` = (columns, rows)."""
    columns, rows = grid
    walks = [walk(space, [s + cell for s in seeds], frames, loop) for cell in range(columns * rows)]
    length = len(walks[0])
    images = space.render(torch.cat(walks), progress=progress)
    per_cell = images.reshape(columns * rows, length, *images.shape[1:])
    if columns * rows == 1:
        return per_cell[0].transpose(0, 2, 3, 1)
    return np.stack([make_grid(per_cell[:, i], columns=columns) for i in range(length)])


def interpolate(G: torch.nn.Module, seeds: list[int], out: str | Path, frames: int = 60,
                loop: bool = False, grid: tuple[int, int] = (1, 1), fps: float = 30.0,
                truncation_psi: float | None = None, noise_mode: str | None = None,
                batch: int = 64, progress: bool = False, precision: str = "fp32") -> Path:
    """Render the walk(s) through ``seeds`` with generator ``G`` and write ``out`` (.mp4/.gif)."""
    video_format(out)  # a bad name fails before any rendering
    if not fps > 0:
        raise GanvasError(f"--fps: {fps} must be > 0")
    space = LatentSpace(G, truncation_psi=truncation_psi, noise_mode=noise_mode, batch=batch,
                        precision=precision)
    video = interpolation_frames(space, seeds, frames, loop, grid, progress)
    return write_video(out, video, fps)
