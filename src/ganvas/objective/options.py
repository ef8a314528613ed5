"""Options of the adversarial objective, any model family: the loss, penalties, label tricks,
what D sees (DiffAugment, ADA, instance noise) and the EMA of G.

Defaults that depend on the family (``diffaugment``, ``ema_kimg``...) are None here and are filled
by the family (see ``ganvas.models``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganvas.errors import GanvasError
from ganvas.objective.ada import parse_augpipe
from ganvas.utils.options import half_probability, non_negative, opt, positive, probability

LOSSES = ("bce", "mse", "hinge", "wgan", "rpgan")


def _soft_labels(v: Any) -> str | None:
    # A target above 1 makes one sample's BCE unbounded below, but the expected loss stays
    # bounded (and minimised at a finite logit) while the mean target is at most 1.
    if v is None:
        return None
    if len(v) != 2 or not 0 <= v[0] <= v[1] or (v[0] + v[1]) / 2 > 1:
        return "must be lo,hi with 0 <= lo <= hi and a mean of at most 1, e.g. 0.7,1.2"
    return None


@dataclass
class ObjectiveOptions:
    """The ``objective`` group of a training config."""

    loss: str | None = opt(None, "Adversarial loss (default: bce; hinge for lightweight; rpgan: "
                           "relativistic pairing, as in R3GAN with --r1 and --r2).",
                           choices=LOSSES, section="loss")
    gp: float = opt(0.0, "WGAN-GP penalty weight on interpolates (0: off).",
                    check=non_negative, section="loss")
    dragan: float = opt(0.0, "DRAGAN penalty weight on perturbed reals (0: off; paper: 10).",
                        check=non_negative, section="loss")
    dragan_k: float = opt(1.0, "DRAGAN target gradient norm k.", check=non_negative,
                          section="loss")
    dragan_noise: str = opt("uniform", "DRAGAN perturbation: the authors' code (uniform) or "
                            "the paper's (gaussian).", choices=("uniform", "gaussian"),
                            section="loss")
    dragan_c: float | None = opt(None, "DRAGAN perturbation scale c: a multiple of the batch's "
                                 "pixel std for uniform (default 0.5), the per-pixel variance "
                                 "for gaussian (default 10, far from [-1, 1] data: try 0.05).",
                                 check=positive, section="loss")
    r1: float = opt(0.0, "R1 penalty weight gamma on reals (0: off).", check=non_negative,
                    section="loss")
    r2: float = opt(0.0, "R2 penalty weight gamma on fakes (0: off), on R1's schedule.",
                    check=non_negative, section="loss")
    r1_every: int = opt(16, "Apply R1 (and R2) lazily every N discriminator steps.",
                        check=positive, section="loss")
    label_smoothing: float = opt(0.0, "One-sided label smoothing: real targets 1 - s.",
                                 check=half_probability, section="loss")
    soft_labels: tuple[float, float] | None = opt(None, "Random real targets in lo,hi (ganhacks: "
                                                  "0.7,1.2). Targets above 1 are allowed while "
                                                  "the mean is at most 1.",
                                                  check=_soft_labels, section="loss",
                                                  metavar="LO,HI")
    label_flip: float = opt(0.0, "Flip each of D's targets with this probability.",
                            check=half_probability, section="loss")
    instance_noise: float = opt(0.0, "Gaussian noise std added to D's inputs, annealed "
                                "linearly to 0 over the run.", check=non_negative,
                                section="loss")
    kernel_l2: float = opt(0.0, "L2 penalty on convolution/linear kernels of both networks.",
                           check=non_negative, section="loss")
    diffaugment: str | None = opt(None, "Differentiable augmentation of everything D sees: "
                                  "any of color,translation,cutout ('' for none; default: "
                                  "translation,cutout for dcgan unless --aug ada/fixed, "
                                  "color,translation for lightweight with --aug none, none "
                                  "for stylegan2).", section="loss", metavar="POLICY")

    aug: str = opt("auto", "Augmentation of everything D sees: ada (p adapts to D's "
                   "overfitting), fixed (p stays --p), none; auto = ada for stylegan2 and "
                   "lightweight, none for dcgan.", choices=("auto", "ada", "fixed", "none"),
                   section="augment")
    p: float = opt(0.0, "Augmentation probability: the start for ada, the value for fixed.",
                   check=probability, section="augment")
    target: float = opt(0.6, "ADA's target for r_t = E[sign(D(real))].", check=probability,
                        section="augment")
    augpipe: str = opt("bgc", "Augmentation groups: blit, geom, color, bg, bgc (or a comma "
                       "list of ops such as xflip,rotate90,xint).", section="augment",
                       metavar="PIPE")
    ada_kimg: float = opt(500.0, "ADA speed: p can go from 0 to 1 in this many kimg.",
                          check=positive, section="augment")

    ema_kimg: float | None = opt(None, "Half-life of the generator's EMA in thousands of "
                                 "generator images (0: off; default: 10 for dcgan, from --cfg "
                                 "for stylegan2). Samples and metrics use G_ema when on.",
                                 check=non_negative, section="ema")
    ema_rampup: float | None = opt(None, "EMA ramp-up: half-life at most this fraction of "
                                   "images seen (0: none; default 0.05).", check=non_negative,
                                   section="ema")

    def validate(self) -> None:
        """The checks that involve several of these options (each field is checked alone by
        ``ganvas.utils.options.check_fields``)."""
        if self.soft_labels is not None and self.label_smoothing:
            raise GanvasError("--soft-labels and --label-smoothing both set real targets; use one")
        tricks = [flag for flag, value in (("--label-smoothing", self.label_smoothing),
                                           ("--soft-labels", self.soft_labels),
                                           ("--label-flip", self.label_flip)) if value]
        if tricks and self.loss in ("hinge", "wgan", "rpgan"):
            raise GanvasError(f"{tricks[0]}: --loss {self.loss} has no labels, so it would "
                              "have no effect; use --loss bce or mse, or drop it")
        if self.aug in ("ada", "fixed"):
            parse_augpipe(self.augpipe)
        if self.aug == "fixed" and self.p == 0:
            raise GanvasError("--aug fixed: give the probability with --p (it is 0)")
