"""fp16 with its GradScaler, on the CPU so that CI runs it: an overflow skips the step and halves
the scale (also under a 2-process torchrun), penalties agree with fp32, and resume is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganvas
from ganvas.objective import losses
from ganvas.config import resolve
from ganvas.models import get_family
from ganvas.training.distributed import Shard
from ganvas.training.fastpath import FastPath
from ganvas.training.loop import optimizer_step
from tests.helpers import TINY, losses_by_step

ROOT = Path(__file__).resolve().parents[1]


def test_an_overflow_skips_the_step_and_halves_the_scale() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 1)
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    scaler = FastPath.create("fp16", torch.device("cpu")).make_scaler()
    assert scaler is not None
    optimizer_step(opt, net, net(torch.ones(2, 4)).sum() * 1e36, scaler, Shard())
    assert scaler.get_scale() == 65536.0 / 2
    assert all(torch.equal(a, p) for a, p in zip(before, net.parameters()))
    optimizer_step(opt, net, net(torch.ones(2, 4)).sum(), scaler, Shard())  # an ordinary step
    assert not all(torch.equal(a, p) for a, p in zip(before, net.parameters()))
    assert all(bool(p.isfinite().all()) for p in net.parameters())


def test_an_overflow_on_one_rank_skips_the_step_on_every_rank(tmp_path: Path) -> None:
    """Before the fix the averaged gradients went through nan_to_num: the scaler never saw the
    inf, both ranks stepped with float32's maximum as a gradient and kept their scale."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(ROOT / "tests" / "fp16_overflow_worker.py"),
               str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for rank in (0, 1):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result["scale_after"] == result["scale_before"] / 2, (rank, result)
        assert not result["moved"] and result["finite"], (rank, result)


@pytest.mark.parametrize("penalty", ["r1", "gp", "dragan"])
def test_penalties_in_fp16_match_fp32(penalty: str) -> None:
    cfg = resolve(dict(TINY, g_norm="none", d_norm="none"))
    _, D = get_family("dcgan").build(cfg.family, 32, 1)
    reals = torch.rand(8, 1, 32, 32) * 2 - 1
    fakes = torch.rand(8, 1, 32, 32) * 2 - 1
    values = {}
    for precision in ("fp32", "fp16"):
        fast = FastPath.create(precision, torch.device("cpu"))

        def viewed(x: torch.Tensor) -> torch.Tensor:
            with fast.penalty_autocast():
                return D(x).float()
        rng = torch.Generator().manual_seed(3)
        if penalty == "r1":
            values[precision] = losses.r1_penalty(viewed, reals)
        elif penalty == "gp":
            values[precision] = losses.wgan_gp_penalty(viewed, reals, fakes, generator=rng)
        else:
            values[precision] = losses.dragan_penalty(viewed, reals, generator=rng)
    torch.testing.assert_close(values["fp16"], values["fp32"], rtol=1e-3, atol=1e-6)


def test_the_scale_is_checkpointed(tmp_path: Path) -> None:
    options = dict(TINY, precision="fp16", kimg=0.032)
    result = ganvas.train(outdir=str(tmp_path), progress=False, **options)
    state = torch.load(result.run_dir / "checkpoints/latest.pt", weights_only=True)
    assert set(state["scalers"]) == {"G", "D"}
    assert state["scalers"]["D"]["scale"] > 0
    # A resumed run starts from the saved scale, not from a fresh scaler's 65536.
    state["scalers"]["D"]["scale"] = 1024.0
    state["scalers"]["G"]["scale"] = 512.0
    torch.save(state, result.run_dir / "checkpoints/latest.pt")
    from ganvas.training import loop as loop_mod

    seen = {}
    original = loop_mod.optimizer_step

    def spy(opt, net, loss, scaler, shard):  # type: ignore[no-untyped-def]
        seen.setdefault(id(scaler), scaler.get_scale())
        return original(opt, net, loss, scaler, shard)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop_mod, "optimizer_step", spy)
        ganvas.train(resume=result.run_dir, kimg=0.048, progress=False)
    assert sorted(seen.values()) == [512.0, 1024.0]


def test_fp16_resume_is_exact(tmp_path: Path) -> None:
    options = dict(TINY, precision="fp16", r1=0.1, r1_every=2)
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.096, progress=False, **options)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.048, progress=False, **options)
    ganvas.train(resume=part.run_dir, kimg=0.096, progress=False)
    assert losses_by_step(part.run_dir) == losses_by_step(whole.run_dir)
    a = torch.load(whole.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(part.run_dir / "checkpoints/latest.pt", weights_only=True)
    for key in a["G"]:
        assert torch.equal(a["G"][key], b["G"][key]), key
