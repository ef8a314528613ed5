"""The resumable results table that the training benchmarks share.

A benchmark row costs minutes to hours of training, so a table is built over several sittings:
each finished row is written to a JSON file at once, a run that finished training but was never
scored is found again instead of retrained, and running the same command again skips done rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import torch

from ganvas.config import flatten
from ganvas.runs.state import run_state
from ganvas.utils.io import write_json


def budget_of(args: argparse.Namespace) -> tuple[dict, str]:
    """The training budget as ``ganvas.train`` options, and as a label for file names."""
    if args.kimg:
        return {"kimg": args.kimg}, f"{args.kimg:g}kimg"
    return {"minutes": args.minutes}, f"{args.minutes:g}min"


def finished_run(outdir: str, desc: str, settings: dict, seed: int) -> Path | None:
    """A run folder named ``*-DESC`` whose config has these ``settings`` (the budget, and any
    option the name does not say) and seed, and whose training finished (the sitting ended
    while it was being scored): score it instead of training it again."""
    for run in sorted(Path(outdir).glob(f"*-{desc}")):
        try:
            config = flatten(json.loads((run / "config.json").read_text()))
            state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
        except (OSError, ValueError, RuntimeError):
            continue
        same = all(config.get(key) == value for key, value in settings.items())
        # An interrupted run also saved with finished=True: its log says why it stopped.
        if same and config.get("seed") == seed and state["progress"]["finished"] \
                and run_state(run) == "budget":
            return run
    return None


def fill_table(table: Path, names: list[str], run_one: Callable[[str, dict], dict],
               summary: Callable[[dict], str]) -> dict[str, dict]:
    """Run every name not yet in ``table`` (``run_one(name, rows so far)`` returns its row),
    saving the table after each, and return all its rows."""
    rows: dict[str, dict] = json.loads(table.read_text()) if table.exists() else {}
    for name in names:
        if name in rows:
            print(f"{name}: already in {table}, skipped")
            continue
        rows[name] = run_one(name, rows)
        write_json(table, rows)  # after each row: a later sitting resumes from here
        print(f"{name:18s} {summary(rows[name])}", flush=True)
    return rows
