"""GPU figures for ``bench/gpu_check.sh``: StyleGAN2 paper256 s/kimg, fp16/bf16 training, and
``--compile`` against eager, each in one process on the same machine.

    python bench/gpu_speed.py --device cuda [--images DIR]

- **StyleGAN2 paper256 at 256 px**: seconds per kimg over the run's last half (stats.jsonl's
  ``time_s`` is training time only), set against stylegan2-ada-pytorch's published figure for
  one V100, 21.6–24.2 s/kimg at 256 px (its README's table).
- **fp16 and bf16**: DCGAN 64 px for 1 kimg each; the losses must stay finite.
- **--compile against eager**: DCGAN 64 px, batch 64, images/s over the last half of the run
  (compilation is in the first steps), and StyleGAN2 ``small`` 64 px likewise.

Images: ``--images`` (a folder) or random pictures written here; speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import ganvas

V100_PAPER256 = (21.6, 24.2)  # s/kimg, stylegan2-ada-pytorch README, 1 V100, 256 px


def random_images(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(folder / f"{i}.jpg")
    return folder


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def second_half_rate(run_dir: Path) -> tuple[float, float]:
    """(images/s, s/kimg) between the middle and the last logged step (warm-up excluded)."""
    logged = rows(run_dir)
    first, last = logged[len(logged) // 2], logged[-1]
    seconds = last["time_s"] - first["time_s"]
    kimg = last["kimg"] - first["kimg"]
    return kimg * 1000 / seconds, seconds / kimg


def train(data: Path, outdir: Path, **options) -> Path:
    result = ganvas.train(str(data), outdir=str(outdir), progress=False, report=False,
                          snapshot_kimg=1e6, log_every=2, **options)
    return result.run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--paper256-kimg", type=float, default=3.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ganvas-gpu-"))
    images = args.images or random_images(work / "images", 1000, 256)
    device = args.device

    run = train(images, work / "sg2", model="stylegan2", cfg="paper256", resolution=256,
                kimg=args.paper256_kimg, device=device)
    rate, s_per_kimg = second_half_rate(run)
    low, high = V100_PAPER256
    print(f"stylegan2 paper256 256 px   {s_per_kimg:7.2f} s/kimg ({rate:7.1f} img/s); "
          f"1 V100 published {low}-{high} s/kimg: {low / s_per_kimg:.2f}-{high / s_per_kimg:.2f}x")

    for precision in ("fp16", "bf16"):
        run = train(images, work / precision, resolution=64, kimg=1.0, batch=64,
                    precision=precision, device=device)
        finite = all(math.isfinite(r["loss_D"]) and math.isfinite(r["loss_G"])
                     for r in rows(run))
        rate, _ = second_half_rate(run)
        print(f"dcgan 64 px {precision}             {rate:8.1f} img/s, 1 kimg, losses "
              f"{'finite' if finite else 'NOT FINITE'}")

    for name, options in (("dcgan 64 px", dict(resolution=64, batch=64, kimg=4.0)),
                          ("stylegan2 small 64 px", dict(model="stylegan2", cfg="small",
                                                         resolution=64, kimg=2.0))):
        rates = {}
        for compiled in (False, True):
            run = train(images, work / f"{name}-{compiled}".replace(" ", "_"), device=device,
                        compile=compiled, **options)
            rates[compiled] = second_half_rate(run)[0]
        print(f"{name:<26s} eager {rates[False]:8.1f} img/s, --compile {rates[True]:8.1f} "
              f"img/s: {rates[True] / rates[False]:.2f}x")


if __name__ == "__main__":
    main()
