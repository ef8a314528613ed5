"""DCGAN (Radford et al. 2016) at any power-of-two size from 32 to 512 px.

The generator maps a latent vector to a small map and doubles it with stride-2 transposed
convolutions until it reaches the resolution; the discriminator mirrors it. With the defaults and
64 px this is exactly the paper's (and the PyTorch tutorial's) network: 5 layers, widths
512-256-128-64, BatchNorm everywhere but D's first layer and both outputs.

Layer count: ``log2(resolution) - 1`` by default (4 at 32 px ... 8 at 512 px). Fewer layers make
G start from a larger map (its first layer's kernel grows); more layers add stride-1 blocks at
full resolution, the "extra layers" the portraits report experimented with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganvas.utils.classes import ClassProjection, join_one_hot, require_labels

MAX_CHANNELS = 512


@dataclass(frozen=True)
class DCGANSpec:
    """The architecture knobs that G and D share, resolved from the config."""

    resolution: int
    channels: int
    z_dim: int = 100
    g_channels: int = 64
    d_channels: int = 64
    layers: int | None = None
    kernel_size: int = 4
    g_activation: str = "relu"
    d_activation: str = "leaky"
    g_norm: str = "batch"
    d_norm: str = "batch"
    d_dropout: float = 0.0
    conv_bias: bool = False
    arch: str = "dcgan"
    init: str = "normal"

    @property
    def default_layers(self) -> int:
        return int(math.log2(self.resolution)) - 1

    @property
    def num_layers(self) -> int:
        return self.layers or self.default_layers

    @property
    def up_layers(self) -> int:
        """Hidden stride-2 layers (each doubles the map); G's output layer doubles once more."""
        return min(self.num_layers, self.default_layers) - 2

    @property
    def extra_layers(self) -> int:
        """Stride-1 layers at full resolution, beyond the default count."""
        return max(0, self.num_layers - self.default_layers)

    @property
    def start_size(self) -> int:
        """Side of G's first feature map (4 by default)."""
        return self.resolution // 2 ** (self.up_layers + 1)

    def width(self, base: int, level: int) -> int:
        """Channels at ``level`` steps from the image side: base * 2**level, capped."""
        return min(base * 2 ** level, MAX_CHANNELS)


def _activation(kind: str) -> nn.Module:
    return nn.ReLU(inplace=True) if kind == "relu" else nn.LeakyReLU(0.2, inplace=True)


def _same_padding(kernel: int) -> tuple[int, int]:
    """Padding and output padding so that a stride-2 (transposed) conv halves (doubles) a map."""
    return (kernel - 1) // 2, kernel % 2


class Generator(nn.Module):
    """z (N×z_dim) -> images in [-1, 1] (N×C×H×W)."""

    def __init__(self, spec: DCGANSpec, num_classes: int = 0):
        super().__init__()
        self.spec = spec
        self.z_dim = spec.z_dim
        self.resolution = spec.resolution
        self.img_channels = spec.channels
        self.num_classes = num_classes
        # Conditional: the class's one-hot row joined to z, so the first layer's weights for
        # it are the class embedding (docs/benchmarks.md: a separate N(0, 1) embedding of z's
        # size, or class-conditional BatchNorm, trained worse on MNIST).
        inputs = spec.z_dim + num_classes
        k, bias = spec.kernel_size, spec.conv_bias or spec.g_norm == "none"
        pad, out_pad = _same_padding(k)
        level = spec.up_layers + spec.extra_layers
        width = spec.width(spec.g_channels, level)
        s0 = spec.start_size
        if spec.arch == "dense":
            stem: nn.Module = nn.Sequential(nn.Linear(inputs, width * s0 * s0, bias=bias),
                                            nn.Unflatten(1, (width, s0, s0)))
        else:
            stem = nn.Sequential(nn.Unflatten(1, (inputs, 1, 1)),
                                 nn.ConvTranspose2d(inputs, width, s0, 1, 0, bias=bias))
        blocks = [stem, *self._post(width)]
        for _ in range(spec.up_layers):
            level -= 1
            nxt = spec.width(spec.g_channels, level)
            blocks += [nn.ConvTranspose2d(width, nxt, k, 2, pad, out_pad, bias=bias),
                       *self._post(nxt)]
            width = nxt
        for _ in range(spec.extra_layers):
            level -= 1
            nxt = spec.width(spec.g_channels, max(level, 0))
            blocks += [nn.ConvTranspose2d(width, nxt, 3, 1, 1, bias=bias), *self._post(nxt)]
            width = nxt
        self.main = nn.Sequential(*blocks)
        self.to_rgb = nn.Sequential(
            nn.ConvTranspose2d(width, spec.channels, k, 2, pad, out_pad, bias=True), nn.Tanh())
        init_weights(self, spec.init)

    def _post(self, width: int) -> list[nn.Module]:
        norm = [nn.BatchNorm2d(width)] if self.spec.g_norm == "batch" else []
        return [*norm, _activation(self.spec.g_activation)]

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        require_labels(c, self.num_classes, z.shape[0], "generator")
        if c is not None:
            z = join_one_hot(z, c, self.num_classes)
        return self.to_rgb(self.main(z))


