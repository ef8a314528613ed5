"""Networks from a run: a run folder, a checkpoint, or a snapshot (``RUN@<kimg>``), rebuilt by
the run's model family from its saved config, frozen and in eval mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from ganvas.config import from_dict
from ganvas.errors import GanvasError
from ganvas.models import get_family
from ganvas.render.latents import LatentSpace
from ganvas.runs.checkpoint import find_checkpoint, load_checkpoint


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
    classes = info.get("classes") or []
    G, D = get_family(cfg.model).build(cfg.family, info["resolution"], info["channels"],
                                       len(classes))
    net = D if weights == "D" else G
    net.class_names = list(classes)  # what --class NAME refers to (empty: unconditional)
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
