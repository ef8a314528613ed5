"""Adversarial losses, label tricks and regularisers as plain tensor functions.

Everything here is pure torch: device-agnostic, differentiable, and free of host syncs (no
``.item()``, no Python branching on tensor values), so the training loop can call it every step.
Randomness always comes from an explicit ``generator`` argument so runs are reproducible; as torch
requires, a generator must live on the same device as the tensors it draws for (``None`` uses
torch's global RNG).

Discriminator outputs are raw logits of shape (N,) or (N, 1); they are flattened with
``reshape(-1)``.

Label targets (``real_target`` / ``fake_target``) are a python float (the same target for every
sample, which costs nothing) or a per-sample tensor of shape (N,), as returned by
:func:`discriminator_targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganvas.errors import GanvasError

LOSSES = ("bce", "mse", "hinge", "wgan", "rpgan")
DRAGAN_NOISES = ("uniform", "gaussian")
# Reference perturbation scale per DRAGAN noise kind; see dragan_penalty.
DRAGAN_DEFAULT_C = {"uniform": 0.5, "gaussian": 10.0}

Target = float | Tensor
Discriminator = Callable[[Tensor], Tensor]

_WEIGHTED_LAYERS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GanvasError(f"{option}: unknown value {value!r} (choose from {', '.join(choices)})")


# --------------------------------------------------------------------------------------------
# Adversarial losses
# --------------------------------------------------------------------------------------------


def _flat(target: Target, logits: Tensor) -> Target:
    """A per-sample target, flat like ``logits``: an (N, 1) target against (N,) logits would
    silently broadcast to (N, N), and a patch discriminator's N×P logits take each sample's
    target P times."""
    if not isinstance(target, Tensor):
        return target
    target = target.reshape(-1)
    if target.numel() not in (1, logits.numel()) and logits.numel() % target.numel() == 0:
        target = target.repeat_interleave(logits.numel() // target.numel())
    return target


def _bce(logits: Tensor, target: Target) -> Tensor:
    # BCEWithLogits(x, t) = softplus(x) - t*x: the same function torch computes, but it takes a
    # float or a per-sample target by broadcasting instead of needing a full target tensor.
    return (F.softplus(logits) - target * logits).mean()


def discriminator_loss(
    kind: str,
    real_logits: Tensor,
    fake_logits: Tensor,
    real_target: Target = 1.0,
    fake_target: Target = 0.0,
) -> Tensor:
    """D's loss on a batch of real and fake logits (lower is better for D).

    - ``bce``: ``BCEWithLogits(real, real_target).mean()
      + BCEWithLogits(fake, fake_target).mean()``.
    - ``mse`` (LSGAN on the raw logits):
      ``mean((real - real_target)²) + mean((fake - fake_target)²)``.
      There is no ½ factor, on either side (see :func:`generator_loss`): the objective is twice
      the LSGAN paper's, which only rescales the gradients by a constant and keeps the D loss on
      the same "sum of a real and a fake term" scale as ``bce``.
    - ``hinge``: ``mean(relu(1 - real)) + mean(relu(1 + fake))``.
    - ``wgan``: ``mean(fake) - mean(real)`` (the critic's negated Wasserstein estimate).
    - ``rpgan`` (relativistic pairing, Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024):
      ``mean(softplus(fake_i - real_i))``: D judges each real against the fake it is paired
      with, so the batches must have the same size.

    ``hinge``, ``wgan`` and ``rpgan`` have no labels, so they ignore ``real_target`` /
    ``fake_target`` (label smoothing, soft labels and label flipping have no effect with them).
    """
    _check_choice("loss", kind, LOSSES)
    real = real_logits.reshape(-1)
    fake = fake_logits.reshape(-1)
    real_target, fake_target = _flat(real_target, real), _flat(fake_target, fake)
    if kind == "bce":
        return _bce(real, real_target) + _bce(fake, fake_target)
    if kind == "mse":
        return (real - real_target).square().mean() + (fake - fake_target).square().mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "rpgan":
        return F.softplus(fake - _paired(real, fake)).mean()
    return fake.mean() - real.mean()


def _paired(real: Tensor, fake: Tensor) -> Tensor:
    if real.shape != fake.shape:
        raise GanvasError(f"loss rpgan: pairs reals with fakes, got {real.numel()} real and "
                          f"{fake.numel()} fake logits")
    return real


def generator_loss(kind: str, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """G's loss on D's logits for a fake batch (lower is better for G).

    ``bce`` is the non-saturating ``softplus(-fake).mean()`` (= BCE towards "real"), which keeps
    useful gradients when D confidently rejects the fakes early on; ``mse`` is
    ``mean((fake - 1)²)`` (no ½, like the D side); ``hinge`` and ``wgan`` are ``-mean(fake)``;
    ``rpgan`` is ``mean(softplus(real_i - fake_i))`` and needs ``real_logits`` (D's logits on a
    real batch of the same size).
    """
    _check_choice("loss", kind, LOSSES)
    fake = fake_logits.reshape(-1)
    if kind == "rpgan":
        if real_logits is None:
            raise GanvasError("loss rpgan: the generator loss needs D's logits on reals")
        return F.softplus(_paired(real_logits.reshape(-1), fake) - fake).mean()
    if kind == "bce":
        return F.softplus(-fake).mean()
    if kind == "mse":
        return (fake - 1.0).square().mean()
    return -fake.mean()


# --------------------------------------------------------------------------------------------
# Label tricks
# --------------------------------------------------------------------------------------------


def discriminator_targets(
    n: int,
    *,
    label_smoothing: float = 0.0,
    soft_labels: tuple[float, float] | None = None,
    label_flip: float = 0.0,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Target, Target]:
    """Per-sample (real_targets, fake_targets) for D's ``bce``/``mse`` loss.

    - ``label_smoothing`` s: one-sided smoothing, real target ``1 - s`` (fakes stay 0).
    - ``soft_labels`` (lo, hi): each real target drawn uniformly in [lo, hi]; replaces smoothing.
      ``hi`` may exceed 1 (ganhacks' 0.7..1.2) as long as the mean target is at most 1.
    - ``label_flip`` p: each target independently swapped with probability p; a flipped real gets
      the fake target value (0) and a flipped fake gets the real target value it would have had.

    Return type: when every sample gets the same target (no trick, or smoothing only) the targets
    are python floats, so the default costs no allocation and no kernel; otherwise they are float32
    tensors of shape (n,) on ``device``. :func:`discriminator_loss` accepts both.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise GanvasError(f"label smoothing: must be in [0, 1), got {label_smoothing}")
    if not 0.0 <= label_flip <= 1.0:
        raise GanvasError(f"label flip: must be a probability in [0, 1], got {label_flip}")
    if soft_labels is not None:
        lo, hi = soft_labels
        # A target t > 1 makes that sample's BCE unbounded below (softplus(x) - t*x -> -inf), but
        # D sees the targets' distribution: E[softplus(x) - t*x] = softplus(x) - E[t]*x is bounded
        # below and has a finite minimiser while E[t] = (lo + hi)/2 <= 1 (ganhacks' 0.7..1.2).
        if not 0.0 <= lo <= hi or (lo + hi) / 2 > 1.0:
            raise GanvasError(f"soft labels: need 0 <= lo <= hi with (lo + hi)/2 <= 1, "
                              f"got ({lo}, {hi})")
        if label_smoothing:
            raise GanvasError("soft labels: cannot be combined with label smoothing")

    if soft_labels is None and label_flip == 0.0:
        return 1.0 - label_smoothing, 0.0

    def uniform() -> Tensor:
        return torch.rand(n, device=device, generator=generator)

    if soft_labels is not None:
        lo, hi = soft_labels
        real = lo + (hi - lo) * uniform()
    else:
        real = torch.full((n,), 1.0 - label_smoothing, device=device)
    fake = torch.zeros(n, device=device)
    if label_flip > 0.0:
        flip_real = uniform() < label_flip
        flip_fake = uniform() < label_flip
        real, fake = torch.where(flip_real, fake, real), torch.where(flip_fake, real, fake)
    return real, fake


def linear_anneal(start: float, progress: float) -> float:
    """``start·max(0, 1 − progress)``: a value that decays linearly to 0 over the run.

    Used for the instance-noise σ; ``progress`` is the fraction of the run done (clamped to
    [0, 1], so the value never exceeds ``start`` nor goes negative).
    """
    return start * min(1.0, max(0.0, 1.0 - progress))


def add_instance_noise(x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """``x + σ·N(0, 1)``: instance noise blurs real and fake distributions so they overlap.

    Returns ``x`` itself (no allocation, no RNG draw) when ``sigma == 0``, e.g. once annealed.
    """
    if sigma == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + sigma * noise


# --------------------------------------------------------------------------------------------
# Gradient penalties
# --------------------------------------------------------------------------------------------


def _leaf(x: Tensor) -> Tensor:
    """A graph leaf copy of ``x`` that requires grad, so we can differentiate D w.r.t. it."""
    return x.detach().requires_grad_(True)


def _input_gradients(D: Discriminator, x: Tensor) -> Tensor:
    """∇ₓ of D's logits at ``x`` (a leaf requiring grad), flattened to (N, features).

    ``create_graph=True`` keeps the graph so a penalty built on these gradients trains D. D runs in
    whatever mode it is in; with BatchNorm in train mode the samples interact (and, as with any
    forward pass, its running statistics see this batch), and the gradient is that of the summed
    logits, as in the reference implementations.
    """
    logits = D(x).reshape(-1)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.reshape(grad.shape[0], -1)


def _per_sample(x: Tensor, values: Tensor) -> Tensor:
    """Reshape (N,) values to broadcast against x's (N, ...) shape."""
    return values.reshape(-1, *([1] * (x.dim() - 1)))


def wgan_gp_penalty(
    D: Discriminator, reals: Tensor, fakes: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """WGAN-GP: ``E[(‖∇ₓD(x̂)‖₂ − 1)²]`` at ``x̂ = εx + (1−ε)x̃``, ε ~ U[0, 1] per sample.

    Random points on lines between reals and fakes are where Gulrajani et al. enforce the critic's
    1-Lipschitz constraint. The caller multiplies by λ (10 in the paper).
    """
    reals, fakes = reals.detach(), fakes.detach()
    eps = torch.rand(reals.shape[0], generator=generator, device=reals.device, dtype=reals.dtype)
    eps = _per_sample(reals, eps)
    x_hat = _leaf(eps * reals + (1 - eps) * fakes)
    norms = _input_gradients(D, x_hat).norm(2, dim=1)
    return (norms - 1).square().mean()


def dragan_penalty(
    D: Discriminator,
    reals: Tensor,
    k: float = 1.0,
    noise: Literal["uniform", "gaussian"] = "uniform",
    c: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DRAGAN (Kodali et al. 2017): ``E[(‖∇ₓD(x+δ)‖₂ − k)²]`` on perturbed reals, on D's logits.

    Penalising sharp gradients of D in small regions around the real data is the paper's cure for
    mode collapse; the caller multiplies by λ (10 in the paper and the authors' code).

    The two perturbations (``c=None`` picks the reference value ``DRAGAN_DEFAULT_C[noise]``):

    - ``uniform`` (default): the authors' public code (kodalinaveen3/DRAGAN, DRAGAN.ipynb,
      ``get_perturbed_batch``): ``x + c·std(x)·U[0, 1]`` elementwise, with c = 0.5 and std the
      population standard deviation of the whole batch tensor (numpy's ``minibatch.std()``). The
      noise is one-sided (non-negative) exactly as there.
    - ``gaussian``: the paper's ``δ ~ N(0, cI)``, i.e. per-pixel variance c (std √c), with the
      paper's suggested c = 10 as the reference (we read cI as the covariance, as the notation
      says; some reimplementations use c as the standard deviation instead).

    Why ``uniform`` is the default: it is scale-aware. Its perturbation is a fixed fraction of the
    batch's pixel standard deviation whatever the data range, so it stays in a local region around
    the real images without tuning; the authors describe the code's std-based noise as setting c
    automatically from the data (kodalinaveen3/DRAGAN issue #6). The paper's Gaussian is on an
    absolute scale: with c = 10 on ganvas's images in [-1, 1] its per-pixel std is √10 ≈ 3.2, larger
    than the whole data range, so the penalty would be enforced far from the data manifold; the
    authors' README warns that c must be set with the domain range in mind. To follow the paper's
    form, choose ``gaussian`` with an explicit small c: 0.01–0.1 (std 0.1–0.3) is about the scale
    of the default's perturbation on [-1, 1] images.

    Not reproduced: the notebook also penalises at a random interpolate ``x + α(x_p − x)``,
    α ~ U[0, 1] per sample, a leftover from WGAN-GP code; the authors confirmed (issue #5) that the
    paper penalises at the perturbed point ``x_p`` directly, which is what this function does. The
    interpolation would only shrink the perturbation (mean 0.125·std instead of 0.25·std).
    """
    _check_choice("dragan noise", noise, DRAGAN_NOISES)
    scale = DRAGAN_DEFAULT_C[noise] if c is None else c
    reals = reals.detach()
    draw = dict(generator=generator, device=reals.device, dtype=reals.dtype)
    if noise == "uniform":
        delta = scale * reals.std(correction=0) * torch.rand(reals.shape, **draw)
    else:
        delta = scale**0.5 * torch.randn(reals.shape, **draw)
    norms = _input_gradients(D, _leaf(reals + delta)).norm(2, dim=1)
    return (norms - k).square().mean()


def r1_penalty(D: Discriminator, reals: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): ``E[‖∇ₓD(x)‖²]`` on reals (sum over pixels, mean over batch).

    Zero-centred on the data, so D is pushed to be flat where the reals are. The caller multiplies
    by γ/2 and, with lazy regularisation, by the interval between penalty steps. Given fakes it is
    R2, the same penalty on G's samples (R3GAN pairs R1 and R2 with the ``rpgan`` loss).
    """
    return _input_gradients(D, _leaf(reals)).square().sum(dim=1).mean()


# --------------------------------------------------------------------------------------------
# Weight regularisation
# --------------------------------------------------------------------------------------------


def _kernel(layer: nn.Module) -> Tensor:
    """The trainable kernel behind ``layer.weight``.

    With ``torch.nn.utils.parametrizations.spectral_norm`` the ``.weight`` attribute is computed
    (W/σ(W), and reading it in train mode even runs a power iteration that updates state), so we
    use the stored ``parametrizations.weight.original``; likewise ``weight_orig`` for the legacy
    ``torch.nn.utils.spectral_norm``. Other parametrizations (e.g. weight_norm, which has no single
    ``original``) use the computed weight.
    """
    parametrizations = getattr(layer, "parametrizations", None)
    if parametrizations is not None and "weight" in parametrizations:
        original = getattr(parametrizations["weight"], "original", None)
        if original is not None:
            return original
    legacy = getattr(layer, "weight_orig", None)
    return legacy if legacy is not None else layer.weight


def kernel_l2(module: nn.Module) -> Tensor:
    """Sum of squares of all convolution and linear kernels in ``module`` (an L2 weight penalty).

    Only ``nn.Conv*`` / ``nn.ConvTranspose*`` / ``nn.Linear`` weights count: biases and
    normalisation layers' scales are left alone, as in the usual "kernel-only" L2 regulariser
    (penalising BN's γ would fight the normalisation). Returns a 0-dim tensor (0 if there are none).
    """
    param = next(module.parameters(), None)
    total = torch.zeros((), device=param.device if param is not None else None)
    for layer in module.modules():
        if isinstance(layer, _WEIGHTED_LAYERS):
            total = total + _kernel(layer).square().sum()
    return total