class Discriminator(nn.Module):
    """Images (N×C×H×W) -> one logit per image (N,)."""

    def __init__(self, spec: DCGANSpec, num_classes: int = 0):
        super().__init__()
        self.spec = spec
        self.num_classes = num_classes
        k = spec.kernel_size
        pad, _ = _same_padding(k)
        bias = spec.conv_bias or spec.d_norm != "batch"
        wrap = spectral_norm if spec.d_norm == "spectral" else (lambda m: m)
        width = spec.width(spec.d_channels, 0)
        blocks: list[nn.Module] = [wrap(nn.Conv2d(spec.channels, width, k, 2, pad, bias=True)),
                                   *self._post(width, first=True)]
        for i in range(spec.extra_layers):
            blocks += [wrap(nn.Conv2d(width, width, 3, 1, 1, bias=bias)), *self._post(width)]
        for level in range(1, spec.up_layers + 1):
            nxt = spec.width(spec.d_channels, level)
            blocks += [wrap(nn.Conv2d(width, nxt, k, 2, pad, bias=bias)), *self._post(nxt)]
            width = nxt
        self.main = nn.Sequential(*blocks)
        s0 = spec.start_size
        if spec.arch == "dense":
            head: nn.Module = nn.Sequential(nn.Flatten(), wrap(nn.Linear(width * s0 * s0, 1)))
        else:
            head = nn.Sequential(wrap(nn.Conv2d(width, 1, s0, 1, 0, bias=True)), nn.Flatten())
        self.head = head
        init_weights(self, spec.init)
        # Conditional: the projection term on the last feature map, summed over its pixels.
        self.projection = ClassProjection(num_classes, width) if num_classes else None

    def _post(self, width: int, first: bool = False) -> list[nn.Module]:
        spec = self.spec
        norm = [nn.BatchNorm2d(width)] if spec.d_norm == "batch" and not first else []
        drop = [nn.Dropout(spec.d_dropout)] if spec.d_dropout > 0 else []
        return [*norm, _activation(spec.d_activation), *drop]

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        require_labels(c, self.num_classes, x.shape[0], "discriminator")
        features = self.main(x)
        logits = self.head(features).reshape(-1)
        if self.projection is None:
            return logits
        return logits + self.projection(features.sum(dim=(2, 3)), c)


def init_weights(module: nn.Module, kind: str = "normal") -> None:
    """DCGAN init: conv/linear weights N(0, 0.02) (or Glorot uniform), BN gamma N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") \
                else m.weight
            if kind == "glorot":
                nn.init.xavier_uniform_(weight)
            else:
                nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def count_layers(module: nn.Module) -> int:
    """Number of weight layers (convolutions and linear layers) in a network."""
    return sum(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
               for m in module.modules())
