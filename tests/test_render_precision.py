"""One precision policy for every command that renders: a seed gives the same pixels in
generate, interpolate, arithmetic and evaluate (fp32 by default), and truncation works when the
generator runs in bf16 or fp16 autocast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.metrics.sources import GeneratorSide
from ganvas.models.stylegan2 import Generator
from ganvas.render import load_generator
from tests.helpers import SG2, cli, train_once


@pytest.fixture(scope="module")
def stylegan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_once(tmp_path_factory, "render", kimg=0.016, **SG2)


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_truncation_and_mixing_inside_autocast(dtype: torch.dtype) -> None:
    """The mapping's output meets the fp32 w_avg: this raised 'expected scalar type' in bf16."""
    G = Generator(z_dim=8, w_dim=8, resolution=16, img_channels=1, channel_base=64,
                  channel_max=8, map_layers=2).eval()
    z = torch.randn(2, 8)
    with torch.autocast("cpu", dtype=dtype):
        ws = G.mapping(z, truncation_psi=0.7)
        cut = G.mapping(z, truncation_psi=0.7, truncation_cutoff=1)
    assert ws.dtype == torch.float32 and cut.dtype == torch.float32
    torch.testing.assert_close(ws[:, :1], cut[:, :1])


def test_generate_trunc_runs_in_bf16_through_the_cli(tmp_path: Path, stylegan_run: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "generate", stylegan_run, "--seeds", "1-4", "--trunc", "0.7",
                         "--precision", "bf16", "--out", tmp_path / "g1")
    assert code == 0, err
    images = [png(tmp_path / "g1" / f"seed{s:04d}.png") for s in range(1, 5)]
    assert len({im.tobytes() for im in images}) == 4


def test_a_seed_renders_the_same_in_every_command(tmp_path: Path, stylegan_run: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "generate", stylegan_run, "--seeds", "0-3", "--trunc", "0.7",
                       "--out", tmp_path / "gen")
    assert code == 0, err
    generated = [png(tmp_path / "gen" / f"seed{s:04d}.png") for s in range(4)]
    # Grey images: a GIF holds their 256 levels exactly, so the walk's first frame is exact.
    code, _, err = cli(capsys, "interpolate", stylegan_run, "--seeds", "2,3", "--frames", "2",
                       "--trunc", "0.7", "--out", tmp_path / "walk.gif")
    assert code == 0, err
    with Image.open(tmp_path / "walk.gif") as video:
        first = np.asarray(video.convert("L"))
    np.testing.assert_array_equal(first, generated[2])
    code, _, err = cli(capsys, "arithmetic", stylegan_run, "1", "--trunc", "0.7",
                       "--out", tmp_path / "arith")
    assert code == 0, err
    np.testing.assert_array_equal(png(tmp_path / "arith" / "result.png"), generated[1])
    # evaluate and in-training metrics sample seed i as image i, without truncation.
    code, _, err = cli(capsys, "generate", stylegan_run, "--seeds", "0-3", "--out",
                       tmp_path / "plain")
    assert code == 0, err
    side = GeneratorSide(load_generator(stylegan_run), "G")
    sampled = np.concatenate(list(side.batches(4, 3)))
    for s in range(4):
        np.testing.assert_array_equal(sampled[s, 0], png(tmp_path / "plain" / f"seed{s:04d}.png"))
