"""Every training option, declared once.

:class:`TrainConfig` is the single source of truth: each field carries its default, its help text
and its check. The CLI options, TOML config files, presets and ``ganvas.train(**kwargs)`` are all
generated from or validated against these fields, in this order of precedence (later wins)::

    defaults  <  --preset NAME  <  --config FILE.toml  <  command-line options / keyword arguments

The resolved config is written to ``config.json`` in the run folder and stored in checkpoints as
plain data, so a run can be reproduced or resumed from it alone.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ganvas.errors import GanvasError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RESOLUTIONS = (16, 32, 64, 128, 256, 512, 1024)


def opt(default: Any, help: str, *, choices: tuple | None = None,
        check: Callable[[Any], str | None] | None = None, group: str = "training",
        metavar: str | None = None, resume_ok: bool = False) -> Any:
    """Declare one option: its default, help text, allowed values and validity check.

    ``check`` returns an error text (``"must be > 0"``) or None. ``resume_ok`` marks options that
    may change when a run is resumed (budgets, logging); any other change is refused.
    """
    meta = {"help": help, "choices": choices, "check": check, "group": group,
            "metavar": metavar, "resume_ok": resume_ok}
    return field(default=default, metadata=meta)


def positive(v: Any) -> str | None:
    return None if v is None or v > 0 else "must be > 0"


def non_negative(v: Any) -> str | None:
    return None if v is None or v >= 0 else "must be >= 0"


def probability(v: Any) -> str | None:
    return None if v is None or 0 <= v <= 1 else "must be between 0 and 1"


def half_probability(v: Any) -> str | None:
    return None if 0 <= v < 0.5 else "must be in [0, 0.5)"


def _betas(v: Any) -> str | None:
    if v is None:
        return None
    if len(v) != 2 or not all(0 <= b < 1 for b in v):
        return "must be two numbers in [0, 1), e.g. 0.5,0.999"
    return None


def _soft_labels(v: Any) -> str | None:
    # A target above 1 makes one sample's BCE unbounded below, but the expected loss stays
    # bounded (and minimised at a finite logit) while the mean target is at most 1.
    if v is None:
        return None
    if len(v) != 2 or not 0 <= v[0] <= v[1] or (v[0] + v[1]) / 2 > 1:
        return "must be lo,hi with 0 <= lo <= hi and a mean of at most 1, e.g. 0.7,1.2"
    return None


def _layers(v: Any) -> str | None:
    return None if v is None or v >= 2 else "must be >= 2"


def _metric_list(v: Any) -> str | None:
    unknown = [n for n in str(v).split(",") if n.strip() and n.strip() not in ("fid", "kid", "pr")]
    return f"has unknown metric {unknown[0].strip()!r} (choose from fid, kid, pr)" if unknown \
        else None


def _at_least_two(v: Any) -> str | None:
    return None if v >= 2 else "must be at least 2"


def _channels(v: Any) -> str | None:
    return None if v in (None, 1, 3) else "must be 1 or 3"


@dataclass
class TrainConfig:
    """All options of ``ganvas train``. Field names map to ``--kebab-case`` CLI options."""

    # --- data -------------------------------------------------------------------------------
    data: str = opt("mnist", "Training images: 'mnist' (built in), a folder, a zip/tar, or a "
                    "dataset packed by 'ganvas prepare'. On --resume: where the run's images "
                    "are now (they must be the same images).", group="data", resume_ok=True)
    resolution: int | None = opt(None, "Image size in pixels (default: the data's, 32 for "
                                 "mnist, 64 for a folder).", choices=RESOLUTIONS, group="data")
    channels: int | None = opt(None, "1 (grey) or 3 (RGB); default: what the data is.",
                               check=_channels, group="data")
    mirror: bool | None = opt(None, "Also show D x-flipped real images (default: on for "
                              "your pictures, off for the built-in digits, which are not "
                              "symmetric).", group="data")

    # --- model ------------------------------------------------------------------------------
    model: str = opt("dcgan", "Model family.", choices=("dcgan", "stylegan2"), group="model")
    arch: str = opt("dcgan", "DCGAN variant: all-convolutional, or 'dense' (fully connected "
                    "first G layer, flatten-dense D head, as in Keras tutorials).",
                    choices=("dcgan", "dense"), group="dcgan")
    z_dim: int | None = opt(None, "Latent size (default: 100 for dcgan; from --cfg for "
                            "stylegan2).", check=positive, group="model")
    g_channels: int = opt(64, "Generator width (channels of its last hidden layer; doubles "
                          "per layer towards the latent, capped at 512).", check=positive,
                          group="dcgan")
    d_channels: int = opt(64, "Discriminator width (channels of its first layer).",
                          check=positive, group="dcgan")
    layers: int | None = opt(None, "Number of layers in G and D (default: 4 at 32 px, +1 per "
                             "doubling). Fewer starts G from a larger map; more adds stride-1 "
                             "layers.", check=_layers, group="dcgan")
    kernel_size: int = opt(4, "Convolution kernel size.", check=positive, group="dcgan")
    g_activation: str = opt("relu", "Generator hidden activation.",
                            choices=("relu", "leaky"), group="dcgan")
    d_activation: str = opt("leaky", "Discriminator hidden activation.",
                            choices=("relu", "leaky"), group="dcgan")
    g_norm: str = opt("batch", "Generator normalisation.", choices=("batch", "none"),
                      group="dcgan")
    d_norm: str = opt("batch", "Discriminator normalisation (spectral: spectral norm on every "
                      "layer).", choices=("batch", "none", "spectral"), group="dcgan")
    d_dropout: float = opt(0.0, "Dropout probability after each D hidden layer.",
                           check=probability, group="dcgan")
    conv_bias: bool = opt(False, "Biases in convolutions followed by normalisation.",
                          group="dcgan")
    init: str = opt("normal", "Weight init: N(0, 0.02) as in DCGAN, or Glorot uniform.",
                    choices=("normal", "glorot"), group="dcgan")

    # --- loss and regularisation ------------------------------------------------------------
    loss: str = opt("bce", "Adversarial loss (rpgan: relativistic pairing, as in R3GAN with "
                    "--r1 and --r2).", choices=("bce", "mse", "hinge", "wgan", "rpgan"),
                    group="loss")
    gp: float = opt(0.0, "WGAN-GP penalty weight on interpolates (0: off).",
                    check=non_negative, group="loss")
    dragan: float = opt(0.0, "DRAGAN penalty weight on perturbed reals (0: off; paper: 10).",
                        check=non_negative, group="loss")
    dragan_k: float = opt(1.0, "DRAGAN target gradient norm k.", check=non_negative,
                          group="loss")
    dragan_noise: str = opt("uniform", "DRAGAN perturbation: the authors' code (uniform) or "
                            "the paper's (gaussian).", choices=("uniform", "gaussian"),
                            group="loss")
    dragan_c: float | None = opt(None, "DRAGAN perturbation scale c: a multiple of the batch's "
                                 "pixel std for uniform (default 0.5), the per-pixel variance "
                                 "for gaussian (default 10, far from [-1, 1] data: try 0.05).",
                                 check=positive, group="loss")
    r1: float = opt(0.0, "R1 penalty weight gamma on reals (0: off).", check=non_negative,
                    group="loss")
    r2: float = opt(0.0, "R2 penalty weight gamma on fakes (0: off), on R1's schedule.",
                    check=non_negative, group="loss")
    r1_every: int = opt(16, "Apply R1 (and R2) lazily every N discriminator steps.",
                        check=positive, group="loss")
    label_smoothing: float = opt(0.0, "One-sided label smoothing: real targets 1 - s.",
                                 check=half_probability, group="loss")
    soft_labels: tuple[float, float] | None = opt(None, "Random real targets in lo,hi (ganhacks: "
                                                  "0.7,1.2). Targets above 1 are allowed while "
                                                  "the mean is at most 1.",
                                                  check=_soft_labels, group="loss",
                                                  metavar="LO,HI")
    label_flip: float = opt(0.0, "Flip each of D's targets with this probability.",
                            check=half_probability, group="loss")
    instance_noise: float = opt(0.0, "Gaussian noise std added to D's inputs, annealed "
                                "linearly to 0 over the run.", check=non_negative,
                                group="loss")
    kernel_l2: float = opt(0.0, "L2 penalty on convolution/linear kernels of both networks.",
                           check=non_negative, group="loss")
    diffaugment: str | None = opt(None, "Differentiable augmentation of everything D sees: "
                                  "any of color,translation,cutout ('' for none; default: "
                                  "translation,cutout for dcgan unless --aug ada/fixed, none "
                                  "for stylegan2).", group="loss", metavar="POLICY")

    # --- adaptive discriminator augmentation (any model) ------------------------------------
    aug: str = opt("auto", "Augmentation of everything D sees: ada (p adapts to D's "
                   "overfitting), fixed (p stays --p), none; auto = ada for stylegan2, none "
                   "for dcgan.", choices=("auto", "ada", "fixed", "none"), group="augment")
    p: float = opt(0.0, "Augmentation probability: the start for ada, the value for fixed.",
                   check=probability, group="augment")
    target: float = opt(0.6, "ADA's target for r_t = E[sign(D(real))].", check=probability,
                        group="augment")
    augpipe: str = opt("bgc", "Augmentation groups: blit, geom, color, bg, bgc (or a comma "
                       "list of ops such as xflip,rotate90,xint).", group="augment",
                       metavar="PIPE")
    ada_kimg: float = opt(500.0, "ADA speed: p can go from 0 to 1 in this many kimg.",
                          check=positive, group="augment")

    # --- optimisation -----------------------------------------------------------------------
    batch: int | None = opt(None, "Batch size, all processes together (default: 64 for "
                            "dcgan; from --cfg for stylegan2).", check=positive, group="optim")
    optimizer: str = opt("adam", "Optimizer of both networks.",
                         choices=("adam", "rmsprop", "sgd"), group="optim")
    lr_g: float | None = opt(None, "Generator learning rate (default: 2e-4 for dcgan; from "
                             "--cfg for stylegan2).", check=positive, group="optim")
    lr_d: float | None = opt(None, "Discriminator learning rate (default: as --lr-g).",
                             check=positive, group="optim")
    betas: tuple[float, float] | None = opt(None, "Adam betas (sgd: the first is its momentum; "
                                            "default: 0.5,0.999 for dcgan, 0,0.99 for "
                                            "stylegan2).", check=_betas, group="optim",
                                            metavar="B1,B2")
    weight_decay: float = opt(0.0, "L2 weight decay of both optimizers, on convolution and "
                              "linear layers (not normalisation layers).", check=non_negative,
                              group="optim")
    d_steps: int = opt(1, "Discriminator steps per generator step.", check=positive,
                       group="optim")
    lr_decay: str = opt("none", "Learning-rate schedule over the run.",
                        choices=("none", "linear"), group="optim")
    ema_kimg: float | None = opt(None, "Half-life of the generator's EMA in thousands of "
                                 "generator images (0: off; default: 10 for dcgan, from --cfg "
                                 "for stylegan2). Samples and metrics use G_ema when on.",
                                 check=non_negative, group="optim")
    ema_rampup: float | None = opt(None, "EMA ramp-up: half-life at most this fraction of "
                                   "images seen (0: none; default 0.05).", check=non_negative,
                                   group="optim")

    # --- StyleGAN2 (--model stylegan2) -----------------------------------------------------
    cfg: str = opt("auto", "StyleGAN2 configuration: auto (the reference's heuristics), small "
                   "(narrow, for CPUs at 32-64 px), cifar, paper256, paper512.",
                   choices=("auto", "small", "cifar", "paper256", "paper512"),
                   group="stylegan2")
    gamma: float | None = opt(None, "R1 weight γ (default: the cfg's; auto and small: "
                              "0.0002·resolution²/batch).", check=non_negative,
                              group="stylegan2")
    pl_weight: float | None = opt(None, "Path-length regularisation weight (default: the "
                                  "cfg's, 2; 0: off).", check=non_negative, group="stylegan2")
    style_mixing: float | None = opt(None, "Style-mixing probability (default: the cfg's, "
                                     "0.9).", check=probability, group="stylegan2")
    map_layers: int | None = opt(None, "Mapping network depth (default: the cfg's).",
                                 check=positive, group="stylegan2")
    channel_base: int | None = opt(None, "Channels = min(channel_base / resolution, "
                                   "channel_max) per block (default: the cfg's).",
                                   check=positive, group="stylegan2")
    channel_max: int | None = opt(None, "Most channels in a block (default: the cfg's).",
                                  check=positive, group="stylegan2")
    w_dim: int | None = opt(None, "Intermediate latent (w) size (default: the cfg's).",
                            check=positive, group="stylegan2")
    conv_clamp: float | None = opt(None, "Clamp convolution outputs to ±this (the published "
                                   "networks use 256; default: no clamp).", check=positive,
                                   group="stylegan2")

    # --- transfer learning ------------------------------------------------------------------
    init_from: str | None = opt(None, "Start from another run's (or an imported checkpoint's) "
                                "G, D and G_ema; the resolution must match.", group="transfer",
                                metavar="RUN")
    freeze_d: int = opt(0, "Freeze-D: keep the first N discriminator blocks (from the image "
                        "side) fixed.", check=non_negative, group="transfer")

    # --- budget -----------------------------------------------------------------------------
    kimg: float | None = opt(None, "Stop after this many thousand real images.",
                             check=positive, group="budget", resume_ok=True)
    epochs: float | None = opt(None, "Stop after this many passes over the data (default 25 "
                               "when no budget is given).", check=positive, group="budget",
                               resume_ok=True)
    minutes: float | None = opt(None, "Stop after this many minutes of training.",
                                check=positive, group="budget", resume_ok=True)

    # --- output -----------------------------------------------------------------------------
    outdir: str = opt("runs", "Folder that holds run folders.", group="output",
                      resume_ok=True)
    desc: str | None = opt(None, "Extra text for the run folder's name.", group="output")
    log_every: int = opt(20, "Record stats every N steps.", check=positive, group="output",
                         resume_ok=True)
    snapshot_kimg: float = opt(10.0, "Write a sample grid and checkpoint every N kimg.",
                               check=positive, group="output", resume_ok=True)
    keep: int = opt(5, "Keep the newest N snapshot-<kimg>.pt checkpoints, one per --snapshot-kimg "
                    "(0: all). best.pt and latest.pt are always kept; RUN@<kimg> names one.",
                    check=non_negative, group="output", resume_ok=True)
    grid: int = opt(64, "Images in the fixed-noise sample grid.", check=positive,
                    group="output")
    report: bool = opt(True, "Write report.html into the run folder when training ends.",
                       group="output", resume_ok=True)
    tensorboard: bool = opt(False, "Also log statistics and sample grids for TensorBoard "
                            "(needs the tensorboard package).", group="output", resume_ok=True)
    seed: int = opt(0, "Random seed of the whole run.", check=non_negative, group="output")
    device: str = opt("auto", "cpu, cuda, cuda:N, or auto.", group="speed", resume_ok=True)
    precision: str = opt("auto", "Arithmetic of the networks: auto = bf16 autocast on CUDA and "
                         "on CPUs with native bf16, fp16 on older GPUs, else fp32. Weights, "
                         "losses and penalty norms stay fp32.",
                         choices=("auto", "bf16", "fp16", "fp32"), group="speed",
                         resume_ok=True)
    threads: int | None = opt(None, "CPU threads of torch in this process (default: the cores "
                              "it may use, shared among torchrun's local processes). Two jobs "
                              "that each take every core slow each other about 6x: give each "
                              "its share.", check=positive, group="speed", resume_ok=True)
    compile: bool = opt(False, "torch.compile the networks (static shapes).", group="speed",
                        resume_ok=True)
    sync_bn: bool = opt(False, "Under torchrun on GPUs: BatchNorm statistics over the global "
                        "batch.", group="speed")

    # --- metrics while training -------------------------------------------------------------
    metrics: str = opt("", "Measure while training, on G_ema (or G): any of fid,kid,pr.",
                       check=_metric_list, group="metrics", metavar="LIST", resume_ok=True)
    metric_every: float = opt(50.0, "Evaluate every N kimg, and at the end.", check=positive,
                              group="metrics", resume_ok=True)
    metric_n: int = opt(5000, "Generated images per evaluation (reals: as many, at most all).",
                        check=_at_least_two, group="metrics", resume_ok=True)

    def budget(self) -> str:
        """A short human description of the training budget."""
        parts = [f"{v:g} {name}" for name, v in
                 (("kimg", self.kimg), ("epochs", self.epochs), ("minutes", self.minutes))
                 if v is not None]
        return ", ".join(parts) or "unbounded"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples) for JSON and checkpoints."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def option_name(name: str) -> str:
    """``lr_d`` -> ``--lr-d``."""
    return "--" + name.replace("_", "-")


def base_type(name: str) -> type:
    """The non-None type of a field (int, float, str, bool or tuple)."""
    hint = _HINTS[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return tuple
    if args and typing.get_origin(args[0]) is tuple:
        return tuple
    return args[0] if args and typing.get_origin(hint) is not None else hint


def parse_value(name: str, raw: Any) -> Any:
    """Turn a CLI string or TOML value into the field's type, or raise GanvasError."""
    label = option_name(name)
    if raw is None:
        return None
    kind = base_type(name)
    try:
        if kind is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(float(x) for x in items)
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            if isinstance(raw, bool):
                raise ValueError
            return int(raw) if not isinstance(raw, str) else int(raw.strip())
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        return str(raw)
    except (TypeError, ValueError):
        kind_name = {tuple: "a comma-separated list of numbers"}.get(kind, kind.__name__)
        raise GanvasError(f"{label}: {raw!r} is not {kind_name}") from None


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check every field's allowed values; raise one GanvasError naming the option."""
    for name, f in FIELDS.items():
        value = getattr(cfg, name)
        choices, check = f.metadata["choices"], f.metadata["check"]
        if choices is not None and value is not None and value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise GanvasError(f"{option_name(name)}: {value!r} is not one of {allowed}")
        problem = check(value) if check else None
        if problem:
            raise GanvasError(f"{option_name(name)}: {value!r} {problem}")
    if cfg.kernel_size < 3:
        raise GanvasError(f"--kernel-size: {cfg.kernel_size} must be >= 3")
    if cfg.soft_labels is not None and cfg.label_smoothing:
        raise GanvasError("--soft-labels and --label-smoothing both set real targets; use one")
    label_tricks = [option_name(n) for n in ("label_smoothing", "soft_labels", "label_flip")
                    if getattr(cfg, n)]
    if label_tricks and cfg.loss in ("hinge", "wgan", "rpgan"):
        raise GanvasError(f"{label_tricks[0]}: --loss {cfg.loss} has no labels, so it would "
                          "have no effect; use --loss bce or mse, or drop it")
    if cfg.aug in ("ada", "fixed"):
        from ganvas.ada import parse_augpipe

        parse_augpipe(cfg.augpipe)
    ada = cfg.aug == "ada" or (cfg.aug == "auto" and cfg.model == "stylegan2")
    if ada and cfg.loss == "rpgan":
        raise GanvasError("--aug ada: its overfitting measure E[sign(D(real))] needs D's "
                          "absolute scores, which --loss rpgan leaves free; use --aug fixed "
                          "--p P or --aug none")
    if cfg.aug == "fixed" and cfg.p == 0:
        raise GanvasError("--aug fixed: give the probability with --p (it is 0)")
    if cfg.loss == "wgan" and not cfg.gp and cfg.d_norm != "spectral":
        raise GanvasError("--loss wgan: the critic is unconstrained without a Lipschitz "
                          "constraint; add --gp 10 (WGAN-GP) or --d-norm spectral")
    return cfg


