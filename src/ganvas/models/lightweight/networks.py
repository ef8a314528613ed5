"""FastGAN's networks (Liu et al., ICLR 2021, "Towards faster and stabilized GAN training for
high-fidelity few-shot image synthesis"), written from the paper and the reference code's
semantics.

Generator: a 4×4 map from z (transposed conv, BatchNorm, GLU), then one upsampling block per
doubling: nearest-neighbour upsample, 3×3 conv, BatchNorm and GLU; every other block ("comp") has a
second conv and per-pixel noise injection. Skip-layer excitation (SLE) gates a large map's
channels with a small map's content: 4→64, 8→128, 16→256 and 32→512 px.

Discriminator: a stride-2 stem, then residual down blocks (4×4 stride-2 conv path plus an
average-pool path) down to 8×8, SLE from a map 8× larger, and a 4×4 head that gives a 5×5 map of
patch logits. Two small decoders make D self-supervised: one reconstructs the whole image from
the 8×8 features, one a random quarter of it from the 16×16 features; the objective compares them
with the image D saw (``ganvas.objective.lightweight``).

Widths follow the reference's table, ``width × factor(resolution)`` capped at 512, so one number
(``--width``) scales both networks. Optional self-attention (SAGAN's) at chosen resolutions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ganvas.utils.classes import ClassProjection, join_one_hot, require_labels
from ganvas.utils.grid import quarter_of

FACTORS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
SLE = {64: 4, 128: 8, 256: 16, 512: 32}  # big map <- the small map that excites it
COMP = (8, 32, 128, 512)  # the generator's two-conv blocks with noise injection
DECODED = 128  # side of the decoders' reconstructions (at most the image's)
MAX_CHANNELS = 512


def channels(width: int, resolution: int) -> int:
    return max(min(int(width * FACTORS[resolution]), MAX_CHANNELS), 4)


def conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0,
         bias: bool = False) -> nn.Module:
    """Spectrally normalised convolution, as the reference uses everywhere."""
    return spectral_norm(nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias))


class GLU(nn.Module):
    """Half the channels gate the other half."""

    def forward(self, x: Tensor) -> Tensor:
        return F.glu(x, dim=1)  # first half · sigmoid(second half), in one fused operator


class NoiseInjection(nn.Module):
    """``x + weight · noise`` with per-pixel Gaussian noise (weight starts at 0).

    ``random`` noise in training (drawn from ``generator`` when given), a fixed map (``const``,
    drawn once at construction) or none when rendering, so a seed gives the same image.
    """

    def __init__(self, resolution: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        noise = torch.randn(1, 1, resolution, resolution,
                            generator=torch.Generator().manual_seed(resolution))
        self.register_buffer("noise_const", noise)

    def draw(self, x: Tensor, noise_mode: str, generator: torch.Generator | None
             ) -> Tensor | None:
        """The N×1×H×W noise map for ``x`` (one draw, shared by all of x's channels)."""
        if noise_mode == "none":
            return None
        if noise_mode == "const":
            return self.noise_const.to(x.dtype)
        return torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype,
                           generator=generator)

    def add(self, x: Tensor, noise: Tensor | None) -> Tensor:
        # addcmul with the weight in x's dtype: ``x + weight * noise`` would promote a bf16
        # activation to fp32 (the weight is an fp32 tensor with a dimension).
        return x if noise is None else torch.addcmul(x, noise.to(x.dtype),
                                                     self.weight.to(x.dtype))

    def forward(self, x: Tensor, noise_mode: str, generator: torch.Generator | None) -> Tensor:
        return self.add(x, self.draw(x, noise_mode, generator))


