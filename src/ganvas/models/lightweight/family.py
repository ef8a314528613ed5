"""``--model lightweight``: FastGAN for a few hundred pictures at 64-1024 px, on any device.

Hinge loss, ADA and an EMA of G by default (FastGAN's own EMA decay is 0.999 per step), Adam
2e-4 with betas (0.5, 0.999), batch 16. With ``--aug none``, the reference's DiffAugment
``color,translation`` instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ganvas.errors import GanvasError
from ganvas.models.lightweight.networks import Discriminator, Generator
from ganvas.models.lightweight.options import LightweightOptions, attention_resolutions
from ganvas.objective.lightweight import LightweightObjective
from ganvas.objective.options import ObjectiveOptions

RESOLUTIONS = (64, 128, 256, 512, 1024)


class LightweightFamily:
    """FastGAN networks from :class:`LightweightOptions`, with a self-supervised D."""

    name = "lightweight"
    options_class = LightweightOptions
    # Channels-last: oneDNN's bf16 convolutions run 3x faster in it than in NCHW (which they
    # convert to and from), once the GLUs gate whole tensors (networks.gated_conv).
    channels_last = True
    replaced: dict[str, str] = {}
    # ADA by default: in 60 CPU minutes on 849 paintings at 128 px it beat the reference's
    # DiffAugment color,translation (docs/benchmarks.md), which --aug none still gives.
    default_aug = "ada"

    def complete(self, options: LightweightOptions, resolution: int | None, batch: int | None,
                 processes: int) -> LightweightOptions:
        if resolution is not None and resolution not in RESOLUTIONS:
            raise GanvasError(f"--resolution: --model lightweight trains at "
                              f"{', '.join(map(str, RESOLUTIONS))} px, not {resolution}")
        return dataclasses.replace(options, z_dim=256 if options.z_dim is None else options.z_dim)

    def defaults(self, options: LightweightOptions, *, resolution: int | None, batch: int | None,
                 aug: str, processes: int) -> dict[str, Any]:
        diffaugment = "color,translation" if aug == "none" else ""
        return {"batch": 16, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
                "ema_kimg": 10.0, "ema_rampup": 0.05, "diffaugment": diffaugment, "loss": "hinge"}

    def build(self, options: LightweightOptions, resolution: int, channels: int,
              num_classes: int = 0) -> tuple[nn.Module, nn.Module]:
        attention = attention_resolutions(options.attention)
        return (Generator(options.z_dim, resolution, channels, options.width, attention,
                          num_classes),
                Discriminator(resolution, channels, options.width, attention, num_classes))

    def objective(self, options: LightweightOptions, objective: ObjectiveOptions, G: nn.Module,
                  D: nn.Module, rng: torch.Generator, **fast: Any) -> LightweightObjective:
        return LightweightObjective(objective, G, D, rng, recon_weight=options.recon_weight,
                                    **fast)

    def frozen_parameters(self, D: nn.Module, blocks: int) -> list[nn.Parameter]:
        """Freeze-D: the stem and the first ``blocks - 1`` down blocks from the image side."""
        parts = [D.stem, *[D.blocks[str(res)] for res in D.resolutions]][:blocks]
        return [p for part in parts for p in part.parameters()]
