"""The training config: one options group per owner, nested, with a flat command line.

Each layer declares the options it reads (``ganvas.utils.options.opt``): the data
(:class:`~ganvas.data.options.DataOptions`), the objective
(:class:`~ganvas.objective.options.ObjectiveOptions`), each model family (its ``options_class``),
and here the run (budget, output, logging, devices, metrics) and the optimiser.
:class:`TrainConfig` nests them and holds only the chosen family's group. ``config.json`` and
checkpoints store it nested; runs written before the nesting (flat) still load.

Each option also has a flat name (``lr_d``, shown as ``--lr-d``; StyleGAN2's ``config_name`` is
``cfg``) for the command line, TOML files, presets, sweeps and ``ganvas.train(**options)``, in
this order of precedence (later wins)::

    defaults  <  --preset NAME  <  --config FILE.toml  <  command-line options / keyword arguments

An option of a family other than the chosen one is refused in one line.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ganvas.data import default_resolution
from ganvas.data.builtin import BUILTIN
from ganvas.data.options import DataOptions
from ganvas.errors import GanvasError
from ganvas.models import FAMILIES, get_family
from ganvas.models.stylegan2.family import process_count
from ganvas.objective.options import ObjectiveOptions
from ganvas.presets import preset_overrides
from ganvas.utils.options import (base_type, check_fields, flag_of, non_negative, opt,
                                  parse_value, plain, positive)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METRICS = ("fid", "kid", "pr", "agreement")  # agreement: conditional runs (--cond)


def _betas(v: Any) -> str | None:
    if v is None:
        return None
    if len(v) != 2 or not all(0 <= b < 1 for b in v):
        return "must be two numbers in [0, 1), e.g. 0.5,0.999"
    return None


def parse_metric_list(text: str) -> list[str]:
    """``"fid,kid"`` -> ["fid", "kid"]; an unknown name is a GanvasError naming ``--metrics``."""
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise GanvasError(f"--metrics: unknown metric {unknown[0]!r} (choose from "
                          f"{', '.join(METRICS)})")
    return names


def _metric_list(v: Any) -> str | None:
    try:
        parse_metric_list(v)
    except GanvasError as error:
        return "has " + str(error).split(": ", 1)[1]
    return None


def _at_least_two(v: Any) -> str | None:
    return None if v >= 2 else "must be at least 2"


@dataclass
class OptimOptions:
    """The ``optim`` group: optimisers, learning rates and their schedule, Freeze-D."""

    batch: int | None = opt(None, "Batch size, all processes together (default: 64 for "
                            "dcgan; from --cfg for stylegan2).", check=positive)
    optimizer: str = opt("adam", "Optimizer of both networks.",
                         choices=("adam", "rmsprop", "sgd"))
    lr_g: float | None = opt(None, "Generator learning rate (default: 2e-4 for dcgan; from "
                             "--cfg for stylegan2).", check=positive)
    lr_d: float | None = opt(None, "Discriminator learning rate (default: as --lr-g).",
                             check=positive)
    betas: tuple[float, float] | None = opt(None, "Adam betas (sgd: the first is its momentum; "
                                            "default: 0.5,0.999 for dcgan, 0,0.99 for "
                                            "stylegan2).", check=_betas,
                                            metavar="B1,B2")
    weight_decay: float = opt(0.0, "L2 weight decay of both optimizers, on convolution and "
                              "linear layers (not normalisation layers).", check=non_negative)
    d_steps: int = opt(1, "Discriminator steps per generator step.", check=positive)
    lr_decay: str = opt("none", "Learning-rate schedule over the run.",
                        choices=("none", "linear"))
    freeze_d: int = opt(0, "Freeze-D: keep the first N discriminator blocks (from the image "
                        "side) fixed.", check=non_negative, section="transfer")


@dataclass
class RunOptions:
    """The ``run`` group: budget, output and logging, devices and precision, metrics while
    training, and where the weights start from."""

    kimg: float | None = opt(None, "Stop after this many thousand real images.",
                             check=positive, section="budget", resume_ok=True)
    epochs: float | None = opt(None, "Stop after this many passes over the data (default 25 "
                               "when no budget is given).", check=positive, section="budget",
                               resume_ok=True)
    minutes: float | None = opt(None, "Stop after this many minutes of training.",
                                check=positive, section="budget", resume_ok=True)

    outdir: str = opt("runs", "Folder that holds run folders.", section="output",
                      resume_ok=True)
    desc: str | None = opt(None, "Extra text for the run folder's name.", section="output")
    log_every: int = opt(20, "Record stats every N steps.", check=positive, section="output",
                         resume_ok=True)
    snapshot_kimg: float = opt(10.0, "Write a sample grid and checkpoint every N kimg.",
                               check=positive, section="output", resume_ok=True)
    keep: int = opt(5, "Keep the newest N snapshot-<kimg>.pt checkpoints, one per --snapshot-kimg "
                    "(0: all). best.pt and latest.pt are always kept; RUN@<kimg> names one.",
                    check=non_negative, section="output", resume_ok=True)
    grid: int = opt(64, "Images in the fixed-noise sample grid.", check=positive,
                    section="output")
    report: bool = opt(True, "Write report.html into the run folder when training ends.",
                       section="output", resume_ok=True)
    tensorboard: bool = opt(False, "Also log statistics and sample grids for TensorBoard "
                            "(needs the tensorboard package).", section="output", resume_ok=True)
    seed: int = opt(0, "Random seed of the whole run.", check=non_negative, section="output")
    device: str = opt("auto", "cpu, cuda, cuda:N, or auto.", section="speed", resume_ok=True)
    precision: str = opt("auto", "Arithmetic of the networks: auto = bf16 autocast on CUDA and "
                         "on CPUs with native bf16, fp16 on older GPUs, else fp32. Weights, "
                         "losses and penalty norms stay fp32.",
                         choices=("auto", "bf16", "fp16", "fp32"), section="speed",
                         resume_ok=True)
    threads: int | None = opt(None, "CPU threads of torch in this process (default: the cores "
                              "it may use, shared among torchrun's local processes). Two jobs "
                              "that each take every core slow each other about 6x: give each "
                              "its share.", check=positive, section="speed", resume_ok=True)
    compile: bool = opt(False, "torch.compile the networks (static shapes).", section="speed",
                        resume_ok=True)
    sync_bn: bool = opt(False, "Under torchrun on GPUs: BatchNorm statistics over the global "
                        "batch.", section="speed")

    metrics: str = opt("", "Measure while training, on G_ema (or G): any of fid,kid,pr.",
                       check=_metric_list, section="metrics", metavar="LIST", resume_ok=True)
    metric_every: float = opt(50.0, "Evaluate every N kimg, and at the end.", check=positive,
                              section="metrics", resume_ok=True)
    metric_n: int = opt(5000, "Generated images per evaluation (reals: as many, at most all).",
                        check=_at_least_two, section="metrics", resume_ok=True)

    init_from: str | None = opt(None, "Start from another run's (or an imported checkpoint's) "
                                "G, D and G_ema; the resolution must match.", section="transfer",
                                metavar="RUN")


GROUPS: dict[str, type] = {"data": DataOptions, "run": RunOptions, "optim": OptimOptions,
                           "objective": ObjectiveOptions,
                           **{name: family.options_class for name, family in FAMILIES.items()}}
SHARED = ("data", "run", "optim", "objective")


@dataclass(frozen=True)
class Option:
    """One flat option: where it lives (``group``, ``field``) and how it is spelled."""

    name: str
    group: str
    field: dataclasses.Field
    owner: type

    @property
    def flag(self) -> str:
        return flag_of(self.field)

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.field.metadata

    @property
    def kind(self) -> type:
        return base_type(self.owner, self.field.name)

    @property
    def section(self) -> str:
        return self.meta.get("section") or self.group


def _index() -> dict[str, list[Option]]:
    """Flat name -> its declarations (one, or one per family that shares it, like z_dim)."""
    found: dict[str, list[Option]] = {}
    for group, owner in GROUPS.items():
        for f in dataclasses.fields(owner):
            name = flag_of(f)[2:].replace("-", "_")
            found.setdefault(name, []).append(Option(name, group, f, owner))
    return found


@dataclass
class ModelChoice:
    """The one option above the groups: which family's group the config holds."""

    model: str | None = opt(None, "Model family: dcgan (32-512 px), stylegan2 (with ADA), "
                            "lightweight (FastGAN: a few hundred pictures at 64-1024 px). "
                            "Default: the family whose options are given, else lightweight "
                            "from 128 px and dcgan below (the measured best; the run's "
                            "config.json says why).", choices=tuple(FAMILIES), section="model")


