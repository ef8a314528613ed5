"""Optimizers of the two networks: parameter groups, lazy-regularisation correction, schedule."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganvas.config import OptimOptions


def param_groups(net: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: decayed (conv/linear parameters) and not (normalisation layers).

    Decaying BatchNorm's gamma towards 0 would shrink activations rather than regularise, so
    ``--weight-decay`` leaves normalisation layers alone, as is standard practice.
    """
    norm_types = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
    no_decay = {id(p) for m in net.modules() if isinstance(m, norm_types)
                for p in m.parameters(recurse=False)}
    params = list(net.parameters())
    return [{"params": [p for p in params if id(p) not in no_decay],
             "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0}]


def lazy_correction(lr: float, betas: tuple[float, float],
                    reg_interval: int | None) -> tuple[float, tuple[float, float]]:
    """Scale lr and betas for a network that takes an extra regulariser step every k steps.

    With lazy regularisation the optimizer makes k + 1 updates per k training steps; the
    reference implementation (stylegan2-ada-pytorch) compensates with c = k/(k + 1):
    ``lr·c`` and ``beta**c``, so the effective step size and averaging horizon stay the same.
    """
    if not reg_interval:
        return lr, betas
    c = reg_interval / (reg_interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)


def make_optimizer(options: OptimOptions, net: nn.Module, lr: float,
                   reg_interval: int | None = None, exclude: list[nn.Parameter] | None = None,
                   **impl: bool) -> torch.optim.Optimizer:
    """The configured optimizer for ``net``; ``--weight-decay`` is classic (coupled) L2 decay.

    ``exclude`` are frozen parameters (Freeze-D); ``impl`` picks the update implementation
    (``foreach=True`` or ``fused=True``).
    """
    lr, betas = lazy_correction(lr, tuple(float(b) for b in options.betas), reg_interval)
    skip = {id(p) for p in exclude or []}
    groups = [{**g, "params": [p for p in g["params"] if id(p) not in skip]}
              for g in param_groups(net, options.weight_decay)]
    if options.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas, **impl)
    impl.pop("fused", None)  # only Adam(W) have fused kernels on every device
    if options.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, **impl)
    return torch.optim.SGD(groups, lr=lr, momentum=betas[0], **impl)


def set_learning_rates(optimizers: list[torch.optim.Optimizer], base_lrs: list[float],
                       schedule: str, fraction_done: float) -> None:
    """``--lr-decay linear``: every group's lr goes linearly from its base to 0 over the run."""
    if schedule != "linear":
        return
    for opt, lr in zip(optimizers, base_lrs):
        for group in opt.param_groups:
            group["lr"] = lr * (1.0 - fraction_done)
