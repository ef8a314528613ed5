"""What the explore tests share: one tiny trained run per session, a DCGAN whose images differ
clearly from seed to seed, and a fake StyleGAN2 with the mapping/synthesis interface.

Import the fixtures into a test module (``from tests.explore_support import tiny_run``) to use
them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import ganvas
from ganvas.cli import run
from ganvas.models.dcgan import DCGANSpec, Discriminator, Generator
from tests.conftest import TINY


def train_once(factory: pytest.TempPathFactory, label: str, **options: object) -> Path:
    """A run trained in its own temporary folders (and cache), for a fixture to share."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANVAS_CACHE", str(factory.mktemp(f"{label}-cache")))
        result = ganvas.train(outdir=str(factory.mktemp(f"{label}-runs")), progress=False,
                              **options)
    return result.run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-second DCGAN run (32 px, z_dim 16), trained once for all explore tests."""
    return train_once(tmp_path_factory, "explore", kimg=0.032, **TINY)


def cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """Run ``ganvas ARGS`` in-process; (exit code, stdout, stderr)."""
    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The last line of stderr, which must be the single ``ganvas: error:`` line."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and lines[-1].startswith("ganvas: error: "), err
    assert sum("error" in line.lower() for line in lines) == 1, err
    return lines[-1]


def _calibrate_batchnorm(net: nn.Module, inputs: list[torch.Tensor]) -> None:
    """Set BatchNorm running statistics to the true ones of ``inputs`` (a fresh network's are
    mean 0, variance 1, which in eval mode shrinks every image to nearly flat grey)."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative average
            module.reset_running_stats()
    net.train()
    with torch.no_grad():
        for x in inputs:
            net(x)
    net.eval().requires_grad_(False)


def varied_dcgan(z_dim: int = 16, seed: int = 0) -> tuple[Generator, Discriminator]:
    """A freshly initialised 32 px grey DCGAN (G, D) with calibrated BatchNorm, in eval mode:
    its images differ clearly from seed to seed, unlike a barely trained run's."""
    torch.manual_seed(seed)
    spec = DCGANSpec(resolution=32, channels=1, z_dim=z_dim, g_channels=8, d_channels=8)
    G, D = Generator(spec), Discriminator(spec)
    _calibrate_batchnorm(G, [torch.randn(64, z_dim) for _ in range(4)])
    with torch.no_grad():
        fakes = [G(torch.randn(64, z_dim)) for _ in range(4)]
    _calibrate_batchnorm(D, fakes)
    return G, D


class FakeStyleGAN(nn.Module):
    """The StyleGAN2 generator interface in miniature: an MLP mapping with a tracked w_avg and
    truncation, a linear 'synthesis' with optional noise. Small enough to reason about."""

    def __init__(self, z_dim: int = 8, w_dim: int = 6, num_ws: int = 3, resolution: int = 8,
                 img_channels: int = 3, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.w_dim, self.num_ws = z_dim, w_dim, num_ws
        self.resolution, self.img_channels = resolution, img_channels
        self.mlp = nn.Sequential(nn.Linear(z_dim, w_dim), nn.LeakyReLU(0.2),
                                 nn.Linear(w_dim, w_dim))
        self.register_buffer("w_avg", torch.randn(w_dim) * 0.3)
        self.to_image = nn.Linear(num_ws * w_dim, img_channels * resolution * resolution)
        self.requires_grad_(False)
        self.eval()

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        w = self.mlp(z)
        w = self.w_avg + truncation_psi * (w - self.w_avg)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        x = self.to_image(ws.flatten(1))
        if noise_mode == "random":
            x = x + 0.5 * torch.randn_like(x)
        size = self.resolution
        return torch.tanh(x).reshape(-1, self.img_channels, size, size)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation_psi), noise_mode=noise_mode)
