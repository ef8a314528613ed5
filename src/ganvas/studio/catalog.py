"""The Runs view's table: one row per run, read with the report's run reader and the one
run-state reader (running, finished, interrupted, diverged, killed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganvas.report.run_data import RunData, load_run
from ganvas.runs.state import run_state
from ganvas.studio.folders import RunRef

#: How the run-state reader's states read in the table.
STATE_WORDS = {"budget": "finished", "running": "running", "interrupted": "interrupted",
               "diverged": "diverged", "killed": "stopped (no word; --resume continues it)",
               "new": "starting"}
COLUMNS = ("run", "state", "data", "model", "px", "kimg", "best FID", "images/s")
WATCHED = ("stats.jsonl", "metrics.jsonl", "log.txt", "config.json", "checkpoints/latest.pt",
           ".training.lock")


def signature(run_dir: Path) -> tuple:
    """What changes when a run writes anything the views show (cheap: a few stat calls)."""
    marks: list[Any] = []
    for name in WATCHED:
        try:
            st = os.stat(run_dir / name)
            marks.append((st.st_mtime_ns, st.st_size))
        except OSError:
            marks.append(None)
    marks.append(tuple(sorted(p.name for p in run_dir.glob("fakes_*.png"))))
    return tuple(marks)


@dataclass
class RunRow:
    """What the Runs view says about one run."""

    id: str
    path: Path
    state: str
    data: str
    model: str
    resolution: int | None
    kimg: float | None
    best_fid: tuple[float, float] | None
    images_per_second: float | None
    latest_grid: Path | None

    def cells(self) -> list[Any]:
        fid = "–" if self.best_fid is None else f"{self.best_fid[1]:.1f} @ {self.best_fid[0]:g}"
        return [self.id, self.state, self.data, self.model, self.resolution or "–",
                "–" if self.kimg is None else round(self.kimg, 1), fid,
                "–" if self.images_per_second is None else round(self.images_per_second, 1)]


def state_word(run_dir: Path) -> str:
    state = run_state(run_dir)
    return STATE_WORDS.get(state, state)


def describe(run: RunData, ref: RunRef) -> RunRow:
    dataset = run.config.get("dataset") or {}
    data = dataset.get("name") if isinstance(dataset, dict) else None
    return RunRow(id=ref.id, path=ref.path, state=state_word(ref.path),
                  data=str(data or run.setting("data") or "–"),
                  model=str(run.config.get("model") or "–"),
                  resolution=run.setting("resolution"), kimg=run.last("kimg"),
                  best_fid=run.best_metric("fid"),
                  images_per_second=run.images_per_second,
                  latest_grid=run.fakes[-1][1] if run.fakes else None)


class Catalog:
    """Rows of runs, each re-read only when its folder's :func:`signature` changed."""

    def __init__(self) -> None:
        self._rows: dict[Path, tuple[tuple, RunRow]] = {}

    def row(self, ref: RunRef) -> RunRow:
        mark = signature(ref.path)
        cached = self._rows.get(ref.path)
        if cached is None or cached[0] != mark or cached[1].id != ref.id:
            cached = (mark, describe(load_run(ref.path), ref))
            self._rows[ref.path] = cached
        # A killed process leaves no file changed, so the state is asked every time.
        cached[1].state = state_word(ref.path)
        return cached[1]

    def rows(self, refs: list[RunRef]) -> list[RunRow]:
        return [self.row(ref) for ref in refs]
