"""Model families: each turns a config into a generator, a discriminator and an objective.

The training loop only talks to a :class:`ModelFamily`; adding a model means adding a family
here, not touching the loop. A family owns its networks, its objective (losses, lazy
regularisers and their intervals, state that checkpoints keep) and its optimizer settings.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from ganvas.config import TrainConfig
from ganvas.errors import GanvasError
from ganvas.models.dcgan import DCGANSpec, Discriminator, Generator


class ModelFamily(Protocol):
    """What the training loop needs from a model family."""

    name: str

    def build(self, cfg: TrainConfig, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
        """Return (G, D) for images of ``resolution`` px with ``channels`` channels."""
        ...

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, rng: torch.Generator,
                  **fast: Any) -> Any:
        """The losses of each phase (see ``ganvas.training.objective.AdversarialObjective``)."""
        ...

    def optimizer_settings(self, cfg: TrainConfig) -> tuple[float, float, tuple[float, float]]:
        """(lr_G, lr_D, betas) before the lazy-regularisation correction."""
        ...

    def uses_ema(self, cfg: TrainConfig) -> bool:
        ...

    def ema_settings(self, cfg: TrainConfig) -> tuple[float, float]:
        """(half-life in kimg, ramp-up fraction)."""
        ...


class DCGANFamily:
    """DCGAN and its dense (Keras-style) variant, trained with the configurable objective."""

    name = "dcgan"

    def spec(self, cfg: TrainConfig, resolution: int, channels: int) -> DCGANSpec:
        return DCGANSpec(resolution=resolution, channels=channels, z_dim=cfg.z_dim,
                         g_channels=cfg.g_channels, d_channels=cfg.d_channels,
                         layers=cfg.layers, kernel_size=cfg.kernel_size,
                         g_activation=cfg.g_activation, d_activation=cfg.d_activation,
                         g_norm=cfg.g_norm, d_norm=cfg.d_norm, d_dropout=cfg.d_dropout,
                         conv_bias=cfg.conv_bias, arch=cfg.arch, init=cfg.init)

    def build(self, cfg: TrainConfig, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
        spec = self.spec(cfg, resolution, channels)
        return Generator(spec), Discriminator(spec)

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, rng: torch.Generator,
                  **fast: Any) -> Any:
        from ganvas.training.objective import AdversarialObjective

        return AdversarialObjective(cfg, G, D, rng, **fast)

    def optimizer_settings(self, cfg: TrainConfig) -> tuple[float, float, tuple[float, float]]:
        return cfg.lr_g, cfg.lr_d, tuple(cfg.betas)

    def uses_ema(self, cfg: TrainConfig) -> bool:
        return bool(cfg.ema_kimg)

    def ema_settings(self, cfg: TrainConfig) -> tuple[float, float]:
        return cfg.ema_kimg, cfg.ema_rampup


FAMILIES: dict[str, ModelFamily] = {"dcgan": DCGANFamily()}


def get_family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise GanvasError(f"--model: unknown model {name!r} (choose from "
                          f"{', '.join(FAMILIES)})") from None


def build_generator(cfg: TrainConfig, resolution: int, channels: int) -> nn.Module:
    """Just G, for loading checkpoints for sampling."""
    return get_family(cfg.model).build(cfg, resolution, channels)[0]

