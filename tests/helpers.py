"""What the tests share, other than fixtures (those are in conftest.py): tiny configurations,
the command line run in-process, small networks and fake NVIDIA pickles."""

from __future__ import annotations

import json
import os
import pickle
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import ganvas
from ganvas.cli import run
from ganvas.config import command_line
from ganvas.models import get_family
from ganvas.models.dcgan import DCGANSpec, Discriminator, Generator
from ganvas.models.stylegan2 import Discriminator as StyleGAN2Discriminator
from ganvas.models.stylegan2 import Generator as StyleGAN2Generator

SHARED_DATA = Path(os.environ.get("GANVAS_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))

# A DCGAN small enough to train a few steps in a second on a laptop CPU.
TINY = dict(data="mnist-test", resolution=32, g_channels=8, d_channels=8, batch=16,
            log_every=1, snapshot_kimg=1000.0, grid=16, z_dim=16, report=False, diffaugment="")


# A StyleGAN2 small enough for a few steps a second: widths 8-16, w 16, 2 mapping layers.
SG2 = dict({k: v for k, v in TINY.items() if k not in ("g_channels", "d_channels")},
           model="stylegan2", cfg="small", channel_base=256, channel_max=16, w_dim=16,
           map_layers=2, batch=8)


# The lightweight family at its smallest: 64 px, width 4.
LIGHT = dict({k: v for k, v in TINY.items() if k not in ("g_channels", "d_channels", "z_dim")},
             model="lightweight", resolution=64, width=4, z_dim=16, batch=8)


def cli_args(options: dict) -> list[str]:
    """``ganvas train`` arguments for a dict of options (DATA first; flags for booleans)."""
    return [options["data"], *command_line({k: v for k, v in options.items() if k != "data"})]


def image_folder(path: Path, n: int = 24, size: int = 32, seed: int = 0) -> Path:
    """A folder of ``n`` random RGB PNGs (``0.png`` ...), as a user's pictures."""
    rng = np.random.default_rng(seed)
    path.mkdir()
    for i in range(n):
        image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(image).save(path / f"{i}.png")
    return path


def objective_of(cfg, G, D, rng):
    """The objective of a resolved config's family, as the training loop builds it."""
    return get_family(cfg.model).objective(cfg.family, cfg.objective, G, D, rng,
                                           batch=cfg.optim.batch)


def losses_by_step(run_dir: Path) -> list[tuple[int, float, float]]:
    records = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss_D"], r["loss_G"]) for r in records]


def train_once(factory: pytest.TempPathFactory, label: str, **options: object) -> Path:
    """A run trained in its own temporary folders (and cache), for a fixture to share."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANVAS_CACHE", str(factory.mktemp(f"{label}-cache")))
        result = ganvas.train(outdir=str(factory.mktemp(f"{label}-runs")), progress=False,
                              **options)
    return result.run_dir


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


G_KWARGS = dict(z_dim=8, w_dim=8, resolution=16, img_channels=3, channel_base=64,
                channel_max=16, map_layers=2)
D_KWARGS = dict(resolution=16, img_channels=3, channel_base=64, channel_max=16, mbstd_group=2)


def reference_kwargs(easy: type, c_dim: int = 0) -> tuple[dict, dict]:
    """NVIDIA-style constructor kwargs for G_KWARGS / D_KWARGS."""
    g = easy(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
             mapping_kwargs=easy(num_layers=2),
             synthesis_kwargs=easy(channel_base=64, channel_max=16, num_fp16_res=4,
                                   conv_clamp=None))
    d = easy(c_dim=c_dim, img_resolution=16, img_channels=3, channel_base=64, channel_max=16,
             num_fp16_res=4, conv_clamp=None, block_kwargs=easy(), mapping_kwargs=easy(),
             epilogue_kwargs=easy(mbstd_group_size=2))
    return g, d


def write_snapshot(path: Path, fake: types.SimpleNamespace, c_dim: int = 0) -> dict:
    torch.manual_seed(0)
    nets = {"G": StyleGAN2Generator(**G_KWARGS, c_dim=c_dim),
            "D": StyleGAN2Discriminator(**D_KWARGS, c_dim=c_dim),
            "G_ema": StyleGAN2Generator(**G_KWARGS, c_dim=c_dim)}
    for net in nets.values():
        for p in net.parameters():
            p.data.normal_()
    g_kwargs, d_kwargs = reference_kwargs(fake.EasyDict, c_dim)
    snapshot = {key: fake.Persistent(net.eval().requires_grad_(False),
                                     "Discriminator" if key == "D" else "Generator",
                                     d_kwargs if key == "D" else g_kwargs)
                for key, net in nets.items()}
    snapshot["training_set_kwargs"] = fake.EasyDict(path="data.zip", resolution=16)
    snapshot["augment_pipe"] = None
    path.write_bytes(pickle.dumps(snapshot))
    return nets
