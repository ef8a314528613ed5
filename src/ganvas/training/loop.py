"""The training loop: one function to read top to bottom.

Model-agnostic: the model family supplies G, D and the objective (its losses, lazy
regularisers and their intervals); this file owns the optimizers, the fast path, the budget,
the schedule of logs, snapshots and checkpoints, data parallelism under torchrun, and exact
resume. The hot loop never synchronises with the host: statistics stay on the device until a
log interval.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ganvas.config import TrainConfig
from ganvas.data import ImageSet, class_weights, fingerprint
from ganvas.data.loader import BatchLoader
from ganvas.errors import GanvasError
from ganvas.models import get_family
from ganvas.render import fixed_noise_images
from ganvas.runs import checkpoint as ckpt
from ganvas.runs.records import append_jsonl, read_jsonl
from ganvas.training import distributed as dist
from ganvas.training.ema import has_batchnorm, make_ema, refresh_batchnorm, update_ema
from ganvas.training.fastpath import FastPath, channels_last, set_threads
from ganvas.training.metrics_hook import TrainingMetrics, describe
from ganvas.training.optim import make_optimizer, set_learning_rates
from ganvas.training.plots import training_plots
from ganvas.training.run_dir import RunLog
from ganvas.training.state import Progress, TrainingState
from ganvas.training.stats import StatsAccumulator
from ganvas.training.tensorboard import TensorBoardLogger
from ganvas.training.transfer import load_initial_weights
from ganvas.training.watch import DivergenceWatch
from ganvas.utils.device import pick_device
from ganvas.utils.grid import make_grid
from ganvas.utils.io import remove_stale_temporaries, save_image

DEFAULT_EPOCHS = 25
NOT_FINITE = ("the weights became NaN or infinite since the last check; training stopped and "
              "the last good checkpoint is kept")


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


def total_images(cfg: TrainConfig, dataset_size: int) -> int | None:
    """The image budget from --kimg / --epochs (25 epochs when no budget is given at all)."""
    run, limits = cfg.run, []
    if run.kimg is not None:
        limits.append(int(round(run.kimg * 1000)))
    epochs = run.epochs if (run.epochs or run.kimg or run.minutes) else DEFAULT_EPOCHS
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


def optimizer_step(opt: torch.optim.Optimizer, net: nn.Module, loss: torch.Tensor,
                   scaler: Any, shard: dist.Shard) -> None:
    """Backward, average gradients across ranks, update (with the fp16 scaler when there is one)."""
    opt.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    dist.average_gradients(net, shard)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()


def all_finite(*modules: nn.Module | None) -> bool:
    """One host read: are all parameters and buffers of ``modules`` finite?"""
    tensors = [t for m in modules if m is not None
               for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
    return bool(torch.stack([t.isfinite().all() for t in tensors]).all().item())


def training_loop(cfg: TrainConfig, run_dir: Path, data: ImageSet,
                  resume: dict[str, Any] | None = None, show_progress: bool = True,
                  shard: dist.Shard = dist.Shard(),
                  write_report: Callable[[Path], Any] | None = None) -> TrainResult:
    """Train ``cfg`` on ``data``, writing everything into ``run_dir`` (from rank 0 only).

    ``write_report`` draws ``report.html`` when the run ends (with ``--report``); the report
    lives in a layer above training, so the caller hands it in.
    """
    device = dist.training_device(cfg.run.device, shard, pick_device)
    fast = FastPath.create(cfg.run.precision, device)
    threads = set_threads(cfg.run.threads)
    main = shard.is_main
    log = RunLog(run_dir / "log.txt" if main else None)
    if main:
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        for folder in (run_dir, run_dir / "checkpoints", run_dir / "plots"):
            for path in remove_stale_temporaries(folder):
                log.write(f"removed {path.name}, left by an interrupted write")

    # Networks, optimizers and the random streams that drive the loop.
    torch.manual_seed(cfg.run.seed)
    family = get_family(cfg.model)
    layout = channels_last if family.channels_last else (lambda net: net)
    # Conditional: the data's class names, and the share of each class (G's classes follow it).
    classes = data.classes if cfg.data.cond else None
    label_weights = torch.as_tensor(class_weights(data), dtype=torch.float32) \
        if cfg.data.cond else None
    num_classes = len(classes) if classes else 0
    G, D = (layout(net.to(device).train())
            for net in family.build(cfg.family, data.resolution, data.channels, num_classes))
    if cfg.run.sync_bn:
        G, D = (dist.convert_sync_batchnorm(net, shard, device) for net in (G, D))
    initial_ema = load_initial_weights(cfg.run.init_from, cfg, data.resolution, G, D) \
        if cfg.run.init_from and resume is None else None
    dist.broadcast_modules([G, D], shard)
    frozen = family.frozen_parameters(D, cfg.optim.freeze_d) if cfg.optim.freeze_d else []
    G_ema = make_ema(G) if cfg.objective.ema_kimg else None
    if G_ema is not None and initial_ema is not None:
        G_ema.load_state_dict(initial_ema)
    rng, z_rng = dist.random_streams(cfg.run.seed, shard, device)
    objective = family.objective(cfg.family, cfg.objective, G, D, rng, batch=cfg.optim.batch,
                                 z_rng=z_rng, compile=cfg.run.compile,
                                 shard=(shard.rank, shard.world), autocast=fast.autocast,
                                 penalty_autocast=fast.penalty_autocast, device=device,
                                 label_weights=label_weights)
    opt_G = make_optimizer(cfg.optim, G, cfg.optim.lr_g, objective.g_reg_interval,
                           **fast.optimizer_kwargs())
    opt_D = make_optimizer(cfg.optim, D, cfg.optim.lr_d, objective.d_reg_interval,
                           exclude=frozen, **fast.optimizer_kwargs())
    scaler_G, scaler_D = fast.make_scaler(), fast.make_scaler()
    local_batch = dist.split_batch(cfg.optim.batch, shard)
    loader = BatchLoader(data.images, cfg.optim.batch, cfg.run.seed, device, cfg.data.mirror,
                         shard=(shard.rank, shard.world), channels_last=family.channels_last,
                         labels=data.labels if classes else None)
    fixed_z = torch.randn(cfg.run.grid, cfg.family.z_dim,
                          generator=torch.Generator().manual_seed(cfg.run.seed))
    fixed_z = fixed_z.to(device)
    fixed_c, grid_columns = class_grid(cfg.run.grid, num_classes, device)
    if fixed_c is not None:
        fixed_z = fixed_z[:len(fixed_c)]
    stats = StatsAccumulator()
    progress = Progress()
    scalers = {name: s for name, s in (("G", scaler_G), ("D", scaler_D)) if s is not None}
    state = TrainingState(G, D, G_ema, opt_G, opt_D, rng, z_rng, loader, stats,
                          DivergenceWatch(), objective, progress, scalers)
    metrics = TrainingMetrics(cfg, data, run_dir, str(device))
    board = TensorBoardLogger(run_dir) if cfg.run.tensorboard and main else None
    # The schedule's base rates, read before a resumed optimizer state brings decayed ones.
    base_lrs = [group["lr"] for opt in (opt_G, opt_D) for group in opt.param_groups[:1]]
    snapshot_nimg = int(cfg.run.snapshot_kimg * 1000)
    data_id = fingerprint(data)

    if resume is not None:
        check_same_data(resume, data_id, run_dir, log)
        note = state.load_state_dict(resume, shard.rank)
        if resume.get("metrics"):
            metrics.load_state_dict(resume["metrics"])
        # Intervals may change on resume: count boundaries from here with the new ones.
        progress.snapshot_index = progress.nimg // snapshot_nimg
        metrics.index = progress.nimg // metrics.every_nimg
        log.write(f"resumed at step {progress.step}, {progress.nimg / 1000:.1f} kimg")
        if note:
            log.write(f"warning: {note}")
    elif main:
        save_image(run_dir / "reals.png", make_grid(reals_for_grid(data, cfg.run.grid)))
        write_fakes(run_dir, sampler(cfg, G, G_ema, 0), fixed_z, 0, fixed_c, grid_columns)
        log.write(f"training {cfg.model} at {data.resolution} px on {data.name} "
                  f"({len(data):,} images) on {device}, {fast.precision}, {threads} threads"
                  + (f", {shard.world} processes" if shard.active else ""))

    total_nimg = total_images(cfg, len(data))
    deadline = cfg.run.minutes * 60 if cfg.run.minutes else math.inf
    records = read_jsonl(run_dir / "stats.jsonl") if main else []
    rate = Throughput(progress)
    last_stats: dict[str, float] = {}
    stopped = "budget"

    def fraction_done() -> float:
        parts = [progress.train_seconds / deadline if deadline < math.inf else 0.0]
        if total_nimg:
            parts.append(progress.nimg / total_nimg)
        return min(1.0, max(parts))

    def images_done() -> bool:
        return total_nimg is not None and progress.nimg >= total_nimg

    if resume is not None and (images_done() or progress.train_seconds >= deadline):
        log.close()
        raise GanvasError(f"--resume {run_dir}: this run already reached its budget "
                          f"({progress.nimg / 1000:g} kimg); give a larger --kimg, --epochs "
                          "or --minutes")

    def save(*names: str) -> None:
        rng_states = dist.gather_objects(rng.get_state(), shard)
        if not main:
            return
        content = {"config": cfg.to_dict(),
                   "data": {"name": data.name, "resolution": data.resolution,
                            "channels": data.channels, "size": len(data),
                            "fingerprint": data_id, "classes": classes},
                   **state.state_dict(rng_states), "fixed_z": fixed_z.cpu(),
                   "metrics": metrics.state_dict()}
        ckpt.save_checkpoint([run_dir / "checkpoints" / f"{name}.pt" for name in names], content)
        ckpt.prune_snapshots(run_dir / "checkpoints", cfg.run.keep)

    bar = tqdm(total=total_nimg, initial=progress.nimg, unit="img", unit_scale=True,
               disable=not (show_progress and main), dynamic_ncols=True, desc=run_dir.name)

    def warn(message: str) -> None:
        log.write(f"warning: {message}")
        if main:
            bar.write(f"warning: {message}")
    clock = time.perf_counter()
    with InterruptFlag() as interrupt:
        while not progress.finished:
            frac = fraction_done()
            set_learning_rates([opt_G, opt_D], base_lrs, cfg.optim.lr_decay, frac)

            # Discriminator: d_steps batches of reals against fresh fakes, lazy regulariser.
            G.requires_grad_(False)
            D.requires_grad_(True)
            for p in frozen:
                p.requires_grad_(False)
            for _ in range(cfg.optim.d_steps):
                reals, labels = loader.next_labelled(rng)
                loss_D, d_stats = objective.discriminator_step(reals, frac, labels)
                optimizer_step(opt_D, D, loss_D, scaler_D, shard)
                stats.add(d_stats)
                interval = objective.d_reg_interval
                if interval and progress.d_step % interval == 0:
                    loss_reg, reg_stats = objective.discriminator_regularizer(reals, frac,
                                                                              labels)
                    optimizer_step(opt_D, D, loss_reg, scaler_D, shard)
                    stats.add(reg_stats)
                stats.add(objective.after_discriminator_step(progress.d_step, shard))
                progress.d_step += 1
                progress.nimg += cfg.optim.batch

            # Generator: one step against the updated D, lazy regulariser.
            G.requires_grad_(True)
            D.requires_grad_(False)
            loss_G, g_stats = objective.generator_step(local_batch, device, frac, reals, labels)
            optimizer_step(opt_G, G, loss_G, scaler_G, shard)
            stats.add(g_stats)
            interval = objective.g_reg_interval
            if interval and progress.step % interval == 0:
                loss_reg, reg_stats = objective.generator_regularizer(local_batch, device, frac)
                optimizer_step(opt_G, G, loss_reg, scaler_G, shard)
                stats.add(reg_stats)
            progress.step += 1
            if G_ema is not None:
                update_ema(G_ema, G, cfg.optim.batch, progress.step * cfg.optim.batch,
                           cfg.objective.ema_kimg, cfg.objective.ema_rampup)

            now = time.perf_counter()
            progress.train_seconds += now - clock
            clock = now
            bar.update(cfg.optim.batch * cfg.optim.d_steps)
            log_due = progress.step % cfg.run.log_every == 0
            wants_stop = interrupt.requested or progress.train_seconds >= deadline
            if shard.active:  # ranks vote at log steps, so none waits on the others per step
                wants_stop = dist.agree(wants_stop, shard, device) if log_due else False
            if wants_stop and interrupt.requested:
                stopped = "interrupted"
            progress.finished = images_done() or wants_stop

            # Log interval: the only place the loop reads numbers back from the device.
            if log_due or progress.finished:
                means = stats.read(lambda t: dist.average_tensor(t, shard))
                if means:
                    last_stats = means
                    record = {"step": progress.step, "kimg": round(progress.nimg / 1000, 3),
                              "epoch": round(progress.nimg / len(data), 4),
                              "time_s": round(progress.train_seconds, 2),
                              "img_per_s": round(rate.update(progress), 1),
                              **means, "lr_G": opt_G.param_groups[0]["lr"],
                              "lr_D": opt_D.param_groups[0]["lr"]}
                    if main:
                        records.append(record)
                        append_jsonl(run_dir / "stats.jsonl", record)
                    if board is not None:
                        board.log_scalars(record, progress.step)
                    bar.set_postfix_str(postfix(means), refresh=False)
                    verdict = state.watch.observe(means)
                    if verdict.message:
                        warn(verdict.message)
                    if verdict.stop:
                        stopped = "diverged"
                        break

            # Snapshot: sample grid, plots, metrics, checkpoint (none of it is training time).
            index = progress.nimg // snapshot_nimg
            metric_due = metrics.due(progress.nimg, progress.finished)
            if index > progress.snapshot_index or progress.finished or metric_due:
                if not all_finite(G, D, G_ema):
                    stopped = "diverged"
                    warn(NOT_FINITE)
                    break
                names = ["latest"]
                if index > progress.snapshot_index or progress.finished:
                    names.append(ckpt.snapshot_name(progress.nimg)[:-3])
                progress.snapshot_index = index
                if main:
                    G_sample = sampler(cfg, G, G_ema, progress.nimg)
                    grid = write_fakes(run_dir, G_sample, fixed_z, progress.nimg, fixed_c,
                                       grid_columns)
                    if board is not None:
                        board.log_image("samples/fixed_noise", grid, progress.step)
                    training_plots(run_dir, records)
                    if metric_due:
                        scores = metrics.evaluate(G_sample, progress.step, progress.nimg)
                        bar.write(f"{progress.nimg / 1000:.1f} kimg: {describe(scores)}")
                        log.write(f"metrics at {progress.nimg / 1000:.1f} kimg: "
                                  f"{describe(scores)}")
                        if metrics.is_best(scores):
                            names.append("best")
                save(*names)
                log.write(f"snapshot at {progress.nimg / 1000:g} kimg, step {progress.step}: "
                          f"{postfix(last_stats)}")
                dist.barrier(shard)
                clock = time.perf_counter()
    bar.close()
    if stopped == "interrupted":
        log.write("interrupted: checkpoint saved; continue with --resume")
    log.write(f"stopped ({stopped}) at {progress.nimg / 1000:.1f} kimg, step {progress.step}")
    log.close()
    if board is not None:
        board.close()
    if main and cfg.run.report and write_report is not None:
        write_report(run_dir)
    return TrainResult(run_dir, progress, stopped, last_stats)


def check_same_data(resume: dict[str, Any], data_id: str, run_dir: Path, log: RunLog) -> None:
    """Refuse to continue a run on other images than it was trained on."""
    saved = resume.get("data", {}).get("fingerprint")
    if saved is None:  # checkpoints before fingerprints: nothing to compare
        log.write("warning: this checkpoint predates data fingerprints; the training images "
                  "were not checked")
    elif saved != data_id:
        log.close()
        raise GanvasError(f"--resume {run_dir}: the training images are not the ones this run "
                          f"was trained on ({resume['data'].get('size')} images then, a "
                          "different set now); give the original data as DATA")


def class_grid(size: int, num_classes: int, device: torch.device
               ) -> tuple[torch.Tensor | None, int | None]:
    """A conditional run's sample grid: one row per class (the first ``size`` classes when
    there are more), as many columns as ``size`` allows; (classes, columns), or Nones."""
    if not num_classes:
        return None, None
    columns = max(1, size // num_classes)
    rows = min(num_classes, size)
    return torch.arange(rows, device=device).repeat_interleave(columns), columns


def sampler(cfg: TrainConfig, G: nn.Module, G_ema: nn.Module | None, nimg: int) -> nn.Module:
    """The generator that samples and is measured: G_ema, with its own BatchNorm statistics."""
    if G_ema is None:
        return G
    if has_batchnorm(G_ema):
        refresh_batchnorm(G_ema, cfg.optim.batch, seed=cfg.run.seed * 7919 + nimg)
    return G_ema


def postfix(means: dict[str, float]) -> str:
    """Short progress-bar text: losses, D(x), D(G(z)), accuracy."""
    names = (("loss_D", "D"), ("loss_G", "G"), ("D_real", "D(x)"), ("D_fake", "D(G(z))"),
             ("D_accuracy", "acc"), ("ada_p", "p"))
    return " ".join(f"{label}={means[key]:.3f}" for key, label in names if key in means)


def reals_for_grid(data: ImageSet, n: int) -> Any:
    """The first ``n`` training images (deterministic), for ``reals.png``."""
    return data.images[: min(n, len(data))]


@torch.no_grad()
def write_fakes(run_dir: Path, G: nn.Module, fixed_z: torch.Tensor, nimg: int,
                fixed_c: torch.Tensor | None = None, columns: int | None = None) -> Any:
    """``fakes_<kimg>.png`` from the fixed noise (and classes), with G in eval mode; returns
    the grid."""
    grid = make_grid(fixed_noise_images(G, fixed_z, fixed_c), columns=columns)
    save_image(run_dir / f"fakes_{nimg // 1000:06d}.png", grid)
    return grid
