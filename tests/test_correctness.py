"""Defects that silently hurt training, each pinned by a test that fails on the old behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ganvas
from ganvas.objective import augment, losses
from ganvas.config import resolve
from ganvas.data import ImageSet
from ganvas.errors import GanvasError
from ganvas.models import get_family
from ganvas.training import loop as loop_mod
from ganvas.training.ema import ema_beta, make_ema, refresh_batchnorm, update_ema
from ganvas.training.metrics_hook import TrainingMetrics
from ganvas.training.optim import lazy_correction, make_optimizer
from tests.helpers import TINY, objective_of


def tiny_pair(**options):
    cfg = resolve(dict(TINY, **options))
    G, D = get_family("dcgan").build(cfg.family, 32, 1)
    return cfg, G, D


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


# --- G_ema and its BatchNorm statistics -------------------------------------------------------

def test_ema_samples_with_its_own_batchnorm_statistics() -> None:
    """After G moved far from G_ema, G_ema's eval outputs match its own batch statistics."""
    cfg, G, _ = tiny_pair()
    G_ema = make_ema(G)
    with torch.no_grad():
        for p in G.parameters():
            p.mul_(3.0).add_(0.05)
    G.train()
    for _ in range(50):  # G's running statistics now describe G's (scaled) weights
        G(torch.randn(64, cfg.family.z_dim))
    update_ema(G_ema, G, batch=16, g_nimg=10_000, ema_kimg=1000.0, rampup=0.0)
    refresh_batchnorm(G_ema, batch=256, seed=1)
    z = torch.randn(512, cfg.family.z_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        G_ema.eval()
        eval_out = G_ema(z)
        G_ema.train()
        batch_out = G_ema(z)
    G_ema.eval()
    error = (eval_out - batch_out).abs().mean() / batch_out.abs().mean()
    assert error < 0.05


def test_ema_with_half_life_zero_reproduces_g_exactly() -> None:
    cfg, G, _ = tiny_pair()
    G_ema = make_ema(G)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    update_ema(G_ema, G, batch=16, g_nimg=160, ema_kimg=0.0, rampup=0.0)
    for (name, a), b in zip(G_ema.named_parameters(), G.parameters()):
        assert torch.equal(a, b), name
    z = torch.randn(8, cfg.family.z_dim)
    G.train(), G_ema.train()
    with torch.no_grad():
        assert torch.equal(G_ema(z), G(z))


def test_update_ema_by_hand() -> None:
    _, G, _ = tiny_pair()
    G_ema = make_ema(G)
    before = [p.detach().clone() for p in G_ema.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    update_ema(G_ema, G, batch=16, g_nimg=1000, ema_kimg=10.0, rampup=0.05)
    beta = 0.5 ** (16 / 50)  # ramp-up: half-life min(10,000, 0.05 * 1,000) = 50 images
    assert ema_beta(16, 1000, 10.0, 0.05) == pytest.approx(beta)
    for old, new, g in zip(before, G_ema.parameters(), G.parameters()):
        torch.testing.assert_close(new, beta * old + (1 - beta) * g)


def test_ema_rampup_counts_generator_images(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = loop_mod.update_ema
    monkeypatch.setattr(loop_mod, "update_ema",
                        lambda ema, G, batch, n, *a: seen.append(n) or real(ema, G, batch, n, *a))
    ganvas.train(outdir=str(tmp_path), kimg=0.128, d_steps=2, ema_kimg=1.0, progress=False,
                 **TINY)
    assert seen == [16 * step for step in range(1, 5)]  # not 2 × that (D's images)


# --- non-finite weights are never checkpointed ------------------------------------------------

def test_nan_between_log_steps_is_not_checkpointed(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs every 4 steps, snapshots every step; G turns NaN in step 6 (not a log step)."""
    calls = {"n": 0}
    real = loop_mod.optimizer_step

    def poisoning_step(opt, net, loss, scaler, shard):
        real(opt, net, loss, scaler, shard)
        if net.__class__.__name__ == "Generator":
            calls["n"] += 1
            if calls["n"] == 6:
                with torch.no_grad():
                    next(net.parameters()).fill_(float("nan"))

    monkeypatch.setattr(loop_mod, "optimizer_step", poisoning_step)
    options = dict(TINY, log_every=4, snapshot_kimg=0.016)
    result = ganvas.train(outdir=str(tmp_path), kimg=0.16, progress=False, **options)
    assert result.stopped == "diverged" and result.progress.step == 6
    state = torch.load(result.run_dir / "checkpoints/latest.pt", weights_only=True)
    assert state["progress"]["step"] == 5
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
    assert "NaN" in (result.run_dir / "log.txt").read_text()


def test_a_non_finite_fid_is_never_best(tmp_path: Path) -> None:
    cfg = resolve(dict(TINY, metrics="fid"))
    data = ImageSet("zeros", np.zeros((4, 1, 32, 32), np.uint8))
    metrics = TrainingMetrics(cfg, data, tmp_path, "cpu")
    assert not metrics.is_best({"fid": float("nan")})
    assert metrics.is_best({"fid": 12.0}) and not metrics.is_best({"fid": float("inf")})


# --- the in-training FID reference ------------------------------------------------------------

def test_fid_reference_is_a_fixed_random_subset(tmp_path: Path) -> None:
    """Class-sorted data (first half 0s, second half 255s): the first N would be all 0s."""
    images = np.concatenate([np.zeros((500, 1, 8, 8), np.uint8),
                             np.full((500, 1, 8, 8), 255, np.uint8)])
    data = ImageSet("sorted", images)
    cfg = resolve(dict(TINY, metrics="fid", metric_n=200))
    first = TrainingMetrics(cfg, data, tmp_path, "cpu").reference()
    again = TrainingMetrics(cfg, data, tmp_path, "cpu").reference()  # e.g. after resume
    bright = (first.images[:, 0, 0, 0] == 255).mean()
    assert len(first.images) == 200 and 0.35 < bright < 0.65
    assert np.array_equal(first.images, again.images)
    assert "random subset (seed 0)" in first.description


# --- resume on another device -----------------------------------------------------------------

def test_resume_with_an_equivalent_device_name_continues_exactly(tmp_path: Path) -> None:
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.064, progress=False, **TINY)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.032, progress=False, **TINY)
    ganvas.train(resume=part.run_dir, kimg=0.064, device="cpu:0", progress=False)
    assert [r["loss_D"] for r in records(part.run_dir)] == \
        [r["loss_D"] for r in records(whole.run_dir)]


def test_resume_of_a_checkpoint_from_another_device_type_continues(tmp_path: Path) -> None:
    part = ganvas.train(outdir=str(tmp_path), kimg=0.032, progress=False, **TINY)
    path = part.run_dir / "checkpoints/latest.pt"
    state = torch.load(path, weights_only=True)
    state["rng"]["device"] = "cuda"  # as written on a GPU: a 16-byte Philox state
    state["rng"]["loop"] = state["rng"]["ranks"][0] = torch.zeros(16, dtype=torch.uint8)
    torch.save(state, path)
    result = ganvas.train(resume=part.run_dir, kimg=0.064, progress=False)
    assert result.progress.step == 4
    assert "not bit-exactly" in (part.run_dir / "log.txt").read_text()


def test_a_random_state_that_does_not_fit_is_one_clear_error(tmp_path: Path) -> None:
    part = ganvas.train(outdir=str(tmp_path), kimg=0.032, progress=False, **TINY)
    path = part.run_dir / "checkpoints/latest.pt"
    state = torch.load(path, weights_only=True)
    state["rng"]["ranks"][0] = torch.zeros(7, dtype=torch.uint8)
    torch.save(state, path)
    with pytest.raises(GanvasError, match="random state does not fit"):
        ganvas.train(resume=part.run_dir, kimg=0.064, progress=False)


# --- penalties and their options --------------------------------------------------------------

def test_dragan_c_sets_the_gaussian_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """--dragan-c 0.05 with gaussian noise: perturbations of variance 0.05 (std 0.224), not 10."""
    cfg, G, D = tiny_pair(dragan=10.0, dragan_noise="gaussian", dragan_c=0.05)
    points = []
    real = losses._input_gradients
    monkeypatch.setattr(losses, "_input_gradients",
                        lambda D_, x: points.append(x.detach()) or real(D_, x))
    reals = torch.rand(16, 1, 32, 32) * 2 - 1
    objective_of(cfg, G, D, torch.Generator().manual_seed(3)).discriminator_step(reals,
                                                                                         0.0)
    (perturbed,) = points
    assert (perturbed - reals).std().item() == pytest.approx(0.05 ** 0.5, rel=0.03)


def test_r1_is_taken_through_what_d_sees_and_weighted_lazily() -> None:
    """With DiffAugment, R1 differentiates D∘augment at the reals, times (γ/2)·interval."""
    cfg, _, D = tiny_pair(r1=10.0, r1_every=4, diffaugment="translation,cutout")
    G = get_family("dcgan").build(cfg.family, 32, 1)[0]
    D.eval()
    reals = torch.rand(6, 1, 32, 32) * 2 - 1
    objective = objective_of(cfg, G, D, torch.Generator().manual_seed(4))
    loss, parts = objective.discriminator_regularizer(reals, 0.0)
    x = reals.clone().requires_grad_(True)
    seen = augment.diff_augment(x, ("translation", "cutout"),
                                generator=torch.Generator().manual_seed(4))
    (grad,) = torch.autograd.grad(D(seen).sum(), x)
    r1 = grad.square().sum(dim=(1, 2, 3)).mean()
    assert parts["penalty_r1"].item() == pytest.approx(r1.item(), rel=1e-4)
    assert loss.item() == pytest.approx(10.0 / 2 * 4 * r1.item(), rel=1e-4)
    raw = losses.r1_penalty(D, reals)
    assert abs(raw.item() - r1.item()) > 1e-3 * abs(r1.item())  # not the raw reals' R1


def test_lazy_r1_runs_every_interval_with_the_optimizer_correction(tmp_path: Path) -> None:
    lr, betas = lazy_correction(2e-4, (0.5, 0.999), 4)
    assert lr == pytest.approx(2e-4 * 4 / 5)
    assert betas == pytest.approx((0.5 ** 0.8, 0.999 ** 0.8))
    cfg, _, D = tiny_pair(r1=1.0, r1_every=4)
    opt = make_optimizer(cfg.optim, D, 2e-4, reg_interval=4)
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.8)
    result = ganvas.train(outdir=str(tmp_path), kimg=0.096, r1=1.0, r1_every=4,
                          progress=False, **TINY)
    rows = records(result.run_dir)
    assert [("penalty_r1" in r) for r in rows] == [True, False, False, False, True, False]
    assert rows[0]["lr_D"] == pytest.approx(2e-4 * 0.8) and rows[0]["lr_G"] == 2e-4


# --- label tricks, losses and what D sees in the G step ---------------------------------------

def test_label_tricks_reach_the_loss() -> None:
    cfg, G, D = tiny_pair(soft_labels=(0.7, 1.2), label_flip=0.2)
    G.eval(), D.eval()
    with torch.no_grad():  # confident logits, so that the targets matter
        D.head[0].weight.mul_(300.0)
    reals = torch.rand(8, 1, 32, 32) * 2 - 1
    loss, _ = objective_of(cfg, G, D, torch.Generator().manual_seed(6)) \
        .discriminator_step(reals, 0.0)
    rng = torch.Generator().manual_seed(6)
    z = torch.randn(8, cfg.family.z_dim, generator=rng)
    with torch.no_grad():
        real_logits, fake_logits = D(reals), D(G(z))
    real_t, fake_t = losses.discriminator_targets(8, soft_labels=(0.7, 1.2), label_flip=0.2,
                                                  generator=rng)
    expected = losses.discriminator_loss("bce", real_logits, fake_logits, real_t, fake_t)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    plain = losses.discriminator_loss("bce", real_logits, fake_logits)
    assert abs(plain.item() - expected.item()) > 1e-4


def test_generator_step_shows_d_augmented_fakes() -> None:
    cfg, G, D = tiny_pair(diffaugment="cutout")
    seen = []
    D.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    objective_of(cfg, G, D, torch.Generator().manual_seed(0)) \
        .generator_step(8, torch.device("cpu"), 0.0)
    (images,) = seen
    zero_squares = (images == 0).flatten(1).sum(1)
    assert (zero_squares >= 8 * 8).all()  # at least a quarter of a 16×16 square, at a corner


@pytest.mark.parametrize("options, message", [
    (dict(soft_labels=(0.7, 1.2)), None),
    (dict(soft_labels=(0.9, 1.2)), "mean of at most 1"),
    (dict(loss="hinge", label_smoothing=0.1), "--label-smoothing: --loss hinge has no labels"),
    (dict(loss="wgan", label_flip=0.1, gp=10.0), "--label-flip: --loss wgan has no labels"),
    (dict(loss="wgan"), "unconstrained"),
    (dict(loss="wgan", gp=10.0), None),
    (dict(loss="wgan", d_norm="spectral"), None),
])
def test_option_combinations(options: dict, message: str | None) -> None:
    if message is None:
        resolve(options)
    else:
        with pytest.raises(GanvasError, match=message):
            resolve(options)


def test_ema_of_a_sync_batchnorm_generator_refreshes_without_a_process_group() -> None:
    """--sync-bn: G_ema was copied after the conversion, and its BatchNorm refresh (rank 0
    alone) ran a collective with no partner. G_ema now has plain BatchNorm."""
    _, G, _ = tiny_pair()
    G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(G)
    G_ema = make_ema(G)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in G_ema.modules())
    update_ema(G_ema, G, batch=16, g_nimg=1000, ema_kimg=1.0, rampup=0.0)
    refresh_batchnorm(G_ema, batch=16, seed=0)
    assert [n for n, _ in G_ema.named_parameters()] == [n for n, _ in G.named_parameters()]
