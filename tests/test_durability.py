"""Concurrent runs and durable files: run numbers, one prepared pack, fsynced atomic writes,
stale temporaries, and a full disk that costs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import ganvas
from ganvas.errors import GanvasError
from tests.helpers import TINY, cli_args, image_folder
from ganvas.runs.checkpoint import load_checkpoint
from ganvas.training.run_dir import next_run_dir
from ganvas.utils import io

ROOT = Path(__file__).resolve().parents[1]


def test_runs_started_together_get_different_numbers(tmp_path: Path) -> None:
    """Different descriptions made different folder names, so mkdir never collided."""
    start = threading.Barrier(6)
    made: list[Path] = []

    def claim(i: int) -> None:
        start.wait()
        made.append(next_run_dir(tmp_path, f"data-dcgan32-desc{i}"))
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = sorted(p.name[:5] for p in made)
    assert numbers == [f"{i:05d}" for i in range(6)]


def test_two_trainings_on_one_raw_folder_at_once(tmp_path: Path) -> None:
    """Two processes: two run folders, one prepared pack in the cache."""
    folder = image_folder(tmp_path / "pictures", n=40, size=40, seed=1)
    cache = tmp_path / "cache"
    env = dict(os.environ, GANVAS_CACHE=str(cache), OMP_NUM_THREADS="1")
    options = dict(TINY, data=str(folder), kimg=0.016)
    procs = [subprocess.Popen([sys.executable, "-m", "ganvas", "train", *cli_args(options),
                               "--no-progress", "--outdir", str(tmp_path / "runs"),
                               "--desc", f"job{i}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert [r[:5] for r in runs] == ["00000", "00001"], runs
    packs = [p for p in (cache / "datasets").iterdir() if p.is_dir()]
    assert len(packs) == 1, packs


def test_a_stale_temporary_is_removed_when_training_starts(tmp_path: Path) -> None:
    part = ganvas.train(outdir=str(tmp_path), kimg=0.016, progress=False, **TINY)
    stale = part.run_dir / "checkpoints" / ".latest.pt.k2j3.tmp"
    stale.write_bytes(b"\0" * 1000)
    ganvas.train(resume=part.run_dir, kimg=0.032, progress=False)
    assert not stale.exists()
    assert ".latest.pt.k2j3.tmp" in (part.run_dir / "log.txt").read_text()


def test_atomic_writes_fsync_the_file_and_its_folder(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(io, "fsync_path", lambda p: synced.append(Path(p)))
    io.write_json(tmp_path / "a.json", {"x": 1})
    assert synced[0].name.startswith(".a.json.") and synced[1] == tmp_path


FULL_DISK = """
import resource, signal, sys
import ganvas
from ganvas.cli import run
from tests.helpers import TINY, cli_args, image_folder
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.exit(run(["train", "--resume", sys.argv[1], "--kimg", "0.064", "--no-progress"]))
"""


@pytest.mark.skipif(not hasattr(os, "setpgid") or sys.platform != "linux",
                    reason="RLIMIT_FSIZE needs Linux")
def test_a_full_disk_is_one_line_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    part = ganvas.train(outdir=str(tmp_path), kimg=0.032, progress=False, **TINY)
    latest = part.run_dir / "checkpoints" / "latest.pt"
    before = latest.read_bytes()
    limit = len(before) // 2  # room for logs and images, not for a checkpoint
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(part.run_dir), str(limit)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("ganvas: error: ") and "latest.pt" in lines[-1], done.stderr
    assert "could not be written" in lines[-1] and "Traceback" not in done.stderr
    assert latest.read_bytes() == before
    load_checkpoint(latest)
    assert not list(latest.parent.glob(".*.tmp"))


def test_a_failed_write_raises_one_error_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x.pt"
    torch.save({"a": 1}, target)
    with pytest.raises(GanvasError, match="x.pt: could not be written"):
        with io.atomic_path(target) as tmp:
            raise OSError(28, "No space left on device")
    assert torch.load(target, weights_only=True) == {"a": 1}


def test_a_run_in_training_is_seen_running_and_a_second_resume_is_refused(
        tmp_path: Path) -> None:
    """The training process holds the run's lock: readers see ``running``, and a second
    ``--resume`` of the same run fails at once, before it touches the run's logs."""
    from ganvas.runs.state import run_state, training_lock
    from ganvas.utils.lock import exclusive

    run = ganvas.train(outdir=str(tmp_path), kimg=0.032, progress=False,
                       **dict(TINY, snapshot_kimg=0.016)).run_dir
    assert run_state(run) == "budget"
    stats = (run / "stats.jsonl").read_text()
    with exclusive(training_lock(run), "held by this test"):  # as a training process does
        assert run_state(run) == "running"
        with pytest.raises(GanvasError, match="another process is training this run now"):
            ganvas.train(resume=run, kimg=0.064, progress=False)
    assert (run / "stats.jsonl").read_text() == stats
    (run / "log.txt").write_text("killed before it could say why\n")
    assert run_state(run) == "killed" and run_state(tmp_path / "nothing") == "new"
