"""Equalised-learning-rate layers and the modulated convolution of StyleGAN2.

Equalised learning rate: weights are stored as N(0, 1)/lr_multiplier and multiplied at run time
by ``lr_multiplier/sqrt(fan_in)``. Adam's step is then the same size for every layer whatever
its fan-in, and ``lr_multiplier`` (0.01 in the mapping network) slows one layer down.

Names of parameters and buffers follow NVIDIA's stylegan2-ada-pytorch so its state dicts load
here by name.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganvas.models.stylegan2.resample import DEFAULT_FILTER, conv2d_resample, setup_filter

ACTIVATIONS = ("linear", "lrelu")
# Gains that keep unit-variance activations at unit variance (He et al.): lrelu(0.2) gets √2.
ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2)}
LRELU_SLOPE = 0.2


def bias_act(x: Tensor, bias: Tensor | None, activation: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> Tensor:
    """``clamp(act(x + bias) · gain)``; ``gain=None`` uses the activation's own gain.

    The bias is broadcast along dimension 1 (features or channels). Clamping (off by default)
    is what the reference uses to keep fp16 activations finite.
    """
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif activation != "linear":
        raise ValueError(f"unknown activation {activation!r}")
    gain = ACTIVATION_GAINS[activation] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnectedLayer(nn.Module):
    """A dense layer with equalised learning rate (``weight``: out × in, ``bias``: out)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 activation: str = "linear", lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight.to(x.dtype) * self.weight_gain
        bias = self.bias * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and bias is not None:
            return torch.addmm(bias.to(x.dtype).unsqueeze(0), x, weight.t())
        return bias_act(x.matmul(weight.t()), bias, self.activation)


class Conv2dLayer(nn.Module):
    """A convolution with equalised learning rate, optional 2× FIR resampling and activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 conv_clamp: float | None = None, lr_multiplier: float = 1.0):
        super().__init__()
        self.activation = activation
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(DEFAULT_FILTER))
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * kernel_size**2)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        # act(conv(x, W) + b)·g = act(conv(x, g·W) + g·b) for g > 0: the gain scales the small
        # weights instead of the activations, and the bias rides in the convolution.
        total = ACTIVATION_GAINS[self.activation] * gain
        weight = (self.weight * (self.weight_gain * total)).to(x.dtype)
        bias = (self.bias * (self.bias_gain * total)).to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, weight, self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, bias=bias)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, None, self.activation, 1.0, clamp)


def demodulation(weight: Tensor, styles: Tensor) -> Tensor:
    """(N, O): the factor that gives each sample's modulated filters unit L2 norm.

    ``Σ_{i,k} (W[o,i,k]·s[n,i])² = Σ_i s[n,i]² · Σ_k W[o,i,k]²``, so it is one (N, I)×(I, O)
    product instead of squaring all N·O·I·k² modulated weights, which took half of a StyleGAN2
    training step on the CPU. It runs in fp32 whatever the autocast: a bf16 norm would shift
    every layer's output scale.
    """
    with torch.autocast(styles.device.type, enabled=False):
        energy = styles.float().square() @ weight.float().square().sum(dim=[2, 3]).t()
    return (energy + 1e-8).rsqrt()


def modulated_conv2d_parts(x: Tensor, weight: Tensor, styles: Tensor, f: Tensor | None = None,
                           up: int = 1, padding: int = 0, demodulate: bool = True,
                           fused: bool = True) -> tuple[Tensor, Tensor | None]:
    """:func:`modulated_conv2d` before its last scaling: ``(y, scale)`` with the result
    ``y · scale[:, :, None, None]``, or ``(result, None)``. A caller that adds a bias and noise
    next folds the scale into that same pass (one read of the activations instead of two)."""
    batch, in_channels = x.shape[:2]
    kernel = weight.shape[-1]
    f = f if f is not None else setup_filter(DEFAULT_FILTER).to(x.device)
    dcoefs = demodulation(weight, styles) if demodulate else None
    if fused:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
        if dcoefs is not None:
            w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
        w = w.reshape(-1, in_channels, kernel, kernel)
        out = conv2d_resample(x.reshape(1, -1, *x.shape[2:]), w.to(x.dtype), f, up=up,
                              padding=padding, groups=batch)
        return out.reshape(batch, -1, *out.shape[2:]), None
    x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
    return conv2d_resample(x, weight.to(x.dtype), f, up=up, padding=padding), dcoefs


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, f: Tensor | None = None,
                     up: int = 1, padding: int = 0, demodulate: bool = True,
                     fused: bool = True) -> Tensor:
    """Modulated (and demodulated) convolution of a batch, each sample with its own styles.

    Demodulation rescales each output filter to unit L2 norm, which keeps the output at unit
    variance for unit-variance inputs (it replaces AdaIN). ``fused``: build every sample's
    weights and run ONE grouped convolution with the batch as the groups. Otherwise scale the
    activations before and after one shared convolution, which is mathematically the same (the
    reference does this while training) and faster for big batches of small images. Either way
    each sample's output depends only on its own input. ``f`` is the FIR filter, needed when
    ``up > 1``.
    """
    y, scale = modulated_conv2d_parts(x, weight, styles, f, up, padding, demodulate, fused)
    return y if scale is None else y * scale.to(y.dtype).reshape(*scale.shape, 1, 1)


def scale_bias_noise_lrelu(y: Tensor, scale: Tensor | None, bias: Tensor, noise: Tensor | None,
                           gain: float, clamp: float | None) -> Tensor:
    """``clamp(lrelu(y·scale + noise + bias)·gain)`` in two passes over the activations.

    lrelu commutes with a positive gain, so the gain goes into the (N, C) scale, the bias and
    the noise strength, never into a pass of its own. ``noise`` arrives already multiplied by
    its strength.
    """
    shape = (1, -1, 1, 1)
    bias = (bias * gain).to(y.dtype).reshape(shape)
    if scale is None:
        y = torch.add(bias, y, alpha=gain)
    else:
        y = torch.addcmul(bias, y, (scale * gain).to(y.dtype).reshape(*scale.shape, 1, 1))
    if noise is not None:
        y = y.add_(noise.to(y.dtype), alpha=gain)
    return bias_act(y, None, "lrelu", 1.0, clamp)


def modulated_conv2d_reference(x: Tensor, weight: Tensor, styles: Tensor, f: Tensor | None = None,
                               up: int = 1, padding: int = 0, demodulate: bool = True) -> Tensor:
    """The same result one sample at a time, written from the paper's equations (for tests)."""
    f = f if f is not None else setup_filter(DEFAULT_FILTER).to(x.device)
    outputs = []
    for sample, style in zip(x, styles):
        w = weight * style.reshape(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.pow(2).sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        outputs.append(conv2d_resample(sample.unsqueeze(0), w, f, up=up, padding=padding))
    return torch.cat(outputs)
