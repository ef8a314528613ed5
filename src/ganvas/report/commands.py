"""``ganvas report RUN [RUN ...]``: the HTML report of one run, or a comparison of several."""

from __future__ import annotations

from pathlib import Path

import click

from ganvas.report.document import write_report
from ganvas.runs.checkpoint import split_snapshot
from ganvas.utils.cli import user_errors


@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="RUN [RUN ...]")
@click.option("--out", type=click.Path(path_type=Path), default=None, metavar="FILE.html",
              help="Where to write the page [default: RUN/report.html (RUN/report@KIMG.html) "
                   "for one run, ./report.html for several].")
@user_errors
def report_command(runs: tuple[Path, ...], out: Path | None) -> None:
    """Write one self-contained HTML page about RUN(s): samples, curves, metrics, config.

    RUN@KIMG shows the run as it stood at its snapshot of that kimg.
    """
    if out is None:
        run_dir, kimg = split_snapshot(runs[0])
        name = "report.html" if kimg is None else f"report@{kimg:g}.html"
        out = run_dir / name if len(runs) == 1 else Path("report.html")
    click.echo(f"wrote {write_report(list(runs), out)}")
