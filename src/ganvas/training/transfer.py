"""Transfer learning: start a new run from another run's (or an imported) G, D and G_ema.

The portrait report's best images came from fine-tuning NVIDIA's FFHQ network on 4,400
portraits; ``--init-from`` does that for any ganvas checkpoint, and ``ganvas import`` turns
NVIDIA's network pickles into one. With ``--freeze-d N`` the first N discriminator blocks keep
their pre-trained weights (Freeze-D, Mo et al. 2020).

A class-conditional run (``--cond``) may start from an unconditional one: every weight is taken
over except what the classes add. Inputs that grew by the class (the first layer, which now
also reads the class) keep the source's weights for z; the class parts start fresh.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganvas.config import TrainConfig
from ganvas.errors import GanvasError
from ganvas.runs import checkpoint as ckpt


def load_initial_weights(path: str, cfg: TrainConfig, resolution: int, G: nn.Module,
                         D: nn.Module) -> dict[str, Any] | None:
    """Load G and D from ``path``; return its G_ema state (or None) for the caller's G_ema."""
    state = ckpt.load_checkpoint(ckpt.find_checkpoint(path))
    source = state.get("data", {}).get("resolution")
    if source != resolution:
        raise GanvasError(f"--init-from {path}: its networks are {source} px but this run "
                          f"trains at {resolution} px; give --resolution {source} or start "
                          "from a run of the same size")
    model = state.get("config", {}).get("model")
    if model != cfg.model:
        raise GanvasError(f"--init-from {path}: it holds a {model} model, this run trains "
                          f"--model {cfg.model}")
    source_classes = state.get("data", {}).get("classes") or None
    widen = cfg.data.cond and source_classes is None
    if source_classes is not None and not cfg.data.cond:
        raise GanvasError(f"--init-from {path}: it is class-conditional; add --cond")
    for name, net in (("G", G), ("D", D)):
        if state.get(name) is None:
            raise GanvasError(f"--init-from {path}: the checkpoint has no {name}")
        weights = widened(net.state_dict(), state[name]) if widen else state[name]
        try:
            net.load_state_dict(weights)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise GanvasError(f"--init-from {path}: its {name} has another architecture "
                              f"(give the same --cfg and channel options): {first[:160]}") \
                from None
    ema = state.get("G_ema")
    return widened(G.state_dict(), ema) if widen and ema is not None else ema


def widened(target: dict[str, torch.Tensor], source: dict[str, torch.Tensor]
            ) -> dict[str, torch.Tensor]:
    """``target`` (a conditional network's fresh state) with every tensor of ``source`` (its
    unconditional start) that fits: equal shapes whole, and a source tensor smaller in some
    dimensions into the leading part (z's weights in a first layer that also reads the class).
    The rest (class embeddings, projections) keeps its fresh values."""
    result = dict(target)
    for key, fresh in target.items():
        old = source.get(key)
        if old is None or old.dim() != fresh.dim():
            continue
        if old.shape == fresh.shape:
            result[key] = old
        elif all(a <= b for a, b in zip(old.shape, fresh.shape)) and old.dim() > 1:
            merged = fresh.clone()
            merged[tuple(slice(0, size) for size in old.shape)] = old
            result[key] = merged
    return result
