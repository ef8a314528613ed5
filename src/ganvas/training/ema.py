"""Exponential moving average of the generator's weights (as in Karras et al.).

The half-life is given in thousands of generator images (``--ema-kimg``), so it means the same at
every batch size; a ramp-up keeps it short early in training, when old weights are useless.

BatchNorm: G's running statistics describe G's weights, not the averaged ones, so copying them
into G_ema (as many implementations do) samples G_ema with the wrong statistics. Instead
:func:`refresh_batchnorm` recomputes G_ema's own "standing statistics" from a few train-mode
forward passes on fresh latents before G_ema is used (grids, metrics, checkpoints).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

STANDING_BATCHES = 8  # forward passes that estimate G_ema's BatchNorm statistics


def make_ema(G: nn.Module) -> nn.Module:
    """A frozen copy of G to average into, with plain BatchNorm where G has SyncBatchNorm:
    G_ema's statistics are refreshed on rank 0 alone, where a collective would wait forever."""
    ema = copy.deepcopy(G).eval()
    ema = _without_sync_batchnorm(ema)
    ema.requires_grad_(False)
    return ema


def _without_sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every SyncBatchNorm replaced by a BatchNorm2d holding the same state."""
    if isinstance(module, nn.SyncBatchNorm):
        plain = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        plain.load_state_dict(module.state_dict())
        return plain.to(next(module.buffers()).device).train(module.training)
    for name, child in module.named_children():
        setattr(module, name, _without_sync_batchnorm(child))
    return module


def ema_beta(batch: int, g_nimg: int, ema_kimg: float, rampup: float) -> float:
    """Per-update decay: half-life ``ema_kimg`` thousand images, at most ``rampup``·images seen."""
    ema_nimg = ema_kimg * 1000
    if rampup:
        ema_nimg = min(ema_nimg, g_nimg * rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, G: nn.Module, batch: int, g_nimg: int, ema_kimg: float,
               rampup: float) -> None:
    """Move ``ema``'s parameters towards ``G``'s; ``g_nimg`` counts generator images only.

    Buffers other than BatchNorm statistics (for instance StyleGAN2's ``w_avg``) are copied;
    BatchNorm statistics are left for :func:`refresh_batchnorm`.
    """
    beta = ema_beta(batch, g_nimg, ema_kimg, rampup)
    ema_params = list(ema.parameters())
    params = [p.detach() for p in G.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - beta)
    bn_buffers = {id(b) for m in ema.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
                  for b in m.buffers(recurse=False)}
    for b_ema, b in zip(ema.buffers(), G.buffers()):
        if id(b_ema) not in bn_buffers:
            b_ema.copy_(b)


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@torch.no_grad()
def refresh_batchnorm(G: nn.Module, batch: int, seed: int,
                      batches: int = STANDING_BATCHES) -> None:
    """Recompute G's BatchNorm running statistics as the average over fresh latent batches.

    Uses its own seeded generator, so it never disturbs the training loop's random stream (exact
    resume holds). A no-op for generators without BatchNorm.
    """
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(G.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    was_training = G.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    G.train()
    for _ in range(batches):
        z = torch.randn(batch, G.z_dim, generator=rng).to(device)
        classes = getattr(G, "num_classes", 0)  # a conditional G: every class equally
        G(z) if not classes else G(z, torch.arange(batch, device=device) % classes)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    G.train(was_training)
