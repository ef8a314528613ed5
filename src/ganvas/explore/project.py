"""Projection: find the latent whose image looks like a given photo.

The latent (z for DCGAN from a seed's z; w for StyleGAN2 from w_avg, one w for every layer, as in
Karras et al. 2020) is optimised with Adam to minimise pixel MSE plus a feature distance. The
features come from the run's own trained discriminator, which has learnt exactly the statistics
of these images and needs no download: at each spatial size, the last activation map, unit-
normalised per position across channels and compared by squared distance (as LPIPS does).
Pixel MSE alone favours blurry compromises; the features reward matching structure.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from ganvas.data.transforms import SkipImage, decode, normalise_mode, open_image
from ganvas.errors import GanvasError
from ganvas.explore.media import write_video
from ganvas.render import LatentSpace
from ganvas.utils.grid import make_grid, to_uint8
from ganvas.utils.io import save_image, writable_folder

WHITE = (255, 255, 255)  # what a transparent photo is composited onto
VIDEO_FRAMES = 60  # about this many snapshots of the optimisation go into the video


def load_photo(path: str | Path, resolution: int, channels: int) -> np.ndarray:
    """``path`` as uint8 C×H×W: upright (EXIF), centre-cropped square, resized (Lanczos).

    Decoded with ``prepare``'s guards: decompression bombs are refused from their header,
    truncated files and files that are not images fail with one line naming the file."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise GanvasError(f"{path}: no such image") from None
    except OSError as exc:
        raise GanvasError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture = normalise_mode(decode(open_image(raw), [], None), WHITE, [])
    except SkipImage as exc:
        raise GanvasError(f"{path}: {exc}") from None
    picture = picture.convert("L" if channels == 1 else "RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    picture = picture.resize((resolution, resolution), Image.LANCZOS)
    array = np.asarray(picture, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


class FeatureTap:
    """D's activations: the last 4-D output of its layers at each spatial size.

    Found with forward hooks on leaf modules, so it works for any discriminator. Skipped: weight
    re-parametrisations (spectral norm; their outputs are weights) and single-channel maps (the
    logit, which scores the image rather than describing it).
    """

    def __init__(self, D: nn.Module):
        self.D = D
        self.layers = [m for name, m in D.named_modules()
                       if not list(m.children()) and "parametrizations" not in name]

    def __call__(self, images: torch.Tensor) -> list[torch.Tensor]:
        by_size: dict[tuple[int, int], torch.Tensor] = {}

        def keep(module: nn.Module, inputs: tuple, output: object) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[1] > 1:
                by_size[tuple(output.shape[-2:])] = output

        handles = [layer.register_forward_hook(keep) for layer in self.layers]
        try:
            self.D(images)
        finally:
            for handle in handles:
                handle.remove()
        return list(by_size.values())


def feature_distance(features: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the squared distance between unit-normalised channel vectors."""
    distances = [(nn.functional.normalize(f, dim=1) - nn.functional.normalize(t, dim=1))
                 .pow(2).sum(1).mean() for f, t in zip(features, targets)]
    return torch.stack(distances).mean()


def learning_rate(step: int, steps: int, base: float) -> float:
    """Warm up over the first 5% of steps, cosine decay over the last 25% (as in StyleGAN2's
    projector): big early moves, then settling."""
    warm_up = min(1.0, (step + 1) / (0.05 * steps))
    cool_down = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - step / steps) / 0.25) * math.pi)
    return base * warm_up * cool_down


@dataclass
class Projection:
    latent: torch.Tensor          # 1×shape, CPU
    start_distance: float         # pixel MSE in [-1, 1] units before optimising
    final_distance: float         # ... and after
    frames: list[np.ndarray] = field(default_factory=list)  # target | current, H×W×C uint8


def project_latent(space: LatentSpace, target: np.ndarray, D: nn.Module | None = None,
                   steps: int = 500, lr: float = 0.05, feature_weight: float = 1.0,
                   seed: int = 0, progress: bool = False,
                   on_step: Callable[[int], None] | None = None) -> Projection:
    """Optimise a latent of ``space`` so that its image matches ``target`` (uint8 C×H×W).

    ``on_step(step)`` is called after each step (a progress bar; raising there cancels)."""
    if steps < 1:
        raise GanvasError(f"--steps: {steps} must be >= 1")
    if not lr > 0:
        raise GanvasError(f"--lr: {lr} must be > 0")
    goal = torch.tensor(target, dtype=torch.float32).div(127.5).sub(1).unsqueeze(0)
    goal = goal.to(space.device)
    tap = FeatureTap(D) if D is not None and feature_weight > 0 else None
    with torch.no_grad():
        goal_features = tap(goal) if tap else []
    start = space.start_latent(seed)
    # In w, one w for every layer: fewer unknowns, and the result stays in the space G learnt.
    param = (start[:, 0] if space.space == "w" else start).clone().to(space.device)
    param.requires_grad_(True)
    optimizer = torch.optim.Adam([param], lr=lr, betas=(0.9, 0.999))

    def latent() -> torch.Tensor:
        return param.unsqueeze(1).expand(-1, space.shape[0], -1) if space.space == "w" else param

    def pixel_distance() -> float:
        with torch.no_grad():
            return float((space.synthesize(latent()) - goal).pow(2).mean())

    result = Projection(latent().detach().cpu(), pixel_distance(), math.nan)
    frame_every = max(1, steps // VIDEO_FRAMES)
    for step in tqdm(range(steps), disable=not progress, unit="step", leave=False):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr)
        image = space.synthesize(latent())
        loss = (image - goal).pow(2).mean()
        if tap:
            loss = loss + feature_weight * feature_distance(tap(image), goal_features)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % frame_every == 0:
            result.frames.append(_frame(target, image))
        if on_step is not None:
            on_step(step + 1)
    result.latent = latent().detach().cpu()
    result.final_distance = pixel_distance()
    return result


def _frame(target: np.ndarray, image: torch.Tensor) -> np.ndarray:
    """The target and the current image side by side."""
    current = to_uint8(image[:1]).cpu().numpy()
    return make_grid(np.concatenate([target[None], current]), columns=2)


def project(G: nn.Module, D: nn.Module | None, photo: str | Path, outdir: str | Path,
            steps: int = 500, lr: float = 0.05, feature_weight: float = 1.0, seed: int = 0,
            video_format: str = "mp4", noise_mode: str | None = None,
            progress: bool = False, precision: str = "fp32") -> tuple[Projection, dict[str, Path]]:
    """Project ``photo`` into G's latent space; write ``target.png``, ``projected.png``,
    ``latent.npz`` (for ``generate --latents`` and ``arithmetic``) and ``progress.<format>``."""
    if video_format not in ("mp4", "gif"):
        raise GanvasError(f"--video-format: {video_format!r} is not mp4 or gif")
    space = LatentSpace(G, noise_mode=noise_mode, precision=precision)  # as generate renders
    target = load_photo(photo, int(G.resolution), int(G.img_channels))
    outdir = writable_folder(outdir)
    result = project_latent(space, target, D, steps, lr, feature_weight, seed, progress)
    paths = {"target": outdir / "target.png", "projected": outdir / "projected.png",
             "latent": outdir / "latent.npz", "video": outdir / f"progress.{video_format}"}
    final = space.render(result.latent)[0]
    save_image(paths["target"], target.transpose(1, 2, 0))
    save_image(paths["projected"], final.transpose(1, 2, 0))
    space.save(paths["latent"], result.latent, [Path(photo).stem])
    result.frames.append(make_grid(np.stack([target, final]), columns=2))
    write_video(paths["video"], np.stack(result.frames), fps=15)
    return result, paths
