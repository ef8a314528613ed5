"""FIR up/down-sampling and resampling convolutions in plain PyTorch (no custom CUDA ops).

StyleGAN2 never resamples with nearest/bilinear interpolation: it inserts zeros (up) or drops
pixels (down) around a low-pass FIR filter, [1, 3, 3, 1] by default, to avoid aliasing. The
padding arithmetic below follows NVIDIA's ``upfirdn2d``/``conv2d_resample`` so that weights
trained with the reference produce the same images here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_FILTER = (1, 3, 3, 1)


def setup_filter(taps: Sequence[float] = DEFAULT_FILTER) -> Tensor:
    """The 2-D filter (outer product of ``taps``, normalised to sum 1) kept as a buffer."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f) if f.ndim == 1 else f
    return f / f.sum()


def _padding4(padding: int | Sequence[int]) -> list[int]:
    """``p`` or ``(x0, x1, y0, y1)`` as F.pad's ``[left, right, top, bottom]``."""
    return [padding] * 4 if isinstance(padding, int) else list(padding)


def upfirdn2d(x: Tensor, f: Tensor, up: int = 1, down: int = 1,
              padding: int | Sequence[int] = 0, gain: float = 1.0) -> Tensor:
    """Upsample (zero insertion), pad (negative = crop), convolve with ``f``, downsample.

    ``gain`` scales the filter's sum; upsampling by ``up`` needs ``up**2`` to keep the mean.
    """
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    pads = _padding4(padding)
    # Equal, non-negative padding goes to the convolution itself: F.pad would copy the whole
    # activation into a new tensor first (a tenth of a StyleGAN2 step on the CPU).
    inner = pads[0] if min(pads) == max(pads) and pads[0] >= 0 else 0
    if not inner:
        x = F.pad(x, pads)
    # conv2d is a correlation: flip to convolve (a no-op for symmetric filters).
    kernel = (f * gain).flip([0, 1]).to(x.dtype)
    x = F.conv2d(x, kernel.expand(c, 1, *f.shape), padding=inner, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """Double (by default) the size of ``x`` through the FIR filter, keeping its mean."""
    taps = f.shape[-1]
    return upfirdn2d(x, f, up=up, padding=[(taps + up - 1) // 2, (taps - up) // 2] * 2,
                     gain=up**2)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    """Halve (by default) the size of ``x`` after low-pass filtering."""
    taps = f.shape[-1]
    return upfirdn2d(x, f, down=down,
                     padding=[(taps - down + 1) // 2, (taps - down) // 2] * 2)


def _transpose_groups(weight: Tensor, groups: int) -> Tensor:
    """(O, I/g, k, k) conv weights -> the (I, O/g, k, k) layout conv_transpose2d expects."""
    out_channels, in_per_group, kh, kw = weight.shape
    weight = weight.reshape(groups, out_channels // groups, in_per_group, kh, kw)
    return weight.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)


def conv2d_resample(x: Tensor, weight: Tensor, f: Tensor, up: int = 1, down: int = 1,
                    padding: int = 0, groups: int = 1, bias: Tensor | None = None) -> Tensor:
    """Convolution fused with 2× FIR up- or downsampling, as the reference computes it.

    - no resampling: a correlation (``F.conv2d``) with ``padding``;
    - ``down``: pad and low-pass filter, then a strided correlation;
    - ``up``: a strided transposed convolution, then the filter. The reference calls this path
      with ``flip_weight=False``, i.e. a true convolution, which is what conv_transpose2d does.

    ``bias`` is added to the result (inside the last convolution where there is one).
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: up- and downsampling at once is not supported")
    kw = weight.shape[-1]
    taps = f.shape[-1]
    if up > 1:
        pad0 = padding + (taps + up - 1) // 2 - (kw - 1)
        pad1 = padding + (taps - up) // 2 - (kw - up)
        crop = max(min(-pad0, -pad1), 0)
        x = F.conv_transpose2d(x, _transpose_groups(weight, groups), stride=up, padding=crop,
                               groups=groups)
        x = upfirdn2d(x, f, padding=[pad0 + crop, pad1 + crop] * 2, gain=up**2)
        return x if bias is None else x + bias.reshape(1, -1, 1, 1)
    if down > 1:
        pad0 = padding + (taps - down + 1) // 2
        pad1 = padding + (taps - down) // 2
        x = upfirdn2d(x, f, padding=[pad0, pad1] * 2)
        return F.conv2d(x, weight, bias, stride=down, groups=groups)
    return F.conv2d(x, weight, bias, padding=padding, groups=groups)
