"""Plots a person can look at while training runs: losses and D's scores against kimg."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ganvas.utils.io import atomic_path  # noqa: E402


LABELS = {"D_real": "D(x)", "D_fake": "D(G(z))", "D_accuracy": "D accuracy",
          "ada_p": "ADA p", "ada_rt": "ADA r_t"}


def line_plot(path: Path, records: Sequence[dict[str, Any]], keys: Sequence[str], title: str,
              ylabel: str, ylim: tuple[float, float] | None = None, x: str = "kimg") -> None:
    """Draw ``keys`` of ``records`` against ``x`` into a PNG, atomically."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for key in keys:
        pts = [(r[x], r[key]) for r in records if r.get(key) is not None and x in r]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, label=LABELS.get(key, key), linewidth=1.2)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def training_plots(run_dir: Path, records: Sequence[dict[str, Any]]) -> None:
    """``plots/losses.png``, ``plots/scores.png`` and, for runs with ADA, ``plots/ada.png``
    from the stats records so far."""
    loss_keys = ["loss_D", "loss_G"] + sorted({k for r in records for k in r
                                               if k.startswith("penalty_")})
    line_plot(run_dir / "plots" / "losses.png", records, loss_keys, "Losses", "loss")
    line_plot(run_dir / "plots" / "scores.png", records, ["D_real", "D_fake", "D_accuracy"],
              "Discriminator: D(x), D(G(z)), accuracy", "score", ylim=(-0.02, 1.02))
    if any("ada_p" in r for r in records):
        line_plot(run_dir / "plots" / "ada.png", records, ["ada_p", "ada_rt"],
                  "ADA: augmentation probability p and overfitting r_t", "value")