def _norm_part(norm: nn.BatchNorm2d, x: Tensor, part: slice) -> Tensor:
    """``norm`` applied to channels ``part`` of its input (``x`` holds just those channels)."""
    stats = norm.training or norm.running_mean is None
    return F.batch_norm(
        x, None if norm.running_mean is None else norm.running_mean[part],
        None if norm.running_var is None else norm.running_var[part],
        None if norm.weight is None else norm.weight[part],
        None if norm.bias is None else norm.bias[part], stats, norm.momentum or 0.0, norm.eps)


def gated_conv(x: Tensor, conv_layer: nn.Module, norm: nn.Module,
               noise: NoiseInjection | None = None, noise_mode: str = "none",
               generator: torch.Generator | None = None) -> Tensor:
    """``GLU(norm(noise(conv(x))))``, computed as two half-width convolutions.

    A GLU splits channels; in channels-last memory (oneDNN's fast layout for bf16 convolutions,
    3x faster here than NCHW) each half is a strided view, and the gate ran 3-7x slower than on
    whole tensors. BatchNorm is per channel, so normalising each half with its slice of the
    statistics is the same function. SyncBatchNorm (torchrun) or a norm with a cumulative
    average takes the one-piece path.
    """
    sliceable = type(norm) is nn.BatchNorm2d and norm.momentum is not None
    if not sliceable:
        y = conv_layer(x)
        if noise is not None:
            y = noise(y, noise_mode, generator)
        return F.glu(norm(y), dim=1)
    weight = conv_layer.weight  # spectrally normalised once for both halves
    half = weight.shape[0] // 2
    if norm.training and norm.track_running_stats:
        norm.num_batches_tracked.add_(1)
    outs: list[Tensor] = []
    for part in (slice(0, half), slice(half, None)):
        y = F.conv2d(x, weight[part], None if conv_layer.bias is None else conv_layer.bias[part],
                     conv_layer.stride, conv_layer.padding)
        if noise is not None:
            if not outs:  # one draw, in the convolution's dtype, for both halves
                drawn = noise.draw(y, noise_mode, generator)
            y = noise.add(y, drawn)
        outs.append(_norm_part(norm, y, part))
    return outs[0] * torch.sigmoid(outs[1])


class SkipExcitation(nn.Module):
    """SLE: pool the small map to 4×4, a 4×4 conv to one value per channel, swish, 1×1 conv,
    sigmoid: a channel gate for the big map."""

    def __init__(self, small_channels: int, big_channels: int):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), conv(small_channels, big_channels, 4), nn.SiLU(),
            conv(big_channels, big_channels, 1), nn.Sigmoid())

    def forward(self, small: Tensor, big: Tensor) -> Tensor:
        return big * self.gate(small)


