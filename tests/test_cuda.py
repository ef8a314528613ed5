"""On a CUDA GPU: training in each precision, an exact-enough resume, and rendering that agrees
with the CPU. Skipped without CUDA (``bench/gpu_check.sh`` runs them on a GPU machine)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganvas
from tests.helpers import SG2, TINY, cli

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("family", ["dcgan", "stylegan2"])
def test_trains_on_cuda(tmp_path: Path, family: str, precision: str) -> None:
    options = dict(TINY if family == "dcgan" else SG2, precision=precision, device="cuda")
    result = ganvas.train(outdir=str(tmp_path), kimg=0.064, progress=False, **options)
    logged = rows(result.run_dir)
    assert logged and all(math.isfinite(r["loss_D"]) and math.isfinite(r["loss_G"])
                          for r in logged)
    assert "on cuda" in (result.run_dir / "log.txt").read_text()


def test_resume_on_cuda_continues_the_same_run(tmp_path: Path) -> None:
    """The CUDA generator's Philox state is checkpointed: a resumed run follows the
    uninterrupted one (within cuDNN's non-deterministic reductions)."""
    options = dict(TINY, precision="fp32", device="cuda", snapshot_kimg=0.032)
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.064, progress=False, **options)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.032, progress=False, **options)
    ganvas.train(resume=part.run_dir, kimg=0.064, progress=False)
    a = torch.load(whole.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(part.run_dir / "checkpoints/latest.pt", weights_only=True)
    for key in a["G"]:
        torch.testing.assert_close(b["G"][key], a["G"][key], rtol=1e-3, atol=1e-4)


def test_generate_on_cuda_matches_the_cpu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = ganvas.train(outdir=str(tmp_path / "runs"), kimg=0.032, progress=False,
                       **dict(SG2, precision="fp32")).run_dir
    for device in ("cpu", "cuda"):
        code, _, err = cli(capsys, "generate", run, "--seeds", "0-3", "--trunc", "0.7",
                           "--device", device, "--out", tmp_path / device)
        assert code == 0, err
    for name in sorted(p.name for p in (tmp_path / "cpu").glob("*.png")):
        cpu = np.asarray(Image.open(tmp_path / "cpu" / name), np.int16)
        gpu = np.asarray(Image.open(tmp_path / "cuda" / name), np.int16)
        assert np.abs(cpu - gpu).max() <= 2, name
