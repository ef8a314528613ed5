"""Model families: each turns a config into a generator, a discriminator and an objective.

The training loop only talks to a :class:`ModelFamily`; adding StyleGAN2 means adding a family
here, not touching the loop.
"""

from __future__ import annotations

from typing import Protocol

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


class DCGANFamily:
    """DCGAN and its dense (Keras-style) variant."""

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
