"""The precision policy, for training and rendering alike.

``auto`` picks bf16 on CUDA GPUs with bf16 and on CPUs that compute it natively (AVX512-BF16,
AMX), fp16 on older GPUs, and fp32 elsewhere. Rendering commands default to fp32, so a seed gives
the same pixels in every command; ``--precision`` opts in to the faster paths.
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

import torch

from ganvas.errors import GanvasError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX); emulated bf16 is slow."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe and probe()) or (amx and amx()))


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> bf16 on CUDA with bf16 and on bf16 CPUs, fp16 on older GPUs, else fp32."""
    if name not in PRECISIONS:
        raise GanvasError(f"--precision: {name!r} is not one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        if name == "auto":
            return "bf16" if bf16 else "fp16"
        if name == "bf16" and not bf16:
            raise GanvasError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no "
                              "bf16; use fp16 or auto")
        return name
    if name == "auto":
        return "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"
    return name


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (None: fp32, no autocast)."""
    return _DTYPES.get(precision)


def autocast(precision: str, device: torch.device) -> ContextManager[Any]:
    """The context networks run in at a resolved ``precision`` on ``device``."""
    dtype = autocast_dtype(precision)
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)
