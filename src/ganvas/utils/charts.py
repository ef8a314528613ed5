"""Line charts, drawn with matplotlib into PNG bytes: one chart stack for the report's pages
and the training loop's ``plots/*.png``.

Noisy training curves (a point per log interval) are drawn faintly with a moving average over
them, so the trend is readable without hiding the noise. Text and axes are dark grey, never
black and the background is not pure white, which the browser test relies on to find the
sample grids.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


#: Series colours, in order (matplotlib's "tab10", which colour-blind readers tell apart best).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
INK = "#333a44"
BACKGROUND = "#fdfdfe"  # the page's card colour; pure white is left to the sample grids
SMOOTH_ABOVE = 40  # points; fewer are drawn as they are


@dataclass
class Series:
    """One line: its legend label and points."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]


#: Legend text of the stats and metrics keys that are not self-explanatory.
LABELS = {"D_real": "D(x)", "D_fake": "D(G(z))", "D_accuracy": "D accuracy", "ada_p": "ADA p",
          "ada_rt": "ADA r_t", "img_per_s": "images/s", "kid_mean": "KID", "fid": "FID",
          "agreement": "class agreement", "probe_accuracy": "probe on real images"}


def label_of(key: str) -> str:
    """Legend text for a stats key: ``D_real`` -> ``D(x)``."""
    return LABELS.get(key, key)


def series_of(records: Sequence[dict], key: str, label: str | None = None,
              x: str = "kimg") -> Series | None:
    """The (x, key) points of ``records`` that have both, as a Series (None if there are none)."""
    points = [(r[x], r[key]) for r in records
              if isinstance(r.get(x), (int, float)) and isinstance(r.get(key), (int, float))]
    if not points:
        return None
    xs, ys = zip(*points)
    return Series(label or label_of(key), xs, ys)


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Centred moving average; the ends use the points available (no shrinking to zero)."""
    data = np.asarray(values, dtype=np.float64)
    kernel = np.ones(window)
    finite = np.isfinite(data)
    sums = np.convolve(np.where(finite, data, 0.0), kernel, mode="same")
    counts = np.convolve(finite.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def line_chart(series: Sequence[Series], title: str, ylabel: str, xlabel: str = "kimg",
               ylim: tuple[float, float] | None = None, reference: float | None = None,
               size: tuple[float, float] = (6.4, 3.4)) -> bytes:
    """A PNG of ``series`` (colours follow :data:`PALETTE` by position)."""
    fig, ax = plt.subplots(figsize=size, dpi=110, facecolor=BACKGROUND)
    ax.set_facecolor(BACKGROUND)
    for index, line in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        if len(line.ys) > SMOOTH_ABOVE:
            ax.plot(line.xs, line.ys, color=color, alpha=0.25, linewidth=0.8)
            window = max(3, len(line.ys) // 40)
            ax.plot(line.xs, moving_average(line.ys, window), color=color, linewidth=1.8,
                    label=line.label)
        else:
            ax.plot(line.xs, line.ys, color=color, linewidth=1.8, label=line.label,
                    marker="o" if len(line.ys) <= 12 else None, markersize=3.5)
    if reference is not None:
        ax.axhline(reference, color="#9aa5b1", linewidth=1, linestyle=":")
    ax.set_title(title, color=INK, fontsize=11, loc="left")
    ax.set_xlabel(xlabel, color=INK)
    ax.set_ylabel(ylabel, color=INK)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.tick_params(colors=INK, labelsize=8.5)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    for spine in ("left", "bottom"):
        ax.spines[spine].set_color("#9aa5b1")
    ax.grid(alpha=0.3, color="#9aa5b1")
    if len(series) > 1:
        legend = ax.legend(loc="best", fontsize=8, frameon=False)
        for text in legend.get_texts():
            text.set_color(INK)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
