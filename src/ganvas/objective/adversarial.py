"""The adversarial objective of DCGAN-style families: D and G steps and lazy R1, as losses.

The loop owns optimizers, backward passes and the schedule; an objective only computes losses
from a batch. Every stabilising trick (label tricks, instance noise, DiffAugment, ADA, gradient
penalties, kernel L2) is applied here from the config. Penalties see what D is trained on: they
differentiate D composed with the same augmentation and noise (``d_view``), as
stylegan2-ada-pytorch takes R1 through its augmentation pipeline. Statistics are returned as
detached device tensors; nothing here synchronises with the host.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
from torch import nn

from ganvas.objective import augment, losses
from ganvas.objective.ada import AdaController, AugmentPipe
from ganvas.objective.options import ObjectiveOptions
from ganvas.utils.compile import maybe_compile

Stats = dict[str, torch.Tensor]


class AdversarialObjective:
    """Loss computations for a (G, D) pair configured by :class:`ObjectiveOptions`.

    ``batch`` is the global batch (ADA's controller counts images by it); latents have G's
    ``z_dim``. ``rng`` drives every per-sample random draw (augmentation, labels, penalties);
    ``z_rng`` draws latents (the same generator on one process; under torchrun one shared by all
    ranks, so that each rank takes its slice of the global batch's latents). With
    ``--aug ada|fixed`` an :class:`~ganvas.objective.ada.AugmentPipe` transforms everything D
    sees, and with ``ada`` its p follows D's overfitting measure r_t.

    With ``compile`` the batch forwards run compiled (``G_forward``, ``D_forward``); the
    gradient penalties take the eager ``D``, since a compiled module has no double backward.

    Class-conditional (``label_weights``, the share of each class in the data): every G and D
    call takes classes. A D step's fakes take the real batch's classes, so D compares reals
    and fakes of the same classes in every batch (measured better than drawing them apart:
    docs/benchmarks.md), and penalties that mix the two see one class per pair. A G step
    draws its classes from ``label_weights`` with ``z_rng``, as it draws its latents (each
    rank its slice of the global batch's).
    """

    def __init__(self, options: ObjectiveOptions, G: nn.Module, D: nn.Module,
                 rng: torch.Generator, *, batch: int, z_rng: torch.Generator | None = None,
                 shard: tuple[int, int] = (0, 1),
                 autocast: Callable[[], Any] | None = None,
                 penalty_autocast: Callable[[], Any] | None = None,
                 device: torch.device | None = None,
                 compile: bool = False, label_weights: torch.Tensor | None = None):
        self.options, self.G, self.D, self.rng = options, G, D, rng
        self.z_dim = G.z_dim
        self.G_forward, self.D_forward = maybe_compile(G, compile), maybe_compile(D, compile)
        self.z_rng = z_rng or rng
        self.rank, self.world = shard
        aug = options.aug
        if aug == "auto":  # config.family_aug is the one rule for what auto means
            raise ValueError("--aug auto reached the objective unresolved: build it from a "
                             "config that went through config.with_model_defaults")
        self.ada = AugmentPipe(options.augpipe, options.p).to(device) if aug != "none" else None
        self.ada_control = AdaController(batch=batch, target=options.target,
                                         speed_kimg=options.ada_kimg, device=device or "cpu") \
            if aug == "ada" else None
        self.policy = augment.parse_policy(options.diffaugment) if options.diffaugment else ()
        self.r1_gamma, self.r1_interval = options.r1, options.r1_every
        self.r2_gamma = options.r2
        self._autocast = autocast or contextlib.nullcontext
        self._penalty_autocast = penalty_autocast or self._autocast
        self.label_weights = label_weights.to(device or "cpu") if label_weights is not None \
            else None

    # -- what the loop schedules -------------------------------------------------------------

    @property
    def d_reg_interval(self) -> int | None:
        """Lazy R1/R2: a separate D step every this many D steps (None: no lazy regulariser)."""
        return self.r1_interval if self.r1_gamma or self.r2_gamma else None

    @property
    def g_reg_interval(self) -> int | None:
        return None

    # -- pieces ------------------------------------------------------------------------------

    def precision(self) -> Any:
        """The autocast context of the fast path (a no-op context in fp32)."""
        return self._autocast()

    def penalty_precision(self) -> Any:
        """The context gradient penalties run in (fp32 when the fast path is fp16)."""
        return self._penalty_autocast()

    def sample_z(self, n: int, device: torch.device) -> torch.Tensor:
        """``n`` latents: this rank's slice of the global batch's latents."""
        z = torch.randn(n * self.world, self.z_dim, device=device, generator=self.z_rng)
        return z[self.rank * n:(self.rank + 1) * n] if self.world > 1 else z

    def sample_labels(self, n: int, device: torch.device) -> torch.Tensor | None:
        """``n`` classes drawn as the data has them (this rank's slice); None unconditional."""
        if self.label_weights is None:
            return None
        c = torch.multinomial(self.label_weights, n * self.world, replacement=True,
                              generator=self.z_rng)
        return c[self.rank * n:(self.rank + 1) * n] if self.world > 1 else c

    def fakes(self, n: int, device: torch.device, for_generator: bool,
              c: torch.Tensor | None = None) -> torch.Tensor:
        """A fresh batch of G's images of classes ``c`` (the G step also updates G's own
        running averages)."""
        return self.G_forward(self.sample_z(n, device), c)

    def d_view(self, images: torch.Tensor, progress: float) -> torch.Tensor:
        """What D sees of an image batch: ADA or DiffAugment, then annealed instance noise."""
        if self.ada is not None:
            images = self.ada(images, generator=self.rng)
        if self.policy:
            images = augment.diff_augment(images, self.policy, generator=self.rng)
        sigma = losses.linear_anneal(self.options.instance_noise, progress)
        return losses.add_instance_noise(images, sigma, generator=self.rng)

    def judge(self, images: torch.Tensor, progress: float, c: torch.Tensor | None = None,
              penalty: bool = False) -> torch.Tensor:
        """D's logits on its view of ``images`` (of classes ``c``), in fp32 whatever the
        autocast dtype; a ``penalty`` takes the eager D in the penalties' precision, for its
        double backward."""
        if penalty:
            with self.penalty_precision():
                return self.D(self.d_view(images, progress), c).float()
        with self.precision():
            return self.D_forward(self.d_view(images, progress), c).float()

    def real_terms(self, reals: torch.Tensor, progress: float, c: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None, Stats]:
        """D's logits on the real batch, and a loss of D's own on it (a family's
        self-supervision; None here) with its statistics."""
        return self.judge(reals, progress, c), None, {}

    def viewed_d(self, progress: float,
                 c: torch.Tensor | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """D composed with its input view: the function gradient penalties differentiate."""
        return lambda x: self.judge(x, progress, c, penalty=True)

    # -- the phases --------------------------------------------------------------------------

    def discriminator_step(self, reals: torch.Tensor, progress: float,
                           labels: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        """Loss of D on a real batch (of classes ``labels``) and a fresh fake batch of the same
        classes (G frozen), with non-lazy penalties."""
        cfg = self.options
        n = reals.shape[0]
        with torch.no_grad(), self.precision():
            fakes = self.fakes(n, reals.device, for_generator=False, c=labels).float()
        real_logits, own_loss, own_stats = self.real_terms(reals, progress, labels)
        fake_logits = self.judge(fakes, progress, labels)
        if self.ada_control is not None:
            self.ada_control.accumulate(real_logits.detach())
        real_t, fake_t = losses.discriminator_targets(
            n, label_smoothing=cfg.label_smoothing, soft_labels=cfg.soft_labels,
            label_flip=cfg.label_flip, device=reals.device, generator=self.rng)
        adv = losses.discriminator_loss(cfg.loss, real_logits, fake_logits, real_t, fake_t)
        total = adv if own_loss is None else adv + own_loss
        stats = {"loss_D": adv.detach(), **own_stats,
                 **score_stats(real_logits, fake_logits, paired=cfg.loss == "rpgan")}
        if cfg.gp:
            gp = losses.wgan_gp_penalty(self.viewed_d(progress, labels), reals, fakes,
                                        generator=self.rng)
            total = total + cfg.gp * gp
            stats["penalty_gp"] = gp.detach()
        if cfg.dragan:
            dragan = losses.dragan_penalty(self.viewed_d(progress, labels), reals, k=cfg.dragan_k,
                                           noise=cfg.dragan_noise, c=cfg.dragan_c,
                                           generator=self.rng)
            total = total + cfg.dragan * dragan
            stats["penalty_dragan"] = dragan.detach()
        if cfg.kernel_l2:
            total = total + cfg.kernel_l2 * losses.kernel_l2(self.D)
        return total, stats

    def discriminator_regularizer(self, reals: torch.Tensor, progress: float,
                                  labels: torch.Tensor | None = None
                                  ) -> tuple[torch.Tensor, Stats]:
        """Lazy R1 on reals (and R2 on fresh fakes of the same classes) as D sees them:
        (γ/2)·interval·E‖∇D‖², its own optimizer step."""
        total, stats = torch.zeros((), device=reals.device), {}
        if self.r1_gamma:
            r1 = losses.r1_penalty(self.viewed_d(progress, labels), reals)
            total, stats["penalty_r1"] = total + self.r1_gamma / 2 * r1, r1.detach()
        if self.r2_gamma:
            with torch.no_grad(), self.precision():
                fakes = self.fakes(reals.shape[0], reals.device, for_generator=False,
                                   c=labels).float()
            r2 = losses.r1_penalty(self.viewed_d(progress, labels), fakes)
            total, stats["penalty_r2"] = total + self.r2_gamma / 2 * r2, r2.detach()
        return self.r1_interval * total, stats

    def generator_step(self, batch: int, device: torch.device, progress: float,
                       reals: torch.Tensor | None = None,
                       labels: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        """Loss of G on a fresh fake batch of sampled classes, judged by D through the same
        view (the relativistic ``rpgan`` loss also judges ``reals`` of classes ``labels``, the
        D step's last real batch, and then draws its fakes with those classes)."""
        c = labels if self.options.loss == "rpgan" else self.sample_labels(batch, device)
        with self.precision():
            fakes = self.fakes(batch, device, for_generator=True, c=c).float()
        real_logits = None
        if self.options.loss == "rpgan":
            with torch.no_grad():
                real_logits = self.judge(reals, progress, labels)
        adv = losses.generator_loss(self.options.loss, self.judge(fakes, progress, c),
                                    real_logits)
        total = adv
        if self.options.kernel_l2:
            total = total + self.options.kernel_l2 * losses.kernel_l2(self.G)
        return total, {"loss_G": adv.detach()}

    def generator_regularizer(self, batch: int, device: torch.device,
                              progress: float) -> tuple[torch.Tensor, Stats]:
        raise NotImplementedError("DCGAN has no generator regulariser")

    def after_discriminator_step(self, d_step: int, shard: Any) -> Stats:
        """After each D update: ADA moves p every few steps; returns p and r_t to log."""
        if self.ada is None:
            return {}
        if self.ada_control is not None:
            reduce = torch.distributed.all_reduce if getattr(shard, "active", False) else None
            self.ada_control.update(self.ada, all_reduce=reduce)
            return {"ada_p": self.ada.p.detach().clone(), "ada_rt": self.ada_control.last_rt}
        return {"ada_p": self.ada.p.detach().clone()}

    def state_dict(self) -> dict[str, Any]:
        """ADA's p and its controller, so a resumed run goes on with the same augmentation."""
        state: dict[str, Any] = {}
        if self.ada is not None:
            state["ada_pipe"] = self.ada.state_dict()
        if self.ada_control is not None:
            state["ada_control"] = self.ada_control.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ada is not None and "ada_pipe" in state:
            self.ada.load_state_dict(state["ada_pipe"])
        if self.ada_control is not None and "ada_control" in state:
            self.ada_control.load_state_dict(state["ada_control"])


def score_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                paired: bool = False) -> Stats:
    """D(x), D(G(z)) as mean sigmoid scores, and D's accuracy (real > 0.5, fake < 0.5).

    With a relativistic loss (``paired``) only logit differences mean anything, so the accuracy
    is the fraction of pairs where D scores the real above its fake."""
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
    if paired:
        accuracy = (real_logits.reshape(-1) > fake_logits.reshape(-1)).float().mean()
    else:
        accuracy = ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()) / 2
    return {"D_real": torch.sigmoid(real_logits).mean(),
            "D_fake": torch.sigmoid(fake_logits).mean(),
            "D_accuracy": accuracy}
