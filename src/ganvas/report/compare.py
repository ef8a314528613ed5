"""Several runs side by side: the settings that differ, their scores, and overlaid curves.

Used by ``ganvas report RUN RUN ...`` and by ``ganvas sweep``'s summary pages.
"""

from __future__ import annotations

from typing import Any, Sequence

from ganvas.config import flatten
from ganvas.utils.charts import line_chart, series_of
from ganvas.report.html import Html, data_uri, duration, esc, fmt, img, section, table, tag
from ganvas.report.run_data import RunData

#: Config keys that differ between runs without being a setting (where the run was written).
NOT_SETTINGS = {"outdir"}

SCORE_COLUMNS = ("images seen", "final FID", "best FID", "final KID", "images/s", "train time",
                 "wall time", "stopped")


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"dataset": {"name": x}}`` -> ``{"dataset.name": x}`` (lists kept as values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def differing_settings(runs: Sequence[RunData]) -> list[str]:
    """Config keys whose values are not the same in every run, in first-seen order."""
    configs = [{**flatten(run.config), **flat_config({k: v for k, v in run.config.items()
                                                       if k in ("preset", "dataset")})}
               for run in runs]
    keys = list(dict.fromkeys(k for c in configs for k in c))
    return [k for k in keys if k not in NOT_SETTINGS
            and len({repr(c.get(k)) for c in configs}) > 1]


def score_row(run: RunData) -> dict[str, str]:
    """The headline numbers of a run, formatted (shared by HTML and Markdown tables)."""
    best = run.best_metric("fid")
    return {"images seen": fmt(run.images_seen),
            "final FID": fmt(run.final_metric("fid")),
            "best FID": "–" if best is None else f"{fmt(best[1])} @ {fmt(best[0])} kimg",
            "final KID": fmt(run.final_metric("kid_mean")),
            "images/s": fmt(run.images_per_second, 3) if run.images_per_second else "–",
            "train time": duration(run.train_seconds),
            "wall time": duration(run.wall_seconds),
            "stopped": run.stopped or "running"}


def overlay_charts(runs: Sequence[RunData], labels: Sequence[str]) -> list[bytes]:
    """Loss and FID curves of every run on shared axes (one colour per run)."""
    charts = []
    for key, title, source in (("fid", "FID (lower is better)", "metrics"),
                               ("kid_mean", "KID (lower is better)", "metrics"),
                               ("loss_D", "Discriminator loss", "stats"),
                               ("loss_G", "Generator loss", "stats"),
                               ("D_fake", "D(G(z))", "stats")):
        lines = [s for run, label in zip(runs, labels)
                 if (s := series_of(getattr(run, source), key, label)) is not None]
        if lines:
            charts.append(line_chart(lines, title, key.replace("_mean", "")))
    return charts


def chart_grid(charts: Sequence[bytes], alt: str) -> Html:
    return tag("div", *(img(data_uri(c), alt) for c in charts), cls="charts")


def comparison_section(runs: Sequence[RunData], labels: Sequence[str] | None = None,
                       settings: Sequence[str] | None = None, title: str = "Comparison") -> Html:
    """A table of settings and scores, and the overlaid curves.

    ``labels`` name the runs in legends (default: folder names). ``settings`` picks the config
    keys shown; by default, those that differ, with the folder names as the first column.
    """
    labels = list(labels or [run.name for run in runs])
    chosen = settings is not None
    keys = list(settings if chosen else differing_settings(runs))
    first = [] if chosen else ["run"]
    rows = []
    for run, label in zip(runs, labels):
        scores = score_row(run)
        rows.append([*([] if chosen else [label]), *(fmt(run.setting(k)) for k in keys),
                     *(scores[c] for c in SCORE_COLUMNS), *([run.name] if chosen else [])])
    start = len(first) + len(keys)
    numeric = range(start, start + len(SCORE_COLUMNS) - 1)
    headers = [*first, *keys, *SCORE_COLUMNS, *(["run folder"] if chosen else [])]
    if keys:
        note = tag("p", "Settings compared: " if chosen else "Settings that differ: ",
                   *join_codes(keys))
    else:
        note = tag("p", "All runs have the same settings.", cls="missing")
    return section(title, note, table(headers, rows, numeric=numeric),
                   chart_grid(overlay_charts(runs, labels), "comparison chart"),
                   anchor="comparison")


def join_codes(keys: Sequence[str]) -> list[Html]:
    parts: list[Html] = []
    for index, key in enumerate(keys):
        parts.append(Html(("" if index == 0 else ", ") + f"<code>{esc(key)}</code>"))
    return parts
