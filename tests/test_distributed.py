"""torchrun with 2 CPU processes (gloo) trains the same weights as one process on the same batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganvas
from tests.helpers import TINY, cli_args

# No BatchNorm: per-rank batch statistics would differ from the global batch's by design.
OPTIONS = dict(TINY, g_norm="none", d_norm="none", precision="fp32", batch=16, kimg=0.064,
               r1=0.5, r1_every=2)


def losses(run_dir: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    return [(r["loss_D"], r["loss_G"]) for r in rows]


@pytest.mark.parametrize("cond", [False, True])
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path: Path,
                                                                    cond: bool) -> None:
    options = dict(OPTIONS, cond=True) if cond else OPTIONS  # --cond: classes per rank too
    single = ganvas.train(outdir=str(tmp_path / "one"), progress=False, **options)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "ganvas", "train", *cli_args(options),
               "--no-progress", "--outdir", str(tmp_path / "two")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = list((tmp_path / "two").iterdir())
    assert len(runs) == 1, runs  # only rank 0 writes a run folder
    a = torch.load(single.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(runs[0] / "checkpoints/latest.pt", weights_only=True)
    for net in ("G", "D"):
        for key in a[net]:
            torch.testing.assert_close(b[net][key], a[net][key], rtol=1e-4, atol=1e-5,
                                       msg=f"{net}.{key}")
    for (d1, g1), (d2, g2) in zip(losses(single.run_dir), losses(runs[0])):
        assert d2 == pytest.approx(d1, rel=1e-4) and g2 == pytest.approx(g1, rel=1e-4)
    assert "2 processes" in (runs[0] / "log.txt").read_text()


def test_no_rank_draws_its_per_sample_noise_from_the_latent_stream() -> None:
    """Rank 0's per-sample stream had the latents' seed: its augmentation repeated z's numbers."""
    from ganvas.training.distributed import Shard, random_streams

    device = torch.device("cpu")
    rng, z_rng = random_streams(7, Shard(), device)
    assert rng is z_rng  # one process: one stream, as before
    draws = []
    for rank in range(3):
        rng, z_rng = random_streams(7, Shard(rank, 3), device)
        draws.append(torch.randn(8, generator=rng))
        latents = torch.randn(8, generator=z_rng)
        assert not torch.equal(draws[-1], latents), rank
        assert torch.equal(latents, torch.randn(8, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(draws[0], draws[1]) and not torch.equal(draws[1], draws[2])
