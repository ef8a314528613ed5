"""The training loop: one function to read top to bottom.

Model-agnostic: the model family supplies G, D and the objective; this file owns the optimizers,
the budget, the schedule of logs, snapshots and checkpoints, and exact resume. The hot loop
never synchronises with the host: statistics stay on the device until a log interval.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ganvas.config import TrainConfig
from ganvas.data import ImageSet
from ganvas.data.loader import BatchLoader
from ganvas.errors import GanvasError
from ganvas.models import get_family
from ganvas.training import checkpoint as ckpt
from ganvas.training.ema import make_ema, update_ema
from ganvas.training.metrics_hook import TrainingMetrics, describe
from ganvas.training.objective import AdversarialObjective
from ganvas.training.plots import training_plots
from ganvas.training.run_dir import RunLog
from ganvas.training.stats import StatsAccumulator, append_jsonl, read_jsonl
from ganvas.training.watch import DivergenceWatch
from ganvas.utils.grid import make_grid, to_uint8
from ganvas.utils.io import save_image

DEFAULT_EPOCHS = 25


@dataclass
class Progress:
    """Where training is: everything besides weights that an exact resume needs."""

    step: int = 0
    d_step: int = 0
    nimg: int = 0
    train_seconds: float = 0.0
    snapshot_index: int = 0
    finished: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    run_dir: Path
    progress: Progress
    stopped: str
    last_stats: dict[str, float] = field(default_factory=dict)


class Throughput:
    """Images per second of training time between two log intervals."""

    def __init__(self, progress: Progress) -> None:
        self.nimg, self.seconds = progress.nimg, progress.train_seconds

    def update(self, progress: Progress) -> float:
        dt = progress.train_seconds - self.seconds
        value = (progress.nimg - self.nimg) / dt if dt > 0 else 0.0
        self.nimg, self.seconds = progress.nimg, progress.train_seconds
        return value


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a missing CUDA device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GanvasError(f"--device: {name!r} is not a device (cpu, cuda, cuda:N, auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanvasError(f"--device: {name} asked for, but CUDA is not available here")
    return device


def param_groups(net: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: decayed (conv/linear parameters) and not (normalisation layers).

    Decaying BatchNorm's gamma towards 0 would shrink activations rather than regularise, so
    ``--weight-decay`` leaves normalisation layers alone, as is standard practice.
    """
    norm_types = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
    no_decay = {id(p) for m in net.modules() if isinstance(m, norm_types)
                for p in m.parameters(recurse=False)}
    params = list(net.parameters())
    return [{"params": [p for p in params if id(p) not in no_decay],
             "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0}]


def make_optimizer(cfg: TrainConfig, net: nn.Module, lr: float) -> torch.optim.Optimizer:
    """The configured optimizer for ``net``; ``--weight-decay`` is classic (coupled) L2 decay."""
    groups = param_groups(net, cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=tuple(cfg.betas))
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.betas[0])


def total_images(cfg: TrainConfig, dataset_size: int) -> int | None:
    """The image budget from --kimg / --epochs (25 epochs when no budget is given at all)."""
    limits = []
    if cfg.kimg is not None:
        limits.append(int(round(cfg.kimg * 1000)))
    epochs = cfg.epochs if (cfg.epochs or cfg.kimg or cfg.minutes) else DEFAULT_EPOCHS
    if epochs is not None:
        limits.append(int(round(epochs * dataset_size)))
    return min(limits) if limits else None


class InterruptFlag:
    """First Ctrl-C asks the loop to save and stop at the end of the step; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "InterruptFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def training_loop(cfg: TrainConfig, run_dir: Path, data: ImageSet,
                  resume: dict[str, Any] | None = None, show_progress: bool = True) -> TrainResult:
    """Train ``cfg`` on ``data``, writing everything into ``run_dir``."""
    device = pick_device(cfg.device)
    log = RunLog(run_dir / "log.txt")
    (run_dir / "checkpoints").mkdir(exist_ok=True)

    # Networks, optimizers and the one random generator that drives the loop.
    torch.manual_seed(cfg.seed)
    family = get_family(cfg.model)
    G, D = (net.to(device).train() for net in family.build(cfg, data.resolution, data.channels))
    G_ema = make_ema(G) if cfg.ema_kimg else None
    opt_G = make_optimizer(cfg, G, cfg.lr_g)
    opt_D = make_optimizer(cfg, D, cfg.lr_d)
    rng = torch.Generator(device).manual_seed(cfg.seed)
    objective = AdversarialObjective(cfg, G, D, rng)
    loader = BatchLoader(data.images, cfg.batch, cfg.seed, device, cfg.mirror)
    fixed_z = torch.randn(cfg.grid, cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
    fixed_z = fixed_z.to(device)
    stats = StatsAccumulator()
    watch = DivergenceWatch()
    metrics = TrainingMetrics(cfg, data, run_dir, str(device))
    progress = Progress()

    if resume is not None:
        restore(resume, G, D, G_ema, opt_G, opt_D, rng, loader, stats, watch, progress)
        if resume.get("metrics"):
            metrics.load_state_dict(resume["metrics"])
        log.write(f"resumed at step {progress.step}, {progress.nimg / 1000:.1f} kimg")
    else:
        save_image(run_dir / "reals.png", make_grid(reals_for_grid(data, cfg.grid)))
        write_fakes(run_dir, G_ema or G, fixed_z, 0)
        log.write(f"training {cfg.model} at {data.resolution} px on {data.name} "
                  f"({len(data):,} images) on {device}")

    total_nimg = total_images(cfg, len(data))
    deadline = cfg.minutes * 60 if cfg.minutes else math.inf
    snapshot_nimg = int(cfg.snapshot_kimg * 1000)
    base_lrs = (cfg.lr_g, cfg.lr_d)
    records = read_jsonl(run_dir / "stats.jsonl")
    rate = Throughput(progress)
    last_stats: dict[str, float] = {}
    stopped = "budget"

    def fraction_done() -> float:
        parts = [progress.train_seconds / deadline if deadline < math.inf else 0.0]
        if total_nimg:
            parts.append(progress.nimg / total_nimg)
        return min(1.0, max(parts))

    def out_of_budget() -> bool:
        return (total_nimg is not None and progress.nimg >= total_nimg) \
            or progress.train_seconds >= deadline

    if resume is not None and out_of_budget():
        log.close()
        raise GanvasError(f"--resume {run_dir}: this run already reached its budget "
                          f"({progress.nimg / 1000:g} kimg); give a larger --kimg, --epochs "
                          "or --minutes")

    def save(*names: str) -> None:
        state = snapshot_state(cfg, data, G, D, G_ema, opt_G, opt_D, rng, loader, stats, watch,
                               progress, fixed_z)
        state["metrics"] = metrics.state_dict()
        for name in names:
            ckpt.save_checkpoint(run_dir / "checkpoints" / f"{name}.pt", state)

    bar = tqdm(total=total_nimg, initial=progress.nimg, unit="img", unit_scale=True,
               disable=not show_progress, dynamic_ncols=True, desc=run_dir.name)
    clock = time.perf_counter()
    with InterruptFlag() as interrupt:
        while not progress.finished:
            frac = fraction_done()
            if cfg.lr_decay == "linear":
                for opt, lr in zip((opt_G, opt_D), base_lrs):
                    for group in opt.param_groups:
                        group["lr"] = lr * (1.0 - frac)

            # Discriminator: d_steps batches of reals against fresh fakes.
            G.requires_grad_(False)
            D.requires_grad_(True)
            for _ in range(cfg.d_steps):
                reals = loader.next(rng)
                loss_D, d_stats = objective.discriminator_step(reals, progress.d_step, frac)
                opt_D.zero_grad(set_to_none=True)
                loss_D.backward()
                opt_D.step()
                stats.add(d_stats)
                progress.d_step += 1
                progress.nimg += cfg.batch

            # Generator: one step against the updated D.
            G.requires_grad_(True)
            D.requires_grad_(False)
            loss_G, g_stats = objective.generator_step(cfg.batch, device, frac)
            opt_G.zero_grad(set_to_none=True)
            loss_G.backward()
            opt_G.step()
            stats.add(g_stats)
            if G_ema is not None:
                update_ema(G_ema, G, cfg.batch, progress.nimg, cfg.ema_kimg, cfg.ema_rampup)
            progress.step += 1

            now = time.perf_counter()
            progress.train_seconds += now - clock
            clock = now
            bar.update(cfg.batch * cfg.d_steps)
            if interrupt.requested:
                stopped = "interrupted"
            progress.finished = out_of_budget() or interrupt.requested

            # Log interval: the only place the loop reads numbers back from the device.
            if progress.step % cfg.log_every == 0 or progress.finished:
                means = stats.read()
                if means:
                    last_stats = means
                    record = {"step": progress.step, "kimg": round(progress.nimg / 1000, 3),
                              "epoch": round(progress.nimg / len(data), 4),
                              "time_s": round(progress.train_seconds, 2),
                              "img_per_s": round(rate.update(progress), 1),
                              **means, "lr_G": opt_G.param_groups[0]["lr"],
                              "lr_D": opt_D.param_groups[0]["lr"]}
                    records.append(record)
                    append_jsonl(run_dir / "stats.jsonl", record)
                    bar.set_postfix_str(postfix(means), refresh=False)
                    verdict = watch.observe(means)
                    if verdict.message:
                        bar.write(f"warning: {verdict.message}")
                        log.write(f"warning: {verdict.message}")
                    if verdict.stop:
                        stopped = "diverged"
                        break

            # Snapshot: sample grid, plots, metrics, checkpoint (none of it is training time).
            index = progress.nimg // snapshot_nimg
            metric_due = metrics.due(progress.nimg, progress.finished)
            if index > progress.snapshot_index or progress.finished or metric_due:
                progress.snapshot_index = index
                write_fakes(run_dir, G_ema or G, fixed_z, progress.nimg)
                training_plots(run_dir, records)
                names = ["latest"]
                if metric_due:
                    scores = metrics.evaluate(G_ema or G, progress.step, progress.nimg)
                    bar.write(f"{progress.nimg / 1000:.1f} kimg: {describe(scores)}")
                    log.write(f"metrics at {progress.nimg / 1000:.1f} kimg: {describe(scores)}")
                    if metrics.is_best(scores):
                        names.append("best")
                save(*names)
                log.write(f"snapshot at {progress.nimg / 1000:.1f} kimg, step {progress.step}: "
                          f"{postfix(last_stats)}")
                clock = time.perf_counter()
    bar.close()
    if stopped == "interrupted":
        log.write("interrupted: checkpoint saved; continue with --resume")
    log.write(f"stopped ({stopped}) at {progress.nimg / 1000:.1f} kimg, step {progress.step}")
    log.close()
    return TrainResult(run_dir, progress, stopped, last_stats)


def postfix(means: dict[str, float]) -> str:
    """Short progress-bar text: losses, D(x), D(G(z)), accuracy."""
    names = (("loss_D", "D"), ("loss_G", "G"), ("D_real", "D(x)"), ("D_fake", "D(G(z))"),
             ("D_accuracy", "acc"))
    return " ".join(f"{label}={means[key]:.3f}" for key, label in names if key in means)


def reals_for_grid(data: ImageSet, n: int) -> Any:
    """The first ``n`` training images (deterministic), for ``reals.png``."""
    return data.images[: min(n, len(data))]


@torch.no_grad()
def write_fakes(run_dir: Path, G: nn.Module, fixed_z: torch.Tensor, nimg: int) -> None:
    """``fakes_<kimg>.png`` from the fixed noise, with G in eval mode."""
    was_training = G.training
    G.eval()
    images = to_uint8(G(fixed_z))
    G.train(was_training)
    save_image(run_dir / f"fakes_{nimg // 1000:06d}.png", make_grid(images))


def snapshot_state(cfg: TrainConfig, data: ImageSet, G: nn.Module, D: nn.Module,
                   G_ema: nn.Module | None, opt_G: torch.optim.Optimizer,
                   opt_D: torch.optim.Optimizer, rng: torch.Generator, loader: BatchLoader,
                   stats: StatsAccumulator, watch: "DivergenceWatch", progress: Progress,
                   fixed_z: torch.Tensor) -> dict[str, Any]:
    """Everything a checkpoint holds, as state dicts and plain data."""
    return {
        "config": cfg.to_dict(),
        "data": {"name": data.name, "resolution": data.resolution, "channels": data.channels,
                 "size": len(data)},
        "G": G.state_dict(), "D": D.state_dict(),
        "G_ema": G_ema.state_dict() if G_ema is not None else None,
        "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
        "progress": progress.as_dict(), "loader": loader.state_dict(),
        "stats": stats.state_dict(), "watch": watch.state_dict(),
        "rng": {"loop": rng.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        "fixed_z": fixed_z.cpu(),
    }


def restore(state: dict[str, Any], G: nn.Module, D: nn.Module, G_ema: nn.Module | None,
            opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer, rng: torch.Generator,
            loader: BatchLoader, stats: StatsAccumulator, watch: "DivergenceWatch",
            progress: Progress) -> None:
    """Load a checkpoint's state into freshly built objects, for an exact continuation."""
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    if G_ema is not None and state.get("G_ema") is not None:
        G_ema.load_state_dict(state["G_ema"])
    opt_G.load_state_dict(state["opt_G"])
    opt_D.load_state_dict(state["opt_D"])
    loader.load_state_dict(state["loader"])
    stats.load_state_dict(state["stats"], next(G.parameters()).device)
    watch.load_state_dict(state["watch"])
    progress.__dict__.update(state["progress"])
    progress.finished = False
    rng.set_state(state["rng"]["loop"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
