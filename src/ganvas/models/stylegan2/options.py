"""The options of ``--model stylegan2`` (the ``stylegan2`` group).

``--cfg`` names a configuration of the reference (``configs.py``); every option left unset takes
that configuration's value when the config is resolved, so a run's ``config.json`` holds the
whole architecture and these options are its one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganvas.models.stylegan2.configs import CFG_NAMES
from ganvas.utils.options import non_negative, opt, positive, probability


@dataclass
class StyleGAN2Options:
    """Network sizes and StyleGAN2's own regularisers; None: the ``--cfg``'s value."""

    config_name: str = opt("auto", "StyleGAN2 configuration: auto (the reference's heuristics), "
                           "small (narrow, for CPUs at 32-64 px), cifar, paper256, paper512.",
                           choices=CFG_NAMES, flag="cfg")
    z_dim: int | None = opt(None, "Latent size (default: 100 for dcgan, 256 for lightweight; "
                            "from --cfg for stylegan2).", check=positive, section="model")
    gamma: float | None = opt(None, "R1 weight γ (default: the cfg's; auto and small: "
                              "0.0002·resolution²/batch).", check=non_negative)
    pl_weight: float | None = opt(None, "Path-length regularisation weight (default: the "
                                  "cfg's, 2; 0: off).", check=non_negative)
    style_mixing: float | None = opt(None, "Style-mixing probability (default: the cfg's, "
                                     "0.9).", check=probability)
    map_layers: int | None = opt(None, "Mapping network depth (default: the cfg's).",
                                 check=positive)
    channel_base: int | None = opt(None, "Channels = min(channel_base / resolution, "
                                   "channel_max) per block (default: the cfg's).",
                                   check=positive)
    channel_max: int | None = opt(None, "Most channels in a block (default: the cfg's).",
                                  check=positive)
    w_dim: int | None = opt(None, "Intermediate latent (w) size (default: the cfg's).",
                            check=positive)
    mbstd_group: int | None = opt(None, "Minibatch-stddev group size of D (default: the cfg's).",
                                  check=positive)
    d_architecture: str | None = opt(None, "D's architecture: resnet or orig (default: the "
                                     "cfg's).", choices=("resnet", "orig"))
    conv_clamp: float | None = opt(None, "Clamp convolution outputs to ±this (the published "
                                   "networks use 256; default: no clamp).", check=positive)
