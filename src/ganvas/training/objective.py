"""The adversarial objective: one discriminator step and one generator step, as losses.

The loop owns optimizers and backward passes; an objective only computes losses from a batch.
Every stabilising trick (label tricks, instance noise, DiffAugment, gradient penalties, kernel
L2) is applied here from the config, so it works the same for every model family. Statistics are
returned as detached device tensors; nothing here synchronises with the host.
"""

from __future__ import annotations

import torch
from torch import nn

from ganvas import augment, losses
from ganvas.config import TrainConfig


class AdversarialObjective:
    """Loss computations for a (G, D) pair configured by a :class:`TrainConfig`."""

    def __init__(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, rng: torch.Generator):
        self.cfg, self.G, self.D, self.rng = cfg, G, D, rng
        self.policy = augment.parse_policy(cfg.diffaugment) if cfg.diffaugment else ()

    def sample_z(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=device, generator=self.rng)

    def d_view(self, images: torch.Tensor, progress: float) -> torch.Tensor:
        """What D sees of an image batch: DiffAugment, then annealed instance noise."""
        if self.policy:
            images = augment.diff_augment(images, self.policy, generator=self.rng)
        sigma = losses.linear_anneal(self.cfg.instance_noise, progress)
        return losses.add_instance_noise(images, sigma, generator=self.rng)

    def discriminator_step(self, reals: torch.Tensor, d_step: int,
                           progress: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of D on a real batch and a fresh fake batch (G frozen)."""
        cfg, D = self.cfg, self.D
        n = reals.shape[0]
        with torch.no_grad():
            fakes = self.G(self.sample_z(n, reals.device))
        real_logits = D(self.d_view(reals, progress))
        fake_logits = D(self.d_view(fakes, progress))
        real_t, fake_t = losses.discriminator_targets(
            n, label_smoothing=cfg.label_smoothing, soft_labels=cfg.soft_labels,
            label_flip=cfg.label_flip, device=reals.device, generator=self.rng)
        adv = losses.discriminator_loss(cfg.loss, real_logits, fake_logits, real_t, fake_t)
        total = adv
        stats = {"loss_D": adv.detach(), **score_stats(real_logits, fake_logits)}
        if cfg.gp:
            gp = losses.wgan_gp_penalty(D, reals, fakes, generator=self.rng)
            total = total + cfg.gp * gp
            stats["penalty_gp"] = gp.detach()
        if cfg.dragan:
            dragan = losses.dragan_penalty(D, reals, k=cfg.dragan_k, noise=cfg.dragan_noise,
                                           generator=self.rng)
            total = total + cfg.dragan * dragan
            stats["penalty_dragan"] = dragan.detach()
        if cfg.r1 and d_step % cfg.r1_every == 0:
            r1 = losses.r1_penalty(D, reals)
            total = total + (cfg.r1 / 2) * cfg.r1_every * r1
            stats["penalty_r1"] = r1.detach()
        if cfg.kernel_l2:
            total = total + cfg.kernel_l2 * losses.kernel_l2(D)
        return total, stats

    def generator_step(self, batch: int, device: torch.device,
                       progress: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of G on a fresh fake batch, judged by D."""
        fakes = self.G(self.sample_z(batch, device))
        adv = losses.generator_loss(self.cfg.loss, self.D(self.d_view(fakes, progress)))
        total = adv
        if self.cfg.kernel_l2:
            total = total + self.cfg.kernel_l2 * losses.kernel_l2(self.G)
        return total, {"loss_G": adv.detach()}


def score_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """D(x), D(G(z)) as mean sigmoid scores, and D's accuracy (real > 0.5, fake < 0.5)."""
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
    accuracy = ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()) / 2
    return {"D_real": torch.sigmoid(real_logits).mean(),
            "D_fake": torch.sigmoid(fake_logits).mean(),
            "D_accuracy": accuracy}
