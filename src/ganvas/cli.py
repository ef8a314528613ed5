"""The ``ganvas`` command. Thin: it parses, calls the library, and reports errors on one line.

Training options are generated from :class:`ganvas.config.TrainConfig`, so each is declared
once. User mistakes surface as ``ganvas: error: <what>`` with exit code 2.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ganvas.data.commands import dataset_group, prepare_command
from ganvas.errors import GanvasError
from ganvas.explore.commands import (
    arithmetic_command,
    export_command,
    generate_command,
    interpolate_command,
    project_command,
)
from ganvas.explore.generate import generate
from ganvas.metrics.commands import evaluate_command
from ganvas.report.commands import report_command
from ganvas.report.document import write_run_report
from ganvas.studio.commands import studio_command
from ganvas.sweep import sweep_command
from ganvas.training.cli_options import SectionedCommand, config_options
from ganvas.training.import_network import import_command
from ganvas.training.session import config_json
from ganvas.training.session import train as run_training

DEMO_KIMG = 120.0  # digits are clear by then (docs/benchmarks.md)
DEMO_MINUTES = 1.5  # what DEMO_KIMG took on the reference 2-core CPU (bf16)
DEMO_COND_KIMG = 360.0  # conditional: class agreement 0.97x the probe's (benchmarks.md)
# How a run that did not finish its budget ends: Ctrl-C as shells expect, divergence as failure.
EXIT_CODES = {"interrupted": 130, "diverged": 1}


def fail(message: str) -> None:
    """Print one error line and exit with code 2."""
    click.echo(f"ganvas: error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ganvas")
def main() -> None:
    """Train GANs on your own pictures: prepare, train, watch, measure, generate, explore."""


@main.command(cls=SectionedCommand, context_settings={"show_default": False})
@click.argument("data", required=False)
@click.option("--preset", default=None, help="Start from a named configuration "
              "(see docs/presets.md).")
@click.option("--config", "config_file", default=None, metavar="FILE.toml",
              help="Options from a TOML file (CLI options still win).")
@click.option("--resume", default=None, metavar="RUN", help="Continue a run folder exactly "
              "where it stopped (budget and logging options may change).")
@click.option("--dry-run", is_flag=True, help="Print the resolved options and exit.")
@click.option("--progress/--no-progress", default=True, help="Show the live progress bar.")
@config_options
def train(data: str | None, preset: str | None, config_file: str | None, resume: str | None,
          dry_run: bool, progress: bool, **options: Any) -> None:
    """Train a GAN on DATA: 'mnist', a folder or archive of images, or a packed dataset."""
    result = run_training(data, resume=resume, preset=preset, config_file=config_file,
                          dry_run=dry_run, progress=progress, write_report=write_run_report,
                          **options)
    if dry_run:
        click.echo(config_json(result))
        return
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary (rank 0's)
        report_run(result)
    if result.stopped in EXIT_CODES:
        sys.exit(EXIT_CODES[result.stopped])


def report_run(result: Any) -> None:
    """Tell the user where to look after a run."""
    run_dir = result.run_dir
    grids = sorted(run_dir.glob("fakes_*.png"))
    click.echo(f"run folder: {run_dir}")
    if grids:
        click.echo(f"  latest samples: {grids[-1]}")
    click.echo(f"  plots: {run_dir / 'plots'}   stats: {run_dir / 'stats.jsonl'}")
    if result.stopped == "interrupted":
        click.echo(f"interrupted; continue with: ganvas train --resume {run_dir}")
    elif result.stopped == "diverged":
        click.echo("stopped: training diverged (see log.txt); the last good checkpoint is kept")


@main.command()
@click.option("--kimg", default=None, type=float,
              help="Thousands of training images (a budget in images, so slow machines still "
                   f"get digits; they only take longer) [default: {DEMO_KIMG:g}; "
                   f"{DEMO_COND_KIMG:g} with --cond].")
@click.option("--outdir", default="runs", show_default=True)
@click.option("--cond", is_flag=True, help="Class-conditional: learn the digits' labels and end "
              "with a grid of one digit per row (classes.png).")
def demo(kimg: float | None, outdir: str, cond: bool) -> None:
    """Train a 32 px DCGAN on the built-in MNIST digits (1-3 minutes on 2 CPU cores)."""
    kind = "class-conditional DCGAN" if cond else "DCGAN"
    kimg = kimg if kimg is not None else DEMO_COND_KIMG if cond else DEMO_KIMG
    click.echo(f"ganvas demo: training a 32 px {kind} on MNIST for {kimg:g} thousand images; "
               f"about {kimg / DEMO_KIMG * DEMO_MINUTES:.0f} minutes on a 2-core laptop CPU "
               "(the progress bar shows this machine's estimate)")
    result = run_training("mnist", kimg=kimg, outdir=outdir, desc="demo-cond" if cond else "demo",
                          write_report=write_run_report, cond=cond,
                          **(DEMO_COND_OPTIONS if cond else DEMO_OPTIONS))
    report_run(result)
    if cond:
        grid = generate(result.run_dir, list(range(8)), result.run_dir, grid=True, classes="all")
        final = grid[0].with_name("classes.png")
        grid[0].replace(final)
        click.echo(f"open {final} to see one digit per row, 0 to 9")
        return
    click.echo(f"open {sorted(result.run_dir.glob('fakes_*.png'))[-1]} to see generated digits")


# Narrower than the textbook DCGAN, so that 3 CPU minutes are ~2,000 steps: enough for digits.
DEMO_OPTIONS: dict[str, Any] = {"resolution": 32, "g_channels": 32, "d_channels": 32,
                                "batch": 64, "ema_kimg": 5.0, "snapshot_kimg": 10.0,
                                "diffaugment": ""}  # digits need no augmentation this early
# Conditional: hinge loss and twice the rates (measured against the plain recipe).
DEMO_COND_OPTIONS: dict[str, Any] = {**DEMO_OPTIONS, "loss": "hinge", "lr_g": 4e-4,
                                     "lr_d": 4e-4}


# Commands that live beside their subsystems.
main.add_command(prepare_command, "prepare")
main.add_command(dataset_group, "dataset")
main.add_command(evaluate_command, "evaluate")
main.add_command(generate_command, "generate")
main.add_command(interpolate_command, "interpolate")
main.add_command(arithmetic_command, "arithmetic")
main.add_command(project_command, "project")
main.add_command(export_command, "export")
main.add_command(import_command, "import")
main.add_command(report_command, "report")
main.add_command(sweep_command, "sweep")
main.add_command(studio_command, "studio")


def run(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and exit code 2."""
    try:
        code = main.main(args=argv, prog_name="ganvas", standalone_mode=False)
    except GanvasError as exc:
        click.echo(f"ganvas: error: {exc}", err=True)
        return exc.exit_code
    except click.UsageError as exc:
        click.echo(f"ganvas: error: {exc.format_message()}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # a command that exits itself (user_errors has printed its line)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except click.Abort:
        click.echo("ganvas: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("ganvas: interrupted", err=True)
        return 130
    return code if isinstance(code, int) else 0


def entry() -> None:
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    entry()
