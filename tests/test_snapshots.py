"""Snapshots you can go back to: checkpoints/snapshot-<kimg>.pt, --keep, and RUN@<kimg>."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganvas
from ganvas.errors import GanvasError
from ganvas.metrics.sources import open_side
from ganvas.runs.checkpoint import find_checkpoint, snapshot_name
from tests.helpers import TINY, cli, losses_by_step


def test_snapshot_names() -> None:
    assert snapshot_name(200_000) == "snapshot-000200.pt"
    assert snapshot_name(16) == "snapshot-000000.016.pt"


def test_every_snapshot_is_kept_up_to_keep_and_best_survives(tmp_path: Path) -> None:
    run = ganvas.train(outdir=str(tmp_path), kimg=0.112, progress=False,
                       **dict(TINY, snapshot_kimg=0.016, keep=3)).run_dir
    kept = sorted(p.name for p in (run / "checkpoints").glob("snapshot-*.pt"))
    assert kept == ["snapshot-000000.080.pt", "snapshot-000000.096.pt", "snapshot-000000.112.pt"]
    state = torch.load(find_checkpoint(f"{run}@0.096"), weights_only=True)
    assert state["progress"]["nimg"] == 96
    with pytest.raises(GanvasError, match="no snapshot at 0.016 kimg .*0.08, 0.096, 0.112"):
        find_checkpoint(f"{run}@0.016")


def test_keep_zero_keeps_all(tmp_path: Path) -> None:
    run = ganvas.train(outdir=str(tmp_path), kimg=0.064, progress=False,
                       **dict(TINY, snapshot_kimg=0.016, keep=0)).run_dir
    assert len(list((run / "checkpoints").glob("snapshot-*.pt"))) == 4


def test_generate_from_a_snapshot_and_resume_from_it(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    options = dict(TINY, snapshot_kimg=0.032)
    whole = ganvas.train(outdir=str(tmp_path / "a"), kimg=0.096, progress=False,
                         **options).run_dir
    run = ganvas.train(outdir=str(tmp_path / "b"), kimg=0.096, progress=False,
                       **options).run_dir
    code, _, err = cli(capsys, "generate", f"{run}@0.032", "--seeds", "3", "--out",
                       tmp_path / "then")
    assert code == 0, err
    code, _, err = cli(capsys, "generate", run, "--seeds", "3", "--out", tmp_path / "now")
    assert code == 0, err
    then = np.asarray(Image.open(tmp_path / "then" / "seed0003.png"))
    now = np.asarray(Image.open(tmp_path / "now" / "seed0003.png"))
    assert not np.array_equal(then, now)
    side = open_side(f"{run}@0.032")  # what ganvas evaluate does with RUN@KIMG
    np.testing.assert_array_equal(next(side.batches(4, 4))[3, 0], then)
    # Going back to 32 kimg and training on repeats the run exactly from there.
    ganvas.train(resume=f"{run}@0.032", kimg=0.096, progress=False)
    assert losses_by_step(run) == losses_by_step(whole)
    a = torch.load(whole / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(run / "checkpoints/latest.pt", weights_only=True)
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"])


def test_report_of_a_snapshot_shows_the_run_as_it_stood(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    """``ganvas report RUN@<kimg>``: curves, samples and log up to that snapshot only."""
    from ganvas.report.run_data import load_run

    run = ganvas.train(outdir=str(tmp_path), kimg=0.064, progress=False,
                       **dict(TINY, snapshot_kimg=0.032)).run_dir
    then = load_run(f"{run}@0.032")
    assert [r["step"] for r in then.stats] == [1, 2]
    assert then.log[-1][1].startswith("snapshot at 0.032 kimg")
    assert then.name == f"{run.name}@0.032" and then.stopped == "snapshot at 0.032 kimg"
    assert len(load_run(run).stats) == 4
    assert cli(capsys, "report", f"{run}@0.032")[0] == 0
    page = (run / "report@0.032.html").read_text()
    assert f"{run.name}@0.032" in page and "snapshot at 0.032 kimg" in page
    with pytest.raises(GanvasError, match="no snapshot at 0.048 kimg"):
        load_run(f"{run}@0.048")
