"""What a run folder says about its run, read defensively.

A report may be drawn while a run is still writing, after a crash, or from a folder copied
without its checkpoints, so every piece is optional: a missing or torn file reads as empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ganvas.config import flatten
from ganvas.errors import GanvasError
from ganvas.runs.checkpoint import find_checkpoint, split_snapshot
from ganvas.runs.state import stop_reason
from ganvas.runs.records import read_jsonl

FAKES_NAME = re.compile(r"^fakes_(\d+)\.png$")
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(.*)$")
SNAPSHOT_LINE = re.compile(r"^snapshot at ([\d.]+) kimg")


@dataclass
class RunData:
    """The contents of one run folder (all of it optional)."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    stats: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    log: list[tuple[datetime | None, str]] = field(default_factory=list)
    fakes: list[tuple[int, Path]] = field(default_factory=list)
    #: ``ganvas evaluate DATA RUN --nearest``'s result (nearest.json), if it was run.
    nearest: dict[str, Any] = field(default_factory=dict)
    #: The snapshot's kimg when the run is read as it stood then (``RUN@<kimg>``).
    at_kimg: float | None = None

    @property
    def name(self) -> str:
        return self.path.name if self.at_kimg is None else f"{self.path.name}@{self.at_kimg:g}"

    def until(self, nimg: int) -> "RunData":
        """The run as it stood when it had seen ``nimg`` images (its snapshot there)."""
        kimg = nimg / 1000
        end = next((i + 1 for i, (_, text) in enumerate(self.log)
                    if (m := SNAPSHOT_LINE.match(text)) and float(m.group(1)) >= kimg - 1e-9),
                   len(self.log))
        return replace(self, at_kimg=kimg,
                       stats=[r for r in self.stats if r.get("kimg", 0.0) <= kimg + 1e-9],
                       metrics=[r for r in self.metrics if r.get("kimg", 0.0) <= kimg + 1e-9],
                       log=self.log[:end], fakes=[f for f in self.fakes if f[0] <= kimg])

    @property
    def reals(self) -> Path | None:
        path = self.path / "reals.png"
        return path if path.is_file() else None

    def last(self, key: str) -> Any:
        """The latest logged value of a stats key (None when never logged)."""
        return next((r[key] for r in reversed(self.stats) if r.get(key) is not None), None)

    def metric_values(self, key: str) -> list[tuple[float, float]]:
        """(kimg, value) of a metrics key, in the order evaluated."""
        return [(r.get("kimg", 0.0), r[key]) for r in self.metrics if r.get(key) is not None]

    def final_metric(self, key: str) -> float | None:
        values = self.metric_values(key)
        return values[-1][1] if values else None

    def best_metric(self, key: str) -> tuple[float, float] | None:
        """(kimg, value) of the lowest value of ``key``: the best FID or KID."""
        values = self.metric_values(key)
        return min(values, key=lambda kv: kv[1]) if values else None

    @property
    def images_seen(self) -> int | None:
        kimg = self.last("kimg")
        return None if kimg is None else int(round(kimg * 1000))

    @property
    def train_seconds(self) -> float | None:
        """Training time (the loop's clock: snapshots and evaluations excluded)."""
        return self.last("time_s")

    @property
    def images_per_second(self) -> float | None:
        """Average throughput over the whole run: images seen / training time."""
        seconds, images = self.train_seconds, self.images_seen
        return images / seconds if images and seconds else None

    @property
    def wall_seconds(self) -> float | None:
        """From the first to the last line of log.txt (evaluations and pauses included)."""
        times = [t for t, _ in self.log if t is not None]
        return (times[-1] - times[0]).total_seconds() if len(times) >= 2 else None

    @property
    def warnings(self) -> list[str]:
        """The divergence watch's warnings and other problems noted in log.txt."""
        return [text for _, text in self.log if text.lower().startswith(("warning", "error"))]

    @property
    def stopped(self) -> str | None:
        """Why training stopped (budget, interrupted, diverged); None while it runs."""
        if self.at_kimg is not None:
            return f"snapshot at {self.at_kimg:g} kimg"
        return stop_reason([text for _, text in self.log])

    def setting(self, key: str) -> Any:
        """A config value: an option by its flat name (``resolution``, ``lr_d``) in any run's
        config.json, or a ``dataset.name`` style path into the nested objects."""
        options = flatten(self.config)
        if key in options:
            return options[key]
        value: Any = self.config
        for part in key.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file (torn or foreign lines skipped)."""
    try:
        return [r for r in read_jsonl(path) if isinstance(r, dict)]
    except (OSError, UnicodeDecodeError):
        return []


def read_log(path: Path) -> list[tuple[datetime | None, str]]:
    """log.txt as (timestamp, text) lines."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines: list[tuple[datetime | None, str]] = []
    for line in text.splitlines():
        match = LOG_TIME.match(line)
        if match:
            lines.append((datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"),
                          match.group(2)))
        elif line.strip():
            lines.append((None, line.strip()))
    return lines


def sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    """``fakes_<kimg>.png`` files in kimg order."""
    found = [(int(m.group(1)), p) for p in run_dir.glob("fakes_*.png")
             if (m := FAKES_NAME.match(p.name))]
    return sorted(found)


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists()
                                 for name in ("config.json", "stats.jsonl", "log.txt"))


def load_run(path: str | Path) -> RunData:
    """Read a run folder, or with ``RUN@<kimg>`` the run as it stood at that snapshot; raise
    GanvasError if ``path`` is not one."""
    run_dir, kimg = split_snapshot(path)
    if not is_run_folder(run_dir):
        raise GanvasError(f"{run_dir}: not a run folder (no config.json, stats.jsonl or log.txt)")
    run = RunData(path=run_dir, config=read_json_object(run_dir / "config.json"),
                   stats=read_records(run_dir / "stats.jsonl"),
                   metrics=read_records(run_dir / "metrics.jsonl"),
                   log=read_log(run_dir / "log.txt"), fakes=sample_grids(run_dir),
                   nearest=read_json_object(run_dir / "nearest.json"))
    if kimg is None:
        return run
    find_checkpoint(path)  # the snapshot must exist: one meaning of RUN@<kimg> everywhere
    return run.until(round(kimg * 1000))
