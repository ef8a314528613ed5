"""A sweep's plan: the grid of options, one job per combination, and which are done."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ganvas import config as config_mod
from ganvas.errors import GanvasError
from ganvas.runs.state import run_state

#: Options whose own value is a comma list: their --vary values are separated by "/".
LIST_OPTIONS = {"betas", "soft_labels", "diffaugment", "metrics"}
#: Options the sweep sets itself.
SWEEP_OWNED = {"outdir", "desc", "data"}
FINISHED = ("budget", "diverged")  # a diverged run would diverge again: not retried



@dataclass
class Job:
    """A combination still to train (``resume_dir``: the half-finished run to continue)."""

    head: str
    settings: dict[str, str]
    desc: str
    resume_dir: Path | None = None


def parse_vary(items: Sequence[str]) -> dict[str, list[str]]:
    """``["lr_d=1e-4,2e-4", "batch=32"]`` -> ``{"lr_d": ["1e-4", "2e-4"], "batch": ["32"]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        name = key.strip().lstrip("-").replace("-", "_")
        if not sep or not name or not values.strip():
            raise GanvasError(f"--vary: {item!r} is not KEY=V1,V2,... (e.g. lr_d=1e-4,2e-4)")
        if name not in config_mod.OPTIONS:
            raise GanvasError(f"--vary: unknown option {key.strip()!r} (see ganvas train --help)")
        if name in SWEEP_OWNED:
            raise GanvasError(f"--vary: {name} cannot be varied (the sweep sets it)")
        if name in grid:
            raise GanvasError(f"--vary: {name} is given twice")
        separator = "/" if name in LIST_OPTIONS else ","
        grid[name] = [v.strip() for v in values.split(separator) if v.strip()]
    if not grid:
        raise GanvasError("--vary: give at least one KEY=V1,V2,...")
    return grid


def combinations(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """The cartesian product of the grid, first key varying slowest."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def run_desc(settings: dict[str, str]) -> str:
    """``{"lr_d": "1e-4", "batch": "32"}`` -> ``lr_d1e-4-batch32`` (safe in a folder name)."""
    return "-".join(re.sub(r"[^A-Za-z0-9._=+-]", "_", f"{k}{v}") for k, v in settings.items())


def label(settings: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def default_devices(options: dict[str, Any]) -> list[str]:
    """Every CUDA GPU when there are several and ``--device`` is not given; else none."""
    count = torch.cuda.device_count() if "device" not in options else 0
    return [f"cuda:{i}" for i in range(count)] if count > 1 else []


def find_run(folder: Path, desc: str) -> Path | None:
    """The newest run folder of this combination (``NNNNN-<data>-<model>-<desc>``)."""
    pattern = re.compile(r"^(\d+)-.*-" + re.escape(desc) + "$")
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir()
             and (m := pattern.match(p.name))] if folder.is_dir() else []
    return max(found)[1] if found else None


def job_state(run_dir: Path | None) -> str:
    """``new``, a finished reason (``budget``/``diverged``), ``running`` (another process
    trains it), or ``partial`` (resumable: interrupted or killed)."""
    state = run_state(run_dir)
    return state if state in ("new", "running", *FINISHED) else "partial"


def check_plan(data: str | None, grid: dict[str, list[str]], options: dict[str, Any],
               preset: str | None, config_file: str | None) -> None:
    """Resolve every combination's config now, so a bad value fails before any training."""
    for name in grid:
        if options.get(name) is not None:
            raise GanvasError(f"--vary {name}: also given as {config_mod.option_name(name)}; "
                              "give it once")
    for settings in combinations(grid):
        config_mod.resolve({**options, "data": data, **settings}, preset=preset,
                           config_file=config_file)
