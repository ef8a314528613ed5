"""Does ADA save a small dataset, and does starting from another run help? (StyleGAN2 on CPU.)

    python bench/ada.py --minutes 15                    # every run, resumable
    python bench/ada.py --minutes 15 --runs ada,noaug   # just these
    python bench/ada.py --resolution 32 --kimg 60 --runs noaug,ada --n 0   # no FID, faster

The anime faces (``anime_faces_64.tar``, 22,969 images) are split once into a 1,000-image
subset (random, seed 0) and the other 21,969 images. StyleGAN2 ``--cfg small`` at 64 px (or
``--resolution 32``) then trains for the same wall-clock budget (or ``--kimg``):

    pretrain     on the other 21,969 images, ADA on (the network the *-init runs start from)
    ada          on the 1,000-image subset, --aug ada
    noaug        on the subset, --aug none (the discriminator is free to memorise it)
    ada-init     as ada, --init-from the pretrain run
    noaug-init   as noaug, --init-from the pretrain run

Each subset run is scored (unless ``--n 0``) with FID and KID: ``--n`` generated images
(G_ema) against ``--n-real`` images of the whole dataset (the same fixed random subset as
``bench/quality.py``, so the cached real features are shared), as the ADA paper scores its
subset runs against the full dataset.
The table also shows ADA's p and the discriminator's accuracy at the end of training (mean of the
last five log lines), and, as the ADA paper's Figure 1b, how the final D ranks 1,000 images it
trained on against 1,000 held-out images of the other split (ROC area: 0.5 = it cannot tell
them apart, 1 = it has memorised its subset), and held-out images against G's fakes. D's
accuracy and p against kimg are plotted beside the table (``OUTDIR/ada-RESpx-BUDGET.png``).
Finished runs are kept in the table JSON; running the same command again skips them.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

import ganvas
from ganvas.data.packed import PackedDataset, finish_packed, is_packed
from ganvas.data.prepare import PrepareOptions, prepare_cached
from ganvas.metrics import evaluate
from ganvas.utils.charts import line_chart, series_of
from ganvas.render import load_discriminator, load_generator
from ganvas.runs.records import read_jsonl
from ganvas.utils.io import atomic_path, write_json
from ganvas.utils.markdown import markdown_table

from quality import DATASETS, reference_images
from tables import budget_of, fill_table, finished_run

SUBSET = 1000
MODEL = {"model": "stylegan2", "cfg": "small"}
# name: (which split it trains on, options, the run it starts from)
RUNS: dict[str, tuple[str, dict, str | None]] = {
    "pretrain": ("others", {"aug": "ada"}, None),
    "ada": ("subset", {"aug": "ada"}, None),
    "noaug": ("subset", {"aug": "none"}, None),
    "ada-init": ("subset", {"aug": "ada"}, "pretrain"),
    "noaug-init": ("subset", {"aug": "none"}, "pretrain"),
}


HELD_OUT = {"subset": "others", "others": "subset"}


def split(packed: Path, out: Path) -> dict[str, Path]:
    """The 1,000-image subset and the rest, each a packed dataset (written once, reused)."""
    folders = {"subset": out / f"anime-subset-{SUBSET}", "others": out / "anime-others"}
    if all(is_packed(f) for f in folders.values()):
        return folders
    source = PackedDataset.open(packed)
    order = np.random.default_rng(0).permutation(len(source))
    picks = {"subset": np.sort(order[:SUBSET]), "others": np.sort(order[SUBSET:])}
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        images = np.ascontiguousarray(source.images[picks[name]])
        np.save(folder / "images.npy", images)
        finish_packed(folder, images, None, {
            "source": {"path": str(packed), "kind": f"random split (seed 0) of {len(source)}"},
            "options": source.meta.get("options", {})})
    return folders


def tail_stats(run_dir: Path, key: str, lines: int = 5) -> float | None:
    """Mean of ``key`` over the last ``lines`` log lines of a run's stats.jsonl."""
    values = [row[key] for row in read_jsonl(run_dir / "stats.jsonl")[-lines:] if key in row]
    return float(np.mean(values)) if values else None


