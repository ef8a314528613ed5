"""Training data: turn the ``DATA`` argument into uint8 N×C×H×W images.

``DATA`` may be the built-in ``mnist``, a dataset packed by ``ganvas prepare``, or any folder or
archive of images, which is prepared once into a cache keyed by its content and the options (so a
second run starts at once and no JPEG is decoded twice).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganvas.data import builtin
from ganvas.data.packed import PackedDataset, is_packed
from ganvas.data.prepare import PrepareOptions, prepare_cached
from ganvas.errors import GanvasError


@dataclass
class ImageSet:
    """Images ready for training: uint8 N×C×H×W (possibly a read-only memory map), and for a
    labelled set one class index per image (``labels``) with the class names (``classes``)."""

    name: str
    images: np.ndarray
    labels: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])


def fingerprint(data: ImageSet, samples: int = 256) -> str:
    """A short content hash of a training set: its shape, up to ``samples`` evenly spaced
    images and its labels. Cheap on 200,000 images, and a changed, added or removed picture
    almost always changes it (resume checks it)."""
    digest = hashlib.sha256(repr(tuple(data.images.shape)).encode())
    for i in np.linspace(0, len(data) - 1, min(samples, len(data))).astype(np.int64):
        digest.update(np.ascontiguousarray(data.images[i]).tobytes())
    if data.labels is not None:
        digest.update(np.ascontiguousarray(data.labels).tobytes())
    return digest.hexdigest()[:16]


def dataset_name(spec: str) -> str:
    """Short name of a data source for run folder names: 'mnist', 'celeba64', ..."""
    if spec in builtin.BUILTIN:
        return spec
    name = Path(spec.rstrip("/")).name
    name = re.sub(r"-\d+px-[0-9a-f]{8,}$", "", name)  # a folder in prepare's cache
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip", ".gz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
    return cleaned or "data"


def default_resolution(spec: str) -> int:
    """Resolution to use when none is given: the packed set's, 32 for MNIST, else 64."""
    if spec in builtin.BUILTIN:
        return 32
    if is_packed(spec):
        return PackedDataset.open(spec).resolution
    return 64


def to_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    """Convert between grey and RGB when asked (luma weights for RGB -> grey)."""
    have = images.shape[1]
    if channels is None or channels == have:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=1)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)[None, :, None, None]
    return (images.astype(np.float32) * weights).sum(1, keepdims=True).round().astype(np.uint8)


def open_training_data(spec: str, resolution: int, channels: int | None,
                       progress: bool = True) -> ImageSet:
    """Load ``spec`` as uint8 images of ``resolution`` px, converted to ``channels``."""
    if spec in builtin.BUILTIN:
        images, labels = builtin.mnist("train" if spec == "mnist" else "test")
        images = builtin.resize_uint8(images, resolution)
        return ImageSet(spec, to_channels(images, channels), labels,
                        {"source": f"built-in {spec}"}, [str(digit) for digit in range(10)])
    path = Path(spec)
    if not path.exists():
        raise GanvasError(f"{spec}: no such file or folder (DATA must be 'mnist', a folder, "
                          "an archive or a packed dataset)")
    if is_packed(path):
        packed = PackedDataset.open(path)
        if packed.resolution != resolution:
            raise GanvasError(f"{spec}: packed at {packed.resolution} px, but --resolution is "
                              f"{resolution}; prepare it again at {resolution} px")
        return ImageSet(dataset_name(spec), to_channels(packed.images, channels),
                        packed.labels, {"source": str(path)}, packed.label_names)
    options = PrepareOptions(resolution=resolution, channels=channels)
    packed = PackedDataset.open(prepare_cached(path, options, progress=progress))
    return ImageSet(dataset_name(spec), packed.images, packed.labels,
                    {"source": str(path), "prepared": str(packed.path)}, packed.label_names)


LABEL_SOURCES = ("one sub-folder per class (at least two), MNIST's idx label files or "
                 "CIFAR-10's batches")


def class_weights(data: ImageSet, option: str = "--cond") -> np.ndarray:
    """The share of each class in ``data`` (what conditional training samples G's classes
    from); one error line when the data has no labels, saying where labels come from."""
    if data.labels is None or not data.classes:
        raise GanvasError(f"{option}: {data.name} has no class labels; ganvas reads them from "
                          f"{LABEL_SOURCES} when it prepares the data")
    counts = np.bincount(np.asarray(data.labels), minlength=len(data.classes))
    return counts / counts.sum()
