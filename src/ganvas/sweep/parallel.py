"""Sweep runs in parallel, one ``ganvas train`` subprocess per device (e.g. one per GPU).

Subprocesses rather than threads: each run owns its device, its random state and its Ctrl-C
handling exactly as a run started by hand would, and a crash stays in its own process. Each
run's console output goes to ``<sweep folder>/logs/<desc>.txt``; its run folder is as usual.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Sequence

import click

from ganvas import config as config_mod
from ganvas.runs.state import run_state
from ganvas.sweep.plan import find_run

POLL_SECONDS = 0.5
#: ``ganvas train`` exit codes (cli.EXIT_CODES) and what they mean for the sweep. Exit code 1
#: is also any crash (out of memory...): the run folder's log says whether it diverged.
ENDINGS = {0: "finished", 130: "interrupted"}


def train_command(job: Any, device: str, folder: Path, data: str | None,
                  options: dict[str, Any], preset: str | None,
                  config_file: str | None) -> list[str]:
    """The ``python -m ganvas train ...`` command line of one job on one device."""
    command = [sys.executable, "-m", "ganvas", "train", "--no-progress", "--device", device]
    if job.resume_dir is not None:
        return command + ["--resume", str(job.resume_dir)]
    fixed = {k: v for k, v in options.items() if k != "device"}
    command += config_mod.command_line({**fixed, **job.settings, "outdir": str(folder),
                                        "desc": job.desc})
    command += (["--preset", preset] if preset else []) \
        + (["--config", config_file] if config_file else [])
    return command + (["--", data] if data else [])  # "--": DATA may start with a dash


def train_in_parallel(jobs: Sequence[Any], devices: Sequence[str], folder: Path,
                      data: str | None, options: dict[str, Any], preset: str | None,
                      config_file: str | None) -> tuple[list[Path], str]:
    """Keep every device busy with one job until all are done; Ctrl-C stops them all cleanly.

    Returns the run folders trained and ``done`` or ``interrupted`` (as the sequential sweep).
    """
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    pending = list(jobs)
    running: dict[int, tuple[Any, subprocess.Popen, IO]] = {}  # device slot -> job
    trained: list[Path] = []
    ending = "done"
    try:
        while pending or running:
            for slot, device in enumerate(devices):
                if slot not in running and pending and ending == "done":
                    job = pending.pop(0)
                    log = open(folder / "logs" / f"{job.desc}.txt", "a", encoding="utf-8")
                    click.echo(f"{job.head}: training on {device}", err=True)
                    process = subprocess.Popen(
                        train_command(job, device, folder, data, options, preset, config_file),
                        stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
                    running[slot] = (job, process, log)
            for slot, (job, process, log) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                log.close()
                del running[slot]
                run_dir = find_run(folder, job.desc)
                how = ENDINGS.get(code, f"failed (exit code {code}; see "
                                        f"{folder / 'logs' / (job.desc + '.txt')})")
                if code == 1 and run_state(run_dir) == "diverged":
                    how = "diverged"
                click.echo(f"{job.head}: {how}", err=True)
                if run_dir is not None:
                    trained.append(run_dir)
                if code == 130:
                    ending = "interrupted"
            if running:
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        # Each child got the terminal's Ctrl-C too; it saves a checkpoint and exits.
        for _, process, log in running.values():
            process.wait()
            log.close()
        raise
    return trained, ending
