"""Training techniques wired through the loop: presets, decay, schedules, divergence watch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import ganvas
from ganvas.objective import losses
from ganvas.config import resolve
from ganvas.models import get_family
from ganvas.presets import PRESETS
from ganvas.training.optim import make_optimizer
from ganvas.training.watch import DivergenceWatch
from tests.helpers import TINY, objective_of


def stats(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_resolves_and_trains(preset: str, tmp_path: Path) -> None:
    cfg = resolve(preset=preset)
    for key, value in PRESETS[preset].items():
        assert cfg.flat()[key] == value, key
    small = {k: v for k, v in TINY.items() if k != "z_dim"}
    result = ganvas.train(preset=preset, outdir=str(tmp_path), kimg=0.032, progress=False,
                          **small)
    records = stats(result.run_dir)
    assert len(records) == 2 and all(math.isfinite(r["loss_D"]) for r in records)
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["preset"] == preset and saved["data"]["resolution"] == 32


def test_spectral_norm_bounds_top_singular_value() -> None:
    cfg = resolve(dict(TINY, d_norm="spectral"))
    _, D = get_family("dcgan").build(cfg.family, 32, 1)
    D.train()
    for _ in range(30):  # power iterations run on each forward in train mode
        D(torch.randn(4, 1, 32, 32))
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().reshape(m.weight.shape[0], -1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.02)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())


def test_weight_decay_touches_conv_weights_not_normalisation() -> None:
    cfg = resolve(dict(TINY, optimizer="sgd", betas=(0.0, 0.999), weight_decay=0.5))
    G, _ = get_family("dcgan").build(cfg.family, 32, 1)
    opt = make_optimizer(cfg.optim, G, lr=0.1)
    before = {n: p.detach().clone() for n, p in G.named_parameters()}
    opt.zero_grad()
    (0.0 * G(torch.randn(2, cfg.family.z_dim)).sum()).backward()  # zero adversarial gradient
    opt.step()
    for name, p in G.named_parameters():
        is_norm = isinstance(G.get_submodule(name.rsplit(".", 1)[0]), nn.BatchNorm2d)
        expected = before[name] if is_norm else before[name] * (1 - 0.1 * 0.5)
        assert torch.allclose(p.detach(), expected, atol=1e-7), name


def test_instance_noise_is_annealed_in_what_d_sees() -> None:
    cfg = resolve(dict(TINY, instance_noise=0.4))
    G, D = get_family("dcgan").build(cfg.family, 32, 1)
    objective = objective_of(cfg, G, D, torch.Generator().manual_seed(0))
    x = torch.zeros(64, 1, 32, 32)
    assert objective.d_view(x, 0.0).std().item() == pytest.approx(0.4, rel=0.02)
    assert objective.d_view(x, 0.75).std().item() == pytest.approx(0.1, rel=0.02)
    assert torch.equal(objective.d_view(x, 1.0), x)


def test_penalties_and_tricks_appear_in_the_loss(tmp_path: Path) -> None:
    """DRAGAN, WGAN-GP and kernel L2 are added to D's objective with their weights."""
    cfg = resolve(dict(TINY, dragan=10.0, gp=5.0, kernel_l2=1e-3))
    G, D = get_family("dcgan").build(cfg.family, 32, 1)
    G.eval(), D.eval()
    reals = torch.rand(4, 1, 32, 32) * 2 - 1
    total, parts = objective_of(cfg, G, D, torch.Generator().manual_seed(1)) \
        .discriminator_step(reals, 0.0)
    expected = (parts["loss_D"] + 10.0 * parts["penalty_dragan"] + 5.0 * parts["penalty_gp"]
                + 1e-3 * losses.kernel_l2(D))
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)


def test_linear_lr_decay_and_d_steps(tmp_path: Path) -> None:
    result = ganvas.train(outdir=str(tmp_path), kimg=0.128, lr_decay="linear", d_steps=2,
                          progress=False, **TINY)
    records = stats(result.run_dir)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert result.progress.nimg == 4 * 2 * 16
    # The lr of step i is set before it runs, from the fraction done: (i - 1) / 4.
    assert [r["lr_G"] for r in records] == pytest.approx([2e-4 * (1 - i / 4) for i in range(4)])
    assert [r["lr_D"] for r in records] == pytest.approx([2e-4 * (1 - i / 4) for i in range(4)])


def test_watch_warns_once_when_discriminator_wins() -> None:
    watch = DivergenceWatch(patience=3)
    won = {"loss_D": 0.01, "loss_G": 7.0, "D_fake": 0.01, "D_accuracy": 0.999}
    fine = {"loss_D": 1.2, "loss_G": 0.9, "D_fake": 0.4, "D_accuracy": 0.6}
    messages = [watch.observe(m).message for m in (won, won, fine, won, won, won, won, won)]
    assert [m is not None for m in messages] == [False] * 5 + [True, False, False]
    assert "discriminator has won" in messages[5] and "--lr-d" in messages[5]
    assert watch.observe({"loss_D": float("inf")}).stop


@pytest.mark.parametrize("name, kind", [("rmsprop", torch.optim.RMSprop),
                                        ("sgd", torch.optim.SGD), ("adam", torch.optim.Adam)])
def test_optimizer_choice(name: str, kind: type) -> None:
    cfg = resolve(dict(TINY, optimizer=name, lr_d=3e-4))
    _, D = get_family("dcgan").build(cfg.family, 32, 1)
    opt = make_optimizer(cfg.optim, D, cfg.optim.lr_d)
    assert isinstance(opt, kind) and opt.param_groups[0]["lr"] == 3e-4
