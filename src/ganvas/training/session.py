"""Starting and resuming runs: the ``ganvas.train`` API behind ``ganvas train``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable

from ganvas import config as config_mod
from ganvas.config import TrainConfig
from ganvas.data import dataset_name, default_resolution, open_training_data
from ganvas.errors import GanvasError
from ganvas.runs import checkpoint as ckpt
from ganvas.training import distributed as dist
from ganvas.training.loop import TrainResult, training_loop
from ganvas.utils.device import pick_device
from ganvas.training.run_dir import next_run_dir
from ganvas.runs.records import truncate_jsonl
from ganvas.runs.state import training_lock
from ganvas.utils.io import write_json
from ganvas.utils.lock import exclusive


def resolve_config(overrides: dict[str, Any] | None = None, preset: str | None = None,
                   config_file: str | None = None) -> TrainConfig:
    """The full config with data-dependent defaults (resolution) filled in."""
    given = config_mod.given_values(overrides, preset=preset, config_file=config_file)
    cfg = config_mod.from_given(dict(given))
    why = cfg.why
    if cfg.run.init_from:
        cfg = inherit_architecture(cfg, given)
    if cfg.data.resolution is None:
        cfg = config_mod.replace(cfg, resolution=default_resolution(cfg.data.data))
    cfg = config_mod.validate(config_mod.with_model_defaults(cfg))
    cfg.why = why
    return cfg


#: What ``--init-from`` takes from its checkpoint unless given: the sizes that shape the weights.
ARCHITECTURE = ("resolution", "cfg", "z_dim", "w_dim", "channel_base", "channel_max",
                "map_layers", "d_architecture", "conv_clamp")


def inherit_architecture(cfg: TrainConfig, given: dict[str, Any]) -> TrainConfig:
    """``--init-from``: the model and the architecture options not given come from that
    checkpoint; every other default then follows that model."""
    state = ckpt.load_checkpoint(ckpt.find_checkpoint(cfg.run.init_from))
    source = config_mod.from_dict(state["config"]).flat()
    values = {"model": source["model"], **given}
    values.update({name: source[name] for name in ARCHITECTURE
                   if name in source and name not in given})
    return config_mod.build(values)


def resumed_config(run_dir: Path, state: dict[str, Any],
                   overrides: dict[str, Any]) -> TrainConfig:
    """The checkpoint's config with the options that may change on resume applied."""
    cfg = config_mod.from_dict(state["config"])
    given = config_mod.parse_flat({k: v for k, v in overrides.items() if v is not None},
                                  "option")
    current = cfg.flat()
    if "aug" in given:  # the saved config records what auto chose
        given["aug"] = config_mod.family_aug(cfg.model, given["aug"])
    fixed = [k for k, v in given.items()
             if not config_mod.describe(k).meta["resume_ok"] and v != current.get(k)]
    if fixed:
        names = ", ".join(config_mod.option_name(k) for k in fixed)
        raise GanvasError(f"--resume {run_dir}: {names} cannot change when resuming (only the "
                          "budget, logging and device options can)")
    return config_mod.validate(config_mod.replace(cfg, **given))


def train(data: str | None = None, *, resume: str | Path | None = None,
          preset: str | None = None, config_file: str | None = None, dry_run: bool = False,
          progress: bool = True, write_report: Callable[[Path], Any] | None = None,
          **options: Any) -> TrainResult | TrainConfig:
    """Train a GAN; the keyword options are :class:`TrainConfig`'s fields.

    ``resume`` continues a run folder (or checkpoint) exactly where it stopped. ``dry_run``
    returns the resolved config without training. Returns a :class:`TrainResult`. Under
    ``torchrun`` every process calls this; rank 0 alone writes the run folder.
    """
    unknown = sorted(set(options) - set(config_mod.OPTIONS))
    if unknown:
        raise GanvasError(f"unknown option(s): {', '.join(unknown)}")
    if data is not None:
        options["data"] = data
    if resume is not None:
        ckpt_path = ckpt.find_checkpoint(resume)
        state = ckpt.load_checkpoint(ckpt_path)
        cfg = resumed_config(Path(resume), state, options)
        if dry_run:
            return cfg
        return _run(cfg, ckpt_path.parent.parent, state, progress, write_report)
    cfg = resolve_config(options, preset=preset, config_file=config_file)
    if dry_run:
        return cfg
    return _run(cfg, None, None, progress, write_report, preset=preset)


