"""FastGAN's objective: the shared adversarial objective (hinge loss by the family's default)
plus D's self-supervision.

On every D step, D reconstructs the image it saw from its 8×8 features and a random quarter of
it from its 16×16 features. The reconstruction loss compares each with its target in pixels (L1)
and in D's own shallow features (L1, the target's features held fixed): FastGAN compares them
with LPIPS, whose VGG weights would have to be downloaded; D's features need nothing.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganvas.objective.adversarial import AdversarialObjective, Stats
from ganvas.objective.options import ObjectiveOptions
from ganvas.utils.compile import maybe_compile
from ganvas.utils.grid import quarter_of


def resized(images: Tensor, size: int) -> Tensor:
    """``images`` at ``size`` px (area averaging when shrinking)."""
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="area")


def reconstruction_loss(seen: Tensor, reconstructions: dict[str, Tensor], quarter: Tensor,
                        features: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """L1 between each reconstruction and its target (the whole image ``seen``, and its
    quarter ``quarter``, resized to the reconstruction's size), plus L1 between their
    ``features`` with the target's held fixed."""
    size = reconstructions["all"].shape[-1]
    targets = {"all": resized(seen, size), "part": resized(quarter_of(seen, quarter), size)}
    loss = seen.new_zeros(())
    for key, target in targets.items():
        made = reconstructions[key].float()
        loss = loss + (made - target).abs().mean()
        if features is not None:
            loss = loss + (features(made) - features(target).detach()).abs().mean()
    return loss


class LightweightObjective(AdversarialObjective):
    """The shared objective with FastGAN's self-supervised D and noise drawn from ``rng``."""

    def __init__(self, options: ObjectiveOptions, G: nn.Module, D: nn.Module,
                 rng: torch.Generator, *, recon_weight: float, compile: bool = False,
                 **fast: Any):
        super().__init__(options, G, D, rng, compile=compile, **fast)
        self.recon_weight = recon_weight
        # Compiled with the batch forwards: an eager BatchNorm saves its running statistics for
        # backward, and a compiled forward's update of them would then fail that backward.
        self.perceptual = maybe_compile(D.perceptual, compile)

    def fakes(self, n: int, device: torch.device, for_generator: bool,
              c: torch.Tensor | None = None) -> torch.Tensor:
        return self.G_forward(self.sample_z(n, device), c, generator=self.rng)

    def real_terms(self, reals: torch.Tensor, progress: float, c: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None, Stats]:
        """Logits on the reals as D sees them, and the reconstruction loss × its weight."""
        if not self.recon_weight:
            return super().real_terms(reals, progress, c)
        quarter = torch.randint(4, (), device=reals.device, generator=self.rng)
        with self.precision():
            seen = self.d_view(reals, progress)
            logits, made = self.D_forward(seen, c, reconstruct=True, quarter=quarter)
            loss = reconstruction_loss(seen.float(), made, quarter, self.perceptual)
        return logits.float(), self.recon_weight * loss, {"loss_recon": loss.detach()}