MODEL = Option("model", "", dataclasses.fields(ModelChoice)[0], ModelChoice)
OPTIONS: dict[str, list[Option]] = {"model": [MODEL], **_index()}


def option_name(name: str) -> str:
    """``lr_d`` -> ``--lr-d`` (``cfg`` -> ``--cfg``)."""
    return "--" + name.replace("_", "-")


def command_line(options: Mapping[str, Any]) -> list[str]:
    """Training options as ``ganvas train`` arguments: ``{"lr_d": 1e-4}`` -> ``--lr-d 0.0001``."""
    args: list[str] = []
    for name, value in options.items():
        flag = option_name(name)
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def describe(name: str) -> Option:
    """The (first) declaration of flat option ``name``."""
    return OPTIONS[name][0]


@dataclass
class TrainConfig:
    """All options of ``ganvas train``, by owner; ``family`` holds the chosen model's group."""

    model: str = "dcgan"
    data: DataOptions = field(default_factory=DataOptions)
    run: RunOptions = field(default_factory=RunOptions)
    optim: OptimOptions = field(default_factory=OptimOptions)
    objective: ObjectiveOptions = field(default_factory=ObjectiveOptions)
    family: Any = None
    #: Why this model family, when the plain default chose it (config.json and --dry-run say).
    why: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.family is None:
            self.family = get_family(self.model).options_class()

    def groups(self) -> dict[str, Any]:
        """The groups this run uses, by name (the family's under its model name)."""
        return {"data": self.data, "run": self.run, "optim": self.optim,
                "objective": self.objective, self.model: self.family}

    def budget(self) -> str:
        """A short human description of the training budget."""
        run = self.run
        parts = [f"{v:g} {name}" for name, v in
                 (("kimg", run.kimg), ("epochs", run.epochs), ("minutes", run.minutes))
                 if v is not None]
        return ", ".join(parts) or "unbounded"

    def to_dict(self) -> dict[str, Any]:
        """Nested plain data (lists for tuples) for JSON and checkpoints."""
        return {"model": self.model, **{name: plain(g) for name, g in self.groups().items()}}

    def flat(self) -> dict[str, Any]:
        """Every option this run uses by its flat name (sweeps, reports, resume checks)."""
        values = {"model": self.model}
        for group in self.groups().values():
            for f in dataclasses.fields(group):
                values[flag_of(f)[2:].replace("-", "_")] = getattr(group, f.name)
        return values


