"""Path-length regularisation (StyleGAN2 §3.2) with its running mean.

The non-saturating logistic losses and R1 are the generic ones in :mod:`ganvas.losses`
(``generator_loss('bce', ...)``, ``discriminator_loss('bce', ...)``, ``r1_penalty``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganvas.models.stylegan2.networks import Generator, mix_styles


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

    def __call__(self, G: Generator, z: Tensor, style_mixing: float = 0.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Per-sample penalties, shape (len(z) // batch_shrink,); the caller multiplies their
        mean by the weight (2 in the reference) and the lazy-regularisation interval."""
        z = z[: max(z.shape[0] // self.batch_shrink, 1)]
        ws = mix_styles(G, z, style_mixing, generator=generator)
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
