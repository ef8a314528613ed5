"""R3GAN's objective on any model: the relativistic pairing loss (--loss rpgan) with R1 + R2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganvas.config import flatten, resolve
from ganvas.errors import GanvasError
from ganvas.models import get_family
from ganvas.objective.adversarial import score_stats
from tests.helpers import TINY, cli_args, objective_of


def tiny_pair(**options):
    cfg = resolve(dict(TINY, **options))
    G, D = get_family("dcgan").build(cfg.family, 32, 1)
    return cfg, G.eval(), D.eval()


def test_generator_step_pairs_fakes_with_the_real_batch() -> None:
    cfg, G, D = tiny_pair(loss="rpgan", d_norm="none")
    reals = torch.rand(8, 1, 32, 32) * 2 - 1
    loss, _ = objective_of(cfg, G, D, torch.Generator().manual_seed(3)) \
        .generator_step(8, torch.device("cpu"), 0.0, reals)
    z = torch.randn(8, cfg.family.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = F.softplus(D(reals).reshape(-1) - D(G(z)).reshape(-1)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_r2_penalises_d_gradients_at_fresh_fakes_with_r1s_lazy_weighting() -> None:
    cfg, G, D = tiny_pair(r1=0.0, r2=3.0, r1_every=4, d_norm="none")
    objective = objective_of(cfg, G, D, torch.Generator().manual_seed(5))
    assert objective.d_reg_interval == 4  # R2 alone turns the lazy regulariser on
    reals = torch.rand(6, 1, 32, 32) * 2 - 1
    loss, parts = objective.discriminator_regularizer(reals, 0.0)
    assert set(parts) == {"penalty_r2"}
    with torch.no_grad():
        fakes = G(torch.randn(6, cfg.family.z_dim, generator=torch.Generator().manual_seed(5)))
    x = fakes.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x)
    r2 = grad.square().sum(dim=(1, 2, 3)).mean()
    assert parts["penalty_r2"].item() == pytest.approx(r2.item(), rel=1e-4)
    assert loss.item() == pytest.approx(3.0 / 2 * 4 * r2.item(), rel=1e-4)


def test_r1_and_r2_add_up() -> None:
    cfg, G, D = tiny_pair(r1=2.0, r2=3.0, r1_every=1, d_norm="none")
    reals = torch.rand(6, 1, 32, 32) * 2 - 1
    loss, parts = objective_of(cfg, G, D, torch.Generator().manual_seed(5)) \
        .discriminator_regularizer(reals, 0.0)
    expected = 2.0 / 2 * parts["penalty_r1"] + 3.0 / 2 * parts["penalty_r2"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_label_tricks_and_ada_are_refused_with_rpgan() -> None:
    with pytest.raises(GanvasError, match="--label-smoothing: --loss rpgan has no labels"):
        resolve(dict(TINY, loss="rpgan", label_smoothing=0.1))
    with pytest.raises(GanvasError, match="--aug ada: .* --loss rpgan"):
        resolve(dict(TINY, loss="rpgan", aug="ada"))
    resolve(dict(TINY, loss="rpgan", aug="fixed", p=0.2))


def test_train_with_the_r3gan_objective_from_the_command_line(tmp_path: Path) -> None:
    options = dict(TINY, loss="rpgan", r1=0.2, r2=0.2, r1_every=2, d_norm="none", kimg=0.064)
    done = subprocess.run([sys.executable, "-m", "ganvas", "train", *cli_args(options),
                           "--outdir", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (run_dir,) = tmp_path.iterdir()
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [("penalty_r2" in r) for r in rows] == [True, False, True, False]
    assert all(torch.isfinite(torch.tensor([r["loss_D"], r["loss_G"]])).all() for r in rows)
    config = flatten(json.loads((run_dir / "config.json").read_text()))
    assert config["loss"] == "rpgan" and config["r2"] == 0.2


def test_accuracy_under_rpgan_counts_pairs_won() -> None:
    # Both logits positive: as absolute scores half would be "wrong"; paired, D wins 2 of 3.
    real, fake = torch.tensor([3.0, 2.0, 1.0]), torch.tensor([1.0, 1.0, 2.0])
    assert score_stats(real, fake)["D_accuracy"].item() == pytest.approx(0.5)
    assert score_stats(real, fake, paired=True)["D_accuracy"].item() == pytest.approx(2 / 3)
