"""The options of ``--model dcgan``: its architecture knobs (the ``dcgan`` group)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganvas.utils.options import opt, positive, probability


def _layers(v: Any) -> str | None:
    return None if v is None or v >= 2 else "must be >= 2"


def _kernel(v: Any) -> str | None:
    return None if v >= 3 else "must be >= 3"


@dataclass
class DCGANOptions:
    """Widths, depth, kernels, activations, normalisation and init of DCGAN's G and D."""

    z_dim: int | None = opt(None, "Latent size (default: 100 for dcgan, 256 for lightweight; "
                            "from --cfg for stylegan2).", check=positive, section="model")
    arch: str = opt("dcgan", "DCGAN variant: all-convolutional, or 'dense' (fully connected "
                    "first G layer, flatten-dense D head, as in Keras tutorials).",
                    choices=("dcgan", "dense"))
    g_channels: int = opt(64, "Generator width (channels of its last hidden layer; doubles "
                          "per layer towards the latent, capped at 512).", check=positive)
    d_channels: int = opt(64, "Discriminator width (channels of its first layer).",
                          check=positive)
    layers: int | None = opt(None, "Number of layers in G and D (default: 4 at 32 px, +1 per "
                             "doubling). Fewer starts G from a larger map; more adds stride-1 "
                             "layers.", check=_layers)
    kernel_size: int = opt(4, "Convolution kernel size.", check=_kernel)
    g_activation: str = opt("relu", "Generator hidden activation.",
                            choices=("relu", "leaky"))
    d_activation: str = opt("leaky", "Discriminator hidden activation.",
                            choices=("relu", "leaky"))
    g_norm: str = opt("batch", "Generator normalisation.", choices=("batch", "none"))
    d_norm: str = opt("batch", "Discriminator normalisation (spectral: spectral norm on every "
                      "layer).", choices=("batch", "none", "spectral"))
    d_dropout: float = opt(0.0, "Dropout probability after each D hidden layer.",
                           check=probability)
    conv_bias: bool = opt(False, "Biases in convolutions followed by normalisation.")
    init: str = opt("normal", "Weight init: N(0, 0.02) as in DCGAN, or Glorot uniform.",
                    choices=("normal", "glorot"))
