"""``--compile``: one place that decides how networks are compiled."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn


def maybe_compile(module: nn.Module | Callable[..., Any], enabled: bool) -> Callable[..., Any]:
    """``torch.compile`` with static shapes (dynamic shapes fail on CPU in torch 2.13)."""
    if not enabled:
        return module
    return torch.compile(module, dynamic=False)
