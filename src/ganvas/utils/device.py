"""``--device``: one meaning of cpu, cuda, cuda:N and auto for every command."""

from __future__ import annotations

import torch

from ganvas.errors import GanvasError


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a missing CUDA device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GanvasError(f"--device: {name!r} is not a device (cpu, cuda, cuda:N, auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanvasError(f"--device: {name} asked for, but CUDA is not available here")
    if device.type == "cpu":
        device = torch.device("cpu")  # 'cpu:0' is the same device; generators want plain 'cpu'
    return device
