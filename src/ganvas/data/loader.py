"""Batches for training, straight from uint8 images in memory (or a memory-mapped pack).

Each epoch visits the images in a permutation drawn from ``(seed, epoch)``, so the order is
reproducible and the loader's whole state is two integers, saved in checkpoints for an exact
resume. Under torchrun every rank draws the same permutation and reads only its slice of each
global batch. Conversion to float and flips happen on tensors, on the training device; on CUDA
the next batch is read into pinned memory and copied while the current step runs. No worker
processes, no per-epoch decoding.
"""

from __future__ import annotations

import numpy as np
import torch

from ganvas.errors import GanvasError


class BatchLoader:
    """Endless batches of images in [-1, 1] (N×C×H×W float on ``device``); drops ragged ends.

    ``batch`` is the global batch; with ``shard=(rank, world)`` each call returns this rank's
    ``batch // world`` images of it. With ``labels`` (int64, one per image) :meth:`next_labelled`
    also returns each image's class.
    """

    def __init__(self, images: np.ndarray, batch: int, seed: int, device: torch.device,
                 mirror: bool = False, shard: tuple[int, int] = (0, 1),
                 channels_last: bool = False, labels: np.ndarray | None = None):
        if len(images) < batch:
            raise GanvasError(f"--batch: {batch} is larger than the dataset ({len(images)} "
                              "images)")
        self.images, self.batch, self.seed = images, batch, seed
        self.labels = labels
        self.device, self.mirror = device, mirror
        self.rank, self.world = shard
        self.channels_last = channels_last
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)
        self._staged: tuple[tuple[int, int], tuple[torch.Tensor, torch.Tensor | None]] | None \
            = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.images) // self.batch

    def _permutation(self, epoch: int) -> np.ndarray:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=g).numpy()

    def _advance(self) -> tuple[int, int]:
        """(epoch, position) of the next global batch, moving past it."""
        if self.position + self.batch > len(self.images):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        place = (self.epoch, self.position)
        self.position += self.batch
        return place

    def _read(self, position: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's uint8 slice of the global batch at ``position`` and its labels, on the
        device."""
        local = self.batch // self.world
        start = position + self.rank * local
        chunk = self._order[start:start + local]
        # Reads in sorted order are sequential on a memory map. Unlabelled batches stay sorted
        # (runs from before resume exactly); labelled ones go back to the permutation's order,
        # so the global batch is the same image for image whatever the number of processes:
        # conditional training pairs each real image's class with a fake's latent.
        order = np.argsort(chunk, kind="stable")
        images = self.images[chunk[order]]
        labels = None
        if self.labels is not None:
            images[order] = images.copy()
            labels = torch.from_numpy(self.labels[chunk].astype(np.int64))
        batch = torch.from_numpy(np.ascontiguousarray(images))
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        labels = labels.to(self.device, non_blocking=True) if labels is not None else None
        return batch.to(self.device, non_blocking=True), labels

    def next(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The next batch; ``generator`` drives the flips."""
        return self.next_labelled(generator)[0]

    def next_labelled(self, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch and its classes (None without labels); ``generator`` drives flips."""
        if self._staged is not None:
            place, (raw, labels) = self._staged
            self._staged = None
        else:
            place = self._advance()
            raw, labels = self._read(place[1])
        if self.device.type == "cuda":  # prefetch: the copy overlaps the step on the GPU
            self._stage()
        batch = raw.float().div_(127.5).sub_(1.0)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        if self.mirror:
            batch = random_flip(batch, generator=generator)
        return batch, labels

    def _stage(self) -> None:
        before = (self.epoch, self.position)
        place = self._advance()
        self._staged = (place, self._read(place[1]))
        self._rewind_to = before

    def state_dict(self) -> dict[str, int]:
        """The place of the next batch to be returned (a staged batch is not yet consumed)."""
        epoch, position = self._rewind_to if self._staged is not None else \
            (self.epoch, self.position)
        return {"epoch": epoch, "position": position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed = int(state["seed"])
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)
        self._staged = None


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image horizontally with probability 0.5 (``--mirror``), without host syncs."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)