def auc(higher: torch.Tensor, lower: torch.Tensor) -> float:
    """P(a score from ``higher`` > one from ``lower``), ties counting half (ROC area)."""
    pairs = higher.reshape(-1, 1) - lower.reshape(1, -1)
    return ((pairs > 0).float().mean() + (pairs == 0).float().mean() / 2).item()


@torch.no_grad()
def discriminator_separation(run_dir: Path, trained_on: Path, held_out: Path, n: int = 1000,
                             batch: int = 200) -> dict[str, float]:
    """How the run's final D ranks ``n`` images it trained on, ``n`` held-out images and ``n`` of
    G's fakes (G, the network D was trained against, not G_ema), as ROC areas.

    The ADA paper's Figure 1b in two numbers: trained vs held-out near 0.5 means D judges images
    it has never seen like its own; near 1, it has memorised its training set. Areas, unlike
    mean signs, do not move with D's overall offset, which swings from step to step (seen in
    per-step logs). Batches are a multiple of the minibatch-stddev group (4), as in training.
    """
    D, G = load_discriminator(run_dir), load_generator(run_dir, ema=False)
    rng = np.random.default_rng(0)

    def logits(images: Iterator[torch.Tensor]) -> torch.Tensor:
        return torch.cat([D(x).reshape(-1) for x in images])

    def reals(folder: Path) -> Iterator[torch.Tensor]:
        pixels = PackedDataset.open(folder).images
        picks = np.sort(rng.choice(len(pixels), min(n, len(pixels)), replace=False))
        for i in range(0, len(picks), batch):
            yield torch.from_numpy(pixels[picks[i:i + batch]]).float() / 127.5 - 1

    def fakes() -> Iterator[torch.Tensor]:
        seeded = torch.Generator().manual_seed(0)  # latents and noise: the same fakes each time
        for z in torch.randn(n, G.z_dim, generator=seeded).split(batch):
            yield G(z, noise_mode="random", generator=seeded).clamp(-1, 1)

    trained, unseen, generated = logits(reals(trained_on)), logits(reals(held_out)), logits(fakes())
    return {"auc_trained_held_out": auc(trained, unseen),
            "auc_held_out_fakes": auc(unseen, generated)}


def separation_row(run_dir: Path, which: str, data: dict[str, Path]) -> dict[str, float]:
    """:func:`discriminator_separation` of a run trained on split ``which``, against the other."""
    return discriminator_separation(run_dir, data[which], data[HELD_OUT[which]])


def train_run(name: str, packed: Path, data: dict[str, Path], done: dict[str, dict],
              args: argparse.Namespace) -> dict:
    which, options, start_from = RUNS[name]
    if start_from is not None and start_from not in done:
        raise SystemExit(f"{name} starts from {start_from}: run that first (--runs {start_from},"
                         f"{name})")
    budget, _ = budget_of(args)
    init = {"init_from": done[start_from]["run_dir"]} if start_from else {}
    started = time.time()
    run_dir = finished_run(args.outdir, f"ada-{name}", {**budget, "resolution": args.resolution},
                           args.seed)
    if run_dir is None:
        run_dir = ganvas.train(str(data[which]), seed=args.seed, outdir=args.outdir,
                               desc=f"ada-{name}", progress=False, snapshot_kimg=1e6,
                               resolution=args.resolution, **MODEL, **budget, **options,
                               **init).run_dir
    progress = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["progress"]
    row = {"run": name, "data": which, "options": {**options, **init},
           "kimg": round(progress["nimg"] / 1000, 1),
           "train_minutes": round(progress["train_seconds"] / 60, 1), "run_dir": str(run_dir),
           "ada_p": tail_stats(run_dir, "ada_p"), "D_accuracy": tail_stats(run_dir, "D_accuracy"),
           **separation_row(run_dir, which, data)}
    if which == "subset" and args.n > 0:
        scores = evaluate(reference_images(packed, args.n_real), run_dir, fid=True, kid=True,
                          n=args.n_real, n_b=args.n)
        row.update(fid=scores["fid"], kid_x1000=scores["kid_mean"] * 1000,
                   protocol=scores["protocol"])
    row["wall_minutes"] = round((time.time() - started) / 60, 1)
    return row


