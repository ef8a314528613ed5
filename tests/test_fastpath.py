"""The fast path: every penalty and option under bf16 autocast, and how precision is chosen."""

from __future__ import annotations

import pytest
import torch

from ganvas.config import resolve
from ganvas.errors import GanvasError
from ganvas.models import get_family
from ganvas.training.fastpath import FastPath, channels_last, resolve_precision
from tests.helpers import TINY

CASES = {
    "r1": dict(r1=10.0, r1_every=1),
    "dragan": dict(dragan=10.0),
    "wgan-gp": dict(loss="wgan", gp=10.0),
    "hinge-spectral": dict(loss="hinge", d_norm="spectral"),
    "labels+noise": dict(soft_labels=(0.7, 1.2), label_flip=0.1, instance_noise=0.1),
    "diffaugment": dict(diffaugment="color,translation,cutout", r1=1.0, r1_every=1),
    "ada": dict(aug="fixed", p=0.5, r1=1.0, r1_every=1),
}


def d_gradients(options: dict, precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """D's loss (+ R1 when on) and the flattened gradient of D, on a fixed batch and seed."""
    cfg = resolve(dict(TINY, precision=precision, **options))
    torch.manual_seed(0)
    G, D = (channels_last(net) for net in get_family("dcgan").build(cfg.family, 32, 1))
    fast = FastPath(torch.device("cpu"), precision)
    objective = get_family("dcgan").objective(cfg.family, cfg.objective, G, D,
                                              torch.Generator().manual_seed(1),
                                              batch=cfg.optim.batch, autocast=fast.autocast,
                                              device=torch.device("cpu"))
    reals = (torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1)
    loss, _ = objective.discriminator_step(channels_last(reals), 0.0)
    if objective.d_reg_interval:
        loss = loss + objective.discriminator_regularizer(reals, 0.0)[0]
    loss.backward()
    return loss.detach(), torch.cat([p.grad.reshape(-1) for p in D.parameters()
                                     if p.grad is not None])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_penalty_and_option_trains_d_in_bf16(name: str) -> None:
    """bf16 autocast gives a finite loss and gradient (double backward included) that agree with
    fp32's: the loss to a few percent, the gradient's direction closely."""
    loss16, grad16 = d_gradients(CASES[name], "bf16")
    loss32, grad32 = d_gradients(CASES[name], "fp32")
    assert loss16.dtype == torch.float32 and torch.isfinite(loss16)
    assert torch.isfinite(grad16).all() and grad16.abs().sum() > 0
    assert loss16.item() == pytest.approx(loss32.item(), rel=0.05, abs=0.02)
    cosine = torch.nn.functional.cosine_similarity(grad16, grad32, dim=0)
    assert cosine > 0.95, cosine


def test_precision_choice() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) in ("bf16", "fp32")
    assert resolve_precision("fp16", cpu) == "fp16"  # slow on CPUs, but CI tests it there
    with pytest.raises(GanvasError, match="--precision"):
        resolve_precision("fp8", cpu)
    assert FastPath.create("fp32", cpu).make_scaler() is None
    assert FastPath.create("bf16", cpu).optimizer_kwargs() == {"foreach": True}


def test_autocast_runs_convolutions_in_bf16() -> None:
    conv = channels_last(torch.nn.Conv2d(3, 8, 3))
    with FastPath(torch.device("cpu"), "bf16").autocast():
        assert conv(torch.randn(2, 3, 8, 8)).dtype == torch.bfloat16
    with FastPath(torch.device("cpu"), "fp32").autocast():
        assert conv(torch.randn(2, 3, 8, 8)).dtype == torch.float32


def test_sync_bn_on_cpu_processes_is_one_clear_error() -> None:
    from ganvas.training import distributed as dist

    cfg = resolve(dict(TINY))
    G, _ = get_family("dcgan").build(cfg.family, 32, 1)
    assert dist.convert_sync_batchnorm(G, dist.Shard(), torch.device("cpu")) is G  # one process
    with pytest.raises(GanvasError, match="--sync-bn: PyTorch synchronises BatchNorm only on CUDA"):
        dist.convert_sync_batchnorm(G, dist.Shard(0, 2), torch.device("cpu"))
    with pytest.raises(GanvasError, match="--batch: 15 does not split evenly across 2"):
        dist.split_batch(15, dist.Shard(0, 2))


def test_threads_sets_torchs_threads(tmp_path) -> None:
    import ganvas
    from ganvas.training.fastpath import available_cores
    from tests.helpers import TINY

    before = torch.get_num_threads()
    try:
        run = ganvas.train(outdir=str(tmp_path), kimg=0.016, threads=1, progress=False,
                           **TINY).run_dir
        assert torch.get_num_threads() == 1
        assert ", 1 threads" in (run / "log.txt").read_text()
        ganvas.train(outdir=str(tmp_path), kimg=0.016, progress=False, **TINY)
        assert torch.get_num_threads() == available_cores()
    finally:
        torch.set_num_threads(before)
