"""Click commands ``ganvas prepare`` and ``ganvas dataset info`` (added to ``ganvas`` in cli.py).

Choice-like options are plain strings checked by :class:`PrepareOptions`, so a wrong value is
the same one-line ``ganvas: error: ...`` (exit code 2) as every other user mistake.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ganvas.data.options import CROPS, FILTERS, PrepareOptions
from ganvas.data.packed import dataset_info
from ganvas.data.prepare import prepare
from ganvas.utils.cli import user_errors

_DEFAULTS = PrepareOptions()


@click.command("prepare")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--resolution", type=int, default=_DEFAULTS.resolution, show_default=True,
              help="Side of the square output images, in pixels.")
@click.option("--crop", default=_DEFAULTS.crop, show_default=True,
              help=f"How to make images square: {' | '.join(CROPS)}.")
@click.option("--pad-color", default=_DEFAULTS.pad_color, show_default=True,
              help="Fill for --crop pad (and face squares past the edge): edge-mean, R,G,B or "
                   "#rrggbb.")
@click.option("--face-margin", type=float, default=_DEFAULTS.face_margin, show_default=True,
              help="--crop face: square side is face size × (1 + margin).")
@click.option("--filter", "filter_", default=_DEFAULTS.filter, show_default=True,
              help=f"Resize filter: {' | '.join(FILTERS)}.")
@click.option("--channels", default="auto", show_default=True,
              help="1 (grey), 3 (RGB) or auto: 1 if every image is grey, else 3.")
@click.option("--background", default=_DEFAULTS.background, show_default=True,
              help="Colour that transparent pixels are composited onto.")
@click.option("--dedupe/--no-dedupe", default=_DEFAULTS.dedupe, show_default=True,
              help="Drop images whose final pixels are identical to an earlier one.")
@click.option("--max-images", type=int, default=None, help="Keep at most this many images.")
@click.option("--shuffle-seed", type=int, default=None,
              help="Shuffle the packed order with this seed (default: sorted source order).")
@click.option("--min-size", type=int, default=None,
              help="Skip images whose crop is smaller than this (default: resolution / 2).")
@click.option("--workers", type=int, default=None,
              help="Decoding processes (default: one per core).")
@click.option("--overwrite", is_flag=True, help="Replace DEST if it is a packed dataset.")
@user_errors
def prepare_command(src: Path, dest: Path, filter_: str, overwrite: bool, **options: Any) -> None:
    """Decode, clean and pack the images of SRC into the dataset folder DEST.

    SRC is a folder (searched recursively), a .zip, a .tar/.tar.gz/.tgz, MNIST idx files or
    CIFAR-10 python batches. Bad files are converted or skipped, never silently: each is listed
    in DEST/dataset.json.
    """
    report = prepare(src, dest, PrepareOptions(filter=filter_, **options), overwrite=overwrite,
                     progress=sys.stderr.isatty())
    click.echo(report.summary)


@click.group("dataset")
def dataset_group() -> None:
    """Inspect packed datasets."""


@dataset_group.command("info")
@click.argument("dest", type=click.Path(path_type=Path))
@user_errors
def info_command(dest: Path) -> None:
    """Show counts, size, labels, pixel statistics and the preview of a packed dataset."""
    click.echo(dataset_info(dest))


__all__ = ["prepare_command", "dataset_group"]