class SelfAttention(nn.Module):
    """SAGAN's self-attention over the pixels, added with a learnt weight that starts at 0."""

    def __init__(self, channels_in: int):
        super().__init__()
        inner = max(channels_in // 8, 1)
        self.query, self.key = conv(channels_in, inner, 1), conv(channels_in, inner, 1)
        self.value = conv(channels_in, channels_in, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)
        k = self.key(x).flatten(2)
        attention = torch.softmax(q @ k / math.sqrt(k.shape[1]), dim=-1)
        out = (self.value(x).flatten(2) @ attention.transpose(1, 2)).view(n, c, h, w)
        return x + self.gamma * out


class UpBlock(nn.Module):
    """Upsample ×2 (nearest), 3×3 conv, [noise], BatchNorm, GLU; "comp" blocks twice."""

    def __init__(self, cin: int, cout: int, resolution: int, comp: bool):
        super().__init__()
        self.conv1, self.bn1 = conv(cin, cout * 2, 3, padding=1), nn.BatchNorm2d(cout * 2)
        self.comp = comp
        if comp:
            self.noise1, self.noise2 = NoiseInjection(resolution), NoiseInjection(resolution)
            self.conv2, self.bn2 = conv(cout, cout * 2, 3, padding=1), nn.BatchNorm2d(cout * 2)

    def forward(self, x: Tensor, noise_mode: str, generator: torch.Generator | None) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if not self.comp:
            return gated_conv(x, self.conv1, self.bn1)
        x = gated_conv(x, self.conv1, self.bn1, self.noise1, noise_mode, generator)
        return gated_conv(x, self.conv2, self.bn2, self.noise2, noise_mode, generator)


class Generator(nn.Module):
    """z (N×z_dim) → images (N×C×resolution×resolution) in [-1, 1] (tanh)."""

    def __init__(self, z_dim: int = 256, resolution: int = 256, img_channels: int = 3,
                 width: int = 32, attention: tuple[int, ...] = (), num_classes: int = 0):
        super().__init__()
        self.z_dim, self.resolution, self.img_channels = z_dim, resolution, img_channels
        self.num_classes = num_classes
        # Conditional: the class's one-hot row joined to z, so the first block sees the class.
        c4 = channels(width, 4)
        inputs = z_dim + num_classes
        self.init = nn.Sequential(
            spectral_norm(nn.ConvTranspose2d(inputs, c4 * 2, 4, 1, 0, bias=False)),
            nn.BatchNorm2d(c4 * 2), GLU())
        self.resolutions = [2 ** i for i in range(3, int(math.log2(resolution)) + 1)]
        self.blocks = nn.ModuleDict({
            str(res): UpBlock(channels(width, res // 2), channels(width, res), res, res in COMP)
            for res in self.resolutions})
        self.excite = nn.ModuleDict({
            str(res): SkipExcitation(channels(width, SLE[res]), channels(width, res))
            for res in self.resolutions if res in SLE})
        self.attend = nn.ModuleDict({str(res): SelfAttention(channels(width, res))
                                     for res in attention if res in self.resolutions})
        self.to_rgb = conv(channels(width, resolution), img_channels, 3, padding=1, bias=True)

    def forward(self, z: Tensor, c: Tensor | None = None, noise_mode: str | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        """``noise_mode``: ``random`` (the default in training), ``const`` (the default in eval
        mode, so rendering is deterministic) or ``none``."""
        require_labels(c, self.num_classes, z.shape[0], "generator")
        if c is not None:
            z = join_one_hot(z, c, self.num_classes)
        if noise_mode is None:
            noise_mode = "random" if self.training else "const"
        x = self.init(z.reshape(z.shape[0], -1, 1, 1))
        features = {4: x}
        for res in self.resolutions:
            x = self.blocks[str(res)](x, noise_mode, generator)
            if str(res) in self.excite:
                x = self.excite[str(res)](features[SLE[res]], x)
            if str(res) in self.attend:
                x = self.attend[str(res)](x)
            features[res] = x
        return torch.tanh(self.to_rgb(x))


class DownBlock(nn.Module):
    """Halve the map: (4×4 stride-2 conv, BN, LeakyReLU, 3×3 conv, BN, LeakyReLU) averaged with
    (2×2 average pool, 1×1 conv, BN, LeakyReLU)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.main = nn.Sequential(
            conv(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2),
            conv(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))
        self.direct = nn.Sequential(nn.AvgPool2d(2), conv(cin, cout, 1), nn.BatchNorm2d(cout),
                                    nn.LeakyReLU(0.2))

    def forward(self, x: Tensor) -> Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """D's small decoder: 8×8 features → an image of ``size`` px (upsample, conv, BN, GLU)."""

    def __init__(self, cin: int, size: int, img_channels: int, width: int):
        super().__init__()
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(8)]
        res, c = 8, cin
        while res < size:
            res *= 2
            out = channels(width, max(res, 16))
            layers += [nn.Upsample(scale_factor=2.0, mode="nearest"),
                       conv(c, out * 2, 3, padding=1), nn.BatchNorm2d(out * 2), GLU()]
            c = out
        layers += [conv(c, img_channels, 3, padding=1, bias=True), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        # pool, (upsample, conv, BatchNorm, GLU) × k, conv, tanh. The GLU modules hold no
        # weights and are not called (gated_conv gates); they keep the state dict's indices.
        layers = list(self.net)
        x = layers[0](x)
        for i in range(1, len(layers) - 2, 4):
            upsample, conv_layer, norm = layers[i:i + 3]
            x = gated_conv(upsample(x), conv_layer, norm)
        return layers[-1](layers[-2](x))


class Discriminator(nn.Module):
    """Images → patch logits (N×25); with ``reconstruct`` also the decoders' reconstructions."""

    def __init__(self, resolution: int = 256, img_channels: int = 3, width: int = 32,
                 attention: tuple[int, ...] = (), num_classes: int = 0):
        super().__init__()
        self.resolution, self.img_channels = resolution, img_channels
        self.num_classes = num_classes
        top = resolution // 2
        self.stem = nn.Sequential(conv(img_channels, channels(width, top), 4, 2, 1),
                                  nn.LeakyReLU(0.2))
        self.resolutions = [2 ** i for i in range(int(math.log2(top)), 3, -1)]  # top .. 16
        self.blocks = nn.ModuleDict({str(res): DownBlock(channels(width, res),
                                                         channels(width, res // 2))
                                     for res in self.resolutions})
        self.excite = nn.ModuleDict({str(res // 2): SkipExcitation(channels(width, res * 4),
                                                                   channels(width, res // 2))
                                     for res in self.resolutions if res * 4 <= top})
        self.attend = nn.ModuleDict({str(res): SelfAttention(channels(width, res))
                                     for res in attention if res in (*self.resolutions, 8)})
        c8 = channels(width, 8)
        c4 = channels(width, 4)
        self.head = nn.Sequential(conv(c8, c4, 1), nn.BatchNorm2d(c4), nn.LeakyReLU(0.2),
                                  conv(c4, 1, 4, bias=True))
        size = min(DECODED, resolution)
        self.decode_all = Decoder(c8, size, img_channels, width)
        self.decode_part = Decoder(channels(width, 16), size, img_channels, width)
        # Conditional: the projection term on the 8×8 features, added to every patch logit.
        self.projection = ClassProjection(num_classes, c8) if num_classes else None

    def features(self, x: Tensor) -> dict[int, Tensor]:
        """The feature maps by resolution, from the stem's down to 8×8."""
        x = self.stem(x)
        maps = {self.resolution // 2: x}
        for res in self.resolutions:
            x = self.blocks[str(res)](x)
            half = res // 2
            if str(half) in self.excite:
                x = self.excite[str(half)](maps[half * 8], x)
            if str(half) in self.attend:
                x = self.attend[str(half)](x)
            maps[half] = x
        return maps

    def perceptual(self, images: Tensor) -> Tensor:
        """D's shallow features (stem and first down block): the feature space in which its
        reconstructions are compared with what it saw."""
        return self.blocks[str(self.resolutions[0])](self.stem(images))

    def forward(self, x: Tensor, c: Tensor | None = None, reconstruct: bool = False,
                quarter: Tensor | None = None) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Patch logits (N×25). With ``reconstruct``, also ``{"all": ..., "part": ...}``: the
        whole image decoded from 8×8 features and quarter ``quarter`` (a 0-d tensor, 0-3
        row-major) decoded from its 8×8 corner of the 16×16 features."""
        require_labels(c, self.num_classes, x.shape[0], "discriminator")
        maps = self.features(x)
        logits = self.head(maps[8]).flatten(1)
        if self.projection is not None:
            logits = logits + self.projection(maps[8].mean(dim=(2, 3)), c).unsqueeze(1)
        if not reconstruct:
            return logits
        quarter = torch.zeros((), dtype=torch.long, device=x.device) if quarter is None \
            else quarter
        part = quarter_of(maps[16], quarter)
        return logits, {"all": self.decode_all(maps[8]), "part": self.decode_part(part)}
