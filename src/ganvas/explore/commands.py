"""``ganvas generate | interpolate | arithmetic | project | export``.

Thin: each parses, loads the generator, calls the function of the same name and says what it
wrote. Options mirror the functions' arguments; heavy imports wait until a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from ganvas.explore.arithmetic import arithmetic
from ganvas.explore.export import export
from ganvas.explore.expression import ExpressionError, parse
from ganvas.explore.generate import generate
from ganvas.explore.interpolate import interpolate
from ganvas.explore.media import IMAGE_FORMATS, VIDEO_FORMATS, parse_grid, video_format
from ganvas.explore.project import project
from ganvas.explore.stylemix import style_mixing_grid
from ganvas.render import (
    DEFAULT_BATCH,
    NOISE_MODES,
    PRECISIONS,
    load_discriminator,
    load_generator,
    parse_seeds,
)
from ganvas.utils.classes import parse_classes
from ganvas.utils.cli import user_errors
from ganvas.utils.device import pick_device
from ganvas.utils.io import save_image, writable_folder

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


precision_option = click.option(
    "--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
    help="Arithmetic of the generator. Every command renders a seed identically in fp32; bf16 "
         "or fp16 (or auto: bf16 where it is native) is faster but changes pixels slightly.")


def generator_options(func: Callable) -> Callable:
    """The options every command shares: which weights, where to run, how to sample."""
    for decorator in reversed([
        click.argument("run"),
        click.option("--ema/--no-ema", default=True, show_default=True,
                     help="Use the EMA generator when the run has one."),
        click.option("--trunc", "truncation_psi", type=float, default=None, metavar="PSI",
                     help="Truncation: z entries beyond ±PSI are redrawn (DCGAN); "
                          "w_avg + PSI·(w − w_avg) (StyleGAN2). Default: none."),
        click.option("--noise-mode", type=click.Choice(NOISE_MODES), default=None,
                     help="Noise inputs, for generators that have them (StyleGAN2)."),
        click.option("--device", default="cpu", show_default=True,
                     help="cpu, cuda, cuda:N or auto."),
        precision_option,
    ]):
        func = decorator(func)
    return func


def _load(run: str, ema: bool, device: str) -> Any:
    return load_generator(run, device=pick_device(device), ema=ema)


@click.command(context_settings=CONTEXT)
@generator_options
@click.option("--seeds", default=None, help="Seeds: ranges and lists, e.g. 0-35,85,265 "
              "[default: 0-7, or 0..N-1 with --count].")
@click.option("--count", type=int, default=None, metavar="N",
              help="N images (the first N of --seeds), e.g. for FID sets or new datasets.")
@click.option("--out", "outdir", default=None, help="Output folder [default: RUN/generated "
              "or ./generated].")
@click.option("--grid", default=None, is_flag=False, flag_value="square", metavar="CxR",
              help="One grid image, COLUMNSxROWS (e.g. 8x4; seeds default to 0..C*R-1), or "
                   "square when given no value.")
@click.option("--batch", type=int, default=DEFAULT_BATCH, show_default=True,
              help="Images per forward pass.")
@click.option("--format", "image_format", type=click.Choice(IMAGE_FORMATS), default="png",
              show_default=True)
@click.option("--latents", default=None, metavar="FILE.npz",
              help="Render saved latents (from project or arithmetic) instead of seeds.")
@click.option("--class", "classes", default=None, metavar="NAMES|all",
              help="A conditional run (--cond): the classes to draw, by name or index, "
                   "comma-separated, or all (with --grid: a row per class).")
@click.option("--style-mix", nargs=2, default=None, metavar="ROW_SEEDS COL_SEEDS",
              help="StyleGAN2: a style-mixing grid, rows' images with --mix-layers' styles from "
                   "the columns' seeds (writes style_mix.png).")
@click.option("--mix-layers", default="0-6", show_default=True,
              help="Style layers the column seeds provide (0-6: coarse).")
@user_errors
def generate_command(run: str, ema: bool, truncation_psi: float | None, noise_mode: str | None,
                     device: str, precision: str, seeds: str | None, count: int | None,
                     outdir: str | None, grid: str | None, batch: int, image_format: str,
                     latents: str | None, classes: str | None,
                     style_mix: tuple[str, str] | None, mix_layers: str) -> None:
    """Write images from RUN (a run folder or checkpoint): one per seed, or a grid."""
    seed_list = parse_seeds(seeds) if seeds is not None else None
    if outdir is None:
        outdir = str(Path(run) / "generated") if Path(run).is_dir() else "generated"
    if style_mix is not None:
        grid_image = style_mixing_grid(_load(run, ema, device), parse_seeds(style_mix[0]),
                                       parse_seeds(style_mix[1]), mix_layers, truncation_psi,
                                       noise_mode, precision)
        target = writable_folder(outdir) / "style_mix.png"
        save_image(target, grid_image)
        click.echo(f"wrote {target}")
        return
    paths = generate(run, seed_list, outdir, grid=grid, count=count, batch=batch,
                     truncation_psi=truncation_psi, ema=ema, image_format=image_format,
                     latents=latents, noise_mode=noise_mode, device=pick_device(device),
                     progress=True, precision=precision, classes=classes)
    click.echo(f"wrote {len(paths)} image(s) to {Path(outdir)}")


@click.command(context_settings=CONTEXT)
@generator_options
@click.option("--seeds", required=True, help="Key seeds of the walk, e.g. 1,5,9.")
@click.option("--out", required=True, metavar="FILE.mp4|FILE.gif", help="The video to write.")
@click.option("--frames", type=int, default=60, show_default=True, help="Frames per segment.")
@click.option("--loop", is_flag=True, help="Walk back to the first seed (a seamless loop).")
@click.option("--grid", default="1x1", show_default=True, metavar="CxR",
              help="Several walks side by side; cell k walks through each seed + k.")
@click.option("--fps", type=float, default=30.0, show_default=True)
@click.option("--batch", type=int, default=DEFAULT_BATCH, show_default=True)
@click.option("--class", "classes", default=None, metavar="NAMES",
              help="A conditional run: one class for the walk, a class per key seed, or with "
                   "one seed the classes to walk through (--seeds 7 --class 3,8).")
@user_errors
def interpolate_command(run: str, ema: bool, truncation_psi: float | None,
                        noise_mode: str | None, device: str, seeds: str, out: str, frames: int,
                        precision: str, loop: bool, grid: str, fps: float,
                        batch: int, classes: str | None) -> None:
    """A video walking through RUN's latent space from seed to seed (or class to class)."""
    seed_list, shape = parse_seeds(seeds), parse_grid(grid)
    video_format(out)
    G = _load(run, ema, device)
    class_list = parse_classes(classes, G.class_names) if classes is not None else None
    path = interpolate(G, seed_list, out, frames=frames, loop=loop, grid=shape, fps=fps,
                       truncation_psi=truncation_psi, noise_mode=noise_mode, batch=batch,
                       progress=True, precision=precision, classes=class_list)
    click.echo(f"wrote {path}")


