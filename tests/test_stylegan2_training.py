"""StyleGAN2 and ADA through the training loop: steps, exact resume of p, transfer, import."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ganvas
from ganvas.config import flatten
from ganvas.cli import run as cli_run
from ganvas.errors import GanvasError
from ganvas.models.stylegan2 import Generator
from ganvas.render import load_generator
from tests.helpers import SG2, TINY, write_snapshot

def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_stylegan2_trains_with_its_regularisers(tmp_path: Path) -> None:
    result = ganvas.train(outdir=str(tmp_path), kimg=0.04, progress=False, **SG2)
    records = rows(result.run_dir)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert "penalty_r1" in records[0] and "penalty_pl" in records[0]  # lazy: step 0 of each
    assert "penalty_pl" not in records[1] and "penalty_pl" in records[4]
    assert all(np.isfinite([r["loss_D"], r["loss_G"]]).all() for r in records)
    assert "ada_p" in records[0]  # ADA is on by default for stylegan2
    config = flatten(json.loads((result.run_dir / "config.json").read_text()))
    assert config["betas"] == [0.0, 0.99] and config["ema_kimg"] == pytest.approx(8 * 10 / 32)
    state = torch.load(result.run_dir / "checkpoints/latest.pt", weights_only=True)
    fresh = Generator(z_dim=16, w_dim=16, resolution=32, img_channels=1, channel_base=256,
                      channel_max=16, map_layers=2).state_dict()
    moved = [k for k in fresh if fresh[k].is_floating_point()
             and not torch.equal(fresh[k], state["G"][k])]
    assert len(moved) > len(fresh) // 2
    assert state["objective"]["path_length"]["pl_mean"] > 0
    G = load_generator(result.run_dir)
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(G(z)[1], G(z[1:2])[0], atol=1e-5, rtol=1e-5)  # per sample


def test_ada_p_resumes_exactly(tmp_path: Path) -> None:
    options = dict(SG2, aug="ada", p=0.3, ada_kimg=0.5, precision="fp32")
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.064, progress=False, **options)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.032, progress=False, **options)
    ganvas.train(resume=part.run_dir, kimg=0.064, progress=False)
    expected, got = rows(whole.run_dir), rows(part.run_dir)
    assert [r["ada_p"] for r in got] == [r["ada_p"] for r in expected]
    assert len({r["ada_p"] for r in got}) > 1  # p moved during the run
    assert [r["loss_D"] for r in got] == [r["loss_D"] for r in expected]


def test_ada_p_rises_when_d_is_confident_on_reals_and_stays_off_without_ada(
        tmp_path: Path) -> None:
    options = dict(TINY, kimg=0.64, ada_kimg=2.0, lr_d=2e-3, precision="fp32")
    ada_run = ganvas.train(outdir=str(tmp_path), aug="ada", progress=False, **options).run_dir
    with_ada = rows(ada_run)
    assert max(r["ada_rt"] for r in with_ada) > 0.6
    assert with_ada[-1]["ada_p"] > 0.05
    plain_run = ganvas.train(outdir=str(tmp_path), aug="none", progress=False,
                             **options).run_dir
    assert not any("ada_p" in r for r in rows(plain_run))
    # p and r_t are plotted while training, for the runs that have them.
    assert (ada_run / "plots" / "ada.png").is_file()
    assert not (plain_run / "plots" / "ada.png").exists()


def test_init_from_copies_networks_and_freeze_d_keeps_blocks(tmp_path: Path) -> None:
    source = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.016, progress=False, **SG2)
    tuned = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.024, init_from=str(source.run_dir),
                         freeze_d=1, progress=False,
                         **{k: v for k, v in SG2.items() if k not in ("channel_base",
                                                                      "channel_max", "w_dim")})
    a = torch.load(source.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(tuned.run_dir / "checkpoints/latest.pt", weights_only=True)
    frozen = [k for k in a["D"] if k.startswith("b32.")]
    assert frozen and all(torch.equal(a["D"][k], b["D"][k]) for k in frozen)
    assert not torch.equal(a["D"]["b4.out.weight"], b["D"]["b4.out.weight"])
    config = flatten(json.loads((tuned.run_dir / "config.json").read_text()))
    assert config["channel_base"] == 256 and config["w_dim"] == 16  # inherited


def test_init_from_refuses_another_resolution(tmp_path: Path) -> None:
    source = ganvas.train(outdir=str(tmp_path), kimg=0.008, progress=False, **SG2)
    with pytest.raises(GanvasError, match="32 px but this run trains at 64 px"):
        ganvas.train(outdir=str(tmp_path), kimg=0.008, init_from=str(source.run_dir),
                     progress=False, **dict(SG2, resolution=64))


def test_import_command_writes_a_checkpoint_that_samples_like_the_pickle(
        tmp_path: Path, nvidia_modules, marker) -> None:  # noqa: F811
    nets = write_snapshot(tmp_path / "net.pkl", nvidia_modules)
    assert cli_run(["import", str(tmp_path / "net.pkl"), str(tmp_path / "net.pt")]) == 0
    assert not marker.exists()
    G = load_generator(tmp_path / "net.pt")
    z = torch.randn(2, 8)
    torch.testing.assert_close(G(z), nets["G_ema"].eval()(z))
    assert cli_run(["generate", str(tmp_path / "net.pt"), "--seeds", "0-1", "--out",
                    str(tmp_path / "images")]) == 0
    assert len(list((tmp_path / "images").glob("seed*.png"))) == 2


def test_style_mixing_grid_takes_coarse_styles_from_the_columns(tmp_path: Path) -> None:
    run = ganvas.train(outdir=str(tmp_path), kimg=0.008, progress=False, **SG2).run_dir
    assert cli_run(["generate", str(run), "--style-mix", "1,2", "3,4,5", "--mix-layers", "0-3",
                    "--out", str(tmp_path / "mix")]) == 0
    from PIL import Image

    grid = np.asarray(Image.open(tmp_path / "mix" / "style_mix.png"))
    cell = 32 + 2
    assert grid.shape[:2] == (3 * cell + 2, 4 * cell + 2)
    G = load_generator(run)
    from ganvas.explore.stylemix import style_mixing_grid

    image = style_mixing_grid(G, [1, 2], [3, 4, 5], "0-3")
    assert np.array_equal(image.squeeze(), grid.squeeze())
    # a cell differs from both of its parents
    row1, col1, mixed = (image[cell + 2:2 * cell, 2:cell], image[2:cell, cell + 2:2 * cell],
                         image[cell + 2:2 * cell, cell + 2:2 * cell])
    assert not np.array_equal(mixed, row1) and not np.array_equal(mixed, col1)
    assert cli_run(["generate", str(tmp_path / "nothing"), "--style-mix", "1", "2"]) == 2


def test_explicit_stylegan2_options_reach_the_networks(tmp_path: Path) -> None:
    from ganvas.config import resolve
    from ganvas.models import get_family

    cfg = resolve(dict(SG2, conv_clamp=256.0, gamma=3.0, pl_weight=0.0, style_mixing=0.5))
    options = cfg.family
    assert (options.conv_clamp, options.gamma, options.pl_weight,
            options.style_mixing) == (256.0, 3.0, 0.0, 0.5)
    G, D = get_family("stylegan2").build(options, 32, 1)
    assert G.synthesis.b32.conv1.conv_clamp == 256.0
    run = ganvas.train(outdir=str(tmp_path), kimg=0.008, progress=False, **SG2).run_dir
    assert cli_run(["generate", str(run), "--style-mix", "1", "2", "--mix-layers", "0-99",
                    "--out", str(tmp_path / "mix")]) == 2
