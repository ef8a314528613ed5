"""Options of ``ganvas prepare`` and the ``data`` group of ``ganvas train``, declared once and
checked once.

Kept apart from ``prepare.py`` so that worker processes can import them without pulling in torch
(the preview grid needs it, the per-image work does not).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from PIL import ImageColor

from ganvas.errors import GanvasError
from ganvas.utils.options import opt

CROPS = ("center", "pad", "face", "none")
FILTERS = ("lanczos", "bicubic", "box")
EDGE_MEAN = "edge-mean"

RGB = tuple[int, int, int]


def parse_color(text: str, option: str) -> RGB:
    """Parse ``R,G,B``, ``#rrggbb`` or a colour name into an RGB triple."""
    value = str(text).strip()
    try:
        if "," in value and not value.startswith(("rgb", "hsl", "hsv")):
            parts = [int(p) for p in value.split(",")]
            if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
                raise ValueError
            return (parts[0], parts[1], parts[2])
        rgb = ImageColor.getrgb(value)
    except ValueError:
        raise GanvasError(f"{option}: cannot read colour {text!r} (use R,G,B, #rrggbb or a name "
                          "such as white)") from None
    return (rgb[0], rgb[1], rgb[2])


@dataclass(frozen=True)
class PrepareOptions:
    """Everything that decides the pixels of a packed dataset (see docs/datasets.md)."""

    resolution: int = 64
    crop: str = "center"
    pad_color: str = EDGE_MEAN
    face_margin: float = 0.6
    filter: str = "lanczos"
    channels: int | None = None  # None (or "auto"): 1 if every image is grey, else 3
    background: str = "white"
    dedupe: bool = False
    max_images: int | None = None
    shuffle_seed: int | None = None
    min_size: int | None = None  # default: half the resolution
    workers: int | None = None  # default: os.cpu_count()

    def validated(self) -> PrepareOptions:
        """Return a copy with every value checked and normalised; raise GanvasError otherwise."""
        if not isinstance(self.resolution, int) or not 4 <= self.resolution <= 4096:
            raise GanvasError(f"--resolution: must be an integer from 4 to 4096, got "
                              f"{self.resolution!r}")
        crop = str(self.crop).lower()
        if crop == "centre":
            crop = "center"
        if crop not in CROPS:
            raise GanvasError(f"--crop: unknown mode {self.crop!r} (choose {', '.join(CROPS)})")
        filt = str(self.filter).lower()
        if filt not in FILTERS:
            raise GanvasError(f"--filter: unknown filter {self.filter!r} "
                              f"(choose {', '.join(FILTERS)})")
        channels: int | None
        if self.channels is None or self.channels == "auto":  # type: ignore[comparison-overlap]
            channels = None
        elif str(self.channels) in ("1", "3"):
            channels = int(str(self.channels))
        else:
            raise GanvasError(f"--channels: must be 1, 3 or auto, got {self.channels!r}")
        pad_color = str(self.pad_color).lower()
        if pad_color != EDGE_MEAN:
            parse_color(pad_color, "--pad-color")
        parse_color(self.background, "--background")
        if not 0 <= float(self.face_margin) <= 10:
            raise GanvasError(f"--face-margin: must be between 0 and 10, got {self.face_margin}")
        for name in ("max_images", "min_size", "workers"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise GanvasError(f"--{name.replace('_', '-')}: must be a positive integer, "
                                  f"got {value!r}")
        return dataclasses.replace(self, crop=crop, filter=filt, channels=channels,
                                   pad_color=pad_color, face_margin=float(self.face_margin))

    @property
    def effective_min_size(self) -> int:
        """Smallest accepted crop side: ``--min-size`` or half the target resolution."""
        return self.min_size if self.min_size is not None else max(1, self.resolution // 2)

    @property
    def effective_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def pixel_fields(self) -> dict[str, Any]:
        """The options that change the packed pixels (used in manifests and cache keys)."""
        fields = dataclasses.asdict(self)
        fields.pop("workers")
        return fields


RESOLUTIONS = (16, 32, 64, 128, 256, 512, 1024)


def _channels(v: Any) -> str | None:
    return None if v in (None, 1, 3) else "must be 1 or 3"


@dataclass
class DataOptions:
    """The ``data`` group of a training config: which images, at what size."""

    data: str = opt("mnist", "Training images: 'mnist' (built in), a folder, a zip/tar, or a "
                    "dataset packed by 'ganvas prepare'. On --resume: where the run's images "
                    "are now (they must be the same images).", section="data", resume_ok=True)
    resolution: int | None = opt(None, "Image size in pixels (default: the data's, 32 for "
                                 "mnist, 64 for a folder).", choices=RESOLUTIONS, section="data")
    channels: int | None = opt(None, "1 (grey) or 3 (RGB); default: what the data is.",
                               check=_channels, section="data")
    mirror: bool | None = opt(None, "Also show D x-flipped real images (default: on for "
                              "your pictures, off for the built-in digits, which are not "
                              "symmetric).", section="data")
    cond: bool = opt(False, "Class-conditional: train on the data's class labels (class "
                     "sub-folders, MNIST's or CIFAR-10's labels), so G draws a class on request "
                     "('generate --class').", section="data")
