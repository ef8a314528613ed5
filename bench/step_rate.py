"""How close a family's training step comes to the machine's matrix-multiply rate.

    python bench/step_rate.py --model stylegan2 --cfg small --resolution 64
    python bench/step_rate.py --model lightweight --resolution 128 --profile

Prints, in one process and one run: the fp32 and bf16 matmul rates (4096² squares), the FLOPs
of one training step per image (D on reals and fakes, then G; counted by
``torch.utils.flop_counter`` with the regularisers off, as the issue's figure is), the images/s
that ``ganvas train`` logs for its training steps on a synthetic pack (data loading included,
median of the second half of log intervals), and the achieved FLOP rate as a fraction of the
matmul rate. ``--profile`` adds the ten operators that take the most time in a step.
``--ceiling`` replays every convolution and matrix product of one step by itself, with the
step's shapes, strides and dtypes: the rate those kernels reach alone bounds what any step
made of them can reach, whatever else it does.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

import ganvas
from ganvas.config import resolve, with_model_defaults
from ganvas.data.packed import finish_packed
from ganvas.models import get_family
from ganvas.training.fastpath import FastPath, batch_layout, channels_last

sys.path.insert(0, str(Path(__file__).parent))
from throughput import matmul_rate  # noqa: E402

# Regularisers off: the step this bench prices is the plain adversarial one.
NO_REGULARISERS = {"stylegan2": {"gamma": 0.0, "pl_weight": 0.0},
                   "lightweight": {}, "dcgan": {}}


def options_for(args: argparse.Namespace) -> dict:
    options = {"model": args.model, "resolution": args.resolution, "batch": args.batch,
               "precision": args.precision, **NO_REGULARISERS[args.model]}
    if args.cfg:
        options["cfg"] = args.cfg
    return options


def synthetic_pack(folder: Path, resolution: int, images: int = 512) -> Path:
    """A pack of noise images: the step's cost does not depend on what the pixels show."""
    folder.mkdir(parents=True)
    array = np.lib.format.open_memmap(folder / "images.npy", "w+", np.uint8,
                                      (images, 3, resolution, resolution))
    array[:] = np.random.default_rng(0).integers(0, 256, array.shape, np.uint8)
    finish_packed(folder, array, None, {"source": "synthetic noise"})
    return folder


def build_objective(options: dict, fast: FastPath):
    cfg = with_model_defaults(resolve(options))
    family = get_family(cfg.model)
    layout = channels_last if family.channels_last else (lambda net: net)
    G, D = (layout(net) for net in family.build(cfg.family, cfg.data.resolution, 3))
    objective = family.objective(cfg.family, cfg.objective, G, D,
                                 torch.Generator().manual_seed(0), batch=cfg.optim.batch,
                                 autocast=fast.autocast, penalty_autocast=fast.penalty_autocast,
                                 device=torch.device("cpu"))
    return cfg, G, D, objective


def one_step(objective, batch: int, resolution: int, model: str) -> None:
    reals = torch.rand(batch, 3, resolution, resolution) * 2 - 1
    if get_family(model).channels_last:
        reals = batch_layout(reals)  # as the loader hands a channels-last family its batches
    loss, _ = objective.discriminator_step(reals, 0.0)
    loss.backward()
    loss, _ = objective.generator_step(batch, torch.device("cpu"), 0.0)
    loss.backward()


def step_flops(options: dict) -> float:
    """FLOPs per image of one D step and one G step, counted in fp32."""
    cfg, _, _, objective = build_objective({**options, "precision": "fp32"},
                                           FastPath.create("fp32", torch.device("cpu")))
    with FlopCounterMode(display=False) as counter:
        one_step(objective, cfg.optim.batch, cfg.data.resolution, cfg.model)
    return counter.get_total_flops() / cfg.optim.batch


def train_rate(options: dict, kimg: float, workdir: Path) -> float:
    pack = synthetic_pack(workdir / "pack", options["resolution"])
    result = ganvas.train(str(pack), **options, kimg=kimg, log_every=2, snapshot_kimg=1e6,
                          outdir=str(workdir / "runs"), progress=False, grid=4, mirror=False)
    rows = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    return statistics.median(r["img_per_s"] for r in rows[len(rows) // 2:])


def profile(options: dict, steps: int = 3) -> None:
    fast = FastPath.create(options["precision"], torch.device("cpu"))
    cfg, _, _, objective = build_objective(options, fast)
    one_step(objective, cfg.optim.batch, cfg.data.resolution, cfg.model)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            one_step(objective, cfg.optim.batch, cfg.data.resolution, cfg.model)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12,
                                    max_name_column_width=40))


aten = torch.ops.aten
#: The operators that carry a step's FLOPs.
HEAVY = (aten.convolution.default, aten.convolution_backward.default, aten.mm.default,
         aten.addmm.default, aten.bmm.default)


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A recorded operand: enough to make a fresh one laid out the same way."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    def make(self) -> torch.Tensor:
        extent = 1 + sum((n - 1) * step for n, step in zip(self.shape, self.stride))
        storage = torch.empty(extent if all(self.shape) else 0, dtype=self.dtype).normal_()
        return storage.as_strided(self.shape, self.stride)  # broadcast (0) strides included

    def __str__(self) -> str:
        if self.stride == contiguous_strides(self.shape):
            return str(self.shape)
        _, c, h, w = self.shape if len(self.shape) == 4 else (0, 0, 0, 0)
        channels_last = len(self.shape) == 4 and self.stride == (h * w * c, 1, w * c, c)
        return f"{self.shape} {'cl' if channels_last else 'strided'}"


