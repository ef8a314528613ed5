"""Export a generator alone, for use without ganvas: TorchScript or ONNX, ``z -> images``.

The exported graph has one input, ``z`` (N×z_dim, any N), and one output, ``images``
(N×C×H×W in [-1, 1]); a class-conditional generator has a second input, ``c`` (N class
indices, int64). StyleGAN2 generators are exported with their mapping network, constant
noise and the truncation psi baked in; z truncation (DCGAN) is a way of sampling z, so it stays
with the caller.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from ganvas.errors import GanvasError
from ganvas.render import LatentSpace
from ganvas.utils.io import atomic_path

EXPORT_FORMATS = ("torchscript", "onnx")
ONNX_PACKAGES = ("onnx", "onnxscript")


class LatentToImage(nn.Module):
    """``forward(z)`` (``forward(z, c)`` for a conditional G) with nothing else to pass: the
    one signature both formats can freeze."""

    def __init__(self, G: nn.Module, truncation_psi: float | None = None):
        super().__init__()
        self.G = G
        self.w_space = LatentSpace(G).space == "w"
        if truncation_psi is not None and not self.w_space:
            raise GanvasError("--trunc: only StyleGAN2 generators have a truncation to bake in; "
                              "for z, truncate when sampling the z you feed in")
        self.truncation_psi = 1.0 if truncation_psi is None else float(truncation_psi)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        conditional = () if c is None else (c,)
        if self.w_space:
            return self.G(z, *conditional, truncation_psi=self.truncation_psi,
                          noise_mode="const")
        return self.G(z, *conditional)


def export(G: nn.Module, out: str | Path, export_format: str = "torchscript",
           truncation_psi: float | None = None) -> Path:
    """Write ``G`` (in eval mode, on its device) to ``out``, atomically."""
    if export_format not in EXPORT_FORMATS:
        raise GanvasError(f"--format: {export_format!r} is not one of "
                          f"{', '.join(EXPORT_FORMATS)}")
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if export_format == "onnx" and missing:
        raise GanvasError(f"--format onnx: needs the {' and '.join(missing)} package(s) "
                          f"(pip install {' '.join(ONNX_PACKAGES)})")
    module = LatentToImage(G, truncation_psi).eval()
    device = next(G.parameters()).device
    example: tuple[torch.Tensor, ...] = (torch.zeros(2, int(G.z_dim), device=device),)
    if getattr(G, "num_classes", 0):
        example += (torch.zeros(2, dtype=torch.long, device=device),)
    out = Path(out)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        # torch.jit and the ONNX exporter warn about their own futures; not the user's concern.
        warnings.simplefilter("ignore")
        if export_format == "torchscript":
            torch.jit.save(torch.jit.trace(module, example), str(tmp))
        else:
            _export_onnx(module, example, tmp)
    return out


def _export_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path) -> None:
    """torch.export-based ONNX (the exporter torch >= 2.9 defaults to), weights inside the file
    so that it survives the rename, any batch size."""
    onnx_log = logging.getLogger("torch.onnx")  # it logs optional torchvision ops it skips
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    batch = torch.export.Dim("batch")
    try:
        torch.onnx.export(module, example, str(path), input_names=["z", "c"][:len(example)],
                          output_names=["images"],
                          dynamic_shapes=tuple({0: batch} for _ in example), dynamo=True,
                          external_data=False, verbose=False)
    finally:
        onnx_log.setLevel(level)
