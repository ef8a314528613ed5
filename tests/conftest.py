"""Shared fixtures: tiny, fast training configurations and the optional ../shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("GANVAS_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))

# A DCGAN small enough to train a few steps in a second on a laptop CPU.
TINY = dict(data="mnist-test", resolution=32, g_channels=8, d_channels=8, batch=16,
            log_every=1, snapshot_kimg=1000.0, grid=16, z_dim=16, report=False, diffaugment="")


def cli_args(options: dict) -> list[str]:
    """``ganvas train`` arguments for a dict of options (DATA first; flags for booleans)."""
    from ganvas.config import command_line

    return [options["data"], *command_line({k: v for k, v in options.items() if k != "data"})]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets a private cache folder, so nothing leaks between tests or into ~."""
    if "GANVAS_CACHE" not in os.environ or os.environ.get("GANVAS_TEST_SHARED_CACHE") is None:
        monkeypatch.setenv("GANVAS_CACHE", str(tmp_path_factory.mktemp("cache")))


def image_folder(path: Path, n: int = 24, size: int = 32, seed: int = 0) -> Path:
    """A folder of ``n`` random RGB PNGs (``0.png`` ...), as a user's pictures."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    path.mkdir()
    for i in range(n):
        image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(image).save(path / f"{i}.png")
    return path


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` when it exists; the test is skipped otherwise."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


def objective_of(cfg, G, D, rng):
    """The objective of a resolved config's family, as the training loop builds it."""
    from ganvas.models import get_family

    return get_family(cfg.model).objective(cfg.family, cfg.objective, G, D, rng,
                                           batch=cfg.optim.batch)
