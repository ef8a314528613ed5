"""The fast path: mixed precision, channels-last memory and fused optimizer updates.

On this project's reference CPU (AVX512-BF16) a 64 px DCGAN step runs several times faster in
bf16 autocast with channels-last tensors than in plain fp32 (``bench/throughput.py``). Autocast
only changes the dtype of convolutions and matrix products; weights, optimizer state, losses
and penalty norms stay fp32, so every option and penalty (double backward included) works
unchanged. fp16 (CUDA GPUs without bf16; on CPUs too, slowly, so that CI tests it) adds a
gradient scaler, and its gradient penalties run in fp32: a penalty differentiates D's output
with respect to its input, a gradient the loss scaler does not protect from underflow.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, ContextManager

import torch
from torch import nn

from ganvas.render.precision import autocast_dtype, resolve_precision

@dataclass
class FastPath:
    """How the training step runs: autocast dtype, memory format, optimizer implementation."""

    device: torch.device
    precision: str  # resolved: bf16 | fp16 | fp32

    @classmethod
    def create(cls, precision: str, device: torch.device) -> "FastPath":
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        return cls(device, resolve_precision(precision, device))

    @property
    def dtype(self) -> torch.dtype | None:
        return autocast_dtype(self.precision)

    def autocast(self) -> ContextManager[Any]:
        """The context the networks' forward passes run in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def penalty_autocast(self) -> ContextManager[Any]:
        """The context gradient penalties run in: the fast path's, except fp32 under fp16."""
        return contextlib.nullcontext() if self.precision == "fp16" else self.autocast()

    def make_scaler(self) -> "torch.amp.GradScaler | None":
        """A gradient scaler for fp16 (bf16 has fp32's range and needs none)."""
        return torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None

    def optimizer_kwargs(self) -> dict[str, bool]:
        """One fused kernel per update on CUDA; multi-tensor (foreach) updates elsewhere."""
        return {"fused": True} if self.device.type == "cuda" else {"foreach": True}


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


def set_threads(threads: int | None) -> int:
    """``--threads``: torch's intra-op threads; by default this process's share of the cores
    (torchrun's local processes split them). Returns the number set."""
    local = max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    count = threads or max(available_cores() // local, 1)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def channels_last(module: nn.Module) -> nn.Module:
    """4-d weights in NHWC order: oneDNN's and cuDNN's fast layout for convolutions."""
    return module.to(memory_format=torch.channels_last)


def batch_layout(images: torch.Tensor) -> torch.Tensor:
    """A batch in the models' memory format (a no-op when it already is)."""
    return images.contiguous(memory_format=torch.channels_last) if images.dim() == 4 else images
