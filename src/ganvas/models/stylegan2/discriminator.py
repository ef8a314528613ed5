"""The StyleGAN2 discriminator: residual blocks with FIR downsampling and a minibatch-stddev
epilogue. Parameter names follow NVIDIA's stylegan2-ada-pytorch (``b64.fromrgb``,
``b4.mbstd``, ``b4.fc``, ``b4.out``, ...).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganvas.models.stylegan2.layers import Conv2dLayer, FullyConnectedLayer
from ganvas.models.stylegan2.networks import MappingNetwork, block_resolutions, channels_at
from ganvas.models.stylegan2.resample import DEFAULT_FILTER, setup_filter
from ganvas.utils.classes import require_labels

D_ARCHITECTURES = ("resnet", "orig")


class DiscriminatorBlock(nn.Module):
    """Two 3×3 convs, the second halving the size; ``resnet`` adds a 1×1 downsampled skip path
    and scales both branches by √½ so the sum keeps unit variance."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 architecture: str = "resnet", conv_clamp: float | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.architecture = architecture
        self.register_buffer("resample_filter", setup_filter(DEFAULT_FILTER))
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu",
                                       conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu",
                                 conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: Tensor) -> Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(x)
        if self.architecture != "resnet":
            return self.conv1(self.conv0(x))
        skip = self.skip(x, gain=math.sqrt(0.5))
        return skip + self.conv1(self.conv0(x), gain=math.sqrt(0.5))


class MinibatchStdLayer(nn.Module):
    """Appends the average standard deviation over groups of ``group_size`` samples as extra
    channels, so D can see a lack of variety in a batch (mode collapse).

    Samples ``i`` and ``j`` share a group when ``i ≡ j (mod N/G)``; the batch size must be
    divisible by the group size ``G = min(group_size, N)``.
    """

    def __init__(self, group_size: int | None, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n) if self.group_size is not None else n
        f = self.num_channels
        y = x.reshape(group, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])
        y = y.reshape(-1, f, 1, 1).repeat(group, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """At 4×4: minibatch stddev, a 3×3 conv, a dense layer and the logit. Conditional
    (``cmap_dim > 0``): the last layer gives ``cmap_dim`` features and the logit is their
    projection on the class map, ``⟨out, cmap⟩ / √cmap_dim``."""

    def __init__(self, in_channels: int, resolution: int = 4, mbstd_group: int | None = 4,
                 mbstd_channels: int = 1, conv_clamp: float | None = None, cmap_dim: int = 0):
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStdLayer(mbstd_group, mbstd_channels) if mbstd_channels else None
        self.conv = Conv2dLayer(in_channels + mbstd_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, cmap_dim or 1)

    def forward(self, x: Tensor, cmap: Tensor | None = None) -> Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if cmap is None:
            return x
        return (x.float() * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)


class Discriminator(nn.Module):
    """images (N, C, R, R) in [-1, 1] (and classes (N,) when ``c_dim > 0``) → logits (N,).

    Conditional, as the reference: a mapping network of the class alone (``mapping``, no z)
    gives a class map of ``cmap_dim`` features (D's 4×4 channels by default) that the epilogue
    projects its last features on.
    """

    def __init__(self, resolution: int = 256, img_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, mbstd_group: int | None = 4, mbstd_channels: int = 1,
                 architecture: str = "resnet", conv_clamp: float | None = None,
                 c_dim: int = 0, cmap_dim: int | None = None, map_layers: int = 8):
        super().__init__()
        self.c_dim = self.num_classes = c_dim
        cmap_dim = (cmap_dim or channels_at(4, channel_base, channel_max)) if c_dim else 0
        if c_dim:
            self.mapping = MappingNetwork(0, cmap_dim, None, map_layers, w_avg_beta=None,
                                          c_dim=c_dim)
        if architecture not in D_ARCHITECTURES:
            raise ValueError(f"architecture must be one of {D_ARCHITECTURES}, got {architecture!r}")
        self.resolution, self.img_channels = resolution, img_channels
        self.block_resolutions = block_resolutions(resolution)[:0:-1]  # resolution ... 8
        for res in self.block_resolutions:
            channels = channels_at(res, channel_base, channel_max)
            setattr(self, f"b{res}", DiscriminatorBlock(
                channels if res < resolution else 0, channels,
                channels_at(res // 2, channel_base, channel_max), img_channels,
                architecture=architecture, conv_clamp=conv_clamp))
        self.b4 = DiscriminatorEpilogue(channels_at(4, channel_base, channel_max), 4,
                                        mbstd_group, mbstd_channels, conv_clamp=conv_clamp,
                                        cmap_dim=cmap_dim)

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        require_labels(c, self.c_dim, img.shape[0], "discriminator")
        cmap = self.mapping(None, c) if self.c_dim else None
        x = img
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x)
        return self.b4(x, cmap).reshape(-1)
