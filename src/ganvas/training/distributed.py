"""Data-parallel training under ``torchrun``: process group, gradient and statistics reduction.

``torchrun --nproc_per_node N -m ganvas train ...`` starts N copies of ganvas with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set. Each rank trains on its shard of every batch; after each
backward pass the gradients are all-reduced (averaged) as one flattened tensor, the route
stylegan3 takes, because it is also correct for penalties that need double backward, which
``DistributedDataParallel``'s hooks do not support. Weights start equal (broadcast from rank 0),
and identical averaged gradients keep them equal. Only rank 0 writes files.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch import nn

from ganvas.errors import GanvasError

# Rank 0 alone evaluates metrics while the others wait: allow for a long evaluation.
TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class Shard:
    """This process's place: rank ``rank`` of ``world`` (1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def random_streams(seed: int, shard: Shard,
                   device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """The loop's two streams: ``rng`` for per-sample draws, ``z_rng`` for latents.

    On one process they are one generator seeded with ``seed``. Under torchrun every rank
    draws the global batch's latents from one shared stream (``seed``) and takes its slice,
    while each rank's per-sample stream has a seed of its own that differs from it, so that
    no rank's augmentation or noise repeats the latents' random numbers.
    """
    if not shard.active:
        rng = torch.Generator(device).manual_seed(seed)
        return rng, rng
    rng = torch.Generator(device).manual_seed(seed + 1_000_003 * (shard.rank + 1))
    return rng, torch.Generator(device).manual_seed(seed)


def from_environment() -> Shard:
    """The shard torchrun describes in the environment (a single process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard()
    return Shard(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(shard: Shard, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPUs."""
    if not shard.active or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=TIMEOUT)


def teardown(shard: Shard) -> None:
    if shard.active and dist.is_initialized():
        dist.destroy_process_group()


def training_device(name: str, shard: Shard, pick: Any) -> torch.device:
    """Under torchrun with CUDA, rank r uses its own GPU (cuda:LOCAL_RANK)."""
    device = pick(name)
    if shard.active and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", shard.local_rank)
    return device


def split_batch(batch: int, shard: Shard) -> int:
    """The per-rank batch: the global batch must divide evenly across ranks."""
    if batch % shard.world:
        raise GanvasError(f"--batch: {batch} does not split evenly across {shard.world} "
                          "processes; use a multiple of the process count")
    return batch // shard.world


def broadcast_modules(modules: Sequence[nn.Module], shard: Shard) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not shard.active:
        return
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            data = tensor.data.contiguous()  # channels-last weights travel in plain order
            dist.broadcast(data, src=0)
            tensor.data.copy_(data)


def average_gradients(module: nn.Module, shard: Shard) -> None:
    """All-reduce the gradients of ``module`` as one flat tensor and divide by the world size."""
    if not shard.active:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= shard.world
    # No nan_to_num here: an inf or NaN on any rank is now in every rank's sum, so fp16's
    # GradScaler sees the overflow on all ranks alike and skips the step everywhere.
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def average_tensor(value: torch.Tensor, shard: Shard) -> torch.Tensor:
    """The mean of ``value`` over ranks (statistics, ADA's sign sums)."""
    if shard.active:
        value = value.clone()
        dist.all_reduce(value)
        value /= shard.world
    return value


def agree(flag: bool, shard: Shard, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank (the stop vote)."""
    if not shard.active:
        return flag
    vote = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(vote, op=dist.ReduceOp.MAX)
    return bool(vote.item())


def broadcast_object(value: Any, shard: Shard) -> Any:
    """Rank 0's ``value`` on every rank (the run folder's path, for instance)."""
    if not shard.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: Any, shard: Shard) -> list[Any]:
    """Every rank's ``value``, in rank order (per-rank RNG states for checkpoints)."""
    if not shard.active:
        return [value]
    out: list[Any] = [None] * shard.world
    dist.all_gather_object(out, value)
    return out


def barrier(shard: Shard) -> None:
    if shard.active:
        dist.barrier()


def convert_sync_batchnorm(module: nn.Module, shard: Shard, device: torch.device) -> nn.Module:
    """``--sync-bn``: BatchNorm statistics over the global batch (CUDA only in PyTorch)."""
    if not shard.active:
        return module
    if device.type != "cuda":
        raise GanvasError("--sync-bn: PyTorch synchronises BatchNorm only on CUDA devices; on "
                          "CPUs each process normalises with its own shard's statistics")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
