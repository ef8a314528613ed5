"""``ganvas sweep``: the grid, the summary table against the runs' own files, skip and resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ganvas.config import flatten
from ganvas.errors import GanvasError
from ganvas.sweep import combinations, parse_vary, run_desc, run_sweep, sweep_command
from ganvas.training import loop, session
from tests.helpers import TINY

FIXED = {k: v for k, v in TINY.items() if k not in ("data", "batch")}


def markdown_rows(path: Path) -> list[dict[str, str]]:
    lines = [l for l in path.read_text().splitlines() if l.startswith("|")]
    headers = [h.strip() for h in lines[0].strip("|").split("|")]
    return [dict(zip(headers, (c.strip() for c in l.strip("|").split("|")))) for l in lines[2:]]


def test_grid_is_the_cartesian_product() -> None:
    grid = parse_vary(["lr-d=1e-4,2e-4", "batch=32,64,128", "betas=0.5,0.999/0,0.99"])
    assert grid == {"lr_d": ["1e-4", "2e-4"], "batch": ["32", "64", "128"],
                    "betas": ["0.5,0.999", "0,0.99"]}
    plan = combinations(grid)
    assert len(plan) == 12 and plan[0] == {"lr_d": "1e-4", "batch": "32", "betas": "0.5,0.999"}
    assert len({run_desc(s) for s in plan}) == 12


@pytest.mark.parametrize("vary, options, message", [
    (["lr_dd=1e-4,2e-4"], {}, "--vary: unknown option 'lr_dd'"),
    (["lr_d"], {}, "--vary: 'lr_d' is not KEY=V1,V2"),
    (["outdir=a,b"], {}, "--vary: outdir cannot be varied"),
    (["lr_d=1e-4,-1"], {}, "--lr-d: -1.0 must be > 0"),
    (["batch=32,many"], {}, "--batch: 'many' is not int"),
    (["lr_d=1e-4"], {"lr_d": "2e-4"}, "--vary lr_d: also given as --lr-d"),
])
def test_bad_grids_fail_before_training(vary: list[str], options: dict, message: str,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(GanvasError, match=re.escape(message)):
        run_sweep("mnist-test", vary, outdir=str(tmp_path), **options)
    assert not any(tmp_path.iterdir())


def test_sweep_table_matches_the_runs_and_a_rerun_skips_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = dict(FIXED, kimg=0.032, outdir=str(tmp_path), progress=False)
    result = run_sweep("mnist-test", ["batch=8,16"], name="tiny", **options)
    folder = tmp_path / "sweep-tiny"
    assert result.folder == folder and len(result.trained) == 2 and not result.skipped
    recorded = json.loads((folder / "sweep.json").read_text())
    assert recorded["grid"] == {"batch": ["8", "16"]} and recorded["data"] == "mnist-test"
    assert [r["run_dir"] for r in recorded["runs"]] == [d.name for d in result.run_dirs]

    rows = markdown_rows(folder / "sweep.md")
    assert [r["batch"] for r in rows] == ["8", "16"]
    for row, run_dir in zip(rows, result.run_dirs):
        assert row["run folder"] == run_dir.name and run_dir.parent == folder
        config = flatten(json.loads((run_dir / "config.json").read_text()))
        assert config["batch"] == int(row["batch"])
        last = json.loads((run_dir / "stats.jsonl").read_text().splitlines()[-1])
        assert row["images seen"] == f"{round(last['kimg'] * 1000):,}"
        img_per_s = last["kimg"] * 1000 / last["time_s"]
        assert float(row["images/s"].replace(",", "")) == pytest.approx(img_per_s, rel=5e-3)
        assert row["final FID"] == "–" and row["stopped"] == "budget"
    html = (folder / "sweep.html").read_text()
    assert all(d.name in html for d in result.run_dirs) and "src=\"http" not in html

    # Run again: both runs are finished, so nothing trains.
    monkeypatch.setattr(session, "train", lambda *a, **k: pytest.fail("trained again"))
    again = run_sweep("mnist-test", ["batch=8,16"], name="tiny", **options)
    assert again.trained == [] and again.skipped == result.run_dirs
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == \
        sorted(p.name for p in result.run_dirs)
    with pytest.raises(GanvasError, match="holds a different sweep"):
        run_sweep("mnist-test", ["batch=8,32"], name="tiny", **options)


def test_interrupted_sweep_resumes_with_resume(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    class StopAtOnce(loop.InterruptFlag):  # as if Ctrl-C came during the first step
        def __enter__(self) -> loop.InterruptFlag:
            self.requested = True
            return self

    options = dict(FIXED, batch=16, kimg=0.048, outdir=str(tmp_path), progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(loop, "InterruptFlag", StopAtOnce)
        first = run_sweep("mnist-test", ["lr_d=1e-4,2e-4"], **options)
    assert first.stopped == "interrupted" and first.run_dirs[1] is None
    assert "not run yet" in (first.folder / "sweep.md").read_text()

    with pytest.raises(GanvasError, match="stopped before its budget; add --resume"):
        run_sweep("mnist-test", ["lr_d=1e-4,2e-4"], **options)
    resumed = run_sweep("mnist-test", ["lr_d=1e-4,2e-4"], resume=True, **options)
    assert resumed.trained == resumed.run_dirs and resumed.run_dirs[0] == first.run_dirs[0]
    steps = [json.loads(l)["step"] for l in
             (resumed.run_dirs[0] / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # one step before the interruption, two after


def test_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(sweep_command, ["mnist-test", "--vary", "nope=1,2",
                                                "--outdir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "ganvas: error: --vary: unknown option 'nope' (see ganvas " \
                                    "train --help)"


@pytest.mark.slow  # two subprocesses each import torch: ~10 s on an idle machine
def test_parallel_sweep_runs_one_subprocess_per_device(tmp_path: Path) -> None:
    """Two "devices" (both the CPU here; cuda:0 and cuda:1 on a GPU machine), two runs at once."""
    options = dict(FIXED, batch=16, kimg=0.016, mirror=True, betas=(0.5, 0.99),
                   outdir=str(tmp_path), progress=False)
    result = run_sweep("mnist-test", ["lr_d=1e-4,2e-4"], devices=["cpu", "cpu"], **options)
    assert result.stopped == "done" and sorted(result.trained) == sorted(result.run_dirs)
    for run_dir, lr_d in zip(result.run_dirs, (1e-4, 2e-4)):
        config = flatten(json.loads((run_dir / "config.json").read_text()))
        assert config["lr_d"] == lr_d and config["device"] == "cpu"
        assert config["mirror"] is True and config["betas"] == [0.5, 0.99]
        assert "stopped (budget)" in (run_dir / "log.txt").read_text()
    assert len(list((result.folder / "logs").glob("*.txt"))) == 2
    assert [r["stopped"] for r in markdown_rows(result.folder / "sweep.md")] == ["budget"] * 2


def test_train_command_puts_data_after_a_double_dash(tmp_path: Path) -> None:
    """DATA came after the options with no '--': a folder named '-x' read as an option."""
    from types import SimpleNamespace

    from ganvas.sweep.parallel import train_command

    job = SimpleNamespace(resume_dir=None, settings={"lr_d": 1e-4}, desc="lr_d-1e-4")
    command = train_command(job, "cpu", tmp_path, "-odd-name", {}, None, None)
    assert command[-2:] == ["--", "-odd-name"]


def test_a_crash_with_exit_code_1_is_not_called_diverged(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    """Exit code 1 is also what an out-of-memory error gives: the run's log decides."""
    import sys
    from types import SimpleNamespace

    from ganvas.sweep import parallel as sweep_parallel

    crash = [sys.executable, "-c", "raise MemoryError('CUDA out of memory')"]
    monkeypatch.setattr(sweep_parallel, "train_command", lambda *a, **k: crash)
    job = SimpleNamespace(resume_dir=None, settings={}, desc="job", head="[1/1] job")
    sweep_parallel.train_in_parallel([job], ["cpu"], tmp_path, "mnist", {}, None, None)
    err = capsys.readouterr().err
    assert "[1/1] job: failed (exit code 1" in err and "diverged" not in err