@click.command(context_settings=CONTEXT)
@generator_options
@click.argument("expression")
@click.option("--out", "outdir", default="arithmetic", show_default=True,
              help="Folder for result.png, result.npz and figure.png.")
@click.option("--class", "seed_class", default=None, metavar="NAME",
              help="A conditional run: the class the expression's seeds are drawn in.")
@user_errors
def arithmetic_command(run: str, ema: bool, truncation_psi: float | None,
                       noise_mode: str | None, device: str, precision: str, expression: str,
                       outdir: str, seed_class: str | None) -> None:
    """Add and subtract latents: "mean(12,40,77) - mean(3,9) + mean(51,60)".

    Terms: a seed (12), mean(seeds), a latent file (@photo.npz or file(photo.npz)), a number
    times a term (0.5*mean(1,2)), term/number, + and -, parentheses; in a conditional run,
    class(NAME), a class's direction: "12 - class(3) + class(8)" with --class 3.
    """

    try:
        parse(expression)  # syntax errors before loading anything
    except ExpressionError as exc:
        click.echo(exc.pointer, err=True)
        raise
    paths = arithmetic(_load(run, ema, device), expression, outdir,
                       truncation_psi=truncation_psi, noise_mode=noise_mode, precision=precision,
                       seed_class=seed_class)
    click.echo(f"wrote {paths['result']} and {paths['figure']}")


@click.command(context_settings=CONTEXT)
@click.argument("run")
@click.argument("photo")
@click.option("--out", "outdir", default="projection", show_default=True)
@click.option("--steps", type=int, default=500, show_default=True)
@click.option("--lr", type=float, default=0.05, show_default=True, help="Adam's peak rate.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the starting z (DCGAN; StyleGAN2 starts from w_avg).")
@click.option("--feature-weight", type=float, default=1.0, show_default=True,
              help="Weight of the discriminator-feature distance (0: pixels only).")
@click.option("--video-format", type=click.Choice(VIDEO_FORMATS), default="mp4",
              show_default=True)
@click.option("--ema/--no-ema", default=True, show_default=True)
@click.option("--noise-mode", type=click.Choice(NOISE_MODES), default=None)
@click.option("--device", default="cpu", show_default=True)
@precision_option
@user_errors
def project_command(run: str, photo: str, outdir: str, steps: int, lr: float, seed: int,
                    feature_weight: float, video_format: str, ema: bool,
                    noise_mode: str | None, device: str, precision: str) -> None:
    """Find the latent of RUN's generator whose image best matches PHOTO."""
    G = _load(run, ema, device)
    D = load_discriminator(run, pick_device(device)) if feature_weight > 0 else None
    result, paths = project(G, D, photo, outdir, steps=steps, lr=lr,
                            feature_weight=feature_weight, seed=seed,
                            video_format=video_format, noise_mode=noise_mode, progress=True,
                            precision=precision)
    click.echo(f"pixel MSE {result.start_distance:.4f} -> {result.final_distance:.4f}; wrote "
               f"{paths['projected']}, {paths['latent']} and {paths['video']}")


@click.command(context_settings=CONTEXT)
@click.argument("run")
@click.option("--format", "export_format", type=click.Choice(["torchscript", "onnx"]),
              default="torchscript", show_default=True)
@click.option("--out", default=None, help="File to write [default: RUN/generator.pt or "
              "RUN/generator.onnx].")
@click.option("--trunc", "truncation_psi", type=float, default=None, metavar="PSI",
              help="Bake a truncation psi into a StyleGAN2 export.")
@click.option("--ema/--no-ema", default=True, show_default=True)
@user_errors
def export_command(run: str, export_format: str, out: str | None,
                   truncation_psi: float | None, ema: bool) -> None:
    """Save RUN's generator alone as TorchScript or ONNX (input z, output images)."""
    if out is None:
        folder = Path(run) if Path(run).is_dir() else Path(".")
        out = str(folder / ("generator.pt" if export_format == "torchscript"
                            else "generator.onnx"))
    path = export(_load(run, ema, "cpu"), out, export_format, truncation_psi)
    click.echo(f"wrote {path}")