def spec_of(value: Any) -> Any:
    return (TensorSpec(tuple(value.shape), value.stride(), value.dtype)
            if isinstance(value, torch.Tensor) else value)


class HeavyCalls(TorchDispatchMode):
    """Records each convolution and matrix product (forward and backward) with its operands'
    shape, strides and dtype, so that it can be replayed alone."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, tuple]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in HEAVY:
            self.calls.append((func, tree_map(spec_of, args)))
        return func(*args, **(kwargs or {}))


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def replay_seconds(func: Any, args: tuple, repeats: int = 5) -> tuple[float, float]:
    """The best time of one call alone, with fresh operands laid out as in the step, and its
    FLOPs."""
    operands = tree_map(lambda a: a.make() if isinstance(a, TensorSpec) else a, args)
    with FlopCounterMode(display=False) as counter:
        func(*operands)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func(*operands)
        times.append(time.perf_counter() - started)
    return min(times), counter.get_total_flops()


def replay_heavy(step: Callable[[], None]) -> dict[str, list[tuple[float, float]]]:
    """Every convolution and matrix product ``step`` runs, replayed alone: (seconds, FLOPs)
    per call, under a key naming the operator and its operands (same key, timed once)."""
    with HeavyCalls() as recorded:
        step()
    timed: dict[str, tuple[float, float]] = {}
    calls: dict[str, list[tuple[float, float]]] = {}
    for func, args in recorded.calls:
        key = f"{func.__name__} " + " ".join(str(a) for a in args if a is not None)
        if key not in timed:
            timed[key] = replay_seconds(func, args)
        calls.setdefault(key, []).append(timed[key])
    return calls


def ceiling(options: dict) -> tuple[float, float, list[tuple[float, float, str]]]:
    """Seconds and FLOPs per image of one step's convolutions and matrix products, each run
    alone; and the operands that take the most time."""
    fast = FastPath.create(options["precision"], torch.device("cpu"))
    cfg, _, _, objective = build_objective(options, fast)
    step = functools.partial(one_step, objective, cfg.optim.batch, cfg.data.resolution,
                             cfg.model)
    step()  # warm-up: the recorded step is a steady one
    calls = replay_heavy(step)
    total = sum(t for timings in calls.values() for t, _ in timings)
    flops = sum(f for timings in calls.values() for _, f in timings)
    worst = sorted(((sum(t for t, _ in timings), sum(f for _, f in timings), key)
                    for key, timings in calls.items()), reverse=True)
    return total / cfg.optim.batch, flops / cfg.optim.batch, worst[:8]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stylegan2", choices=sorted(NO_REGULARISERS))
    parser.add_argument("--cfg", default=None, help="StyleGAN2 --cfg (small by default)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--kimg", type=float, default=1.5, help="images trained for the rate")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--ceiling", action="store_true",
                        help="replay the step's convolutions and matmuls alone")
    args = parser.parse_args()
    if args.model == "stylegan2" and args.cfg is None:
        args.cfg = "small"
    options = options_for(args)
    fast = FastPath.create(args.precision, torch.device("cpu"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model}"
          f"{' ' + args.cfg if args.cfg else ''}, {args.resolution} px, batch {args.batch}, "
          f"{fast.precision}")
    fp32_mm, bf16_mm = matmul_rate(torch.float32, "cpu"), matmul_rate(torch.bfloat16, "cpu")
    flops = step_flops(options)
    started = time.perf_counter()
    rate = train_rate(options, args.kimg, Path(tempfile.mkdtemp(prefix="ganvas-step-")))
    achieved = rate * flops
    print(f"matmul 4096²   fp32 {fp32_mm / 1e9:7.0f} GFLOP/s   bf16 {bf16_mm / 1e9:7.0f} GFLOP/s")
    print(f"step           {flops / 1e9:7.2f} GFLOP per image (regularisers off)")
    print(f"training       {rate:7.1f} img/s  ({time.perf_counter() - started:.0f} s run)")
    print(f"achieved       {achieved / 1e9:7.0f} GFLOP/s = {achieved / bf16_mm:5.1%} of bf16 "
          f"matmul, {achieved / fp32_mm:5.1%} of fp32 matmul")
    if args.ceiling:
        seconds, heavy_flops, worst = ceiling(options)
        alone = heavy_flops / seconds
        print(f"convolutions and matmuls alone: {heavy_flops / 1e9:.2f} GFLOP per image in "
              f"{seconds * 1e3:.1f} ms = {alone / 1e9:.0f} GFLOP/s = {alone / bf16_mm:5.1%} of "
              f"bf16 matmul; the whole step takes {1e3 / rate:.1f} ms per image "
              f"({seconds * rate:5.1%} of it in them)")
        for spent, work, key in worst:
            print(f"  {spent * 1e3 / args.batch:6.2f} ms/img  {work / spent / 1e9:6.0f} GFLOP/s  "
                  f"{key}")
    if args.profile:
        profile(options)


if __name__ == "__main__":
    main()
