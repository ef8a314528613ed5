"""The built-in MNIST demo set (shipped inside the package; CC BY-SA 3.0, LeCun, Cortes, Burges)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ganvas.data.idx import read_idx

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN = ("mnist", "mnist-test")


@functools.lru_cache(maxsize=2)
def mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images as uint8 N×1×28×28 and labels as int64 N (read-only, cached)."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(BUILTIN_DIR / f"{prefix}-images-idx3-ubyte.gz")[:, None]
    labels = read_idx(BUILTIN_DIR / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def resize_uint8(images: np.ndarray, size: int, chunk: int = 4096) -> np.ndarray:
    """Resize uint8 N×C×H×W images to size×size (bilinear, antialiased when shrinking)."""
    import torch  # imported here so that 'ganvas.data' stays light for prepare's workers
    import torch.nn.functional as F

    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = np.empty((images.shape[0], images.shape[1], size, size), dtype=np.uint8)
    for i in range(0, len(images), chunk):
        x = torch.from_numpy(np.array(images[i:i + chunk])).float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
        out[i:i + chunk] = y.round().clamp(0, 255).to(torch.uint8).numpy()
    return out