def _run(cfg: TrainConfig, run_dir: Path | None, state: dict[str, Any] | None,
         progress: bool, write_report: Callable[[Path], Any] | None,
         preset: str | None = None) -> TrainResult:
    """Open the data and the run folder (rank 0 first under torchrun), then train."""
    shard = dist.from_environment()
    device = dist.training_device(cfg.run.device, shard, pick_device)
    dist.setup(shard, device)
    try:
        with contextlib.ExitStack() as hold:
            channels = state["data"]["channels"] if state is not None else cfg.data.channels
            data_set = None
            if shard.is_main:  # preparing into the cache happens once, on rank 0
                if run_dir is not None:  # a resume: claim the run before touching its logs
                    hold.enter_context(claim(run_dir))
                data_set = open_training_data(cfg.data.data, cfg.data.resolution, channels,
                                              progress=progress)
                run_dir = _prepare_run_dir(cfg, run_dir, state, data_set, preset)
                if state is None:
                    hold.enter_context(claim(run_dir))
            dist.barrier(shard)
            if data_set is None:
                data_set = open_training_data(cfg.data.data, cfg.data.resolution, channels,
                                              progress=False)
            run_dir = dist.broadcast_object(run_dir, shard)
            return training_loop(cfg, run_dir, data_set, resume=state, show_progress=progress,
                                 shard=shard, write_report=write_report)
    finally:
        dist.teardown(shard)


def claim(run_dir: Path) -> contextlib.AbstractContextManager:
    """The run's training lock, held while this process trains it: a second ``--resume`` of
    a run in training is refused, and readers see it as ``running``."""
    return exclusive(training_lock(run_dir), f"--resume {run_dir}: another process is "
                                             "training this run now")


def _prepare_run_dir(cfg: TrainConfig, run_dir: Path | None, state: dict[str, Any] | None,
                     data_set: Any, preset: str | None) -> Path:
    """A new numbered run folder with its config.json, or a resumed one trimmed to the step."""
    if state is not None and run_dir is not None:
        for log_name in ("stats.jsonl", "metrics.jsonl"):
            truncate_jsonl(run_dir / log_name, state["progress"]["step"])
        kept = {k: v for k, v in read_config_json(run_dir).items()
                if k in ("preset", "dataset", "why")}
        write_json(run_dir / "config.json", {**cfg.to_dict(), **kept})
        return run_dir
    name = f"{dataset_name(cfg.data.data)}-{cfg.model}{cfg.data.resolution}"
    if cfg.run.desc:
        name += f"-{cfg.run.desc}"
    run_dir = next_run_dir(cfg.run.outdir, name)
    write_json(run_dir / "config.json", {**cfg.to_dict(), **({"why": cfg.why} if cfg.why else {}),
                                         "preset": preset,
                                         "dataset": {"name": data_set.name,
                                                     "images": len(data_set),
                                                     "channels": data_set.channels,
                                                     **data_set.info}})
    return run_dir


def read_config_json(run_dir: Path) -> dict[str, Any]:
    """The run's ``config.json`` (empty if missing or unreadable: it is informative only)."""
    try:
        return json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def config_json(cfg: TrainConfig) -> str:
    """The resolved config as pretty JSON (what ``--dry-run`` prints)."""
    return json.dumps({**cfg.to_dict(), **({"why": cfg.why} if cfg.why else {})}, indent=2)
