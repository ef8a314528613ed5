"""The command line as a user meets it: options, bad input, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import ganvas
from ganvas.cli import run
from tests.helpers import TINY


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    # A progress bar may precede it on a terminal; the error itself is exactly one line.
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert errors[0].startswith("ganvas: error: ")
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_dry_run_prints_resolved_config(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = cli(capsys, "train", "mnist", "--dry-run", "--lr-d", "1e-4", "--betas",
                       "0.5,0.99", "--mirror")
    assert code == 0
    cfg = json.loads(out)
    optim, data = cfg["optim"], cfg["data"]
    assert optim["lr_d"] == 1e-4 and optim["betas"] == [0.5, 0.99] and data["mirror"] is True
    assert data["resolution"] == 32 and optim["lr_g"] == 2e-4
    assert set(cfg) == {"model", "data", "run", "optim", "objective", "dcgan", "why"}


def test_toml_config_and_precedence(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    toml = tmp_path / "exp.toml"
    toml.write_text('lr_d = 5e-5\nbatch = 32\n[dcgan]\nz_dim = 128\n')
    code, out, _ = cli(capsys, "train", "--config", toml, "--batch", "16", "--dry-run")
    cfg = json.loads(out)
    assert code == 0 and cfg["optim"]["lr_d"] == 5e-5 and cfg["dcgan"]["z_dim"] == 128
    assert cfg["optim"]["batch"] == 16


@pytest.mark.parametrize("args, needles", [
    (["--resolution", "48"], ["--resolution", "48", "32, 64, 128, 256, 512"]),
    (["--z-dim", "0"], ["--z-dim", "must be > 0"]),
    (["--lr-d", "-0.001"], ["--lr-d", "must be > 0"]),
    (["--lr-g", "fast"], ["--lr-g", "'fast'", "float"]),
    (["--betas", "0.5"], ["--betas"]),
    (["--loss", "l1"], ["--loss", "'l1'"]),
    (["--channels", "2"], ["--channels", "1 or 3"]),
    (["--preset", "nope"], ["--preset", "'nope'", "portrait-dcgan"]),
    (["--no-such-option"], ["--no-such-option"]),
])
def test_bad_option_values(args: list[str], needles: list[str],
                           capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "train", "mnist", "--dry-run", *args)
    assert_one_line_error(code, err, *needles)


def test_missing_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "train", tmp_path / "nope", "--outdir", tmp_path / "runs")
    assert_one_line_error(code, err, "nope", "no such file or folder")
    assert not (tmp_path / "runs").exists()


def test_empty_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = cli(capsys, "train", tmp_path / "empty", "--outdir", tmp_path / "runs")
    assert_one_line_error(code, err, "empty")


def test_folder_without_readable_images(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_text("not an image")
    (folder / "b.png").write_bytes(b"")
    code, _, err = cli(capsys, "train", folder, "--outdir", tmp_path / "runs")
    assert_one_line_error(code, err, "junk")


def test_unwritable_outdir(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me")
    code, _, err = cli(capsys, "train", "mnist-test", "--outdir", blocker, "--kimg", "0.016")
    assert_one_line_error(code, err, "--outdir", "file.txt")
    assert blocker.read_text() == "keep me"


@pytest.fixture
def trained_run(tmp_path: Path) -> Path:
    return ganvas.train(outdir=str(tmp_path / "runs"), kimg=0.016, progress=False,
                        **TINY).run_dir


def test_bad_checkpoints(tmp_path: Path, trained_run: Path,
                         capsys: pytest.CaptureFixture) -> None:
    good = trained_run / "checkpoints" / "latest.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    for path, needle in ((truncated, "truncated or corrupt"), (foreign, "not a ganvas"),
                         (text, "truncated or corrupt"), (tmp_path / "missing.pt", "no such")):
        code, _, err = cli(capsys, "generate", path, "--seeds", "1-2", "--out", tmp_path / "o")
        assert_one_line_error(code, err, path.name, needle)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_failed_resume_damages_nothing(tmp_path: Path, trained_run: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    ckpt = trained_run / "checkpoints" / "latest.pt"
    before = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    code, _, err = cli(capsys, "train", "--resume", trained_run, "--z-dim", "64")
    assert_one_line_error(code, err, "--z-dim cannot change")
    after = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    assert before == after
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    code, _, err = cli(capsys, "train", "--resume", trained_run)
    assert_one_line_error(code, err, "latest.pt", "truncated")


def test_bad_seeds(trained_run: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "generate", trained_run, "--seeds", "5-2")
    assert_one_line_error(code, err, "--seeds", "backwards")
    code, _, err = cli(capsys, "generate", trained_run, "--seeds", "a,b")
    assert_one_line_error(code, err, "--seeds", "'a'")


def test_generate_cli_writes_files(tmp_path: Path, trained_run: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    code, out, _ = cli(capsys, "generate", trained_run, "--seeds", "0-2,7", "--out",
                       tmp_path / "imgs")
    assert code == 0
    assert sorted(os.listdir(tmp_path / "imgs")) == ["seed0000.png", "seed0001.png",
                                                     "seed0002.png", "seed0007.png"]


def test_resume_of_a_finished_run_asks_for_more_budget(trained_run: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    before = (trained_run / "stats.jsonl").read_text()
    code, _, err = cli(capsys, "train", "--resume", trained_run)
    assert_one_line_error(code, err, "already reached its budget", "--kimg")
    assert (trained_run / "stats.jsonl").read_text() == before
