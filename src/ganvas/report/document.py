"""``report.html``: everything a run folder says, on one self-contained page.

For each run: how it went (images seen, time, FID, warnings from log.txt), the final samples
beside real images, how the fixed-noise samples evolved, training curves, the metric table with
its protocol, and the resolved configuration. Several runs get a comparison section first.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from ganvas.config import flatten, group_of
from ganvas.utils.charts import line_chart, series_of
from ganvas.report.compare import chart_grid, comparison_section, flat_config
from ganvas.report.html import (Html, duration, fmt, image_uri, img, page, table, tag,
                                write_html)
from ganvas.report.run_data import RunData, load_run

EVOLUTION_STEPS = 12      # sample grids shown in the evolution strip (first and last included)
THUMBNAIL_SIDE = 360      # pixels of an evolution thumbnail
SAMPLE_SIDE = 1024        # pixels of the final samples and the reals

#: Metric table columns (header, metrics.jsonl key); columns no record has are left out.
METRIC_COLUMNS = (("kimg", "kimg"), ("step", "step"), ("FID", "fid"), ("KID", "kid_mean"),
                  ("precision", "precision"), ("recall", "recall"),
                  ("class agreement", "agreement"), ("probe on real", "probe_accuracy"),
                  ("seconds", "seconds"))
GROUP_TITLES = {"optim": "optimisation", "objective": "objective (loss, penalties, "
                "augmentation, EMA)", "run": "run (budget, output, devices, metrics)"}
UNIT_RANGE = (-0.02, 1.02)
#: (title, y label, record source, keys or key prefix, y range, reference line)
RUN_CHARTS: tuple[tuple[str, str, str, tuple[str, ...], Any, Any], ...] = (
    ("Losses", "loss", "stats", ("loss_D", "loss_G", "penalty_"), None, None),
    ("D(x) and D(G(z))", "mean sigmoid(D)", "stats", ("D_real", "D_fake"), UNIT_RANGE, None),
    ("Discriminator accuracy", "accuracy", "stats", ("D_accuracy",), UNIT_RANGE, 0.5),
    ("FID (lower is better)", "FID", "metrics", ("fid",), None, None),
    ("KID (lower is better)", "KID", "metrics", ("kid_mean",), None, None),
    ("Precision and recall", "score", "metrics", ("precision", "recall"), UNIT_RANGE, None),
    ("Class agreement (conditional runs; the probe's accuracy on real images is its ceiling)",
     "share", "metrics", ("agreement", "probe_accuracy"), UNIT_RANGE, None),
    ("ADA: augmentation probability p and overfitting r_t", "value", "stats",
     ("ada_p", "ada_rt"), None, None),
    ("Training speed", "images/s", "stats", ("img_per_s",), None, None),
)


def run_charts(run: RunData) -> list[bytes]:
    """The charts whose keys this run logged (no empty axes for what it did not measure)."""
    charts = []
    for title, ylabel, source, keys, ylim, reference in RUN_CHARTS:
        records = getattr(run, source)
        present = list(dict.fromkeys(k for r in records for k in r))
        chosen = [k for want in keys for k in present
                  if (k == want or (want.endswith("_") and k.startswith(want)))]
        lines = [s for k in chosen if (s := series_of(records, k)) is not None]
        if lines:
            charts.append(line_chart(lines, title, ylabel, ylim=ylim, reference=reference))
    return charts


def fact(label: str, value: str) -> Html:
    return tag("div", tag("b", value), tag("span", label), cls="fact")


def summary_part(run: RunData) -> Html:
    """How it went: the headline numbers and any warnings from log.txt."""
    best_fid = run.best_metric("fid")
    epoch = run.last("epoch")
    facts = [fact("images seen", fmt(run.images_seen)),
             fact("epochs", fmt(epoch, 3) if epoch is not None else "–"),
             fact("training time", duration(run.train_seconds)),
             fact("wall time", duration(run.wall_seconds)),
             fact("images / s", fmt(run.images_per_second, 3)),
             fact("stopped", run.stopped or "still running")]
    if run.metrics:
        facts += [fact("final FID", fmt(run.final_metric("fid"))),
                  fact("best FID" if best_fid is None else f"best FID, at {fmt(best_fid[0])} kimg",
                       "–" if best_fid is None else fmt(best_fid[1])),
                  fact("final KID", fmt(run.final_metric("kid_mean")))]
    warnings = [tag("div", text, cls="warning") for text in run.warnings]
    if run.stopped == "diverged":
        warnings.append(tag("div", "Training diverged; the last good checkpoint was kept.",
                            cls="warning"))
    if not warnings:
        warnings = [tag("p", "No divergence warnings in log.txt.", cls="ok")]
    return Html(tag("h3", "How it went") + tag("div", *facts, cls="facts") + "".join(warnings))


def samples_part(run: RunData) -> Html:
    """The last fixed-noise samples beside the real images."""
    final = run.fakes[-1] if run.fakes else None
    fake_uri = image_uri(final[1], SAMPLE_SIDE) if final else None
    caption = f"generated, {final[0]:,} kimg" if final else "generated"
    return Html(tag("h3", "Final samples and real images") + tag(
        "div",
        tag("figure", img(fake_uri, "final samples"), tag("figcaption", caption)),
        tag("figure", img(image_uri(run.reals, SAMPLE_SIDE) if run.reals else None,
                          "real images"), tag("figcaption", "real (reals.png)")),
        cls="pair"))


def evenly_spaced(items: Sequence[Any], count: int) -> list[Any]:
    """At most ``count`` items, first and last included, evenly spread."""
    if len(items) <= count:
        return list(items)
    indices = sorted({round(i * (len(items) - 1) / (count - 1)) for i in range(count)})
    return [items[i] for i in indices]


def evolution_part(run: RunData) -> Html:
    """The fixed-noise grid over training, in kimg order."""
    if len(run.fakes) < 2:
        return Html("")
    shown = evenly_spaced(run.fakes, EVOLUTION_STEPS)
    figures = [tag("figure", img(image_uri(path, THUMBNAIL_SIDE), f"samples at {kimg} kimg"),
                   tag("figcaption", f"{kimg:,} kimg")) for kimg, path in shown]
    note = f" ({len(shown)} of {len(run.fakes)} snapshots)" if len(shown) < len(run.fakes) else ""
    return Html(tag("h3", f"Samples from the same noise as training went{note}")
                + tag("div", *figures, cls="strip"))


def kid_text(record: dict[str, Any]) -> str:
    """``0.0123 ± 0.0004`` (the ± part only when the record has a spread)."""
    mean, std = record.get("kid_mean"), record.get("kid_std")
    return fmt(mean) if std is None else f"{fmt(mean)} ± {fmt(std)}"


def metrics_part(run: RunData) -> Html:
    """Every evaluation, and the protocol that makes its numbers comparable."""
    if not run.metrics:
        return Html(tag("h3", "Metrics") + tag("p", "No metrics were measured (train with "
                                               "--metrics fid to add them).", cls="missing"))
    columns = [(header, key) for header, key in METRIC_COLUMNS
               if key in ("kimg", "step") or any(r.get(key) is not None for r in run.metrics)]
    rows = [[kid_text(r) if key == "kid_mean" else fmt(r.get(key)) for _, key in columns]
            for r in run.metrics]
    protocols = list(dict.fromkeys(str(r["protocol"]) for r in run.metrics if r.get("protocol")))
    return Html(tag("h3", "Metrics")
                + table([header for header, _ in columns], rows, numeric=range(len(columns)))
                + "".join(tag("p", "protocol: ", p, cls="protocol") for p in protocols))


def nearest_part(run: RunData) -> Html:
    """``evaluate --nearest``: samples beside their nearest training images, and the score."""
    figure = run.path / "nearest.png"
    share = run.nearest.get("memorisation")
    if not isinstance(share, (int, float)) or not figure.is_file():
        return Html("")
    return Html(tag("h3", "Is it copying its training images?")
                + tag("p", f"memorisation {share:.3f}: the share of samples nearer their "
                      "nearest training image than nearly every real image not trained on "
                      "(about 0.05 for a generator that makes new images, 1 for copies)")
                + tag("figure", img(image_uri(figure, SAMPLE_SIDE), "samples and their nearest "
                                    "training images"),
                      tag("figcaption", "each row: a sample, then its three nearest training "
                                        "images (Inception features)"))
                + tag("p", "protocol: ", str(run.nearest.get("protocol", "")), cls="protocol"))


def config_part(run: RunData) -> Html:
    """The resolved options in the groups the run used (data, run, optim, objective, its
    family), then what config.json notes about the dataset."""
    if not run.config:
        return Html(tag("h3", "Configuration") + tag("p", "config.json is missing.",
                                                     cls="missing"))
    groups: dict[str, list[list[str]]] = {}
    options = flatten(run.config)
    model = str(options.get("model", "dcgan"))
    for key, value in options.items():
        group = group_of(key, model)
        if group is not None:
            groups.setdefault(GROUP_TITLES.get(group, group), []).append([key, fmt(value, 6)])
    notes = {k: v for k, v in run.config.items() if k in ("why", "preset", "dataset")}
    for key, value in flat_config(notes).items():
        groups.setdefault(key.split(".")[0], []).append([key, fmt(value, 6)])
    tables = [tag("div", tag("h3", group), table(["option", "value"], rows))
              for group, rows in groups.items()]
    return Html(tag("h3", "Configuration") + tag("div", *tables, cls="config"))


def run_section(run: RunData, title: str) -> Html:
    charts = run_charts(run)
    curves = Html(tag("h3", "Training curves") + chart_grid(charts, "training chart")) \
        if charts else Html(tag("h3", "Training curves")
                            + tag("p", "No statistics logged yet.", cls="missing"))
    return tag("section", tag("h2", title), summary_part(run), samples_part(run),
               evolution_part(run), curves, metrics_part(run), nearest_part(run),
               config_part(run),
               cls="card run", id=run.name)


def describe_run(run: RunData) -> str:
    """``mnist · dcgan 32 px · budget 200 kimg`` for page subtitles."""
    parts = [run.setting("dataset.name") or run.setting("data"),
             " ".join(str(p) for p in (run.setting("model"), run.setting("resolution")) if p)
             + (" px" if run.setting("resolution") else "")]
    budget = [f"{fmt(run.setting(key))} {unit}" for key, unit in
              (("kimg", "kimg"), ("epochs", "epochs"), ("minutes", "min")) if run.setting(key)]
    if budget:
        parts.append("budget " + ", ".join(budget))
    return " · ".join(str(p) for p in parts if p)


def render_report(runs: Sequence[RunData]) -> str:
    if len(runs) == 1:
        run = runs[0]
        return page(f"Training report: {run.name}", run_section(run, run.name),
                    subtitle=describe_run(run))
    return page(f"Training report: {len(runs)} runs", comparison_section(runs),
                *(run_section(run, run.name) for run in runs),
                subtitle=", ".join(run.name for run in runs))


def write_report(runs: Sequence[str | Path], out: str | Path) -> Path:
    """Write one self-contained HTML report of ``runs`` to ``out``; returns ``out``."""
    return write_html(out, render_report([load_run(path) for path in runs]))


def write_run_report(run_dir: str | Path) -> Path:
    """``run_dir/report.html``, for the training loop to call at the end of every run.

    Never raises: a report is a courtesy, and a finished training run must not fail because its
    page could not be drawn. Problems are printed as one warning line instead.
    """
    out = Path(run_dir) / "report.html"
    try:
        write_report([run_dir], out)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        print(f"ganvas: warning: could not write {out}: {exc}", file=sys.stderr)
    return out
