"""``ganvas sweep``: train every combination of a few options, then compare them on one page.

It sits beside ``ganvas.report`` (whose comparison it reuses) because it drives training
(resume, skipping finished runs); ``ganvas.report`` only reads run folders.

Runs go one after another into ``<outdir>/sweep-<name>/``, with ``sweep.json`` recording the grid.
A run folder's own log.txt says whether the run finished, so a restarted sweep skips finished
runs, continues a half-finished one with ``--resume``, and trains the rest. With several GPUs the
runs go in parallel, one per GPU (:mod:`ganvas.sweep.parallel`).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import click

from ganvas import config as config_mod
from ganvas.errors import GanvasError
from ganvas.report.compare import SCORE_COLUMNS, comparison_section, score_row
from ganvas.report.document import write_run_report
from ganvas.report.html import page, write_html
from ganvas.report.run_data import load_run, read_json_object
from ganvas.sweep.parallel import train_in_parallel
from ganvas.sweep.plan import (FINISHED, LIST_OPTIONS, Job, check_plan, combinations,
                               default_devices, find_run, job_state, label, parse_vary,
                               run_desc)
from ganvas.training.cli_options import config_options
from ganvas.training import session
from ganvas.utils.cli import user_errors
from ganvas.utils.io import atomic_open, write_json
from ganvas.utils.markdown import markdown_table


@dataclass
class SweepResult:
    folder: Path
    run_dirs: list[Path | None]
    trained: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    stopped: str = "done"


def open_sweep_folder(data: str | None, grid: dict[str, list[str]], name: str | None,
                      options: dict[str, Any], preset: str | None,
                      config_file: str | None) -> tuple[Path, dict[str, Any]]:
    """Check the whole plan, then create (or reopen) ``<outdir>/sweep-<name>/``.

    Returns the folder and the sweep's record. Reopening with a different grid or different
    options is refused: the finished runs there would no longer belong to the sweep.
    """
    unknown = sorted(set(options) - set(config_mod.OPTIONS))
    if unknown:
        raise GanvasError(f"unknown option(s): {', '.join(unknown)}")
    name = name or "-".join(grid)
    if not re.fullmatch(r"[A-Za-z0-9._=+-]+", name):
        raise GanvasError(f"--name: {name!r} may hold only letters, digits and . _ = + -")
    check_plan(data, grid, options, preset, config_file)
    folder = Path(options.get("outdir", config_mod.RunOptions.outdir)) / f"sweep-{name}"
    fixed = {k: v for k, v in options.items() if k not in ("outdir", "device")}
    record = {"name": name, "data": data, "grid": grid, "preset": preset,
              "config_file": config_file, "options": fixed}
    record = json.loads(json.dumps(record))  # as sweep.json reads back (lists, not tuples)
    previous = read_sweep_json(folder)
    if previous and {k: previous.get(k) for k in record} != record:
        raise GanvasError(f"--name {name}: {folder} holds a different sweep (grid or options "
                          "differ); choose another --name")
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "sweep.json", record)
    return folder, record


def run_sweep(data: str | None, vary: Sequence[str] | dict[str, list[str]], *,
              name: str | None = None, resume: bool = False, preset: str | None = None,
              config_file: str | None = None, progress: bool = True,
              devices: Sequence[str] | None = None, **options: Any) -> SweepResult:
    """Train every combination of ``vary`` (``KEY=V1,V2`` strings or a dict of value lists).

    ``options`` are fixed training options for every run. With several ``devices`` the runs go
    in parallel, one per device, as ``ganvas train`` subprocesses (default: every CUDA GPU when
    there are several and no ``device`` option is given). Returns where everything went.
    """
    grid = parse_vary(vary) if not isinstance(vary, dict) else \
        parse_vary([f"{k}={('/' if k in LIST_OPTIONS else ',').join(map(str, v))}"
                    for k, v in vary.items()])
    options = {k: v for k, v in options.items() if v is not None}
    folder, record = open_sweep_folder(data, grid, name, options, preset, config_file)
    plan = combinations(grid)
    result = SweepResult(folder, [])
    jobs = []
    for index, settings in enumerate(plan, 1):
        desc = f"{options['desc']}-{run_desc(settings)}" if options.get("desc") \
            else run_desc(settings)
        head = f"[{index}/{len(plan)}] {label(settings)}"
        run_dir = find_run(folder, desc)
        state = job_state(run_dir)
        if state == "partial" and not resume:
            raise GanvasError(f"{run_dir}: stopped before its budget; add --resume to continue "
                              "it (or delete that folder to start it over)")
        if state == "running":
            raise GanvasError(f"{run_dir}: another process is training it now; wait for it "
                              "or stop it first")
        if state in FINISHED:
            result.skipped.append(run_dir)  # type: ignore[arg-type]
            click.echo(f"{head}: already finished ({state}), skipped", err=True)
        else:
            jobs.append(Job(head, settings, desc, run_dir if state == "partial" else None))

    devices = list(devices) if devices is not None else default_devices(options)
    if len(devices) > 1:
        result.trained, result.stopped = train_in_parallel(
            jobs, devices, folder, data, options, preset, config_file)
    else:
        result.trained, result.stopped = train_one_by_one(
            jobs, folder, data, options, preset, config_file, progress)
    result.run_dirs = [find_run(folder, run_desc(s)) for s in plan]
    write_json(folder / "sweep.json", {**record, "runs": [
        {"settings": s, "run_dir": d.name if d else None} for s, d in zip(plan, result.run_dirs)]})
    write_sweep_pages(folder, grid, plan, result.run_dirs)
    return result


def train_one_by_one(jobs: Sequence[Job], folder: Path, data: str | None,
                     options: dict[str, Any], preset: str | None, config_file: str | None,
                     progress: bool) -> tuple[list[Path], str]:
    """Train ``jobs`` in this process; stop at a Ctrl-C. Returns (run folders, how it ended)."""
    trained = []
    for job in jobs:
        click.echo(f"{job.head}: training", err=True)
        if job.resume_dir is not None:
            outcome = session.train(
                resume=job.resume_dir, progress=progress, write_report=write_run_report,
                **({"device": options["device"]} if "device" in options else {}))
        else:
            outcome = session.train(
                data, preset=preset, config_file=config_file, progress=progress,
                write_report=write_run_report,
                **{**options, **job.settings, "outdir": str(folder), "desc": job.desc})
        trained.append(outcome.run_dir)
        if outcome.stopped == "interrupted":
            return trained, "interrupted"
    return trained, "done"


def read_sweep_json(folder: Path) -> dict[str, Any]:
    return read_json_object(folder / "sweep.json")


def write_sweep_pages(folder: Path, grid: dict[str, list[str]], plan: list[dict[str, str]],
                      run_dirs: Sequence[Path | None]) -> None:
    """``sweep.md`` and ``sweep.html``: the table of every combination, and curves overlaid."""
    runs = {i: load_run(d) for i, d in enumerate(run_dirs) if d is not None}
    headers = [*grid, *SCORE_COLUMNS, "run folder"]
    rows = []
    for i, settings in enumerate(plan):
        scores = score_row(runs[i]) if i in runs else {c: "–" for c in SCORE_COLUMNS}
        rows.append([*settings.values(), *(scores[c] for c in SCORE_COLUMNS),
                     runs[i].name if i in runs else "not run yet"])
    with atomic_open(folder / "sweep.md", "w", encoding="utf-8") as f:
        f.write(f"# Sweep {folder.name}\n\nVaried: "
                + "; ".join(f"`{k}` = {', '.join(v)}" for k, v in grid.items())
                + "\n\n" + markdown_table(headers, rows))
    done = sorted(runs)
    body = comparison_section([runs[i] for i in done], [label(plan[i]) for i in done],
                              settings=list(grid), title="Runs") if done else ""
    write_html(folder / "sweep.html",
               page(f"Sweep: {folder.name}", body,
                    subtitle=f"{len(done)} of {len(plan)} runs: "
                    + "; ".join(f"{k} = {', '.join(v)}" for k, v in grid.items())))


@click.command("sweep", context_settings={"help_option_names": ["-h", "--help"],
                                          "show_default": False})
@click.argument("data", required=False)
@click.option("--vary", multiple=True, required=True, metavar="KEY=V1,V2",
              help="An option and its values (repeat for a grid; options that take a comma "
                   "list separate values with /).")
@click.option("--name", default=None, help="Sweep folder: OUTDIR/sweep-NAME [default: the "
              "varied keys].")
@click.option("--resume", is_flag=True, help="Continue a run the sweep left half-finished.")
@click.option("--preset", default=None, help="Start every run from a named configuration.")
@click.option("--config", "config_file", default=None, metavar="FILE.toml",
              help="Options for every run from a TOML file.")
@click.option("--progress/--no-progress", default=True, help="Show each run's progress bar.")
@click.option("--devices", default=None, metavar="LIST", help="Train in parallel, one run per "
              "device, e.g. cuda:0,cuda:1 [default: every CUDA GPU when there are several and "
              "--device is not given].")
@config_options
@user_errors
def sweep_command(data: str | None, vary: tuple[str, ...], name: str | None, resume: bool,
                  preset: str | None, config_file: str | None, progress: bool,
                  devices: str | None, **options: Any) -> None:
    """Train DATA once per combination of the --vary values, then compare the runs."""
    device_list = [d.strip() for d in devices.split(",") if d.strip()] if devices else None
    result = run_sweep(data, vary, name=name, resume=resume, preset=preset,
                       config_file=config_file, progress=progress, devices=device_list,
                       **options)
    click.echo(f"sweep folder: {result.folder} ({len(result.trained)} trained, "
               f"{len(result.skipped)} already finished)")
    click.echo(f"  table: {result.folder / 'sweep.md'}   page: {result.folder / 'sweep.html'}")
    if result.stopped == "interrupted":
        click.echo("interrupted; continue with the same command and --resume", err=True)
        sys.exit(130)
