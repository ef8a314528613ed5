"""``--model dcgan``: DCGAN and its dense (Keras-style) variant, trained with the shared
adversarial objective and every stabilising trick of ``ganvas.objective``."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ganvas.models.dcgan.networks import DCGANSpec, Discriminator, Generator
from ganvas.models.dcgan.options import DCGANOptions
from ganvas.objective.adversarial import AdversarialObjective
from ganvas.objective.options import ObjectiveOptions
from ganvas.utils.options import plain


class DCGANFamily:
    """DCGAN networks from :class:`DCGANOptions`; the objective is the configurable one."""

    name = "dcgan"
    options_class = DCGANOptions
    channels_last = True
    default_aug = "none"
    replaced: dict[str, str] = {}

    def complete(self, options: DCGANOptions, resolution: int | None, batch: int | None,
                 processes: int) -> DCGANOptions:
        return dataclasses.replace(options, z_dim=100 if options.z_dim is None else options.z_dim)

    def defaults(self, options: DCGANOptions, *, resolution: int | None, batch: int | None,
                 aug: str, processes: int) -> dict[str, Any]:
        # The textbook DCGAN plus an EMA of G (half-life 10 kimg) and DiffAugment
        # translation,cutout (with x-flips for your pictures): the best recipe measured with
        # bench/quality.py (docs/benchmarks.md); --preset dcgan-paper is the textbook.
        diffaugment = "" if aug in ("ada", "fixed") else "translation,cutout"
        return {"batch": 64, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
                "ema_kimg": 10.0, "ema_rampup": 0.05, "diffaugment": diffaugment, "loss": "bce"}

    def build(self, options: DCGANOptions, resolution: int, channels: int,
              num_classes: int = 0) -> tuple[nn.Module, nn.Module]:
        spec = DCGANSpec(resolution=resolution, channels=channels, **plain(options))
        return Generator(spec, num_classes), Discriminator(spec, num_classes)

    def objective(self, options: DCGANOptions, objective: ObjectiveOptions, G: nn.Module,
                  D: nn.Module, rng: torch.Generator, **fast: Any) -> AdversarialObjective:
        return AdversarialObjective(objective, G, D, rng, **fast)

    def frozen_parameters(self, D: nn.Module, blocks: int) -> list[nn.Parameter]:
        """The first ``blocks`` convolutions of D and the normalisation layers after them."""
        frozen: list[nn.Parameter] = []
        convs = 0
        for module in D.main:
            if isinstance(module, nn.Conv2d):
                convs += 1
            if convs > blocks:
                break
            frozen += list(module.parameters())
        return frozen
