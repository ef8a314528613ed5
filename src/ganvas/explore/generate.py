"""``ganvas generate``: image files from a trained generator, by seed, byte for byte.

Rendering itself (seeds to latents, truncation, precision, padded batches) is
:mod:`ganvas.render`'s; this writes the files. ``generate`` streams: ``--count 50000`` never
holds more than one batch of images in memory.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ganvas.errors import GanvasError
from ganvas.explore.media import IMAGE_FORMATS, parse_grid
from ganvas.render import DEFAULT_BATCH, LatentSpace, load_generator
from ganvas.utils.classes import parse_classes
from ganvas.utils.grid import make_grid
from ganvas.utils.io import save_image, writable_folder

DEFAULT_SEEDS = list(range(8))


def _choose_seeds(seeds: list[int] | None, count: int | None,
                  grid: tuple[int, int] | None) -> list[int]:
    """--count N takes the first N of --seeds (default 0..N-1); a CxR grid defaults to C*R."""
    if count is None:
        if seeds is not None:
            return seeds
        return list(range(grid[0] * grid[1])) if grid else DEFAULT_SEEDS
    if count < 1:
        raise GanvasError(f"--count: {count} must be >= 1")
    if seeds is None:
        return list(range(count))
    if len(seeds) < count:
        raise GanvasError(f"--count: {count} images asked for, but --seeds lists only "
                          f"{len(seeds)}")
    return seeds[:count]


def _grid_shape(grid: bool | str | tuple[int, int] | None) -> tuple[int, int] | None:
    """None (one file per image), a (columns, rows) shape, or (0, 0) for "square"."""
    if grid is None or grid is False:
        return None
    if grid is True or grid == "square":
        return (0, 0)
    return parse_grid(grid) if isinstance(grid, str) else (int(grid[0]), int(grid[1]))


def _file_names(labels: list[str]) -> list[str]:
    """The latent file's labels when they make distinct, safe names; else latent0000...."""
    if len(set(labels)) == len(labels) and all(re.fullmatch(r"[\w.-]+", x) for x in labels):
        return labels
    return [f"latent{i:04d}" for i in range(len(labels))]


def generate(path: str | Path, seeds: list[int] | None = None,
             outdir: str | Path = "generated", grid: bool | str | tuple[int, int] | None = None,
             count: int | None = None, batch: int = DEFAULT_BATCH,
             truncation_psi: float | None = None, ema: bool = True, image_format: str = "png",
             latents: str | Path | None = None, noise_mode: str | None = None,
             device: str | torch.device = "cpu", progress: bool = False,
             precision: str = "fp32", classes: str | None = None) -> list[Path]:
    """Write ``seedNNNN.png`` per seed (or one ``grid.png``) into ``outdir``; return the paths.

    ``latents`` renders a ``.npz`` of saved latents (from ``ganvas project`` or
    ``ganvas arithmetic``) instead of seeds. ``grid`` is True (square), or ``'CxR'``.
    ``precision``: fp32 by default, as every command renders; bf16/fp16/auto are faster.
    ``classes`` (a conditional run): names or indices, comma-separated, or ``all``; every seed
    is drawn in every class (``seedNNNN-CLASS.png``), and a square grid has one row per class
    and one column per seed.
    """
    if image_format not in IMAGE_FORMATS:
        raise GanvasError(f"--format: {image_format!r} is not one of {', '.join(IMAGE_FORMATS)}")
    shape = _grid_shape(grid)
    if latents is not None and (seeds is not None or count is not None):
        raise GanvasError("--latents: renders the file's latents; drop --seeds and --count")
    G = load_generator(path, device=device, ema=ema)
    space = LatentSpace(G, truncation_psi=truncation_psi, noise_mode=noise_mode, batch=batch,
                        precision=precision)
    chosen: list[int] = []
    drawn: list[int] | None = None  # the class of each image (a conditional run)
    latent_rows: torch.Tensor | None = None
    if latents is not None:
        if classes is not None:
            raise GanvasError("--latents: a saved latent holds its class already; drop --class")
        latent_rows, labels = space.load(latents)
        names = _file_names(labels)
    else:
        seed_list = _choose_seeds(seeds, count, shape if shape and shape[0] else None)
        chosen, drawn, names = _seeds_and_classes(seed_list, classes, G)
        if shape == (0, 0) and drawn is not None and len(set(drawn)) > 1:
            shape = (len(seed_list), len(set(drawn)))  # a row per class, a column per seed
    if shape and shape[0] and len(names) > shape[0] * shape[1]:
        raise GanvasError(f"--grid: {shape[0]}x{shape[1]} holds {shape[0] * shape[1]} images, "
                          f"not {len(names)}")
    outdir = writable_folder(outdir)
    paths: list[Path] = []
    tiles = []
    with tqdm(total=len(names), disable=not progress, unit="img") as bar:
        for start in range(0, len(names), batch):
            part = names[start:start + batch]
            part_classes = drawn[start:start + batch] if drawn is not None else None
            rows = latent_rows[start:start + batch] if latent_rows is not None \
                else space.from_seeds(chosen[start:start + batch], part_classes)
            images = space.render(rows)
            if shape:
                tiles.append(images)
            else:
                for name, image in zip(part, images):
                    paths.append(outdir / f"{name}.{image_format}")
                    save_image(paths[-1], image.transpose(1, 2, 0))
            bar.update(len(part))
    if shape:
        paths.append(outdir / f"grid.{image_format}")
        save_image(paths[-1], make_grid(np.concatenate(tiles), columns=shape[0] or None))
    return paths


def _seeds_and_classes(seeds: list[int], classes: str | None, G: torch.nn.Module
                       ) -> tuple[list[int], list[int] | None, list[str]]:
    """Each image's seed, class (None: an unconditional run) and file name: every seed in
    every chosen class, class by class."""
    if classes is None:
        return seeds, None, [f"seed{s:04d}" for s in seeds]
    class_names = list(getattr(G, "class_names", []) or [])
    picked = parse_classes(classes, class_names)
    safe = [re.sub(r"[^\w.-]+", "_", class_names[k]) for k in picked]
    return ([s for _ in picked for s in seeds], [k for k in picked for _ in seeds],
            [f"seed{s:04d}-{name}" for name in safe for s in seeds])
