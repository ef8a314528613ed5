"""``--model stylegan2``: the StyleGAN2 family for the training loop.

Resolving the config completes :class:`StyleGAN2Options` from ``--cfg`` (every option left unset
takes the configuration's value) and gives the optimiser and EMA their defaults; the networks
are built from the completed options alone. The objective is StyleGAN2's
(:class:`~ganvas.objective.stylegan2.StyleGAN2Objective`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
from torch import nn

from ganvas.models.stylegan2.configs import StyleGAN2Preset, resolve_cfg
from ganvas.models.stylegan2.discriminator import Discriminator
from ganvas.models.stylegan2.networks import Generator
from ganvas.models.stylegan2.options import StyleGAN2Options
from ganvas.objective.options import ObjectiveOptions
from ganvas.objective.stylegan2 import StyleGAN2Objective

#: The options a completed StyleGAN2Options takes from its ``--cfg`` when left unset.
FROM_CONFIG = ("z_dim", "w_dim", "map_layers", "channel_base", "channel_max", "mbstd_group",
               "d_architecture", "conv_clamp", "gamma", "pl_weight", "style_mixing")


def process_count() -> int:
    """How many processes share the batch (``torchrun`` sets WORLD_SIZE): ``--cfg auto`` sizes
    its batch by it, and each process's share must split into minibatch-stddev groups."""
    return max(int(os.environ.get("WORLD_SIZE", "1")), 1)


def preset_for(options: StyleGAN2Options, resolution: int, batch: int | None,
               processes: int) -> StyleGAN2Preset:
    """The ``--cfg``'s values at this resolution and batch. For ``auto`` and ``small``, γ and
    the EMA half-life follow the batch actually used (the reference's formulas
    γ = 0.0002·res²/batch, EMA = batch·10/32 kimg); the paper configs keep their values."""
    preset = resolve_cfg(options.config_name, resolution, batch=batch, gpus=processes)
    if options.config_name in ("auto", "small"):
        preset = dataclasses.replace(preset, gamma=0.0002 * resolution ** 2 / preset.batch,
                                     ema_kimg=preset.batch * 10 / 32)
    return preset


class StyleGAN2Family:
    """StyleGAN2 networks and objective; ``--cfg`` picks sizes and hyper-parameters."""

    name = "stylegan2"
    options_class = StyleGAN2Options
    # Channels-last: 1.3x the images/s of NCHW for `small` at 64 px in bf16 on the CPU
    # (bench/step_rate.py), once FIR padding rides in the convolution.
    channels_last = True
    default_aug = "ada"
    # Shared objective options it replaces with its own: R1 is --gamma, every 16 D steps.
    replaced = {"r1": "--gamma", "r1_every": "R1 every 16 D steps, fixed"}

    def complete(self, options: StyleGAN2Options, resolution: int | None, batch: int | None,
                 processes: int) -> StyleGAN2Options:
        """Every unset option from the ``--cfg`` (nothing to do before the resolution is known)."""
        if resolution is None:
            return options
        preset = preset_for(options, resolution, batch, processes)
        values = {name: getattr(preset, name) for name in FROM_CONFIG
                  if getattr(options, name) is None}
        return dataclasses.replace(options, **values)

    def defaults(self, options: StyleGAN2Options, *, resolution: int | None, batch: int | None,
                 aug: str, processes: int) -> dict[str, Any]:
        if resolution is None:
            return {"loss": "bce", "diffaugment": ""}
        preset = preset_for(options, resolution, batch, processes)
        return {"batch": preset.batch, "lr_g": preset.lr, "lr_d": preset.lr,
                "betas": preset.betas, "ema_kimg": preset.ema_kimg,
                "ema_rampup": preset.ema_rampup or 0.0, "diffaugment": "", "loss": "bce"}

    def build(self, options: StyleGAN2Options, resolution: int, channels: int,
              num_classes: int = 0) -> tuple[nn.Module, nn.Module]:
        o = options
        G = Generator(z_dim=o.z_dim, w_dim=o.w_dim, resolution=resolution, img_channels=channels,
                      channel_base=o.channel_base, channel_max=o.channel_max,
                      map_layers=o.map_layers, conv_clamp=o.conv_clamp, c_dim=num_classes)
        # D maps the class with 8 layers whatever G's depth, as the reference's train.py does.
        D = Discriminator(resolution=resolution, img_channels=channels,
                          channel_base=o.channel_base, channel_max=o.channel_max,
                          mbstd_group=o.mbstd_group, architecture=o.d_architecture,
                          conv_clamp=o.conv_clamp, c_dim=num_classes)
        return G, D

    def objective(self, options: StyleGAN2Options, objective: ObjectiveOptions, G: nn.Module,
                  D: nn.Module, rng: torch.Generator, **fast: Any) -> StyleGAN2Objective:
        return StyleGAN2Objective(objective, G, D, rng, gamma=options.gamma,
                                  pl_weight=options.pl_weight,
                                  style_mixing=options.style_mixing, **fast)

    def frozen_parameters(self, D: nn.Module, blocks: int) -> list[nn.Parameter]:
        """Freeze-D: the first ``blocks`` resolution blocks from the image side."""
        names = [f"b{res}" for res in D.block_resolutions[:blocks]]
        return [p for name in names for p in getattr(D, name).parameters()]
