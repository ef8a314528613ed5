"""The two sides of a comparison: anything that can become uint8 images or stored statistics.

A side is one of

* a folder of images (recursive), a ``.zip``/``.tar`` archive or an idx file — read through
  :mod:`ganvas.data.sources`, at the images' own size (the first image's size wins; others are
  resized to it and counted in the description);
* a packed dataset (``ganvas prepare`` output), the built-in ``mnist``/``mnist-test``, or a uint8
  N×C×H×W numpy array / torch tensor;
* a ``.npz`` of statistics (``mu``, ``sigma``, optionally ``features``), as ``--save-stats`` writes;
* a generator: a run folder, a ``.pt`` checkpoint, or an ``nn.Module``/callable with ``z_dim``.
  Sample ``i`` is drawn from seed ``i`` (as ``ganvas generate --seeds``), so scores repeat exactly.

Real data carries an ``identity`` (cheap content fingerprint) so its features can be cached;
generators don't, since the same path holds a different generator after more training.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganvas.data.builtin import mnist
from ganvas.data.opening import open_source, source_identity
from ganvas.data.packed import PackedDataset, is_packed
from ganvas.data.sources import LocalFile, Unreadable
from ganvas.errors import GanvasError
from ganvas.metrics.inception import FEATURE_DIM
from ganvas.render import DEFAULT_BATCH, LatentSpace, load_generator, seed_latent
from ganvas.utils.grid import to_uint8


BUILTIN_SETS = {"mnist": "train", "mnist-test": "test"}


class ImageSide:
    """A side that yields uint8 N×C×H×W batches (C = 1 or 3)."""

    description: str = ""
    available: int | None = None  # how many images it holds; None: as many as asked (generator)

    def __init__(self) -> None:
        self.notes: list[str] = []  # things the protocol should mention (resized, skipped …)

    def count(self, n: int) -> int:
        """How many images ``batches(n, …)`` will try to yield."""
        return n if self.available is None else min(n, self.available)

    def identity(self, n: int) -> list[Any] | None:
        """A fingerprint of the first ``n`` images' content, or None if not cacheable."""
        return None

    def batches(self, n: int, batch_size: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Release open files (archives); the side is not read again afterwards."""


class ArraySide(ImageSide):
    """Images already in memory or memory-mapped: arrays, packed datasets, built-in MNIST."""

    def __init__(self, images: np.ndarray, description: str, identity: list[Any] | None = None
                 ) -> None:
        super().__init__()
        self.images, self.description, self.available = images, description, len(images)
        self._identity = identity

    def identity(self, n: int) -> list[Any]:
        if self._identity is not None:
            return [*self._identity, self.count(n)]
        digest = hashlib.sha1()  # content hash of exactly the images used
        for start in range(0, self.count(n), 1024):
            digest.update(np.ascontiguousarray(self.images[start:min(start + 1024, n)]).data)
        return ["array", list(self.images.shape), digest.hexdigest(), self.count(n)]

    def batches(self, n: int, batch_size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.count(n), batch_size):
            yield np.array(self.images[start:min(start + batch_size, n)])  # a writable copy


def _decode(payload: Any) -> np.ndarray:
    """A source payload (file, bytes or H×W[×C] array) → uint8 H×W×3; OSError if unreadable."""

    if isinstance(payload, Unreadable):
        raise OSError(payload.reason)
    if isinstance(payload, LocalFile):
        payload = Path(payload.path).read_bytes()
    try:
        if isinstance(payload, np.ndarray):
            image = Image.fromarray(np.ascontiguousarray(payload.squeeze()))
        else:
            image = Image.open(io.BytesIO(payload))
        return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise OSError(str(exc)) from None


class FileSide(ImageSide):
    """Image files in a folder or archive, via :func:`ganvas.data.opening.open_source`."""

    def __init__(self, path: Path) -> None:

        super().__init__()
        self.path = path
        self.source = open_source(path)
        self.entries = self.source.entries()
        self.available = len(self.entries)
        self.description = f"{self.source.kind} {path}"

    def identity(self, n: int) -> list[Any]:

        return ["files", source_identity(self.path), self.count(n)]

    def close(self) -> None:
        self.source.close()

    def batches(self, n: int, batch_size: int) -> Iterator[np.ndarray]:
        size: tuple[int, int] | None = None
        resized, skipped, batch = 0, [], []
        for i, payload in self.source.read(self.entries[:self.count(n)]):
            try:
                image = _decode(payload)
            except OSError as exc:
                skipped.append(f"{self.entries[i].name} ({exc})")
                continue
            if size is None:
                size = image.shape[:2]
            elif image.shape[:2] != size:
                # PIL's resize filters antialias, so shrinking doesn't alias
                image = np.asarray(Image.fromarray(image).resize(size[::-1], Image.BICUBIC))
                resized += 1
            batch.append(image.transpose(2, 0, 1))
            if len(batch) == batch_size:
                yield np.stack(batch)
                batch = []
        if batch:
            yield np.stack(batch)
        if resized:
            self.notes.append(f"{resized} images of another size resized (PIL bicubic) to the "
                              f"first one's {size[1]}x{size[0]}")
        if skipped:
            self.notes.append(f"{len(skipped)} unreadable files skipped (first: {skipped[0]})")


class GeneratorSide(ImageSide):
    """Samples of a generator, sample i from seed i (latents as ``ganvas.render.seed_latent``).

    A class-conditional generator draws every class equally often (seed s: class s mod K), or
    only class ``cls`` when given; the description says which.
    """

    def __init__(self, G: Callable[[torch.Tensor], torch.Tensor], description: str,
                 cls: int | None = None) -> None:
        super().__init__()
        z_dim = getattr(G, "z_dim", None)
        if not isinstance(z_dim, int) or z_dim < 1:
            raise GanvasError(f"{description}: a generator needs an integer z_dim attribute")
        self.num_classes = int(getattr(G, "num_classes", 0) or 0)
        if self.num_classes:
            description += f", class {cls}" if cls is not None else \
                f", classes uniform (seed s: class s mod {self.num_classes})"
        self.G, self.z_dim, self.description, self.cls = G, z_dim, description, cls

    def batches(self, n: int, batch_size: int) -> Iterator[np.ndarray]:
        was_training = getattr(self.G, "training", False)
        if isinstance(self.G, torch.nn.Module):
            self.G.eval()  # BatchNorm/dropout in train mode would make samples depend on the batch
        try:
            for start in range(0, n, DEFAULT_BATCH):
                images = self._render(range(start, min(start + DEFAULT_BATCH, n)))
                for first in range(0, len(images), batch_size):
                    yield images[first:first + batch_size]
        finally:
            if isinstance(self.G, torch.nn.Module):
                self.G.train(was_training)

    def _render(self, seeds: range) -> np.ndarray:
        """uint8 images of ``seeds``: a module renders as ``ganvas generate`` does (fp32, padded
        batches, so each seed gives the same pixels there); a plain callable gets the z's."""
        if isinstance(self.G, torch.nn.Module) and any(True for _ in self.G.parameters()):
            space = LatentSpace(self.G)
            classes = None
            if space.num_classes:
                classes = [self.cls if self.cls is not None else s % space.num_classes
                           for s in seeds]
            out = torch.from_numpy(space.render(space.from_seeds(seeds, classes)))
        else:
            with torch.inference_mode():
                out = self.G(torch.cat([seed_latent(s, self.z_dim) for s in seeds]))
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[1] not in (1, 3):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GanvasError(f"{self.description}: generator returned {shape}, expected "
                              "N×C×H×W images with C = 1 or 3")
        return (out if out.dtype == torch.uint8 else to_uint8(out)).cpu().numpy()


@dataclass
class StatsSide:
    """Statistics saved earlier (``.npz``): FID needs only μ and Σ; KID and P/R need features.

    ``preprocessing`` and ``network`` are what ``--save-stats`` recorded ("" for files written by
    other tools, such as pytorch-fid's ``mu``/``sigma`` files, which this also reads).
    """

    description: str
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None
    n: int | None = None
    preprocessing: str = ""
    network: str = ""
    notes: list[str] = field(default_factory=list)


def load_stats(path: Path) -> StatsSide:
    """Read and check a statistics ``.npz`` (GanvasError naming the file if anything is off)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GanvasError(f"{path}: not a readable .npz file ({exc})") from None
    if "mu" not in stored or "sigma" not in stored:
        raise GanvasError(f"{path}: no 'mu' and 'sigma' arrays (keys: {sorted(stored) or 'none'});"
                          " not a statistics file (make one with evaluate --save-stats)")
    mu, sigma = stored["mu"].astype(np.float64), stored["sigma"].astype(np.float64)
    if mu.shape != (FEATURE_DIM,) or sigma.shape != (FEATURE_DIM, FEATURE_DIM):
        raise GanvasError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not Inception pool3 "
                          f"statistics ({FEATURE_DIM},) and ({FEATURE_DIM}, {FEATURE_DIM})")
    features = stored.get("features")
    if features is not None and (features.ndim != 2 or features.shape[1] != FEATURE_DIM):
        raise GanvasError(f"{path}: features have shape {features.shape}, expected N×{FEATURE_DIM}")
    n = int(stored["n"]) if "n" in stored else (len(features) if features is not None else None)
    text = {key: str(stored[key]) if key in stored else "" for key in ("source", "preprocessing",
                                                                       "network")}
    notes = [f"saved from {text['source']}"] if text["source"] else []
    return StatsSide(f"stats {path}", mu, sigma, features, n, text["preprocessing"],
                     text["network"], notes)


def _generator_from_path(path: Path, device: str | torch.device) -> GeneratorSide:
    return GeneratorSide(load_generator(path, device=device), f"generator {path}")


def _is_run_folder(path: Path) -> bool:
    return (path / "checkpoints").is_dir() or (path / "config.json").is_file()


def _array_side(images: np.ndarray | torch.Tensor, what: str) -> ArraySide:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GanvasError(f"{what}: expected uint8 N×C×H×W images with C = 1 or 3, got "
                          f"{images.dtype} {tuple(images.shape)}")
    h, w = images.shape[2:]
    return ArraySide(images, f"array {len(images)}x{images.shape[1]}x{h}x{w}")


def open_side(spec: Any, device: str | torch.device = "cpu") -> ImageSide | StatsSide:
    """Turn whatever the user passed for one side into an image or statistics side."""
    if isinstance(spec, (ImageSide, StatsSide)):
        return spec
    if isinstance(spec, (np.ndarray, torch.Tensor)):
        return _array_side(spec, "array")
    if not isinstance(spec, (str, os.PathLike)):
        if callable(spec):
            return GeneratorSide(spec, f"generator {type(spec).__name__}")
        raise GanvasError(f"cannot evaluate a {type(spec).__name__}: pass a path, a uint8 array "
                          "or a generator")
    path = Path(spec)
    if "@" in str(spec) and not path.exists():  # RUN@<kimg>: a snapshot of a run
        return _generator_from_path(path, device)
    if str(spec) in BUILTIN_SETS and not path.exists():

        images = mnist(BUILTIN_SETS[str(spec)])[0]
        return ArraySide(images, f"built-in {spec}", ["builtin", str(spec)])
    if not path.exists():
        raise GanvasError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".npz":
        return load_stats(path)
    if path.suffix.lower() == ".pt":
        return _generator_from_path(path, device)
    if path.is_dir():

        if is_packed(path):
            packed = PackedDataset.open(path)
            return ArraySide(packed.images, f"packed {path}", ["packed", source_identity(path)])
        if _is_run_folder(path):
            return _generator_from_path(path, device)
    return FileSide(path)
