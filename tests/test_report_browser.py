"""The report as a browser shows it: headless Chromium renders it, the pixels are checked.

Skipped when no Chromium is installed (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganvas
from ganvas.report import write_report
from ganvas.utils.charts import PALETTE
from tests.helpers import TINY

BROWSER = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed")


def screenshot(page: Path, tmp_path: Path) -> np.ndarray:
    """The page as a 1200×3000 RGB array, rendered offline by headless Chromium."""
    shot = tmp_path / f"{page.stem}.png"
    profile = tmp_path / f"profile-{page.stem}"
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
               "--window-size=1200,3000", page.resolve().as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120,
                   env={**os.environ, "HOME": str(tmp_path)})
    return np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)


def pixels_near(shot: np.ndarray, hex_colour: str, tolerance: int = 12) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(shot - target).max(axis=2) <= tolerance).sum())


def pure_black(shot: np.ndarray) -> int:
    """Pixels darker than any colour of the page's own: MNIST's black, from decoded grids."""
    return int((shot.max(axis=2) <= 6).sum())


def test_report_renders_plots_and_images(tmp_path: Path) -> None:
    result = ganvas.train(outdir=str(tmp_path / "runs"), kimg=0.048, progress=False, **TINY)
    run = result.run_dir
    shot = screenshot(write_report([run], tmp_path / "report.html"), tmp_path)
    assert shot.shape == (3000, 1200, 3)
    # The charts: loss_D / loss_G and D(x) / D(G(z)) lines in the first two palette colours.
    assert pixels_near(shot, PALETTE[0]) > 500 and pixels_near(shot, PALETTE[1]) > 500
    # The real MNIST grid (black background, white digits) decoded and drawn large.
    black = pure_black(shot)
    assert black > 40_000
    rows, cols = np.nonzero(shot.max(axis=2) <= 6)
    assert rows.max() - rows.min() > 200 and cols.max() - cols.min() > 200
    grid = shot[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert (grid.min(axis=2) > 200).mean() > 0.03  # with the digits' white strokes in it

    # The same run without its pictures: the black area is gone, so the check above is real.
    bare = tmp_path / "bare" / run.name
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("*.png", "checkpoints"))
    bare_shot = screenshot(write_report([bare], tmp_path / "bare.html"), tmp_path)
    assert pure_black(bare_shot) < black / 100
