"""What the Run view shows of one run, re-read only when one of its files changed.

The page asks every few seconds while it is open; an unchanged run costs a few ``stat`` calls
and nothing else, and with no page open nothing is asked at all (no polling on the server).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ganvas.report.document import evenly_spaced, run_charts
from ganvas.report.html import shrunk_picture
from ganvas.report.run_data import RunData, load_run
from ganvas.runs.checkpoint import list_snapshots
from ganvas.studio.catalog import signature

LOG_LINES = 40      # lines of log.txt's tail shown
STRIP_STEPS = 8     # sample grids in the evolution strip
STRIP_SIDE = 256    # pixels of an evolution thumbnail


@dataclass
class RunPicture:
    """Everything the Run view shows, for one :func:`signature` of the folder."""

    mark: tuple
    run: RunData
    latest_grid: Path | None
    strip: list[tuple[Image.Image, str]]
    charts: list[Image.Image]
    log_tail: str
    warnings: list[str]
    options: str
    report: Path | None
    snapshots: list[str] = field(default_factory=list)


def thumbnail(path: Path | None, side: int) -> Image.Image:
    """The report's shrunk picture; a grey square when there is none yet (or it is torn)."""
    picture = shrunk_picture(path, side) if path is not None else None
    return picture if picture is not None else Image.new("RGB", (side, side), (235, 237, 240))


def snapshot_choices(run_dir: Path) -> list[str]:
    """``latest``, ``best`` (if kept) and ``<kimg> kimg`` for each kept snapshot, newest first."""
    folder = run_dir / "checkpoints"
    choices = ["latest"] if (folder / "latest.pt").is_file() else []
    if (folder / "best.pt").is_file():
        choices.append("best")
    choices += [f"{nimg / 1000:g} kimg" for nimg, _ in reversed(list_snapshots(folder))]
    return choices


def options_text(config: dict[str, Any]) -> str:
    """The resolved options as the run saved them (config.json), indented."""
    return json.dumps(config, indent=2, default=str) if config else "(no config.json yet)"


def picture(run_dir: Path, mark: tuple | None = None) -> RunPicture:
    """Read ``run_dir`` now."""
    run = load_run(run_dir)
    shown = evenly_spaced(run.fakes, STRIP_STEPS)
    charts = [Image.open(io.BytesIO(png)).convert("RGB") for png in run_charts(run)]
    lines = [(f"{t:%H:%M:%S}  " if t else "") + text for t, text in run.log[-LOG_LINES:]]
    report = run_dir / "report.html"
    return RunPicture(mark=mark if mark is not None else signature(run_dir), run=run,
                      latest_grid=run.fakes[-1][1] if run.fakes else None,
                      strip=[(thumbnail(p, STRIP_SIDE), f"{kimg:,} kimg") for kimg, p in shown],
                      charts=charts, log_tail="\n".join(lines), warnings=run.warnings,
                      options=options_text(run.config),
                      report=report if report.is_file() else None,
                      snapshots=snapshot_choices(run_dir))


class Watcher:
    """:func:`picture` of each run, kept until the run's folder changes."""

    def __init__(self) -> None:
        self._pictures: dict[Path, RunPicture] = {}

    def picture(self, run_dir: Path) -> RunPicture:
        mark = signature(run_dir)
        cached = self._pictures.get(run_dir)
        if cached is None or cached.mark != mark:
            cached = picture(run_dir, mark)
            self._pictures[run_dir] = cached
        return cached
