"""The training loop end to end: the loss by hand, exact resume, deterministic generation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import ganvas
from ganvas.config import flatten, resolve
from ganvas.models import get_family
from ganvas.training.tensorboard import scalar_tag
from ganvas.explore.generate import generate
from ganvas.render import generate_images, load_generator
from tests.helpers import TINY, cli_args, losses_by_step, objective_of


def test_discriminator_and_generator_loss_by_hand() -> None:
    """Non-saturating BCE: D: -log s(D(x)) - log(1 - s(D(G(z)))); G: -log s(D(G(z)))."""
    cfg = resolve(dict(TINY))
    G, D = get_family("dcgan").build(cfg.family, 32, 1)
    G.eval(), D.eval()  # fixed BatchNorm statistics make the hand computation exact
    reals = torch.rand(4, 1, 32, 32) * 2 - 1
    rng = torch.Generator().manual_seed(5)
    loss_d, stats = objective_of(cfg, G, D, rng).discriminator_step(reals, 0.0)
    z = torch.randn(4, cfg.family.z_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        real = D(reals).double().numpy()
        fake = D(G(z)).double().numpy()
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    expected = -np.log(sigmoid(real)).mean() - np.log(1 - sigmoid(fake)).mean()
    assert loss_d.item() == pytest.approx(expected, rel=1e-5)
    assert stats["D_real"].item() == pytest.approx(sigmoid(real).mean(), rel=1e-5)
    assert stats["D_fake"].item() == pytest.approx(sigmoid(fake).mean(), rel=1e-5)
    expected_acc = ((real > 0).mean() + (fake < 0).mean()) / 2
    assert stats["D_accuracy"].item() == pytest.approx(expected_acc)

    rng = torch.Generator().manual_seed(9)
    loss_g, _ = objective_of(cfg, G, D, rng).generator_step(4, torch.device("cpu"), 0.0)
    z = torch.randn(4, cfg.family.z_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        fake = D(G(z)).double().numpy()
    assert loss_g.item() == pytest.approx(-np.log(sigmoid(fake)).mean(), rel=1e-5)


def test_run_folder_contents(tmp_path: Path) -> None:
    result = ganvas.train(outdir=str(tmp_path), kimg=0.048, progress=False, **TINY)
    run = result.run_dir
    assert run.name == "00000-mnist-test-dcgan32"
    for name in ("config.json", "log.txt", "stats.jsonl", "reals.png", "fakes_000000.png",
                 "plots/losses.png", "plots/scores.png", "checkpoints/latest.pt"):
        assert (run / name).is_file(), name
    config = flatten(json.loads((run / "config.json").read_text()))
    assert config["batch"] == 16 and config["resolution"] == 32
    records = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    for key in ("loss_D", "loss_G", "D_real", "D_fake", "D_accuracy", "kimg", "img_per_s"):
        assert all(math.isfinite(r[key]) for r in records), key
    second = ganvas.train(outdir=str(tmp_path), kimg=0.016, progress=False, **TINY)
    assert second.run_dir.name.startswith("00001-")
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert state["progress"]["step"] == 3 and state["progress"]["nimg"] == 48


def test_resume_continues_exactly(tmp_path: Path) -> None:
    """A run stopped after 3 steps and resumed to 6 logs the same losses as one run of 6."""
    options = dict(TINY, mirror=True, ema_kimg=0.01, d_dropout=0.2, diffaugment="color,cutout")
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.096, progress=False, **options)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.048, progress=False, **options)
    resumed = ganvas.train(resume=part.run_dir, kimg=0.096, progress=False)
    assert resumed.run_dir == part.run_dir
    expected, got = losses_by_step(whole.run_dir), losses_by_step(part.run_dir)
    assert [s for s, *_ in got] == [1, 2, 3, 4, 5, 6]
    assert got == expected
    a = torch.load(whole.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(part.run_dir / "checkpoints/latest.pt", weights_only=True)
    for key in a["G_ema"]:
        assert torch.equal(a["G_ema"][key], b["G_ema"][key]), key


def test_resume_refuses_to_change_the_model(tmp_path: Path) -> None:
    part = ganvas.train(outdir=str(tmp_path), kimg=0.016, progress=False, **TINY)
    with pytest.raises(ganvas.errors.GanvasError, match="--lr-d cannot change"):
        ganvas.train(resume=part.run_dir, lr_d=0.1, progress=False)


def test_generation_is_deterministic(tmp_path: Path) -> None:
    run = ganvas.train(outdir=str(tmp_path), kimg=0.032, progress=False, **TINY).run_dir
    first = generate(run, [600, 601, 602], tmp_path / "one")
    second = generate(run, [602], tmp_path / "two")
    assert [p.name for p in first] == ["seed0600.png", "seed0601.png", "seed0602.png"]
    assert first[2].read_bytes() == second[0].read_bytes()
    again = generate(run, [600, 601, 602], tmp_path / "three")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    G = load_generator(run)
    images = generate_images(G, [600, 601])
    assert images.shape == (2, 1, 32, 32) and images.dtype == np.uint8
    assert not np.array_equal(images[0], images[1])
    grid = generate(run, [0, 1, 2, 3], tmp_path / "grid", grid=True)
    assert [p.name for p in grid] == ["grid.png"]


def test_checkpoint_loads_without_ganvas_classes(tmp_path: Path) -> None:
    run = ganvas.train(outdir=str(tmp_path), kimg=0.016, progress=False, **TINY).run_dir
    state = torch.load(run / "checkpoints/latest.pt", weights_only=True)
    assert state["format"] == "ganvas-checkpoint"
    assert set(state) >= {"G", "D", "opt_G", "opt_D", "config", "rng", "progress", "loader"}
    G = ganvas.load_generator(run)
    assert G(torch.randn(2, G.z_dim)).shape == (2, 1, 32, 32)


def test_ctrl_c_saves_and_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    """SIGINT mid-run: checkpoint saved, exit 130, and resuming gives the uninterrupted losses."""
    import os
    import signal
    import subprocess
    import sys
    import time

    options = dict(TINY, kimg=1.6)  # 100 steps
    args = [sys.executable, "-m", "ganvas", "train", *cli_args(options), "--no-progress",
            "--outdir", str(tmp_path / "b")]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    stats_file = None
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "b").glob("*/stats.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 3:
            stats_file = found[0]
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    output, _ = proc.communicate(timeout=120)
    assert stats_file is not None, output
    assert proc.returncode == 130, output
    assert "interrupted" in output and "--resume" in output
    run = stats_file.parent
    state = torch.load(run / "checkpoints/latest.pt", weights_only=True)
    stopped_at = state["progress"]["step"]
    assert 3 <= stopped_at < 100
    assert losses_by_step(run)[-1][0] == stopped_at

    ganvas.train(resume=run, progress=False)
    whole = ganvas.train(outdir=str(tmp_path / "a"), progress=False, **options)
    assert losses_by_step(run) == losses_by_step(whole.run_dir)


def test_run_ends_with_its_report_and_tensorboard_events(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    options = dict(TINY, report=True, tensorboard=True, snapshot_kimg=0.032)
    run = ganvas.train(outdir=str(tmp_path), kimg=0.064, progress=False, **options).run_dir
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and run.name in page
    events = EventAccumulator(str(run)).Reload()
    losses = [e.value for e in events.Scalars(scalar_tag("loss_D"))]
    assert losses == pytest.approx([r[1] for r in losses_by_step(run)])
    assert len(events.Images("samples/fixed_noise")) == 2  # snapshots at 32 and 64 images
