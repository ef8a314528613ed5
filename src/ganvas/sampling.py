"""Images from a trained generator: by seed, deterministic, byte for byte.

Seed ``s`` always gives the same latent (``torch.randn`` from a CPU generator seeded with ``s``;
see :mod:`ganvas.explore.latents` for truncation and the w space of StyleGAN2), and images are
rendered in batches padded to a fixed size, so a seed's image never depends on which other seeds
are asked for in the same call. ``generate`` streams: ``--count 50000`` never holds more than one
batch of images in memory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ganvas.config import from_dict
from ganvas.errors import GanvasError
from ganvas.explore.latents import DEFAULT_BATCH, LatentSpace, seed_latent
from ganvas.explore.media import IMAGE_FORMATS, parse_grid
from ganvas.utils.io import writable_folder
from ganvas.models import get_family
from ganvas.training.checkpoint import find_checkpoint, load_checkpoint
from ganvas.utils.grid import make_grid
from ganvas.utils.io import save_image

__all__ = ["parse_seeds", "load_generator", "load_discriminator", "seed_latent",
           "generate_images", "generate"]

DEFAULT_SEEDS = list(range(8))


def parse_seeds(text: str) -> list[int]:
    """``'0-35,85,265'`` -> [0, 1, ..., 35, 85, 265]; ranges are inclusive."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise GanvasError(f"--seeds: {part!r} is not a seed or a range like 600-605")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise GanvasError(f"--seeds: range {part!r} runs backwards")
        seeds.extend(range(lo, hi + 1))
    return seeds


def _network(state: dict, weights: str, device: str | torch.device) -> nn.Module:
    """The network a checkpoint stores under ``weights`` (``G``, ``G_ema`` or ``D``), built by
    the run's model family, frozen and in eval mode."""
    cfg = from_dict(state["config"])
    info = state["data"]
    G, D = get_family(cfg.model).build(cfg, info["resolution"], info["channels"])
    net = D if weights == "D" else G
    net.load_state_dict(state[weights])
    net.requires_grad_(False)
    return net.to(device).eval()


def load_generator(path: str | Path, device: str | torch.device = "cpu",
                   ema: bool = True, which: str = "latest") -> nn.Module:
    """The generator of a run folder or checkpoint, in eval mode (G_ema when it has one).

    The module maps latents (N×``G.z_dim``) to images in [-1, 1] (N×C×H×W).
    """
    state = load_checkpoint(find_checkpoint(path, which))
    return _network(state, "G_ema" if ema and state.get("G_ema") is not None else "G", device)


def load_discriminator(path: str | Path, device: str | torch.device = "cpu",
                       which: str = "latest") -> nn.Module:
    """The run's trained discriminator (projection compares images through its features)."""
    return _network(load_checkpoint(find_checkpoint(path, which)), "D", device)


def generate_images(G: nn.Module, seeds: Iterable[int]) -> np.ndarray:
    """uint8 N×C×H×W images, one per seed."""
    space = LatentSpace(G)
    return space.render(space.from_seeds(seeds))


def _choose_seeds(seeds: list[int] | None, count: int | None,
                  grid: tuple[int, int] | None) -> list[int]:
    """--count N takes the first N of --seeds (default 0..N-1); a CxR grid defaults to C*R."""
    if count is None:
        if seeds is not None:
            return seeds
        return list(range(grid[0] * grid[1])) if grid else DEFAULT_SEEDS
    if count < 1:
        raise GanvasError(f"--count: {count} must be >= 1")
    if seeds is None:
        return list(range(count))
    if len(seeds) < count:
        raise GanvasError(f"--count: {count} images asked for, but --seeds lists only "
                          f"{len(seeds)}")
    return seeds[:count]


def _grid_shape(grid: bool | str | tuple[int, int] | None) -> tuple[int, int] | None:
    """None (one file per image), a (columns, rows) shape, or (0, 0) for "square"."""
    if grid is None or grid is False:
        return None
    if grid is True or grid == "square":
        return (0, 0)
    return parse_grid(grid) if isinstance(grid, str) else (int(grid[0]), int(grid[1]))


def _file_names(labels: list[str]) -> list[str]:
    """The latent file's labels when they make distinct, safe names; else latent0000...."""
    if len(set(labels)) == len(labels) and all(re.fullmatch(r"[\w.-]+", x) for x in labels):
        return labels
    return [f"latent{i:04d}" for i in range(len(labels))]


def generate(path: str | Path, seeds: list[int] | None = None,
             outdir: str | Path = "generated", grid: bool | str | tuple[int, int] | None = None,
             count: int | None = None, batch: int = DEFAULT_BATCH,
             truncation_psi: float | None = None, ema: bool = True, image_format: str = "png",
             latents: str | Path | None = None, noise_mode: str | None = None,
             device: str | torch.device = "cpu", progress: bool = False,
             precision: str = "fp32") -> list[Path]:
    """Write ``seedNNNN.png`` per seed (or one ``grid.png``) into ``outdir``; return the paths.

    ``latents`` renders a ``.npz`` of saved latents (from ``ganvas project`` or
    ``ganvas arithmetic``) instead of seeds. ``grid`` is True (square), or ``'CxR'``.
    ``precision``: fp32 by default, as every command renders; bf16/fp16/auto are faster.
    """
    if image_format not in IMAGE_FORMATS:
        raise GanvasError(f"--format: {image_format!r} is not one of {', '.join(IMAGE_FORMATS)}")
    shape = _grid_shape(grid)
    if latents is not None and (seeds is not None or count is not None):
        raise GanvasError("--latents: renders the file's latents; drop --seeds and --count")
    G = load_generator(path, device=device, ema=ema)
    space = LatentSpace(G, truncation_psi=truncation_psi, noise_mode=noise_mode, batch=batch,
                        precision=precision)
    chosen: list[int] = []
    latent_rows: torch.Tensor | None = None
    if latents is not None:
        latent_rows, labels = space.load(latents)
        names = _file_names(labels)
    else:
        chosen = _choose_seeds(seeds, count, shape if shape and shape[0] else None)
        names = [f"seed{s:04d}" for s in chosen]
    if shape and shape[0] and len(names) > shape[0] * shape[1]:
        raise GanvasError(f"--grid: {shape[0]}x{shape[1]} holds {shape[0] * shape[1]} images, "
                          f"not {len(names)}")
    outdir = writable_folder(outdir)
    paths: list[Path] = []
    tiles = []
    with tqdm(total=len(names), disable=not progress, unit="img") as bar:
        for start in range(0, len(names), batch):
            part = names[start:start + batch]
            rows = latent_rows[start:start + batch] if latent_rows is not None \
                else space.from_seeds(chosen[start:start + batch])
            images = space.render(rows)
            if shape:
                tiles.append(images)
            else:
                for name, image in zip(part, images):
                    paths.append(outdir / f"{name}.{image_format}")
                    save_image(paths[-1], image.transpose(1, 2, 0))
            bar.update(len(part))
    if shape:
        paths.append(outdir / f"grid.{image_format}")
        save_image(paths[-1], make_grid(np.concatenate(tiles), nrow=shape[0] or None))
    return paths
