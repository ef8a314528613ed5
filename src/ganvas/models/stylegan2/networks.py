"""The StyleGAN2 generator (Karras et al. 2020): mapping network + skip-architecture synthesis.

Pure PyTorch, fp32, no custom ops. Structure, constants and parameter/buffer names follow
NVIDIA's stylegan2-ada-pytorch (``training/networks.py``), so its published weights load with
``load_state_dict(strict=True)`` (see :mod:`ganvas.models.stylegan2.importer`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganvas.models.stylegan2.layers import (
    ACTIVATION_GAINS,
    FullyConnectedLayer,
    bias_act,
    modulated_conv2d,
    modulated_conv2d_parts,
    scale_bias_noise_lrelu,
)
from ganvas.models.stylegan2.resample import DEFAULT_FILTER, setup_filter, upsample2d
from ganvas.utils.classes import one_hot, require_labels

NOISE_MODES = ("random", "const", "none")


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at a resolution: halve with every doubling of size, up to ``channel_max``."""
    channels = min(channel_base // resolution, channel_max)
    if channels < 1:
        raise ValueError(f"channel_base {channel_base} leaves no channels at {resolution} px")
    return channels


def block_resolutions(resolution: int) -> list[int]:
    """4, 8, ..., ``resolution``; raises for sizes that are not a power of two ≥ 4."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    return [2**i for i in range(2, int(math.log2(resolution)) + 1)]


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale each z to unit root-mean-square, so its length does not matter to the mapping."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """(z, c) → w through ``num_layers`` lrelu layers trained 100× slower (``lr_multiplier``).

    With ``c_dim`` classes, the one-hot class goes through a dense ``embed`` layer, is
    normalised like z and joined to it before the first layer (the reference's conditioning;
    D uses the same network with ``z_dim=0`` to map the class alone). ``w_avg`` (the running
    mean of w, decay ``w_avg_beta``) is the centre for the truncation trick; it is updated only
    when the caller asks (``update_emas=True``, in training).
    """

    def __init__(self, z_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995,
                 c_dim: int = 0):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.c_dim = z_dim, w_dim, num_ws, c_dim
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = w_dim if c_dim else 0
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        features = [z_dim + embed_features] + [w_dim] * num_layers
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(
                features[idx], features[idx + 1], activation="lrelu", lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def embed_classes(self, z: Tensor | None, c: Tensor | None) -> Tensor:
        """The first layer's input: normalised z, the normalised class embedding, or both."""
        who = "generator" if self.z_dim else "discriminator"
        require_labels(c, self.c_dim, len(z) if z is not None else len(c), who)
        parts = [normalize_2nd_moment(z.to(torch.float32))] if self.z_dim else []
        if self.c_dim:
            parts.append(normalize_2nd_moment(self.embed(one_hot(c, self.c_dim)).float()))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def forward(self, z: Tensor | None, c: Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> Tensor:
        """(N, z_dim), classes (N,) → ws (N, num_ws, w_dim): one w broadcast to every synthesis
        layer (or (N, w_dim) when ``num_ws`` is None, D's class map).

        Truncation pulls w towards ``w_avg`` by ``psi`` (0 gives ``w_avg``), in the first
        ``truncation_cutoff`` layers only if given (coarse styles).
        """
        x = self.embed_classes(z, c)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if self.num_ws is None:
            return x.float()
        if update_emas:
            self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        # w leaves the mapping in fp32 whatever the autocast dtype: truncation and style mixing
        # meet the fp32 w_avg, and every command then renders a seed from the same w.
        ws = x.float().unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            truncated = self.w_avg.float().lerp(ws, truncation_psi)
            if truncation_cutoff is None:
                ws = truncated
            else:
                ws = torch.cat([truncated[:, :truncation_cutoff], ws[:, truncation_cutoff:]], 1)
        return ws


class SynthesisLayer(nn.Module):
    """A 3×3 modulated convolution (optionally 2× up), per-pixel noise, bias and lrelu."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 up: int = 1, conv_clamp: float | None = None, kernel_size: int = 3):
        super().__init__()
        self.resolution, self.up = resolution, up
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(DEFAULT_FILTER))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        # One fixed noise image per layer, so that noise_mode='const' is deterministic.
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "random", fused: bool = True,
                gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        styles = self.affine(w)
        x, scale = modulated_conv2d_parts(x, self.weight, styles, self.resample_filter,
                                          up=self.up, padding=self.padding, fused=fused)
        noise = None
        if noise_mode == "random":
            noise = torch.randn((x.shape[0], 1, self.resolution, self.resolution),
                                generator=generator, device=x.device, dtype=x.dtype)
            noise = noise * self.noise_strength.to(x.dtype)
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return scale_bias_noise_lrelu(x, scale, self.bias, noise,
                                      ACTIVATION_GAINS["lrelu"] * gain, clamp)


class ToRGBLayer(nn.Module):
    """1×1 modulated convolution to image channels, without demodulation (keeps colour scale)."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor, fused: bool = True) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias, "linear", clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (learned 4×4 const | 2× up conv0), conv1, and a toRGB added to the
    FIR-upsampled image of the previous resolutions (the "skip" architecture)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, conv_clamp: float | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.register_buffer("resample_filter", setup_filter(DEFAULT_FILTER))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution,
                                    conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, noise_mode: str,
                fused: bool, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``ws``: (N, num_conv + 1, w_dim), the last one for toRGB."""
        layer_kwargs = dict(noise_mode=noise_mode, fused=fused, generator=generator)
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], **layer_kwargs)
        else:
            x = self.conv0(x, ws[:, 0], **layer_kwargs)
            x = self.conv1(x, ws[:, 1], **layer_kwargs)
        rgb = self.torgb(x, ws[:, -1], fused=fused)
        img = rgb if img is None else upsample2d(img, self.resample_filter) + rgb
        return x, img


class SynthesisNetwork(nn.Module):
    """ws → image, one :class:`SynthesisBlock` per resolution named ``b4``, ``b8``, ..."""

    def __init__(self, w_dim: int, resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512,
                 conv_clamp: float | None = None):
        super().__init__()
        self.w_dim, self.resolution, self.img_channels = w_dim, resolution, img_channels
        self.block_resolutions = block_resolutions(resolution)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            block = SynthesisBlock(in_channels, channels_at(res, channel_base, channel_max),
                                   w_dim, res, img_channels, conv_clamp=conv_clamp)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's toRGB; earlier toRGBs share the next block's w

    def forward(self, ws: Tensor, noise_mode: str = "const", fused_modconv: bool | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        """``fused_modconv=None``: grouped conv in eval mode, activation scaling in training
        (the reference's choice; both compute the same thing)."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        fused = not self.training if fused_modconv is None else fused_modconv
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + 1)
            x, img = block(x, img, block_ws, noise_mode, fused, generator)
            w_idx += block.num_conv
        return img


class Generator(nn.Module):
    """z (N, z_dim) → images (N, img_channels, resolution, resolution), about [-1, 1]."""

    def __init__(self, z_dim: int = 512, w_dim: int = 512, resolution: int = 256,
                 img_channels: int = 3, channel_base: int = 32768, channel_max: int = 512,
                 map_layers: int = 8, conv_clamp: float | None = None,
                 mapping_lr: float = 0.01, w_avg_beta: float = 0.995, c_dim: int = 0):
        super().__init__()
        self.z_dim, self.w_dim, self.c_dim, self.num_classes = z_dim, w_dim, c_dim, c_dim
        self.resolution, self.img_channels = resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, resolution, img_channels, channel_base,
                                          channel_max, conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, map_layers,
                                      lr_multiplier=mapping_lr, w_avg_beta=w_avg_beta,
                                      c_dim=c_dim)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str | None = None,
                update_emas: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """``noise_mode=None`` means 'random' in training mode and 'const' in eval mode, as
        the reference trains and samples. ``generator`` draws the random noise."""
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff, update_emas=update_emas)
        return self.synthesize(ws, noise_mode, generator)

    def synthesize(self, ws: Tensor, noise_mode: str | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
        """ws → images with the same ``noise_mode`` default as :meth:`forward`."""
        if noise_mode is None:
            noise_mode = "random" if self.training else "const"
        return self.synthesis(ws, noise_mode=noise_mode, generator=generator)
