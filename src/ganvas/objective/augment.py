"""Differentiable augmentations applied to D's inputs.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training")
augments *both* real and fake images right before D, with ops that are differentiable w.r.t. the
image so G still gets gradients through them. With few training images this stops D from
memorising the reals. The semantics follow the official implementation
(mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``); this is an independent rewrite that
draws all randomness from an explicit ``torch.Generator`` (on the images' device) for reproducible
runs, and never syncs with the host.

Images are float N×C×H×W (any C, typically 1 or 3, in [-1, 1]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ganvas.errors import GanvasError


def _uniform(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U[0, 1) draw per sample, shaped (N, 1, 1, 1) to broadcast over the image."""
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)


def _randint(low: int, high: int, n: int, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """n integers in [low, high) on x's device."""
    return torch.randint(low, high, (n,), generator=generator, device=x.device)


def _color(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Brightness, saturation and contrast jitter, one random factor per image each.

    Brightness adds U[-0.5, 0.5); saturation scales the deviation from the per-pixel channel mean
    by U[0, 2) (a no-op on 1-channel images, where that deviation is 0); contrast scales the
    deviation from the per-image mean by U[0.5, 1.5).
    """
    x = x + (_uniform(x, generator) - 0.5)
    pixel_mean = x.mean(dim=1, keepdim=True)
    x = (x - pixel_mean) * (2 * _uniform(x, generator)) + pixel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * (_uniform(x, generator) + 0.5) + image_mean


def _shift(x: Tensor, shifts: Tensor, dim: int) -> Tensor:
    """Move each sample's content by ``shifts[i]`` pixels along ``dim``, zero-filling the gap.

    ``out[i, ..., j, ...] = x[i, ..., j - shifts[i], ...]`` where that index exists, else 0; a
    gather (differentiable w.r.t. x) rather than a roll, so nothing wraps around.
    """
    size = x.shape[dim]
    source = torch.arange(size, device=x.device) - shifts[:, None]  # (N, size)
    inside = (source >= 0) & (source < size)
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    shape[dim] = size
    index = source.clamp(0, size - 1).reshape(shape).expand_as(x)
    return x.gather(dim, index) * inside.reshape(shape).to(x.dtype)


def _translation(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Translate each image by whole pixels, up to 1/8 of its size each way, zero padding."""
    n, _, h, w = x.shape
    shift_h = _randint(-(h // 8), h // 8 + 1, n, x, generator)
    shift_w = _randint(-(w // 8), w // 8 + 1, n, x, generator)
    return _shift(_shift(x, shift_h, dim=2), shift_w, dim=3)


def _cutout_span(size: int, n: int, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """(N, size) boolean mask of each sample's cut-out rows (or columns): a run of size//2.

    As in the official code the run's centre is uniform over the image, so near a border part of
    it falls outside and fewer pixels are cut (at least half the run is always inside).
    """
    length = size // 2
    centre = _randint(0, size + 1 - length % 2, n, x, generator)
    start = (centre - length // 2)[:, None]
    positions = torch.arange(size, device=x.device)
    return (positions >= start) & (positions < start + length)


def _cutout(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Zero a square of half the image size (all channels) at a random place in each image."""
    n, _, h, w = x.shape
    rows = _cutout_span(h, n, x, generator)
    cols = _cutout_span(w, n, x, generator)
    cut = rows[:, None, :, None] & cols[:, None, None, :]
    return x * (~cut).to(x.dtype)


_OPS: dict[str, Callable[[Tensor, torch.Generator | None], Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
}
AUGMENTATIONS = tuple(_OPS)


def _check_name(name: str) -> str:
    if name not in _OPS:
        choices = ", ".join(AUGMENTATIONS)
        raise GanvasError(f"--diffaugment: unknown augmentation {name!r} (choose from {choices})")
    return name


def parse_policy(s: str) -> tuple[str, ...]:
    """Split a comma-separated policy such as ``"color,translation,cutout"`` into checked names.

    Whitespace around names and empty items are ignored, so ``""`` is the empty policy.
    """
    return tuple(_check_name(part.strip()) for part in s.split(",") if part.strip())


def diff_augment(
    x: Tensor, policy: str | Sequence[str], generator: torch.Generator | None = None
) -> Tensor:
    """Apply the DiffAugment ops of ``policy`` in order, with fresh random draws per sample.

    Call it on real and fake batches alike (same policy) right before D. Differentiable w.r.t. x.
    """
    names = parse_policy(policy) if isinstance(policy, str) else tuple(map(_check_name, policy))
    for name in names:
        x = _OPS[name](x, generator)
    return x
