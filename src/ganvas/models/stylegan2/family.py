"""``--model stylegan2``: the StyleGAN2 family for the training loop.

It resolves ``--cfg`` (with any explicit StyleGAN2 options) into a :class:`StyleGAN2Spec`,
builds the networks, and trains them with StyleGAN2's objective: the non-saturating logistic
loss, style mixing, lazy R1 every 16 D steps, lazy path-length regularisation every 4 G steps
(each a separate optimizer step with the reference's lr/betas correction, applied by the loop),
an EMA of G with ramp-up, Adam betas (0, 0.99), and ADA by default.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
from torch import nn

from ganvas.config import TrainConfig
from ganvas.models.stylegan2.configs import StyleGAN2Spec, resolve_cfg
from ganvas.models.stylegan2.networks import mix_styles
from ganvas.models.stylegan2.regularizers import PathLengthPenalty
from ganvas.training.fastpath import maybe_compile
from ganvas.training.objective import AdversarialObjective, Stats

R1_INTERVAL = 16
PL_INTERVAL = 4


def spec_for(cfg: TrainConfig, resolution: int) -> StyleGAN2Spec:
    """The cfg's spec with every explicitly given StyleGAN2 option applied.

    For ``auto`` and ``small``, γ and the EMA half-life follow the batch actually used (the
    reference's formulas γ = 0.0002·res²/batch, EMA = batch·10/32 kimg); the paper configs keep
    their fixed values.
    """
    spec = resolve_cfg(cfg.cfg, resolution, batch=cfg.batch, gpus=process_count())
    batch = spec.batch
    if cfg.cfg in ("auto", "small"):
        spec = dataclasses.replace(spec, gamma=0.0002 * resolution ** 2 / batch,
                                   ema_kimg=batch * 10 / 32)
    explicit = {name: getattr(cfg, name) for name in
                ("gamma", "pl_weight", "style_mixing", "map_layers", "channel_base",
                 "channel_max", "w_dim", "z_dim", "conv_clamp")
                if getattr(cfg, name) is not None}
    return dataclasses.replace(spec, **explicit)


def process_count() -> int:
    """How many processes share the batch (``torchrun`` sets WORLD_SIZE): ``--cfg auto`` sizes
    its batch by it, and each process's share must split into minibatch-stddev groups."""
    return max(int(os.environ.get("WORLD_SIZE", "1")), 1)


class StyleGAN2Objective(AdversarialObjective):
    """StyleGAN2's losses on top of the shared objective (labels, augmentation, penalties)."""

    def __init__(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, rng: torch.Generator,
                 spec: StyleGAN2Spec, **fast: Any):
        super().__init__(cfg, G, D, rng, default_aug="ada", **fast)
        # The mapping is a small MLP called in pieces (style mixing); synthesis is the work.
        self.synthesis_forward = maybe_compile(G.synthesis, fast.get("compile", False))
        self.spec = spec
        self.r1_gamma, self.r1_interval = spec.gamma, R1_INTERVAL
        self.path_length = PathLengthPenalty()

    @property
    def g_reg_interval(self) -> int | None:
        return PL_INTERVAL if self.spec.pl_weight else None

    def fakes(self, n: int, device: torch.device, for_generator: bool) -> torch.Tensor:
        """Style-mixed fakes with random noise; the G step also tracks w_avg."""
        ws = mix_styles(self.G, self.sample_z(n, device), self.spec.style_mixing,
                        generator=self.rng, update_emas=for_generator)
        noise_mode = "random" if self.G.training else "const"
        return self.synthesis_forward(ws, noise_mode=noise_mode, generator=self.rng)

    def generator_regularizer(self, batch: int, device: torch.device,
                              progress: float) -> tuple[torch.Tensor, Stats]:
        """Path-length penalty on half a batch, × weight × interval (lazy)."""
        with self.penalty_precision():
            penalty = self.path_length(self.G, self.sample_z(batch, device),
                                       self.spec.style_mixing, generator=self.rng).float()
        loss = penalty.mean() * self.spec.pl_weight * PL_INTERVAL
        return loss, {"penalty_pl": penalty.mean().detach()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "path_length": self.path_length.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "path_length" in state:
            self.path_length.load_state_dict(state["path_length"])


class StyleGAN2Family:
    """StyleGAN2 networks and objective; ``--cfg`` picks sizes and hyper-parameters."""

    name = "stylegan2"
    # Its depthwise FIR filters hit a slow oneDNN path in bf16 channels-last on CPUs (5x slower
    # per step at 64 px, measured), so StyleGAN2 keeps the default layout.
    channels_last = False

    def defaults(self, cfg: TrainConfig) -> dict[str, Any]:
        if cfg.resolution is None:
            return {}
        spec = spec_for(cfg, cfg.resolution)
        return {"batch": spec.batch, "z_dim": spec.z_dim, "lr_g": spec.lr, "lr_d": spec.lr,
                "betas": spec.betas, "ema_kimg": spec.ema_kimg,
                "ema_rampup": spec.ema_rampup or 0.0, "diffaugment": ""}

    def build(self, cfg: TrainConfig, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
        return spec_for(cfg, resolution).build(channels)

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, rng: torch.Generator,
                  **fast: Any) -> StyleGAN2Objective:
        return StyleGAN2Objective(cfg, G, D, rng, spec_for(cfg, G.resolution), **fast)

    def frozen_parameters(self, D: nn.Module, blocks: int) -> list[nn.Parameter]:
        """Freeze-D: the first ``blocks`` resolution blocks from the image side."""
        names = [f"b{res}" for res in D.block_resolutions[:blocks]]
        return [p for name in names for p in getattr(D, name).parameters()]
