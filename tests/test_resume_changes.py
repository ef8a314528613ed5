"""Resume after a changed option or moved data: the schedule, the snapshots and the images."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganvas
from ganvas.errors import GanvasError
from tests.helpers import TINY, image_folder


def lrs_by_step(run_dir: Path) -> list[tuple[int, float, float]]:
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    return [(r["step"], r["lr_G"], r["lr_D"]) for r in rows]


def test_linear_lr_decay_resumes_on_the_same_schedule(tmp_path: Path) -> None:
    """The base rates were read after the optimizer state was loaded: decayed twice. After
    the resume, the rates follow the longer run's line from the base rate to 0."""
    options = dict(TINY, lr_decay="linear")
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.096, progress=False, **options)
    part = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.048, progress=False, **options)
    ganvas.train(resume=part.run_dir, kimg=0.096, progress=False)
    resumed = lrs_by_step(part.run_dir)[3:]
    assert [r[0] for r in resumed] == [4, 5, 6]
    assert np.allclose(resumed, lrs_by_step(whole.run_dir)[3:], rtol=1e-12, atol=0)
    assert resumed[0][1] == pytest.approx(2e-4 * (1 - 48 / 96))


def snapshot_steps(run_dir: Path) -> list[int]:
    text = (run_dir / "log.txt").read_text()
    return [int(k) for k in re.findall(r"snapshot at [\d.]+ kimg, step (\d+)", text)]


def test_a_longer_snapshot_interval_on_resume_keeps_snapshots(tmp_path: Path) -> None:
    """The restored snapshot index stayed ahead of nimg // new interval: no snapshot until the
    end, so a job killed after such a resume lost everything since."""
    part = ganvas.train(outdir=str(tmp_path), kimg=0.064, progress=False,
                        **dict(TINY, snapshot_kimg=0.016))
    assert snapshot_steps(part.run_dir) == [1, 2, 3, 4]  # 16 images a step
    ganvas.train(resume=part.run_dir, kimg=0.192, snapshot_kimg=0.048, progress=False)
    assert snapshot_steps(part.run_dir)[4:] == [6, 9, 12]


def test_resume_refuses_other_images_and_accepts_a_moved_folder(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "pictures")
    options = dict(TINY, data=str(folder), channels=3)
    part = ganvas.train(outdir=str(tmp_path / "runs"), kimg=0.032, progress=False, **options)
    moved = tmp_path / "moved"
    shutil.move(str(folder), moved)
    ganvas.train(str(moved), resume=part.run_dir, kimg=0.048, progress=False)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(moved / "5.png")
    with pytest.raises(GanvasError, match="not the ones this run was trained on"):
        ganvas.train(str(moved), resume=part.run_dir, kimg=0.064, progress=False)
