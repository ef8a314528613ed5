"""Image grids and tensor/uint8 conversion (the few pieces of torchvision ganvas needs)."""

from __future__ import annotations

import math

import numpy as np
import torch


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map generator output in [-1, 1] (N×C×H×W float) to uint8 [0, 255], rounding to nearest."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def make_grid(images: np.ndarray | torch.Tensor, columns: int | None = None, padding: int = 2,
              pad_value: int = 0) -> np.ndarray:
    """Tile uint8 N×C×H×W images into one H×W×C array (C is 1 or 3), ``columns`` images per row
    (default: a square)."""
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError("make_grid expects uint8 images")
    n, c, h, w = images.shape
    ncol = columns or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / ncol))
    grid = np.full((rows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value,
                   dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = images[i].transpose(1, 2, 0)
    return grid


def quarter_of(images: torch.Tensor, quarter: torch.Tensor) -> torch.Tensor:
    """Quarter ``quarter`` (a 0-d long tensor, 0-3 row-major) of every image, without host
    syncs."""
    h, w = images.shape[-2] // 2, images.shape[-1] // 2
    quarters = torch.stack([images[..., :h, :w], images[..., :h, w:],
                            images[..., h:, :w], images[..., h:, w:]], dim=1)
    return quarters.index_select(1, quarter.reshape(1)).squeeze(1)
