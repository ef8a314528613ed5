"""StyleGAN2's objective: style mixing, path-length regularisation (§3.2) with its running
mean, and lazy R1 every 16 D steps on top of the shared adversarial objective.

The non-saturating logistic losses and R1 are the generic ones in :mod:`ganvas.objective.losses`
(``generator_loss('bce', ...)``, ``discriminator_loss('bce', ...)``, ``r1_penalty``). Networks
are duck-typed (``G.mapping``, ``G.synthesis``, ``G.num_ws``): the objective sits below the
model families and never imports them.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ganvas.objective.adversarial import AdversarialObjective, Stats
from ganvas.objective.options import ObjectiveOptions
from ganvas.utils.compile import maybe_compile

R1_INTERVAL = 16
PL_INTERVAL = 4


def mix_styles(G: Any, z: Tensor, prob: float = 0.9,
               generator: torch.Generator | None = None, update_emas: bool = False,
               c: Tensor | None = None) -> Tensor:
    """ws for style-mixing regularisation: with probability ``prob``, the layers from a random
    cutoff (1 ≤ cutoff < num_ws, one per batch as in the reference) take the styles of a second
    random latent, so G cannot rely on adjacent styles being correlated.

    Drawn without host syncs; ``generator`` supplies the randomness (on ``z``'s device). Both
    latents map with the same classes ``c``.
    """
    ws = G.mapping(z, c, update_emas=update_emas)
    if prob <= 0 or G.num_ws < 2:
        return ws
    draw = dict(generator=generator, device=z.device)
    cutoff = torch.randint(1, G.num_ws, (), **draw)
    cutoff = torch.where(torch.rand((), **draw) < prob, cutoff, torch.full_like(cutoff, G.num_ws))
    other = G.mapping(torch.randn(z.shape, dtype=z.dtype, **draw), c)
    mixed = (torch.arange(G.num_ws, device=z.device) >= cutoff).reshape(1, -1, 1)
    return torch.where(mixed, other, ws)


def path_lengths(images: Tensor, ws: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Per-sample ‖J_wᵀ y‖ for a random image-space direction y ~ N(0, I/(H·W)).

    ``images`` must come from ``ws`` through a differentiable graph. The gradient of
    ``(images · y).sum()`` w.r.t. ws is Jᵀy; its squared norm is summed over w's features and
    averaged over the layers, as in the reference. The graph is kept (``create_graph``) so the
    penalty trains G.
    """
    height, width = images.shape[2:]
    noise = torch.randn(images.shape, generator=generator, device=images.device,
                        dtype=images.dtype) / math.sqrt(height * width)
    (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    return grads.float().square().sum(dim=2).mean(dim=1).sqrt()  # norms in fp32


class PathLengthPenalty:
    """``(‖J_wᵀ y‖ − a)²``, ``a`` the running mean of the path lengths (decay 0.01).

    Penalising deviation from the mean (not the length itself) asks that a fixed-size step in W
    changes the image by a fixed amount, whatever the direction: a smoother, better conditioned G.
    It runs on a batch ``batch_shrink`` times smaller than the main step, as the reference does.
    """

    def __init__(self, decay: float = 0.01, batch_shrink: int = 2):
        self.decay = decay
        self.batch_shrink = batch_shrink
        self.pl_mean = torch.zeros([])

    def __call__(self, G: Any, z: Tensor, style_mixing: float = 0.0,
                 generator: torch.Generator | None = None, c: Tensor | None = None) -> Tensor:
        """Per-sample penalties, shape (len(z) // batch_shrink,); the caller multiplies their
        mean by the weight (2 in the reference) and the lazy-regularisation interval."""
        z = z[: max(z.shape[0] // self.batch_shrink, 1)]
        c = c[: len(z)] if c is not None else None
        ws = mix_styles(G, z, style_mixing, generator=generator, c=c)
        images = G.synthesize(ws, generator=generator)
        lengths = path_lengths(images, ws, generator)
        self.pl_mean = self.pl_mean.to(lengths.device)
        pl_mean = self.pl_mean.lerp(lengths.mean(), self.decay)
        self.pl_mean = pl_mean.detach()
        return (lengths - pl_mean).square()

    def state_dict(self) -> dict[str, Tensor]:
        return {"pl_mean": self.pl_mean.detach().clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.pl_mean = torch.as_tensor(state["pl_mean"], dtype=torch.float32).reshape([]).clone()


class StyleGAN2Objective(AdversarialObjective):
    """StyleGAN2's losses on top of the shared objective (labels, augmentation, penalties):
    the non-saturating logistic loss, style mixing, lazy R1 (γ) every 16 D steps and lazy
    path-length regularisation every 4 G steps (its family makes ADA the default)."""

    def __init__(self, options: ObjectiveOptions, G: nn.Module, D: nn.Module,
                 rng: torch.Generator, *, gamma: float, pl_weight: float, style_mixing: float,
                 **fast: Any):
        super().__init__(options, G, D, rng, **fast)
        # The mapping is a small MLP called in pieces (style mixing); synthesis is the work.
        self.synthesis_forward = maybe_compile(G.synthesis, fast.get("compile", False))
        self.r1_gamma, self.r1_interval = gamma, R1_INTERVAL
        self.pl_weight, self.style_mixing = pl_weight, style_mixing
        self.path_length = PathLengthPenalty()

    @property
    def g_reg_interval(self) -> int | None:
        return PL_INTERVAL if self.pl_weight else None

    def fakes(self, n: int, device: torch.device, for_generator: bool,
              c: torch.Tensor | None = None) -> torch.Tensor:
        """Style-mixed fakes with random noise; the G step also tracks w_avg."""
        ws = mix_styles(self.G, self.sample_z(n, device), self.style_mixing,
                        generator=self.rng, update_emas=for_generator, c=c)
        noise_mode = "random" if self.G.training else "const"
        return self.synthesis_forward(ws, noise_mode=noise_mode, generator=self.rng)

    def generator_regularizer(self, batch: int, device: torch.device,
                              progress: float) -> tuple[torch.Tensor, Stats]:
        """Path-length penalty on half a batch, × weight × interval (lazy)."""
        with self.penalty_precision():
            penalty = self.path_length(self.G, self.sample_z(batch, device),
                                       self.style_mixing, generator=self.rng,
                                       c=self.sample_labels(batch, device)).float()
        loss = penalty.mean() * self.pl_weight * PL_INTERVAL
        return loss, {"penalty_pl": penalty.mean().detach()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "path_length": self.path_length.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "path_length" in state:
            self.path_length.load_state_dict(state["path_length"])
