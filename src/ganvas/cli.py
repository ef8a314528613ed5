"""The ``ganvas`` command. Thin: it parses, calls the library, and reports errors on one line.

Training options are generated from :class:`ganvas.config.TrainConfig`, so each is declared
once. User mistakes surface as ``ganvas: error: <what>`` with exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ganvas.data.commands import dataset_group, prepare_command
from ganvas.errors import GanvasError
from ganvas.metrics.commands import evaluate_command
from ganvas.report.commands import report_command
from ganvas.sweep import sweep_command
from ganvas.utils.cli import config_options

DEMO_MINUTES = 3.0
# How a run that did not finish its budget ends: Ctrl-C as shells expect, divergence as failure.
EXIT_CODES = {"interrupted": 130, "diverged": 1}


def fail(message: str) -> None:
    """Print one error line and exit with code 2."""
    click.echo(f"ganvas: error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ganvas")
def main() -> None:
    """Train GANs on your own pictures: prepare, train, watch, measure, generate."""


@main.command(context_settings={"show_default": False})
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
    from ganvas.training.session import config_json, train as run_training

    result = run_training(data, resume=resume, preset=preset, config_file=config_file,
                          dry_run=dry_run, progress=progress, **options)
    if dry_run:
        click.echo(config_json(result))
        return
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
@click.argument("run")
@click.option("--seeds", default="0-7", show_default=True, help="Seeds: ranges and lists, "
              "e.g. 0-35,85,265.")
@click.option("--out", "outdir", default=None, help="Output folder [default: RUN/generated "
              "or ./generated].")
@click.option("--grid", is_flag=True, help="Write one grid.png instead of one file per seed.")
@click.option("--device", default="cpu", show_default=True)
def generate(run: str, seeds: str, outdir: str | None, grid: bool, device: str) -> None:
    """Write images from RUN (a run folder or checkpoint), one per seed."""
    from ganvas.sampling import generate as generate_images, parse_seeds

    seed_list = parse_seeds(seeds)
    if outdir is None:
        outdir = str(Path(run) / "generated") if Path(run).is_dir() else "generated"
    paths = generate_images(run, seed_list, outdir, grid=grid, device=device)
    click.echo(f"wrote {len(paths)} image(s) to {Path(outdir)}")


@main.command()
@click.option("--minutes", default=DEMO_MINUTES, show_default=True, type=float,
              help="Training time.")
@click.option("--outdir", default="runs", show_default=True)
def demo(minutes: float, outdir: str) -> None:
    """Train a 32 px DCGAN on the built-in MNIST digits for a few minutes."""
    from ganvas.training.session import train as run_training

    click.echo(f"ganvas demo: training a 32 px DCGAN on MNIST for {minutes:g} minutes...")
    result = run_training("mnist", minutes=minutes, outdir=outdir, desc="demo",
                          **DEMO_OPTIONS)
    report_run(result)
    click.echo(f"open {sorted(result.run_dir.glob('fakes_*.png'))[-1]} to see generated digits")


# Narrower than the textbook DCGAN, so that 3 CPU minutes are ~1,000 steps: enough for digits.
DEMO_OPTIONS: dict[str, Any] = {"resolution": 32, "g_channels": 32, "d_channels": 32,
                                "batch": 64, "ema_kimg": 5.0, "snapshot_kimg": 10.0}


# Commands that live beside their subsystems.
main.add_command(prepare_command, "prepare")
main.add_command(dataset_group, "dataset")
main.add_command(evaluate_command, "evaluate")
main.add_command(report_command, "report")
main.add_command(sweep_command, "sweep")


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
