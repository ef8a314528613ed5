"""Exponential moving average of the generator's weights (as in Karras et al.).

The half-life is given in thousands of images (``--ema-kimg``), so it means the same at every
batch size; a ramp-up keeps it short early in training, when old weights are useless.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    """A frozen copy of G to average into."""
    ema = copy.deepcopy(G).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, G: nn.Module, batch: int, nimg: int, ema_kimg: float,
               rampup: float) -> None:
    """Move ``ema`` towards ``G``; buffers (BatchNorm statistics) are copied as they are."""
    ema_nimg = ema_kimg * 1000
    if rampup:
        ema_nimg = min(ema_nimg, nimg * rampup)
    beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
    ema_params = list(ema.parameters())
    params = [p.detach() for p in G.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), G.buffers()):
        b_ema.copy_(b)
