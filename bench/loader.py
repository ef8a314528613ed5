"""Does the batch loader slow training? A 64 px DCGAN step fed by ganvas's loader from a
memory-mapped packed dataset, against the same step fed from a tensor already in memory.

    python bench/loader.py [--packed DIR] [--steps 30] [--batch 64]

Without --packed, a synthetic 10,000-image pack is written to a temporary folder. Prints
images/s for both and the loader's overhead in percent (target: under 5%).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganvas.config import resolve
from ganvas.data.loader import BatchLoader
from ganvas.models import get_family
from ganvas.training.optim import make_optimizer
from ganvas.objective.adversarial import AdversarialObjective


def synthetic_pack(folder: Path, n: int = 10_000, resolution: int = 64) -> np.ndarray:
    images = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, 3, resolution, resolution))
    rng = np.random.default_rng(0)
    for i in range(0, n, 1000):
        images[i:i + 1000] = rng.integers(0, 256, images[i:i + 1000].shape, dtype=np.uint8)
    images.flush()
    return np.load(folder / "images.npy", mmap_mode="r")


def run(get_batch, steps: int, batch: int) -> float:
    """Images/s of full GAN steps (D then G) with reals from ``get_batch``."""
    torch.manual_seed(0)
    cfg = resolve({"resolution": 64, "batch": batch, "mirror": True})
    G, D = get_family("dcgan").build(cfg.family, 64, 3)
    opt_G = make_optimizer(cfg.optim, G, cfg.optim.lr_g)
    opt_D = make_optimizer(cfg.optim, D, cfg.optim.lr_d)
    rng = torch.Generator().manual_seed(0)
    objective = AdversarialObjective(cfg.objective, G, D, rng, batch=cfg.optim.batch)

    def step(i: int) -> None:
        loss_D, _ = objective.discriminator_step(get_batch(rng), 0.0)
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        loss_G, _ = objective.generator_step(batch, torch.device("cpu"), 0.0)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()

    for i in range(3):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packed", type=Path, help="a dataset packed by 'ganvas prepare'")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.packed:
            images = np.load(args.packed / "images.npy", mmap_mode="r")
        else:
            images = synthetic_pack(Path(tmp))
        loader = BatchLoader(images, args.batch, seed=0, device=torch.device("cpu"), mirror=True)
        fixed = torch.from_numpy(np.array(images[: args.batch])).float().div(127.5).sub(1)
        # Interleave the two feeds so drifting machine load affects both alike.
        memory, loaded = [], []
        for _ in range(args.rounds):
            memory.append(run(lambda rng: fixed, args.steps, args.batch))
            loaded.append(run(lambda rng: loader.next(rng), args.steps, args.batch))
        # The loader on its own: what it adds to each step, free of run-to-run noise.
        rng = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        for _ in range(200):
            loader.next(rng)
        loader_ms = (time.perf_counter() - start) / 200 * 1000
    med_memory, med_loaded = float(np.median(memory)), float(np.median(loaded))
    step_ms = args.batch / med_memory * 1000
    print(f"in-memory tensor : {med_memory:7.1f} img/s (median of {args.rounds})")
    print(f"ganvas loader    : {med_loaded:7.1f} img/s  ({len(images):,} images, memory-mapped)")
    print(f"end-to-end ratio : {med_memory / med_loaded:.3f}  "
          f"({(med_memory / med_loaded - 1) * 100:+.1f}%, includes run-to-run noise)")
    print(f"loader alone     : {loader_ms:.2f} ms per batch = "
          f"{loader_ms / step_ms * 100:.2f}% of a {step_ms:.0f} ms step")


if __name__ == "__main__":
    main()
