"""``--compile``: gradient penalties take the eager networks (a compiled module has no double
backward), StyleGAN2's hot path (the synthesis network and D) is what gets compiled, and the
lightweight family's D steps mix no eager BatchNorm with compiled ones.

Inductor would spend minutes compiling C++ on a small CPU, so these tests compile with
AOTAutograd and eager kernels (``aot_eager``): the same graphs and the same missing double
backward, without code generation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ganvas
from ganvas.utils import compile as compile_module
from tests.helpers import LIGHT, SG2, TINY


@pytest.fixture
def compiled_modules(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Compile with ``aot_eager`` and record the class of every module that gets compiled."""
    seen: list[str] = []
    original = torch.compile

    def recording_compile(model, *args, **kwargs):
        owner = getattr(model, "__self__", model)
        seen.append(type(owner).__name__)
        return original(model, *args, **dict(kwargs, backend="aot_eager"))

    monkeypatch.setattr(compile_module.torch, "compile", recording_compile)
    torch._dynamo.reset()
    yield seen
    torch._dynamo.reset()


def losses(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("penalty", [dict(gp=10.0, loss="wgan", d_norm="none"),
                                     dict(dragan=10.0), dict(r1=1.0, r1_every=2)])
def test_compile_trains_dcgan_with_a_gradient_penalty(tmp_path: Path, penalty: dict,
                                                      compiled_modules: list[str]) -> None:
    options = dict(TINY, precision="fp32", **penalty)
    result = ganvas.train(outdir=str(tmp_path), kimg=0.048, progress=False, compile=True,
                          **options)
    rows = losses(result.run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(r["loss_D"])) for r in rows)
    assert {"Generator", "Discriminator"} <= set(compiled_modules)


def test_compile_runs_stylegan2_synthesis_and_r1(tmp_path: Path,
                                                 compiled_modules: list[str]) -> None:
    """StyleGAN2's first step is an R1 step (every 16 D steps) and a path-length step."""
    result = ganvas.train(outdir=str(tmp_path), kimg=0.024, progress=False, compile=True,
                          **dict(SG2, precision="fp32"))
    rows = losses(result.run_dir)
    assert "penalty_r1" in rows[0] and "penalty_pl" in rows[0]
    assert {"SynthesisNetwork", "Discriminator"} <= set(compiled_modules)


def test_compile_trains_the_lightweight_family(tmp_path: Path,
                                               compiled_modules: list[str]) -> None:
    """Its D step calls D on reals (with reconstructions), on D's shallow features of them, and
    on fakes before one backward. An eager BatchNorm in the middle saved its running statistics
    for backward; the compiled fakes' pass then updated them and that backward failed."""
    result = ganvas.train(outdir=str(tmp_path), kimg=0.024, progress=False, compile=True,
                          **dict(LIGHT, precision="fp32"))
    rows = losses(result.run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(r["loss_recon"])) for r in rows)
    assert {"Generator", "Discriminator"} <= set(compiled_modules)