def parse_flat(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Flat names (``-`` or ``_``) and raw values -> parsed values; unknown names are an error."""
    parsed = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        if name not in OPTIONS:
            raise GanvasError(f"{source}: unknown option {key!r}")
        parsed[name] = parse_value(describe(name).kind, raw, option_name(name))
    return parsed


def refuse_replaced(given: Mapping[str, Any]) -> None:
    """One error line for a shared option given to a family that replaces it with its own."""
    model = given.get("model", "dcgan")
    replaced = get_family(model).replaced
    for name in given:
        if name in replaced:
            users = ", ".join(f"--model {m}" for m, f in FAMILIES.items() if name not in f.replaced)
            raise GanvasError(f"{option_name(name)}: --model {model} does not use it (it has "
                              f"its own: {replaced[name]}); {users} uses it")


def build(values: Mapping[str, Any], *, lenient: bool = False) -> TrainConfig:
    """A TrainConfig from parsed flat values. An option the chosen family does not use is an
    error (``lenient``: skipped, for flat configs saved before options were grouped)."""
    model = values.get("model", "dcgan")
    family = get_family(model)
    groups: dict[str, dict[str, Any]] = {}  # group -> field -> value
    for name, value in values.items():
        if name == "model":
            continue
        declared = OPTIONS[name]
        mine = [o for o in declared if o.group in SHARED or o.group == model]
        if not mine:
            if lenient:
                continue
            owners = ", ".join(f"--model {o.group}" for o in declared)
            raise GanvasError(f"{option_name(name)}: --model {model} does not use it; it is an "
                              f"option of {owners}")
        groups.setdefault(mine[0].group, {})[mine[0].field.name] = value
    kwargs = {g: GROUPS[g](**groups.get(g, {})) for g in SHARED}
    return TrainConfig(model=model, family=family.options_class(**groups.get(model, {})),
                       **kwargs)


def replace(cfg: TrainConfig, **values: Any) -> TrainConfig:
    """``cfg`` with some options set by flat name (parsed values)."""
    return build({**cfg.flat(), **values})


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check every option and the rules that tie several together; one GanvasError naming the
    option."""
    if cfg.model not in FAMILIES:
        get_family(cfg.model)
    for group in cfg.groups().values():
        check_fields(group)
    cfg.objective.validate()
    objective = cfg.objective
    # with_model_defaults has turned --aug auto into the family's choice by now
    if objective.aug == "ada" and objective.loss == "rpgan":
        raise GanvasError("--aug ada: its overfitting measure E[sign(D(real))] needs D's "
                          "absolute scores, which --loss rpgan leaves free; use --aug fixed "
                          "--p P or --aug none")
    spectral = getattr(cfg.family, "d_norm", None) == "spectral"
    if objective.loss == "wgan" and not objective.gp and not spectral:
        raise GanvasError("--loss wgan: the critic is unconstrained without a Lipschitz "
                          "constraint; add --gp 10 (WGAN-GP)"
                          + (" or --d-norm spectral" if cfg.model == "dcgan" else ""))
    return cfg


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file: flat keys, or keys under any tables (``[objective]``...)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise GanvasError(f"--config: {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GanvasError(f"--config: {path} is not valid TOML ({exc})") from None
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def given_values(overrides: Mapping[str, Any] | None = None, *, preset: str | None = None,
                 config_file: str | Path | None = None) -> dict[str, Any]:
    """The options a preset, a TOML file and explicit overrides set, parsed, later winning."""
    values: dict[str, Any] = {}
    if preset:
        values.update(parse_flat(preset_overrides(preset), f"preset {preset!r}"))
    if config_file:
        values.update(parse_flat(load_toml(config_file), str(config_file)))
    if overrides:
        values.update(parse_flat({k: v for k, v in overrides.items() if v is not None},
                                 "option"))
    return values


#: From this resolution up, the plain default trains the lightweight family (bench/smalldata.py).
#: The data's size has not changed the winner at any measured resolution: at 64 px DCGAN won on
#: 849 paintings and tied on 22,969 faces; at 128 px lightweight won on 849 and 1,000 pictures.
LIGHTWEIGHT_FROM = 128


def default_model(values: Mapping[str, Any]) -> tuple[str, str]:
    """The family when ``--model`` is not given, and why in one line: the family whose own
    options were given, else the one the small-data table says is best at the resolution."""
    owners: set[str] = set()
    for name in values:  # an option several families share (z_dim) says nothing
        groups = {o.group for o in OPTIONS.get(name, ()) if o.group in FAMILIES}
        owners |= groups if len(groups) == 1 else set()
    if len(owners) == 1:
        family = owners.pop()
        return family, f"--model {family}: its own options were given"
    resolution = values.get("resolution") or default_resolution(str(values.get("data", "mnist")))
    if resolution >= LIGHTWEIGHT_FROM:
        ada = family_aug("lightweight", values.get("aug", "auto")) == "ada"
        return "lightweight", (f"--model lightweight{' with ADA' if ada else ''}: the plain "
                               f"default at {resolution} px (from {LIGHTWEIGHT_FROM} px: on 849 "
                               "paintings and 1,000 faces at 128 px it beat DCGAN, which "
                               "collapsed; with ADA its KID was 0.51x StyleGAN2's and 0.50x "
                               "DCGAN's in 60 CPU minutes on the paintings; docs/benchmarks.md)")
    return "dcgan", (f"--model dcgan: the plain default at {resolution} px (below "
                     f"{LIGHTWEIGHT_FROM} px: at 64 px it beat lightweight on 849 paintings and "
                     "tied on 22,969 faces; docs/benchmarks.md)")


def from_given(values: dict[str, Any]) -> TrainConfig:
    """A validated TrainConfig from the options given, choosing the family when none is."""
    why = ""
    if "model" not in values and not values.get("init_from"):
        values["model"], why = default_model(values)
    refuse_replaced(values)
    cfg = validate(with_model_defaults(build(values)))
    cfg.why = why
    return cfg


def resolve(overrides: Mapping[str, Any] | None = None, *, preset: str | None = None,
            config_file: str | Path | None = None) -> TrainConfig:
    """Build a validated TrainConfig from a preset, a TOML file and explicit overrides."""
    return from_given(given_values(overrides, preset=preset, config_file=config_file))


def family_aug(model: str, aug: str) -> str:
    """``--aug`` as the family trains it: ``auto`` is the family's own choice."""
    return get_family(model).default_aug if aug == "auto" else aug


def with_model_defaults(cfg: TrainConfig) -> TrainConfig:
    """Fill the options whose defaults depend on the data (x-flips) or on the model family
    (its own options from the resolution, batch, learning rates, EMA...)."""
    family = get_family(cfg.model)
    data, optim, objective = cfg.data, cfg.optim, cfg.objective
    # recorded as the family's choice: a resumed run keeps it when a default changes
    objective = dataclasses.replace(objective, aug=family_aug(cfg.model, objective.aug))
    if data.mirror is None:
        data = dataclasses.replace(data, mirror=data.data not in BUILTIN)
    processes = process_count()
    defaults = family.defaults(cfg.family, resolution=data.resolution, batch=optim.batch,
                               aug=objective.aug, processes=processes)
    unset = {k: v for k, v in defaults.items()
             if getattr(optim if hasattr(optim, k) else objective, k) is None}
    optim = dataclasses.replace(optim, **{k: v for k, v in unset.items() if hasattr(optim, k)})
    objective = dataclasses.replace(objective, **{k: v for k, v in unset.items()
                                                  if hasattr(objective, k)})
    options = family.complete(cfg.family, data.resolution, optim.batch, processes)
    return dataclasses.replace(cfg, data=data, optim=optim, objective=objective, family=options,
                               why=cfg.why)


def flatten(saved: Mapping[str, Any]) -> dict[str, Any]:
    """A saved config (nested, or flat from before the grouping) as flat names and values;
    only the options (``config.json``'s ``dataset`` and ``preset`` notes are left out)."""
    if not isinstance(saved.get("run"), dict):
        return {k: v for k, v in saved.items() if k in OPTIONS}
    model = saved.get("model", "dcgan")
    values = {"model": model}
    for group in (*SHARED, model):
        owner = GROUPS.get(group)
        fields = {f.name: f for f in dataclasses.fields(owner)} if owner else {}
        for key, value in dict(saved.get(group) or {}).items():
            f = fields.get(key)
            values[flag_of(f)[2:].replace("-", "_") if f else key] = value
    return values


def from_dict(saved: Mapping[str, Any]) -> TrainConfig:
    """Rebuild a config saved by :meth:`TrainConfig.to_dict` (or an older flat one), completed
    as it trained."""
    flat = not isinstance(saved.get("run"), dict)
    values = parse_flat(flatten(saved), "saved config")
    if values.get("model") == "lightweight" and values.get("aug", "auto") == "auto":
        values["aug"] = "none"  # saved when --aug auto meant none (DiffAugment) for it
    return validate(with_model_defaults(build(values, lenient=flat)))


def group_of(name: str, model: str) -> str | None:
    """The group that option ``name`` belongs to in a ``model`` run (None: another family's)."""
    return next((o.group or "model" for o in OPTIONS.get(name, ())
                 if o.group in ("", *SHARED, model)), None)
