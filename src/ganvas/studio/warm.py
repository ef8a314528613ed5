"""Generators kept loaded and warm between requests, rendered through :mod:`ganvas.render`.

A studio request renders a handful of images; loading a checkpoint and building the network
each time would cost more than the rendering. Generators are cached by checkpoint (path and
modification time, so a new ``latest.pt`` is picked up) and EMA choice; the oldest is dropped
beyond :data:`KEEP`. Rendering is serialised by one lock: on a small CPU two renders at once
are slower than one after the other.

Rendering uses batches of :data:`BATCH` (padded, as every command does), so a seed's pixels here
are the pixels of ``ganvas generate RUN --seeds S --batch 16``, which :func:`generate_command`
writes out.
"""

from __future__ import annotations

import io
import json
import shlex
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from torch import nn

from ganvas.errors import GanvasError
from ganvas.explore.interpolate import interpolation_frames, walk
from ganvas.explore.project import Projection, load_photo, project_latent
from ganvas.explore.stylemix import mix_styles
from ganvas.render import LatentSpace, load_discriminator, load_generator
from ganvas.runs.checkpoint import find_checkpoint
from ganvas.utils.classes import parse_classes

BATCH = 16   # images per forward pass: a 4x4 grid in one
KEEP = 3     # generators kept loaded
Z_TRUNCATION_OFF = 4.0  # a z threshold this large redraws almost nothing: shown as "off"


@dataclass(frozen=True)
class Settings:
    """How one image is drawn: what ``ganvas generate`` needs to draw it again."""

    run: str                 # the run folder, or RUN@<kimg>, or a checkpoint file
    seed: int
    truncation: float | None = None
    ema: bool = True
    class_name: str | None = None

    def command(self) -> str:
        """The ``ganvas generate`` command that writes this image's pixels."""
        words = ["ganvas", "generate", self.run, "--seeds", str(self.seed)]
        if self.truncation is not None:
            words += ["--trunc", f"{self.truncation:g}"]
        if not self.ema:
            words.append("--no-ema")
        if self.class_name is not None:
            words += ["--class", self.class_name]
        words += ["--batch", str(BATCH), "--out", "generated"]
        return shlex.join(words)


def png_bytes(image: np.ndarray, settings: Settings | None = None) -> bytes:
    """A PNG of ``image`` (H×W×C uint8) whose text chunk holds its settings and command."""
    info = PngImagePlugin.PngInfo()
    if settings is not None:
        info.add_text("ganvas", json.dumps(asdict(settings)))
        info.add_text("ganvas-command", settings.command())
    picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


class WarmGenerators:
    """Loaded generators by checkpoint, and rendering with them (one render at a time)."""

    def __init__(self, keep: int = KEEP, batch: int = BATCH):
        self.keep, self.batch = keep, batch
        self._loaded: OrderedDict[tuple, nn.Module] = OrderedDict()
        self.lock = threading.RLock()

    def generator(self, run: str | Path, ema: bool = True) -> nn.Module:
        """The (cached) generator of ``run`` (a run folder, ``RUN@<kimg>`` or a checkpoint)."""
        path = find_checkpoint(run)
        key = (str(path.resolve()), path.stat().st_mtime_ns, ema)
        with self.lock:
            if key not in self._loaded:
                self._loaded[key] = load_generator(path, ema=ema)
                while len(self._loaded) > self.keep:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(key)
            return self._loaded[key]

    def space(self, run: str | Path, truncation: float | None = None,
              ema: bool = True) -> LatentSpace:
        return LatentSpace(self.generator(run, ema), truncation_psi=truncation, batch=self.batch)

    def class_index(self, space: LatentSpace, class_name: str | None) -> int | None:
        names = list(getattr(space.G, "class_names", []) or [])
        if not space.num_classes:
            return None
        if class_name is None:
            raise GanvasError("this run is class-conditional: pick a class "
                              f"({', '.join(names)})")
        return parse_classes(class_name, names, "class")[0]

    def seeds(self, run: str | Path, seeds: list[int], truncation: float | None = None,
              ema: bool = True, class_name: str | None = None) -> np.ndarray:
        """uint8 N×H×W×C images of ``seeds`` (exactly ``ganvas generate``'s)."""
        with self.lock:
            space = self.space(run, truncation, ema)
            cls = self.class_index(space, class_name)
            latents = space.from_seeds(seeds, None if cls is None else [cls] * len(seeds))
            return space.render(latents).transpose(0, 2, 3, 1)

    def between(self, run: str | Path, seeds: list[int], positions: list[float],
                truncation: float | None = None, ema: bool = True,
                class_name: str | None = None) -> np.ndarray:
        """Images along the walk through ``seeds`` (as ``ganvas interpolate`` walks) at
        ``positions`` in [0, 1] of the whole walk."""
        if len(seeds) < 2:
            raise GanvasError("interpolation: pin at least two seeds")
        with self.lock:
            space = self.space(run, truncation, ema)
            cls = self.class_index(space, class_name)
            steps = 1000
            path = walk(space, seeds, steps, classes=None if cls is None else [cls])
            index = [min(len(path) - 1, round(p * (len(path) - 1))) for p in positions]
            return space.render(path[index]).transpose(0, 2, 3, 1)

    def walk_video(self, run: str | Path, seeds: list[int], frames: int,
                   truncation: float | None = None, ema: bool = True,
                   class_name: str | None = None) -> np.ndarray:
        """uint8 T×H×W×C frames of the walk through ``seeds``, as ``ganvas interpolate``."""
        if len(seeds) < 2:
            raise GanvasError("interpolation: pin at least two seeds")
        with self.lock:
            space = self.space(run, truncation, ema)
            cls = self.class_index(space, class_name)
            return interpolation_frames(space, seeds, frames,
                                        classes=None if cls is None else [cls])

    def mix(self, run: str | Path, row_seed: int, column_seed: int, layers: tuple[int, int],
            truncation: float | None = None, ema: bool = True) -> np.ndarray:
        """``row_seed``'s image with styles ``layers[0]..layers[1]`` from ``column_seed``
        (StyleGAN2); returns [row, column, mixed] images."""
        with self.lock:
            space = self.space(run, truncation, ema)
            if space.space != "w":
                raise GanvasError("style mixing needs a StyleGAN2 run (per-layer styles)")
            first, last = layers
            if not 0 <= first <= last < space.shape[0]:
                raise GanvasError(f"style layers {first}-{last}: this generator has "
                                  f"{space.shape[0]} (0-{space.shape[0] - 1})")
            ws = space.from_seeds([row_seed, column_seed])
            mixed = mix_styles(ws[:1], ws[1:], list(range(first, last + 1)))
            return space.render(torch.cat([ws, mixed])).transpose(0, 2, 3, 1)

    def project(self, run: str | Path, photo: str | Path, steps: int,
                on_step: Callable[[int], None] | None = None
                ) -> tuple[np.ndarray, Projection, LatentSpace]:
        """Project ``photo`` (decoded with :func:`ganvas.explore.project.load_photo`'s guards)
        into the run's G; ``on_step`` is called after every step and may raise to cancel.

        It runs outside the render lock: a projection takes a while, and the grid should stay
        usable meanwhile (eval-mode networks are read-only, so sharing them is safe)."""
        space = self.space(run)
        D = load_discriminator(find_checkpoint(run))
        target = load_photo(photo, int(space.G.resolution), int(space.G.img_channels))
        result = project_latent(space, target, D, steps=steps, on_step=on_step)
        return space.render(result.latent)[0].transpose(1, 2, 0), result, space
