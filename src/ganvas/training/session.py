"""Starting and resuming runs: the ``ganvas.train`` API behind ``ganvas train``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ganvas import config as config_mod
from ganvas.config import TrainConfig
from ganvas.data import dataset_name, default_resolution, open_training_data
from ganvas.errors import GanvasError
from ganvas.training import checkpoint as ckpt
from ganvas.training import distributed as dist
from ganvas.training.loop import TrainResult, pick_device, training_loop
from ganvas.training.run_dir import next_run_dir
from ganvas.training.stats import truncate_jsonl
from ganvas.utils.io import write_json


def resolve_config(overrides: dict[str, Any] | None = None, preset: str | None = None,
                   config_file: str | None = None) -> TrainConfig:
    """The full config with data-dependent defaults (resolution) filled in."""
    cfg = config_mod.resolve(overrides, preset=preset, config_file=config_file)
    if cfg.init_from:
        cfg = inherit_architecture(cfg)
    if cfg.resolution is None:
        cfg = dataclasses.replace(cfg, resolution=default_resolution(cfg.data))
    return config_mod.validate(config_mod.with_model_defaults(cfg))


ARCHITECTURE = ("resolution", "z_dim", "w_dim", "channel_base", "channel_max", "map_layers",
                "conv_clamp")


def inherit_architecture(cfg: TrainConfig) -> TrainConfig:
    """``--init-from``: unset architecture options (and the model) come from that checkpoint."""
    state = ckpt.load_checkpoint(ckpt.find_checkpoint(cfg.init_from))
    source = config_mod.from_dict(state["config"])
    values = {name: getattr(source, name) for name in ARCHITECTURE
              if getattr(cfg, name) is None}
    if cfg.model != source.model:
        values.update(model=source.model, cfg=source.cfg)
    return dataclasses.replace(cfg, **values)


def resumed_config(run_dir: Path, state: dict[str, Any],
                   overrides: dict[str, Any]) -> TrainConfig:
    """The checkpoint's config with the options that may change on resume applied."""
    cfg = config_mod.from_dict(state["config"])
    given = {k: v for k, v in overrides.items() if v is not None}
    fixed = [k for k in given if not config_mod.FIELDS[k].metadata["resume_ok"]
             and config_mod.parse_value(k, given[k]) != getattr(cfg, k)]
    if fixed:
        names = ", ".join(config_mod.option_name(k) for k in fixed)
        raise GanvasError(f"--resume {run_dir}: {names} cannot change when resuming (only the "
                          "budget, logging and device options can)")
    return config_mod.validate(config_mod.apply_overrides(cfg, given, "option"))


def train(data: str | None = None, *, resume: str | Path | None = None,
          preset: str | None = None, config_file: str | None = None, dry_run: bool = False,
          progress: bool = True, **options: Any) -> TrainResult | TrainConfig:
    """Train a GAN; the keyword options are :class:`TrainConfig`'s fields.

    ``resume`` continues a run folder (or checkpoint) exactly where it stopped. ``dry_run``
    returns the resolved config without training. Returns a :class:`TrainResult`. Under
    ``torchrun`` every process calls this; rank 0 alone writes the run folder.
    """
    unknown = sorted(set(options) - set(config_mod.FIELDS))
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
        return _run(cfg, ckpt_path.parent.parent, state, progress=progress)
    cfg = resolve_config(options, preset=preset, config_file=config_file)
    if dry_run:
        return cfg
    return _run(cfg, None, None, progress=progress, preset=preset)


def _run(cfg: TrainConfig, run_dir: Path | None, state: dict[str, Any] | None,
         progress: bool, preset: str | None = None) -> TrainResult:
    """Open the data and the run folder (rank 0 first under torchrun), then train."""
    shard = dist.from_environment()
    device = dist.training_device(cfg.device, shard, pick_device)
    dist.setup(shard, device)
    try:
        channels = state["data"]["channels"] if state is not None else cfg.channels
        data_set = None
        if shard.is_main:  # preparing into the cache happens once, on rank 0
            data_set = open_training_data(cfg.data, cfg.resolution, channels, progress=progress)
            run_dir = _prepare_run_dir(cfg, run_dir, state, data_set, preset)
        dist.barrier(shard)
        if data_set is None:
            data_set = open_training_data(cfg.data, cfg.resolution, channels, progress=False)
        run_dir = dist.broadcast_object(run_dir, shard)
        return training_loop(cfg, run_dir, data_set, resume=state, show_progress=progress,
                             shard=shard)
    finally:
        dist.teardown(shard)


def _prepare_run_dir(cfg: TrainConfig, run_dir: Path | None, state: dict[str, Any] | None,
                     data_set: Any, preset: str | None) -> Path:
    """A new numbered run folder with its config.json, or a resumed one trimmed to the step."""
    if state is not None and run_dir is not None:
        for log_name in ("stats.jsonl", "metrics.jsonl"):
            truncate_jsonl(run_dir / log_name, state["progress"]["step"])
        write_json(run_dir / "config.json", {**read_config_json(run_dir), **cfg.to_dict()})
        return run_dir
    name = f"{dataset_name(cfg.data)}-{cfg.model}{cfg.resolution}"
    if cfg.desc:
        name += f"-{cfg.desc}"
    run_dir = next_run_dir(cfg.outdir, name)
    write_json(run_dir / "config.json", {**cfg.to_dict(), "preset": preset,
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
    return json.dumps(cfg.to_dict(), indent=2)
