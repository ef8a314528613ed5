"""A run folder's state, read one way for the sweep, the benchmarks, the report and the studio.

- ``new``: no checkpoint yet (nothing to resume);
- ``running``: a process is training it now (it holds the folder's ``.training.lock``);
- ``budget``, ``interrupted``, ``diverged``: it stopped, and its log.txt says why;
- ``killed``: it has a checkpoint but stopped without a word (kill -9, power cut, crash):
  ``--resume`` continues it.
"""

from __future__ import annotations

import re
from pathlib import Path

from ganvas.utils.lock import held_elsewhere

STATES = ("new", "running", "budget", "interrupted", "diverged", "killed")
STOPPED = re.compile(r"stopped \((\w+)\)")
LOCK_NAME = ".training.lock"


def stop_reason(log_lines: list[str]) -> str | None:
    """Why training last stopped (``budget``, ``interrupted``, ``diverged``), from log.txt's
    lines; None when no line says (still running, or killed)."""
    reasons = [m.group(1) for line in log_lines if (m := STOPPED.search(line))]
    return reasons[-1] if reasons else None


def training_lock(run_dir: Path) -> Path:
    """The lock file a training process holds for as long as it trains ``run_dir``."""
    return run_dir / LOCK_NAME


def run_state(run_dir: Path | None) -> str:
    """One of :data:`STATES` for ``run_dir`` (``new`` when there is no such folder)."""
    if run_dir is None or not run_dir.is_dir():
        return "new"
    if held_elsewhere(training_lock(run_dir)):
        return "running"
    if not (run_dir / "checkpoints" / "latest.pt").is_file():
        return "new"
    try:
        lines = (run_dir / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    return stop_reason(lines) or "killed"
