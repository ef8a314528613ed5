"""Latents of any generator: seeds, truncation, rendering, interpolation and ``.npz`` files.

Two latent spaces, chosen by what the generator offers:

* ``z`` (DCGAN, or any G with only ``forward(z)``): Gaussian vectors of ``G.z_dim``. Truncation is
  BigGAN's truncation trick (Brock et al. 2019): every entry with ``|z| > psi`` is redrawn until
  none is left, so ``psi`` is a threshold in standard deviations; entries inside it keep their
  values, and a truncated seed stays recognisably the same image. Interpolation is spherical
  (slerp; White 2016), because a straight line between two Gaussian vectors passes through
  low-norm latents that the generator never saw in training.
* ``w`` (StyleGAN2: G has ``mapping`` and ``synthesis``): the mapped latents, ``N×num_ws×w_dim``.
  Truncation is StyleGAN's ``w_avg + psi * (w - w_avg)``, applied by ``G.mapping``. W is not
  Gaussian, so interpolation there is linear.

Images are rendered in batches that are always padded to the full batch size: the same kernels
then run whatever the call holds, so each seed's image is byte-identical whichever other seeds are
rendered with it (with fewer rows, CPU convolutions may pick other code paths and round
differently).
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ganvas.errors import GanvasError
from ganvas.render.precision import autocast, resolve_precision
from ganvas.utils.grid import to_uint8
from ganvas.utils.io import atomic_open

SPACES = ("z", "w")
NOISE_MODES = ("const", "random", "none")
DEFAULT_BATCH = 64


def seed_latent(seed: int, z_dim: int, truncation_psi: float | None = None) -> torch.Tensor:
    """The z of ``seed`` (1×z_dim, CPU, float32): ``torch.randn`` from a CPU generator seeded
    with ``seed``, then, with ``truncation_psi``, entries beyond ±psi redrawn from the same
    generator (BigGAN's truncation trick; see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(1, z_dim, generator=generator)
    if truncation_psi is not None:
        outside = z.abs() > truncation_psi
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
            outside = z.abs() > truncation_psi
    return z


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` to ``b`` (1×D each) at fractions ``t`` (T,) -> T×D.

    The path turns through the angle between ``a`` and ``b`` at constant speed (and, for vectors
    of equal norm, keeps that norm)."""
    t = t.reshape(-1, 1).to(a)
    cos_angle = (nn.functional.normalize(a, dim=1) * nn.functional.normalize(b, dim=1)).sum()
    angle = torch.arccos(cos_angle.clamp(-1.0, 1.0))
    if math.sin(float(angle)) < 1e-6:  # (anti)parallel: the great circle is not unique
        return a + t * (b - a)
    path = (torch.sin((1 - t) * angle) * a + torch.sin(t * angle) * b) / torch.sin(angle)
    # Exact at the ends, so that a walk's key frames are the seeds' own images.
    return torch.where(t == 0, a, torch.where(t == 1, b, path))


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation from ``a`` to ``b`` (1×... each) at fractions ``t`` (T,) -> T×..."""
    t = t.reshape(-1, *([1] * (a.dim() - 1))).to(a)
    return a + t * (b - a)


def _accepts(function: Callable, argument: str) -> bool:
    try:
        return argument in inspect.signature(function).parameters
    except (TypeError, ValueError):  # builtins and scripted modules may have no signature
        return False


class LatentSpace:
    """Where a generator's latents live, and how they become images.

    ``G`` is a generator as :func:`ganvas.render.load_generator` returns it (eval mode, with
    ``z_dim``, ``resolution``, ``img_channels``); it works in w when it has ``mapping`` and
    ``synthesis``. ``noise_mode`` goes to generators that take one; asking for it elsewhere is
    an error rather than silently ignored.

    A class-conditional G (``num_classes > 0``) needs a class per seed. In w the class is in
    the latent already (the mapping took it); in z a latent is z joined to the class's one-hot
    row, so a walk between two latents can also walk between classes.
    """

    def __init__(self, G: nn.Module, truncation_psi: float | None = None,
                 noise_mode: str | None = None, batch: int = DEFAULT_BATCH,
                 precision: str = "fp32"):
        self.G = G
        self.num_classes = int(getattr(G, "num_classes", 0) or 0)
        self.space = "w" if callable(getattr(G, "mapping", None)) and \
            callable(getattr(G, "synthesis", None)) else "z"
        if truncation_psi is not None and self.space == "z" and not truncation_psi > 0:
            raise GanvasError(f"--trunc: {truncation_psi} must be > 0 (it is the threshold, in "
                              "standard deviations, beyond which z entries are redrawn)")
        self.truncation_psi = truncation_psi
        render = G.synthesis if self.space == "w" else G.forward
        self.noise_kwargs: dict[str, str] = {}
        if noise_mode is not None:
            if noise_mode not in NOISE_MODES:
                raise GanvasError(f"--noise-mode: {noise_mode!r} is not one of "
                                  f"{', '.join(NOISE_MODES)}")
            if not _accepts(render, "noise_mode"):
                raise GanvasError(f"--noise-mode: this generator ({type(G).__name__}) has no "
                                  "noise inputs")
            self.noise_kwargs = {"noise_mode": noise_mode}
        if batch < 1:
            raise GanvasError(f"--batch: {batch} must be >= 1")
        self.batch = batch
        self.device = next(G.parameters()).device
        # fp32 unless asked (then bf16 or fp16 autocast); every batch is padded to the same
        # size, so a seed's image still never depends on its neighbours.
        self.precision = resolve_precision(precision, self.device)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one latent (without the batch dimension)."""
        if self.space == "w":
            return (int(self.G.num_ws), int(self.G.w_dim))
        return (int(self.G.z_dim) + self.num_classes,)

    def with_classes(self, zs: torch.Tensor, classes: Sequence[int] | None) -> torch.Tensor:
        """``zs`` joined to the one-hot rows of ``classes`` (a conditional G), else ``zs``."""
        if not self.num_classes:
            if classes is not None:
                raise GanvasError("--class: this run is unconditional (trained without --cond)")
            return zs
        if classes is None:
            raise GanvasError("this run is class-conditional: choose classes with --class "
                              "(names, indices or 'all')")
        if len(classes) != len(zs):
            raise GanvasError(f"{len(classes)} classes for {len(zs)} seeds")
        c = torch.as_tensor(list(classes), dtype=torch.long)
        return torch.cat([zs, nn.functional.one_hot(c, self.num_classes).to(zs)], dim=1)

    def _map(self, x: torch.Tensor, psi: float) -> torch.Tensor:
        """w of z (joined to its class weights for a conditional G)."""
        if not self.num_classes:
            return self.G.mapping(x, truncation_psi=psi)
        z_dim = int(self.G.z_dim)
        return self.G.mapping(x[:, :z_dim], x[:, z_dim:], truncation_psi=psi)

    def from_seeds(self, seeds: Iterable[int],
                   classes: Sequence[int] | None = None) -> torch.Tensor:
        """One latent per seed (N×shape, CPU), truncated as configured; a conditional G needs
        one class per seed."""
        seeds = list(seeds)
        z_psi = self.truncation_psi if self.space == "z" else None
        zs = torch.cat([seed_latent(s, int(self.G.z_dim), z_psi) for s in seeds]) if seeds \
            else torch.zeros(0, int(self.G.z_dim))
        zs = self.with_classes(zs, classes)
        if self.space == "z":
            return zs
        psi = 1.0 if self.truncation_psi is None else self.truncation_psi
        return self._batched(zs, lambda x: self._map(x, psi))

    def start_latent(self, seed: int, cls: int | None = None) -> torch.Tensor:
        """Where an optimisation starts: the seed's z, or w_avg in w (mapping with psi = 0)."""
        z = self.with_classes(seed_latent(seed, int(self.G.z_dim)),
                              None if cls is None else [cls])
        if self.space == "z":
            return z
        with torch.no_grad():
            return self._map(z.to(self.device), 0.0).cpu()

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """Float images in [-1, 1] on G's device, differentiable (for projection)."""
        latents = latents.to(self.device)
        if self.space == "w":
            return self.G.synthesis(latents, **self.noise_kwargs)
        if self.num_classes:
            z_dim = int(self.G.z_dim)
            return self.G(latents[:, :z_dim], latents[:, z_dim:], **self.noise_kwargs)
        return self.G(latents, **self.noise_kwargs)

    def images(self, latents: torch.Tensor, progress: bool = False) -> torch.Tensor:
        """Float N×C×H×W images in [-1, 1] (CPU) of ``latents``, in padded batches."""
        self.check(latents)
        return self._batched(latents, self.synthesize, progress)

    def render(self, latents: torch.Tensor, progress: bool = False) -> np.ndarray:
        """uint8 N×C×H×W images of ``latents`` (N×shape), in padded batches."""
        self.check(latents)
        images = self._batched(latents, lambda x: to_uint8(self.synthesize(x)), progress)
        return images.numpy()

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Latents between ``a`` and ``b`` (1×shape each) at fractions ``t``: slerp in z,
        lerp in w."""
        return slerp(a, b, t) if self.space == "z" else lerp(a, b, t)

    def check(self, latents: torch.Tensor, source: str = "latents") -> None:
        """Refuse latents of another shape (another model, or the other space)."""
        if tuple(latents.shape[1:]) != self.shape:
            raise GanvasError(f"{source}: latents of shape {tuple(latents.shape[1:])} do not fit "
                              f"this generator ({self.space} space, shape {self.shape})")

    def load(self, path: str | Path) -> tuple[torch.Tensor, list[str]]:
        """Latents and labels from a ``.npz`` written by :func:`save_latents`, checked to fit."""
        latents, space, labels = load_latents(path)
        if space != self.space:
            raise GanvasError(f"{path}: holds {space} latents, but this generator works in "
                              f"{self.space}")
        self.check(latents, str(path))
        return latents, labels

    def save(self, path: str | Path, latents: torch.Tensor, labels: Sequence[str]) -> None:
        """Write ``latents`` with this space's name (see :func:`save_latents`)."""
        self.check(latents)
        save_latents(path, latents, self.space, labels)

    @torch.no_grad()
    def _batched(self, inputs: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor],
                 progress: bool = False) -> torch.Tensor:
        """``fn`` over ``inputs`` in chunks padded with zeros to ``self.batch`` rows (CPU out)."""
        outputs = []
        with tqdm(total=len(inputs), disable=not progress, unit="img", leave=False) as bar:
            for start in range(0, len(inputs), self.batch):
                chunk = inputs[start:start + self.batch]
                padded = torch.zeros(self.batch, *chunk.shape[1:], dtype=chunk.dtype)
                padded[:len(chunk)] = chunk
                with autocast(self.precision, self.device):
                    out = fn(padded.to(self.device))
                outputs.append(out[:len(chunk)].cpu())
                bar.update(len(chunk))
        return torch.cat(outputs) if outputs else torch.zeros(0)


def save_latents(path: str | Path, latents: torch.Tensor, space: str,
                 labels: Sequence[str]) -> None:
    """Write latents (N×shape float32), their space (``z`` or ``w``) and one label per latent
    to an ``.npz``, atomically; plain arrays only, so ``np.load`` reads it without pickle."""
    if space not in SPACES or len(labels) != len(latents):
        raise ValueError("save_latents: a space in (z, w) and one label per latent are needed")
    with atomic_open(path, "wb") as f:
        np.savez(f, latents=latents.detach().cpu().float().numpy(), space=np.array(space),
                 labels=np.array(list(labels), dtype=str))


def load_latents(path: str | Path) -> tuple[torch.Tensor, str, list[str]]:
    """(latents, space, labels) from a file written by :func:`save_latents`."""
    path = Path(path)
    if not path.is_file():
        raise GanvasError(f"{path}: no such latent file")
    try:
        with np.load(path, allow_pickle=False) as data:
            latents = torch.from_numpy(np.asarray(data["latents"], dtype=np.float32))
            space = str(data["space"])
            labels = [str(x) for x in data["labels"]] if "labels" in data \
                else [f"latent{i:04d}" for i in range(len(latents))]
    except (OSError, ValueError, KeyError) as exc:
        raise GanvasError(f"{path}: not a ganvas latent file ({exc})") from None
    if space not in SPACES or len(labels) != len(latents) or latents.dim() < 2:
        raise GanvasError(f"{path}: not a ganvas latent file (space {space!r}, "
                          f"{len(labels)} labels for {len(latents)} latents)")
    return latents, space, labels


@torch.no_grad()
def fixed_noise_images(G: nn.Module, z: torch.Tensor,
                       c: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images of ``z`` (of classes ``c``, for a conditional G) in one batch, G in eval
    mode for the call (constant noise, EMA BatchNorm statistics) and fp32: what the training
    loop's sample grids show."""
    was_training = G.training
    G.eval()
    try:
        return to_uint8(G(z) if c is None else G(z, c))
    finally:
        G.train(was_training)
