"""Model families: each turns a config into a generator, a discriminator and an objective.

The training loop only talks to a :class:`ModelFamily`; adding a model means adding a family
here, not touching the loop. A family owns its networks, its objective (losses, lazy
regularisers and their intervals, state that checkpoints keep) and its optimizer settings.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Protocol

import torch
from torch import nn

from ganvas.config import TrainConfig
from ganvas.errors import GanvasError
from ganvas.models.dcgan import DCGANSpec, Discriminator, Generator
from ganvas.models.stylegan2.family import StyleGAN2Family


class ModelFamily(Protocol):
    """What the training loop needs from a model family."""

    name: str
    channels_last: bool  # whether its networks run faster in channels-last memory format

    def defaults(self, cfg: TrainConfig) -> dict[str, Any]:
        """Values for the options left unset (None) whose default depends on the model."""
        ...

    def build(self, cfg: TrainConfig, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
        """Return (G, D) for images of ``resolution`` px with ``channels`` channels."""
        ...

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, rng: torch.Generator,
                  **fast: Any) -> Any:
        """The losses of each phase (see ``ganvas.training.objective.AdversarialObjective``)."""
        ...

    def frozen_parameters(self, D: nn.Module, blocks: int) -> list[nn.Parameter]:
        """``--freeze-d N``: the parameters of D's first N blocks from the image side."""
        ...


class DCGANFamily:
    """DCGAN and its dense (Keras-style) variant, trained with the configurable objective."""

    name = "dcgan"
    channels_last = True

    def defaults(self, cfg: TrainConfig) -> dict[str, Any]:
        # The textbook DCGAN plus an EMA of G (half-life 10 kimg) and DiffAugment
        # translation,cutout (with x-flips for your pictures): the best recipe measured with
        # bench/quality.py (docs/benchmarks.md); --preset dcgan-paper is the textbook.
        diffaugment = "" if cfg.aug in ("ada", "fixed") else "translation,cutout"
        return {"batch": 64, "z_dim": 100, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
                "ema_kimg": 10.0, "ema_rampup": 0.05, "diffaugment": diffaugment}

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


FAMILIES: dict[str, ModelFamily] = {"dcgan": DCGANFamily(), "stylegan2": StyleGAN2Family()}


def get_family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise GanvasError(f"--model: unknown model {name!r} (choose from "
                          f"{', '.join(FAMILIES)})") from None


# Options only one family reads: the config group of each family's own options, and options of
# the shared objective that a family replaces with its own (StyleGAN2's R1 is --gamma, every 16
# D steps, as in the reference).
OWN_GROUPS = {"dcgan": "dcgan", "stylegan2": "stylegan2"}
REPLACED = {"stylegan2": {"r1": "--gamma", "r1_every": "R1 every 16 D steps, fixed"}}


def refuse_foreign_options(model: str, given: Iterable[str]) -> None:
    """One error line for an option the chosen family would silently ignore."""
    from ganvas.config import FIELDS, option_name

    get_family(model)
    for name in given:
        owner = next((family for family, group in OWN_GROUPS.items()
                      if FIELDS[name].metadata["group"] == group), None)
        if owner is not None and owner != model:
            raise GanvasError(f"{option_name(name)}: --model {model} does not use it; it is an "
                              f"option of --model {owner}")
        if name in REPLACED.get(model, {}):
            raise GanvasError(f"{option_name(name)}: --model {model} does not use it (it has "
                              f"its own: {REPLACED[model][name]}); --model dcgan uses it")


def fill_defaults(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with every unset model-dependent option set to its family's default."""
    values = {name: value for name, value in get_family(cfg.model).defaults(cfg).items()
              if getattr(cfg, name) is None}
    return dataclasses.replace(cfg, **values) if values else cfg


def build_generator(cfg: TrainConfig, resolution: int, channels: int) -> nn.Module:
    """Just G, for loading checkpoints for sampling."""
    return get_family(cfg.model).build(cfg, resolution, channels)[0]

