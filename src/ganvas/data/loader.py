"""Batches for training, straight from uint8 images in memory (or a memory-mapped pack).

Each epoch visits the images in a permutation drawn from ``(seed, epoch)``, so the order is
reproducible and the loader's whole state is two integers, saved in checkpoints for an exact
resume. Conversion to float and flips happen on tensors, on the training device. No worker
processes, no per-epoch decoding.
"""

from __future__ import annotations

import numpy as np
import torch

from ganvas.augment import random_flip
from ganvas.errors import GanvasError


class BatchLoader:
    """Endless batches of images in [-1, 1] (N×C×H×W float on ``device``); drops ragged ends."""

    def __init__(self, images: np.ndarray, batch: int, seed: int, device: torch.device,
                 mirror: bool = False):
        if len(images) < batch:
            raise GanvasError(f"--batch: {batch} is larger than the dataset ({len(images)} "
                              "images)")
        self.images, self.batch, self.seed = images, batch, seed
        self.device, self.mirror = device, mirror
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    @property
    def batches_per_epoch(self) -> int:
        return len(self.images) // self.batch

    def _permutation(self, epoch: int) -> np.ndarray:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=g).numpy()

    def next(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The next batch; ``generator`` drives the flips."""
        if self.position + self.batch > len(self.images):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        idx = np.sort(self._order[self.position:self.position + self.batch])
        self.position += self.batch
        # Sorted reads are sequential on a memory map; order within a batch does not matter.
        batch = torch.from_numpy(np.ascontiguousarray(self.images[idx]))
        batch = batch.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        if self.mirror:
            batch = random_flip(batch, generator=generator)
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed = int(state["seed"])
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)
