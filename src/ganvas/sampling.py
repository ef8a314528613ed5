"""Images from a trained generator: by seed, deterministic, byte for byte.

Seed ``s`` always gives the same latent (``torch.randn`` from a CPU generator seeded with ``s``),
and each seed's image is computed on its own with G in eval mode, so it never depends on which
other seeds are asked for in the same call.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from ganvas.config import from_dict
from ganvas.errors import GanvasError
from ganvas.models import build_generator
from ganvas.training.checkpoint import find_checkpoint, load_checkpoint
from ganvas.utils.grid import make_grid, to_uint8
from ganvas.utils.io import save_image


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


def load_generator(path: str | Path, device: str | torch.device = "cpu",
                   ema: bool = True, which: str = "latest") -> nn.Module:
    """The generator of a run folder or checkpoint, in eval mode (G_ema when it has one).

    The module maps latents (N×``G.z_dim``) to images in [-1, 1] (N×C×H×W).
    """
    state = load_checkpoint(find_checkpoint(path, which))
    cfg = from_dict(state["config"])
    info = state["data"]
    G = build_generator(cfg, info["resolution"], info["channels"])
    weights = state["G_ema"] if ema and state.get("G_ema") is not None else state["G"]
    G.load_state_dict(weights)
    G.requires_grad_(False)
    return G.to(device).eval()


def seed_latent(seed: int, z_dim: int) -> torch.Tensor:
    """The latent of ``seed`` (1×z_dim, CPU, float32)."""
    return torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate_images(G: nn.Module, seeds: Iterable[int]) -> np.ndarray:
    """uint8 N×C×H×W images, one per seed."""
    device = next(G.parameters()).device
    out = [to_uint8(G(seed_latent(s, G.z_dim).to(device))).cpu() for s in seeds]
    return torch.cat(out).numpy()


def generate(path: str | Path, seeds: list[int], outdir: str | Path, grid: bool = False,
             device: str = "cpu") -> list[Path]:
    """Write ``seedNNNN.png`` per seed (or one ``grid.png``) into ``outdir``; return the paths."""
    G = load_generator(path, device=device)
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanvasError(f"--out: cannot create {outdir} ({exc.strerror or exc})") from None
    images = generate_images(G, seeds)
    if grid:
        target = outdir / "grid.png"
        save_image(target, make_grid(images))
        return [target]
    paths = []
    for seed, image in zip(seeds, images):
        target = outdir / f"seed{seed:04d}.png"
        save_image(target, image.transpose(1, 2, 0))
        paths.append(target)
    return paths
