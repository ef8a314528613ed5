"""The studio without its page: runs, their pictures, and rendering, as plain Python.

:class:`Studio` is what every handler of the page calls; it holds no Gradio object, so the
views' logic is tested without a browser and the page stays a thin layer of widgets.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ganvas.errors import GanvasError
from ganvas.explore.media import write_video
from ganvas.report.compare import differing_settings, overlay_charts, score_row
from ganvas.report.run_data import RunData, load_run
from ganvas.studio.catalog import Catalog, RunRow
from ganvas.studio.folders import RunFolders
from ganvas.studio.warm import BATCH, Settings, WarmGenerators, png_bytes
from ganvas.studio.watch import Watcher

SNAPSHOT_SUFFIX = " kimg"


@dataclass(frozen=True)
class GeneratorFacts:
    """What the Explore controls need to know about a run's generator."""

    space: str                # "z" or "w"
    classes: list[str]
    num_ws: int               # style inputs (StyleGAN2), else 0
    resolution: int


def shown_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (shorter, and what the
    user typed), else absolute: how a copied command names a run."""
    try:
        return os.path.relpath(path) if Path.cwd() in path.parents else str(path)
    except ValueError:  # another drive (Windows)
        return str(path)


class Studio:
    """Runs under ``roots``, read and rendered on request."""

    def __init__(self, roots: Sequence[str | os.PathLike], batch: int = BATCH):
        self.folders = RunFolders(roots)
        self.catalog = Catalog()
        self.watcher = Watcher()
        self.generators = WarmGenerators(batch=batch)
        self.downloads = Path(tempfile.mkdtemp(prefix="ganvas-studio-"))

    # -- Runs and Run views -------------------------------------------------------------
    def rows(self) -> list[RunRow]:
        return self.catalog.rows(self.folders.runs())

    def run_ids(self) -> list[str]:
        return [ref.id for ref in self.folders.runs()]

    def spec(self, run_id: str, snapshot: str | None = "latest") -> str:
        """How ``ganvas generate`` names the chosen checkpoint of a run: the folder (latest),
        its ``best.pt``, or ``RUN@<kimg>``."""
        run_dir = self.folders.run(run_id)
        if snapshot in (None, "", "latest"):
            return shown_path(run_dir)
        if snapshot == "best":
            return shown_path(self.folders.file(run_id, "checkpoints/best.pt"))
        if snapshot.endswith(SNAPSHOT_SUFFIX):
            kimg = snapshot[:-len(SNAPSHOT_SUFFIX)]
            try:
                float(kimg)
            except ValueError:
                raise GanvasError(f"snapshot {snapshot!r}: not a kimg") from None
            return f"{shown_path(run_dir)}@{kimg}"
        raise GanvasError(f"snapshot {snapshot!r}: choose latest, best or '<kimg> kimg'")

    def facts(self, spec: str) -> GeneratorFacts:
        G = self.generators.generator(spec)
        space = self.generators.space(spec)
        return GeneratorFacts(space=space.space, classes=list(getattr(G, "class_names", [])),
                              num_ws=int(getattr(G, "num_ws", 0) or 0),
                              resolution=int(G.resolution))

    # -- Explore -------------------------------------------------------------------------
    def image_file(self, image: np.ndarray, settings: Settings) -> Path:
        """A PNG of one image with its settings in the text chunk, for download."""
        folder = Path(tempfile.mkdtemp(dir=self.downloads))
        name = f"seed{settings.seed:04d}" + (f"-{settings.class_name}"
                                             if settings.class_name else "")
        path = folder / f"{''.join(c if c.isalnum() or c in '-_' else '_' for c in name)}.png"
        path.write_bytes(png_bytes(image, settings))
        return path

    def video_file(self, frames: np.ndarray, name: str, fps: float = 30.0) -> Path:
        return write_video(Path(tempfile.mkdtemp(dir=self.downloads)) / name, frames, fps)

    def project(self, spec: str, photo: str | os.PathLike, steps: int,
                on_step: Callable[[int], None] | None = None) -> tuple[np.ndarray, Path]:
        """The projected image, and its latent as an ``.npz`` for ``generate --latents``."""
        image, result, space = self.generators.project(spec, photo, steps, on_step)
        path = Path(tempfile.mkdtemp(dir=self.downloads)) / f"{Path(photo).stem}-latent.npz"
        space.save(path, result.latent, [Path(photo).stem])
        return image, path

    # -- Compare -------------------------------------------------------------------------
    def load(self, run_id: str) -> RunData:
        return load_run(self.folders.run(run_id))

    def grids_at(self, run_ids: list[str], kimg: float) -> list[tuple[Image.Image, str]]:
        """Each run's fixed-noise grid at the snapshot nearest ``kimg`` (at or before it when
        there is one)."""
        shown = []
        for run_id in run_ids:
            fakes = self.load(run_id).fakes
            if not fakes:
                continue
            before = [f for f in fakes if f[0] <= kimg]
            at, path = before[-1] if before else fakes[0]
            with Image.open(path) as image:
                shown.append((image.convert("RGB"), f"{run_id} · {at:,} kimg"))
        return shown

    def comparison(self, run_ids: list[str]) -> tuple[list[str], list[list[str]],
                                                       list[Image.Image]]:
        """(headers, rows, overlaid curve charts): the settings that differ and the scores."""
        runs = [self.load(r) for r in run_ids]
        keys = differing_settings(runs) if len(runs) > 1 else []
        headers = ["run", *keys, "images seen", "best FID", "images/s", "stopped"]
        rows = []
        for run_id, run in zip(run_ids, runs):
            scores = score_row(run)
            rows.append([run_id, *(str(run.setting(k)) for k in keys),
                         *(scores[c] for c in ("images seen", "best FID", "images/s",
                                               "stopped"))])
        charts = [Image.open(io.BytesIO(png)).convert("RGB")
                  for png in overlay_charts(runs, run_ids)]
        return headers, rows, charts
