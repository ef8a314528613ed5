"""Few pictures, more pixels: which family trains best on a small set in the same wall-clock time?

    python bench/smalldata.py --minutes 60                    # Van Gogh at 128 px, every family
    python bench/smalldata.py --minutes 10 --n 2000           # a pilot
    python bench/smalldata.py --data anime1k --minutes 60     # the 1,000-image anime subset
    python bench/smalldata.py --data anime --resolution 64    # the full anime set at 64 px
    python bench/smalldata.py --resolution 64 --kimg 153.475 --candidates art-dense,dcgan
                                                              # the paintings report's before/after

Each candidate trains on the same packed data (centre crop, x-flips: ganvas's default for your
pictures) for the same budget and seed, then is scored with FID and KID of ``--n`` samples
(G_ema) against **all** training images. KID is the ADA paper's measure for small sets (FID is
biased upwards when the real side has few images); both use the standard Inception weights.
The table adds s/kimg from the run's own training clock; the last sample grids of every
candidate are saved side by side (``OUTDIR/smalldata-DATA-RESpx-BUDGET.png``).

Resumable like ``bench/quality.py``: finished rows are kept in ``--table``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import ganvas
from ganvas.data.packed import PackedDataset
from ganvas.data.prepare import PrepareOptions, prepare_cached
from ganvas.metrics import evaluate
from ganvas.metrics.sources import ArraySide
from ganvas.utils.markdown import markdown_table

from ada import split
from quality import SHARED
from tables import budget_of, fill_table, finished_run

DATASETS = {"vangogh": SHARED / "vangogh_849.tar", "anime": SHARED / "anime_faces_64.tar",
            "anime1k": SHARED / "anime_faces_64.tar"}
CANDIDATES: dict[str, dict] = {
    "dcgan": {"model": "dcgan"},  # the plain default below 128 px (from 128 px: lightweight)
    "stylegan2-ada": {"model": "stylegan2", "cfg": "small", "aug": "ada"},
    "lightweight": {"model": "lightweight"},
    "lightweight-w16": {"model": "lightweight", "width": 16},  # a quarter of the FLOPs
    "lightweight-w16-b8": {"model": "lightweight", "width": 16, "batch": 8},  # FastGAN's batch
    "lightweight-ada": {"model": "lightweight", "aug": "ada"},
    "lightweight-w16-ada": {"model": "lightweight", "width": 16, "aug": "ada"},
    # Seed 003's own setting (the paintings report, Keras): the "before" of its before/after,
    # run for its 175 epochs of 877 paintings with --kimg 153.475 at 64 px.
    "art-dense": {"model": "dcgan", "preset": "art-dense"},
}


def packed_data(name: str, resolution: int, outdir: Path) -> Path:
    packed = prepare_cached(DATASETS[name], PrepareOptions(resolution=resolution, crop="center"))
    if name != "anime1k":
        return packed
    return split(packed, outdir / "data" / f"{resolution}px")["subset"]


def all_images(packed: Path) -> ArraySide:
    images = PackedDataset.open(packed).images
    return ArraySide(np.ascontiguousarray(images), f"{packed.name}: all {len(images)} "
                     "training images")


def run_candidate(name: str, packed: Path, args: argparse.Namespace) -> dict:
    budget, _ = budget_of(args)
    desc = f"{args.data}{args.resolution}-{name}"
    started = time.time()
    run_dir = finished_run(args.outdir, desc, budget, args.seed)
    if run_dir is None:
        run_dir = ganvas.train(str(packed), resolution=args.resolution, seed=args.seed,
                               outdir=args.outdir, desc=desc, progress=False,
                               snapshot_kimg=args.snapshot_kimg, **budget,
                               **CANDIDATES[name]).run_dir
    progress = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["progress"]
    reals = all_images(packed)
    scores = evaluate(reals, run_dir, fid=True, kid=True, n=len(reals.images), n_b=args.n)
    kimg = progress["nimg"] / 1000
    return {"candidate": name, "options": CANDIDATES[name], "kimg": round(kimg, 2),
            "s_per_kimg": round(progress["train_seconds"] / kimg, 1),
            "fid": scores["fid"], "kid_x1000": scores["kid_mean"] * 1000,
            "run_dir": str(run_dir), "wall_minutes": round((time.time() - started) / 60, 1),
            "protocol": scores["protocol"] + "; KID: the ADA paper's measure for small sets"}


def side_by_side(rows: dict[str, dict], out: Path, side: int = 512) -> Path:
    """The last sample grid of every candidate, in one row, each under its name."""
    tiles = []
    for name, row in rows.items():
        grids = sorted(Path(row["run_dir"]).glob("fakes_*.png"))
        if grids:
            tile = Image.open(grids[-1]).convert("RGB").resize((side, side), Image.LANCZOS)
            canvas = Image.new("RGB", (side, side + 24), "white")
            canvas.paste(tile, (0, 24))
            ImageDraw.Draw(canvas).text((6, 6), f"{name}: KID x1000 {row['kid_x1000']:.1f}",
                                        fill="black")
            tiles.append(canvas)
    strip = Image.new("RGB", (len(tiles) * (side + 8), side + 24), "white")
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * (side + 8), 0))
    strip.save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATASETS), default="vangogh")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget each")
    parser.add_argument("--kimg", type=float, default=None, help="an image budget instead")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--n", type=int, default=5000, help="generated images for FID/KID")
    parser.add_argument("--snapshot-kimg", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outdir", default="runs/bench-smalldata")
    parser.add_argument("--table", type=Path, default=None)
    args = parser.parse_args()

    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(CANDIDATES)}")
    packed = packed_data(args.data, args.resolution, Path(args.outdir))
    _, budget = budget_of(args)
    stem = f"smalldata-{args.data}-{args.resolution}px-{budget}"
    table = args.table or Path(args.outdir) / f"{stem}.json"
    rows = fill_table(table, names, lambda name, _: run_candidate(name, packed, args),
                      lambda row: f"{row['kimg']:7.2f} kimg  {row['s_per_kimg']:6.1f} s/kimg  "
                                  f"FID {row['fid']:7.2f}  KID×1000 {row['kid_x1000']:6.2f}")
    chosen = {n: rows[n] for n in names if n in rows}
    print(f"\n{args.data}, {args.resolution} px, {budget} each (table: {table})\n")
    print(markdown_table(
        ["candidate", "kimg", "s/kimg", "FID", "KID×1000"],
        [[r["candidate"], r["kimg"], r["s_per_kimg"], f"{r['fid']:.1f}", f"{r['kid_x1000']:.1f}"]
         for r in sorted(chosen.values(), key=lambda r: r["kid_x1000"])]))
    if chosen:
        print(f"protocol: {next(iter(chosen.values()))['protocol']}")
        print(f"grids: {side_by_side(chosen, Path(args.outdir) / f'{stem}.png')}")


if __name__ == "__main__":
    main()
