"""ganvas: train GANs on your own pictures.

    import ganvas
    result = ganvas.train("mnist", kimg=20)
    G = ganvas.load_generator(result.run_dir)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["train", "load_generator", "__version__"]

if TYPE_CHECKING:
    from torch import nn


# The public API imports lazily: importing any ganvas module runs this file first, and it must
# not pull in the whole package (torch, training) for ``ganvas.errors`` or a data worker.


def train(data: str | None = None, **options: Any) -> Any:
    """Train a GAN; see :func:`ganvas.training.session.train` for the options. The run ends
    with its ``report.html`` (unless ``report=False``)."""
    from ganvas.report.document import write_run_report
    from ganvas.training.session import train as _train

    return _train(data, write_report=write_run_report, **options)


def load_generator(path: Any, device: str = "cpu", ema: bool = True) -> "nn.Module":
    """Load a trained generator from a run folder or checkpoint."""
    from ganvas.render import load_generator as _load

    return _load(path, device=device, ema=ema)