def apply_overrides(base: TrainConfig, overrides: Mapping[str, Any], source: str) -> TrainConfig:
    """Return ``base`` with ``overrides`` (name -> raw value) parsed and applied."""
    values = {}
    for key, raw in overrides.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise GanvasError(f"{source}: unknown option {key!r}")
        values[name] = parse_value(name, raw)
    return dataclasses.replace(base, **values)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file: flat keys, or keys under any tables (tables are ignored)."""
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


def resolve(overrides: Mapping[str, Any] | None = None, *, preset: str | None = None,
            config_file: str | Path | None = None) -> TrainConfig:
    """Build a validated TrainConfig from a preset, a TOML file and explicit overrides."""
    from ganvas.presets import preset_overrides

    from ganvas.models import refuse_foreign_options

    cfg = TrainConfig()
    layers: list[Mapping[str, Any]] = []
    if preset:
        layers.append(preset_overrides(preset))
        cfg = apply_overrides(cfg, layers[-1], f"preset {preset!r}")
    if config_file:
        layers.append(load_toml(config_file))
        cfg = apply_overrides(cfg, layers[-1], str(config_file))
    if overrides:
        layers.append({k: v for k, v in overrides.items() if v is not None})
        cfg = apply_overrides(cfg, layers[-1], "option")
    refuse_foreign_options(cfg.model, {k.replace("-", "_") for layer in layers for k in layer})
    return validate(with_model_defaults(cfg))


def with_model_defaults(cfg: TrainConfig) -> TrainConfig:
    """Fill the options whose defaults depend on the data (x-flips) or on the model family
    (batch, z_dim, lr...)."""
    from ganvas.data.builtin import BUILTIN
    from ganvas.models import fill_defaults

    if cfg.mirror is None:
        cfg = dataclasses.replace(cfg, mirror=cfg.data not in BUILTIN)
    return fill_defaults(cfg)


def from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Rebuild a config saved by :meth:`TrainConfig.to_dict` (unknown keys are an error)."""
    return validate(apply_overrides(TrainConfig(), dict(data), "saved config"))
