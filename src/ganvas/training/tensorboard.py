"""Training statistics and sample grids as TensorBoard events (``--tensorboard``).

The event file is written into the run folder itself, so ``tensorboard --logdir runs`` lists
every run under its folder name. TensorBoard is optional: it is imported only when a logger is
made, and its absence is a one-line user error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ganvas.errors import GanvasError

#: Stats-key prefixes and the TensorBoard section they are shown in.
SECTIONS = (("loss_", "loss"), ("penalty_", "loss"), ("D_", "discriminator"),
            ("ada_", "ada"), ("lr_", "optimizer"))
METRIC_KEYS = {"fid", "kid_mean", "kid_std", "precision", "recall"}
NOT_SCALARS = {"step"}


def scalar_tag(key: str) -> str:
    """``loss_D`` -> ``loss/loss_D``; TensorBoard draws one panel group per section."""
    if key in METRIC_KEYS:
        return f"metrics/{key}"
    section = next((name for prefix, name in SECTIONS if key.startswith(prefix)), "progress")
    return f"{section}/{key}"


def hwc_rgb(image: Any) -> np.ndarray:
    """A uint8 grid (C×H×W, H×W×C or H×W; 1 or 3 channels) as H×W×3."""
    array = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    if array.dtype != np.uint8:
        raise TypeError(f"log_image expects uint8 pixels, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim == 3 and array.shape[-1] not in (1, 3) and array.shape[0] in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim != 3 or array.shape[-1] not in (1, 3):
        raise ValueError(f"log_image expects an H×W, C×H×W or H×W×C image, got {array.shape}")
    return np.repeat(array, 3, axis=2) if array.shape[-1] == 1 else array


class TensorBoardLogger:
    """Writes scalars and images of one run for TensorBoard."""

    def __init__(self, run_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GanvasError("--tensorboard: install tensorboard (pip install "
                              "tensorboard) to write TensorBoard logs") from None
        self.run_dir = Path(run_dir)
        self.writer = SummaryWriter(log_dir=str(self.run_dir))

    def log_scalars(self, record: dict[str, Any], step: int) -> None:
        """Every finite number of a stats or metrics record (bools, text and ``step`` skipped)."""
        for key, value in record.items():
            if key in NOT_SCALARS or isinstance(value, bool) \
                    or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            self.writer.add_scalar(scalar_tag(key), float(value), global_step=step)

    def log_image(self, tag: str, image: Any, step: int) -> None:
        """A uint8 image grid (C×H×W or H×W×C, grey or RGB)."""
        self.writer.add_image(tag, hwc_rgb(image), global_step=step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "TensorBoardLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
