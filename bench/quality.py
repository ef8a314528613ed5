"""Which recipe trains best in the same budget? The instrument that chose ganvas's default.

    python bench/quality.py --minutes 20                        # anime faces, every recipe
    python bench/quality.py --minutes 20 --data celeba          # CelebA, face-cropped
    python bench/quality.py --recipes dcgan-paper,default --minutes 5
    python bench/quality.py --kimg 30 --recipes dcgan-paper,dcgan-paper-fp32  # same images

Each recipe trains at 64 px for the same wall-clock budget (or the same number of images with
``--kimg``) on the same data and seed, then FID and KID are measured with the standard Inception
weights, ``--n`` generated images (G_ema when the recipe has one) against ``--n-real`` training
images (a fixed random subset), and the table shows each FID as a ratio against the textbook
DCGAN (``dcgan-paper``) trained in the same table.

Resumable: every finished recipe is stored in ``--table`` (JSON); running the same command again
skips them, so a 20-minute-per-recipe table can be built over several sittings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import ganvas
from ganvas.data.packed import PackedDataset
from ganvas.data.prepare import PrepareOptions, prepare_cached
from ganvas.metrics import evaluate
from ganvas.metrics.sources import ArraySide
from ganvas.utils.markdown import markdown_table

from tables import budget_of, fill_table, finished_run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {"anime": (SHARED / "anime_faces_64.tar", "center"),
            "celeba": (SHARED / "celeba_aligned_6k.tar", "face")}
BASELINE = "dcgan-paper"
# Options on top of ganvas's plain defaults; "default" is what `ganvas train DATA` does.
RECIPES: dict[str, dict] = {
    "dcgan-paper": {"preset": "dcgan-paper"},
    "dcgan-paper-fp32": {"preset": "dcgan-paper", "precision": "fp32"},
    "default": {},
    "mirror-ema": {"preset": "dcgan-paper", "mirror": True, "ema_kimg": 10.0},
    "spectral": {"preset": "dcgan-paper", "d_norm": "spectral"},
    "spectral-hinge": {"preset": "dcgan-paper", "d_norm": "spectral", "loss": "hinge"},
    "r1": {"preset": "dcgan-paper", "d_norm": "none", "r1": 0.2},
    # R3GAN's objective (Huang et al. 2024) on the DCGAN networks: relativistic pairing + R1 + R2.
    "r3gan": {"preset": "dcgan-paper", "d_norm": "none", "loss": "rpgan", "r1": 0.2, "r2": 0.2},
    "ttur": {"preset": "dcgan-paper", "lr_d": 4e-4, "lr_g": 1e-4},
    "diffaug": {"preset": "dcgan-paper", "diffaugment": "translation,cutout"},
    "diffaug-color": {"preset": "dcgan-paper", "diffaugment": "color,translation,cutout"},
    "batch32": {"preset": "dcgan-paper", "batch": 32},
    "ada": {"preset": "dcgan-paper", "aug": "ada"},
    "mirror-ema-spectral": {"preset": "dcgan-paper", "mirror": True, "ema_kimg": 10.0,
                            "d_norm": "spectral"},
    "mirror-ema-diffaug": {"preset": "dcgan-paper", "mirror": True, "ema_kimg": 10.0,
                           "diffaugment": "translation,cutout"},
    # The default plus one more change: where the next default would come from.
    "default-color": {"diffaugment": "color,translation,cutout"},
    "default-ttur": {"lr_d": 4e-4, "lr_g": 1e-4},
    "default-batch32": {"batch": 32},
    "default-r3gan": {"d_norm": "none", "loss": "rpgan", "r1": 0.2, "r2": 0.2},
}


def reference_images(packed: Path, n: int) -> ArraySide:
    """A fixed random subset of the training images (seed 0), the real side of every FID."""
    images = PackedDataset.open(packed).images
    chosen = np.sort(np.random.default_rng(0).permutation(len(images))[:n])
    return ArraySide(np.ascontiguousarray(images[chosen]),
                     f"{packed.name}: {len(chosen)} random training images (seed 0)")


def run_recipe(name: str, packed: Path, args: argparse.Namespace) -> dict:
    spec = dict(RECIPES[name])
    preset = spec.pop("preset", None)
    budget, _ = budget_of(args)
    started = time.time()
    run_dir = finished_run(args.outdir, f"{args.data}-{name}", budget, args.seed)
    if run_dir is None:
        run_dir = ganvas.train(str(packed), preset=preset, resolution=64, seed=args.seed,
                               outdir=args.outdir, desc=f"{args.data}-{name}", progress=False,
                               snapshot_kimg=1e6, **budget, **spec).run_dir
    progress = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["progress"]
    scores = evaluate(reference_images(packed, args.n_real), run_dir, fid=True,
                      kid=True, n=args.n_real, n_b=args.n)
    return {"recipe": name, "options": RECIPES[name], "kimg": round(progress["nimg"] / 1000, 1),
            "train_minutes": round(progress["train_seconds"] / 60, 1),
            "fid": scores["fid"], "kid_x1000": scores["kid_mean"] * 1000,
            "run_dir": str(run_dir), "protocol": scores["protocol"],
            "wall_minutes": round((time.time() - started) / 60, 1)}


def print_table(rows: dict[str, dict], title: str) -> None:
    base = rows.get(BASELINE, {}).get("fid")
    print(f"\n{title}\n")
    lines = [[row["recipe"], row["kimg"], f"{row['fid']:.1f}",
              f"{row['fid'] / base:.2f}" if base else "(no baseline yet)",
              f"{row['kid_x1000']:.1f}"] for row in sorted(rows.values(), key=lambda r: r["fid"])]
    print(markdown_table(["recipe", "kimg", "FID", "FID / textbook", "KID×1000"], lines))
    if rows:
        print(f"\nprotocol: {next(iter(rows.values()))['protocol']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATASETS), default="anime")
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per recipe")
    parser.add_argument("--kimg", type=float, default=None, help="an image budget instead")
    parser.add_argument("--recipes", default=",".join(r for r in RECIPES if r != "dcgan-paper-fp32"))
    parser.add_argument("--n", type=int, default=5000, help="generated images for FID/KID")
    parser.add_argument("--n-real", type=int, default=10000, help="real images for FID/KID")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outdir", default="runs/bench-quality")
    parser.add_argument("--table", type=Path, default=None,
                        help="results file (default: OUTDIR/quality-DATA-BUDGET.json)")
    args = parser.parse_args()

    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    source, crop = DATASETS[args.data]
    packed = prepare_cached(source, PrepareOptions(resolution=64, crop=crop))
    _, budget = budget_of(args)
    table = args.table or Path(args.outdir) / f"quality-{args.data}-{budget}.json"
    rows = fill_table(table, names, lambda name, _: run_recipe(name, packed, args),
                      lambda row: f"{row['kimg']:7.1f} kimg  FID {row['fid']:7.2f}  "
                                  f"KID×1000 {row['kid_x1000']:6.2f}")
    print_table({n: rows[n] for n in rows if n in names or n == BASELINE},
                f"{args.data}, 64 px, {budget} per recipe (table: {table})")


if __name__ == "__main__":
    main()
