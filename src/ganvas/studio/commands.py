"""``ganvas studio [RUNS_DIR ...]``: watch, explore and compare runs in the browser."""

from __future__ import annotations

from pathlib import Path

import click

from ganvas.studio.access import LOCAL_HOST
from ganvas.studio.app import DEFAULT_PORT, require_gradio, serve
from ganvas.utils.cli import user_errors


@click.command("studio", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs_dirs", nargs=-1, type=click.Path(path_type=Path), metavar="[RUNS_DIR ...]")
@click.option("--host", default=LOCAL_HOST, show_default=True,
              help="Address to listen on. Anything but a loopback address opens the studio to "
                   "the network and needs --auth (else a token is generated and printed once).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--auth", default=None, metavar="USER:PASSWORD",
              help="Ask for this login before showing the page.")
@user_errors
def studio_command(runs_dirs: tuple[Path, ...], host: str, port: int, auth: str | None) -> None:
    """Open a local web page on runs: their state, live curves and grids, a seed explorer
    (truncation, classes, interpolation, style mixing, projection) and comparisons.

    RUNS_DIR: run folders, or folders holding them [default: runs]. Needs Gradio:
    pip install 'ganvas[studio]'.
    """
    require_gradio()
    serve(list(runs_dirs) or ["runs"], host=host, port=port, auth=auth)
