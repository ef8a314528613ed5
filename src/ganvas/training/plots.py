"""Plots a person can look at while training runs: losses, D's scores and ADA against kimg
(drawn by the one chart stack, :mod:`ganvas.utils.charts`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ganvas.utils.charts import line_chart, series_of
from ganvas.utils.io import atomic_open


def line_plot(path: Path, records: Sequence[dict[str, Any]], keys: Sequence[str], title: str,
              ylabel: str, ylim: tuple[float, float] | None = None, x: str = "kimg") -> None:
    """Draw ``keys`` of ``records`` against ``x`` into a PNG, atomically."""
    lines = [line for key in keys if (line := series_of(records, key, x=x)) is not None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        f.write(line_chart(lines, title, ylabel, xlabel=x, ylim=ylim, size=(8, 4.5)))


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