def plot_runs(rows: dict[str, dict], path: Path) -> None:
    """D's accuracy of every run above ADA's p, against kimg (ganvas's report charts, stacked)."""
    records = {row["run"]: read_jsonl(Path(row["run_dir"]) / "stats.jsonl")
               for row in rows.values()}
    charts = []
    for key, title in (("D_accuracy", "D accuracy"), ("ada_p", "ADA p")):
        lines = [s for run, rs in records.items() if (s := series_of(rs, key, run)) is not None]
        if lines:
            charts.append(Image.open(io.BytesIO(line_chart(lines, f"{path.stem}: {title}", title,
                                                           size=(8, 3.2)))))
    stacked = Image.new("RGB", (max(c.width for c in charts), sum(c.height for c in charts)))
    for i, chart in enumerate(charts):
        stacked.paste(chart, (0, sum(c.height for c in charts[:i])))
    with atomic_path(path) as tmp:
        stacked.save(tmp, format="PNG")


def print_table(rows: dict[str, dict], title: str) -> None:
    base = rows.get("noaug", {}).get("fid")
    print(f"\n{title}\n")

    def number(row: dict, key: str, digits: int) -> str:
        return f"{row[key]:.{digits}f}" if row.get(key) is not None else "-"
    lines = [[row["run"], row["data"], row["kimg"], number(row, "fid", 1),
              f"{row['fid'] / base:.2f}" if base and "fid" in row else "-",
              number(row, "kid_x1000", 1), number(row, "ada_p", 3),
              number(row, "D_accuracy", 3), number(row, "auc_trained_held_out", 3),
              number(row, "auc_held_out_fakes", 3)] for row in rows.values()]
    print(markdown_table(["run", "trained on", "kimg", "FID", "FID / noaug", "KID×1000",
                          "p at end", "D accuracy", "D: own > held-out", "held-out > fakes"],
                         lines))
    protocols = [row["protocol"] for row in rows.values() if "protocol" in row]
    if protocols:
        print(f"\nprotocol: {protocols[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget per run")
    parser.add_argument("--kimg", type=float, default=None, help="an image budget instead")
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--resolution", type=int, default=64, choices=(32, 64))
    parser.add_argument("--n", type=int, default=2000,
                        help="generated images for FID/KID (0: train only, no scores)")
    parser.add_argument("--n-real", type=int, default=10000, help="real images for FID/KID")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outdir", default="runs/bench-ada")
    parser.add_argument("--table", type=Path, default=None,
                        help="results file (default: OUTDIR/ada-RESpx-BUDGET.json)")
    args = parser.parse_args()

    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    source, crop = DATASETS["anime"]
    packed = prepare_cached(source, PrepareOptions(resolution=args.resolution, crop=crop))
    data = split(packed, Path(args.outdir) / "data" / f"{args.resolution}px")
    _, budget = budget_of(args)
    table = args.table or Path(args.outdir) / f"ada-{args.resolution}px-{budget}.json"
    rows = fill_table(table, names, lambda name, done: train_run(name, packed, data, done, args),
                      lambda row: f"{row['kimg']:6.1f} kimg  FID {row.get('fid', '-')}")
    for row in rows.values():  # rows from before the separation columns existed
        if "auc_trained_held_out" not in row and Path(row["run_dir"]).is_dir():
            row.update(separation_row(Path(row["run_dir"]), row["data"], data))
            write_json(table, rows)
    ordered = {n: rows[n] for n in RUNS if n in rows}
    plot_runs(ordered, table.with_suffix(".png"))
    print_table(ordered, f"StyleGAN2 small, {args.resolution} px, {budget} per run "
                         f"(table: {table}, plot: {table.with_suffix('.png')})")


if __name__ == "__main__":
    main()
