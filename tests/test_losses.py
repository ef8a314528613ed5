"""Tests for ganvas.losses: each loss, label trick and penalty checked for what it computes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganvas.objective import losses as L
from ganvas.errors import GanvasError

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# Adversarial losses against hand-computed values
# ---------------------------------------------------------------------------------------------

# real = [2, -1], fake = [0.5, -3]
#   bce:   mean(softplus(-2), softplus(1)) + mean(softplus(0.5), softplus(-3))
#          = (0.126928 + 1.313262)/2 + (0.974077 + 0.048587)/2 = 1.231427
#   mse:   mean(1², (-2)²) + mean(0.5², (-3)²) = 2.5 + 4.625 = 7.125
#   hinge: mean(relu(-1), relu(2)) + mean(relu(1.5), relu(-2)) = 1.0 + 0.75 = 1.75
#   wgan:  mean(fake) - mean(real) = -1.25 - 0.5 = -1.75
#   rpgan: mean(softplus(0.5 - 2), softplus(-3 + 1)) = (0.201413 + 0.126928)/2 = 0.164170
D_HAND = {"bce": 1.2314270, "mse": 7.125, "hinge": 1.75, "wgan": -1.75, "rpgan": 0.1641705}
# G: bce mean(softplus(-0.5), softplus(3)) = (0.474077 + 3.048587)/2; mse mean(0.25, 16);
#    hinge and wgan -mean(fake); rpgan mean(softplus(2 - 0.5), softplus(-1 + 3))
#    = (1.701413 + 2.126928)/2
G_HAND = {"bce": 1.7613322, "mse": 8.125, "hinge": 1.25, "wgan": 1.25, "rpgan": 1.9141705}


@pytest.mark.parametrize("kind", L.LOSSES)
def test_discriminator_loss_hand_values(kind: str) -> None:
    got = L.discriminator_loss(kind, REAL, FAKE)
    assert got.item() == pytest.approx(D_HAND[kind], abs=1e-6)
    # (N, 1) logits are flattened the same way.
    got_col = L.discriminator_loss(kind, REAL[:, None], FAKE[:, None])
    assert got_col.item() == pytest.approx(D_HAND[kind], abs=1e-6)


@pytest.mark.parametrize("kind", L.LOSSES)
def test_generator_loss_hand_values(kind: str) -> None:
    got = L.generator_loss(kind, FAKE[:, None], REAL[:, None])
    assert got.item() == pytest.approx(G_HAND[kind], abs=1e-6)


def test_rpgan_pairs_each_real_with_its_fake() -> None:
    # Swapping the fakes changes the pairs, and so the loss (a mean-based loss would not change).
    swapped = L.discriminator_loss("rpgan", REAL, FAKE.flip(0))
    assert swapped.item() != pytest.approx(D_HAND["rpgan"], abs=1e-3)
    with pytest.raises(GanvasError, match="rpgan: pairs reals with fakes"):
        L.discriminator_loss("rpgan", REAL, FAKE[:1])
    with pytest.raises(GanvasError, match="needs D's logits on reals"):
        L.generator_loss("rpgan", FAKE)


def test_bce_float_targets_match_torch_and_hand_value() -> None:
    # softplus(x) - t·x with t = 0.9 for reals, 0.1 for fakes: 1.406427 by hand.
    got = L.discriminator_loss("bce", REAL, FAKE, real_target=0.9, fake_target=0.1)
    assert got.item() == pytest.approx(1.4064270, abs=1e-6)
    ref = F.binary_cross_entropy_with_logits(
        REAL, torch.full((2,), 0.9)
    ) + F.binary_cross_entropy_with_logits(FAKE, torch.full((2,), 0.1))
    torch.testing.assert_close(got, ref)


def test_bce_per_sample_targets() -> None:
    # Real 2 has target 1, real -1 has target 0 (flipped); fake -3 has target 1 (flipped): 2.231427.
    got = L.discriminator_loss(
        "bce",
        REAL,
        FAKE,
        real_target=torch.tensor([1.0, 0.0]),
        fake_target=torch.tensor([0.0, 1.0]),
    )
    assert got.item() == pytest.approx(2.2314270, abs=1e-6)


def test_mse_targets() -> None:
    # mean(1.1², 1.9²) + mean(0.4², 3.1²) = 2.41 + 4.885
    got = L.discriminator_loss("mse", REAL, FAKE, real_target=0.9, fake_target=0.1)
    assert got.item() == pytest.approx(7.295, abs=1e-6)


@pytest.mark.parametrize("kind", ["hinge", "wgan", "rpgan"])
def test_hinge_and_wgan_ignore_targets(kind: str) -> None:
    got = L.discriminator_loss(kind, REAL, FAKE, real_target=0.3, fake_target=torch.ones(2))
    assert got.item() == pytest.approx(D_HAND[kind])


def test_unknown_loss_is_a_user_error() -> None:
    with pytest.raises(GanvasError, match="unknown value 'nope'"):
        L.discriminator_loss("nope", REAL, FAKE)
    with pytest.raises(GanvasError):
        L.generator_loss("nope", FAKE)


# ---------------------------------------------------------------------------------------------
# Label tricks
# ---------------------------------------------------------------------------------------------

N_DRAWS = 100_000


def test_default_targets_are_free_floats() -> None:
    assert L.discriminator_targets(64) == (1.0, 0.0)
    real, fake = L.discriminator_targets(64, label_smoothing=0.1)
    assert (real, fake) == (pytest.approx(0.9), 0.0)
    assert isinstance(real, float) and isinstance(fake, float)


def test_soft_labels_uniform_in_range() -> None:
    real, fake = L.discriminator_targets(N_DRAWS, soft_labels=(0.7, 1.0), generator=seeded())
    assert real.shape == fake.shape == (N_DRAWS,)
    assert real.min() >= 0.7 and real.max() <= 1.0
    assert real.mean().item() == pytest.approx(0.85, abs=0.003)
    assert real.var().item() == pytest.approx(0.3**2 / 12, rel=0.03)  # uniform, not clustered
    assert torch.all(fake == 0)


def test_label_flip_rate_and_values() -> None:
    p = 0.2
    real, fake = L.discriminator_targets(
        N_DRAWS, label_smoothing=0.1, label_flip=p, generator=seeded(1)
    )
    flipped_real = real == 0.0
    flipped_fake = fake != 0.0
    # Only the two values occur: a flipped real takes the fake value and vice versa.
    assert torch.all(flipped_real | torch.isclose(real, torch.tensor(0.9)))
    assert torch.all(~flipped_fake | torch.isclose(fake, torch.tensor(0.9)))
    # Rates within ~5 standard errors (sqrt(p(1-p)/n) ≈ 0.0013); reals and fakes independent.
    assert flipped_real.float().mean().item() == pytest.approx(p, abs=0.007)
    assert flipped_fake.float().mean().item() == pytest.approx(p, abs=0.007)
    both = (flipped_real & flipped_fake).float().mean().item()
    assert both == pytest.approx(p * p, abs=0.005)


def test_flip_with_soft_labels_gives_fakes_soft_real_values() -> None:
    real, fake = L.discriminator_targets(
        N_DRAWS, soft_labels=(0.7, 0.9), label_flip=0.5, generator=seeded(2)
    )
    moved = fake != 0
    assert moved.float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert fake[moved].min() >= 0.7 and fake[moved].max() <= 0.9
    kept = real != 0
    assert real[kept].min() >= 0.7 and real[kept].max() <= 0.9


def test_ganhacks_soft_labels_above_one_are_accepted_and_bounded() -> None:
    """0.7..1.2: targets above 1 occur, and the expected BCE still has a finite minimum."""
    real, _ = L.discriminator_targets(N_DRAWS, soft_labels=(0.7, 1.2), generator=seeded(4))
    assert real.max() > 1.0 and real.mean().item() == pytest.approx(0.95, abs=0.003)
    logits = torch.linspace(-20, 20, 401)
    expected_loss = torch.stack([L._bce(x.expand(N_DRAWS), real) for x in logits])
    best = logits[expected_loss.argmin()].item()
    assert -20 < best < 20 and best == pytest.approx(math.log(0.95 / 0.05), abs=0.15)


def test_targets_reproducible_with_seed() -> None:
    a = L.discriminator_targets(100, soft_labels=(0.8, 1.0), label_flip=0.1, generator=seeded(3))
    b = L.discriminator_targets(100, soft_labels=(0.8, 1.0), label_flip=0.1, generator=seeded(3))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"label_smoothing": 1.0},
        {"label_smoothing": -0.1},
        {"label_flip": 1.5},
        {"soft_labels": (0.9, 0.8)},
        {"soft_labels": (0.9, 1.2)},
        {"soft_labels": (-0.1, 0.5)},
        {"soft_labels": (0.7, 1.0), "label_smoothing": 0.1},
    ],
)
def test_bad_label_options(kwargs: dict) -> None:
    with pytest.raises(GanvasError):
        L.discriminator_targets(8, **kwargs)


# ---------------------------------------------------------------------------------------------
# Instance noise
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "expected"),
    [(0.0, 0.1), (0.25, 0.075), (0.5, 0.05), (1.0, 0.0), (1.5, 0.0), (-1.0, 0.1)],
)
def test_linear_anneal(progress: float, expected: float) -> None:
    assert L.linear_anneal(0.1, progress) == pytest.approx(expected)


def test_instance_noise() -> None:
    x = torch.randn(200, 3, 8, 8)
    assert L.add_instance_noise(x, 0.0) is x  # identity, nothing allocated
    out = L.add_instance_noise(x, 0.5, generator=seeded(4))
    expected = x + 0.5 * torch.randn(x.shape, generator=seeded(4))
    torch.testing.assert_close(out, expected)
    assert (out - x).std().item() == pytest.approx(0.5, rel=0.02)


# ---------------------------------------------------------------------------------------------
# Gradient penalties
# ---------------------------------------------------------------------------------------------


class LinearD(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so the penalties are closed-form."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) @ self.w.flatten() + self.b)[:, None]


def conv_d(batchnorm: bool = False) -> nn.Module:
    """A small nonlinear conv D (tanh, so the gradient depends on where it is taken)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 4, 3, padding=1)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(4))
    layers += [nn.Tanh(), nn.Flatten(), nn.Linear(4 * 6 * 6, 1)]
    return nn.Sequential(*layers)


def batch(seed: int) -> torch.Tensor:
    return torch.randn(5, 3, 6, 6, generator=seeded(seed))


def manual_grads(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """∇ₓ Σ D(x), by hand, flattened per sample."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.flatten(1)


def assert_same_penalty_and_param_grads(D: nn.Module, got: torch.Tensor, ref: torch.Tensor) -> None:
    torch.testing.assert_close(got, ref)
    params = [p for p in D.parameters()]
    g_got = torch.autograd.grad(got, params, allow_unused=True)
    g_ref = torch.autograd.grad(ref, params, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in g_got)  # the penalty trains D
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b)


def test_penalties_closed_form_on_linear_d() -> None:
    w = torch.randn(3, 4, 4, generator=seeded(5))
    D = LinearD(w)
    norm = w.norm().item()
    reals, fakes = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    assert L.wgan_gp_penalty(D, reals, fakes).item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    assert L.r1_penalty(D, reals).item() == pytest.approx(norm**2, rel=1e-5)
    for noise in L.DRAGAN_NOISES:
        got = L.dragan_penalty(D, reals, k=2.0, noise=noise)
        assert got.item() == pytest.approx((norm - 2.0) ** 2, rel=1e-5)
    # create_graph: d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖
    (grad_w,) = torch.autograd.grad(L.wgan_gp_penalty(D, reals, fakes), D.w)
    torch.testing.assert_close(grad_w, 2 * (norm - 1) * w / norm)


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_wgan_gp_matches_manual_autograd(batchnorm: bool, train: bool) -> None:
    D = conv_d(batchnorm).train(train)
    reals, fakes = batch(1), batch(2)
    got = L.wgan_gp_penalty(D, reals, fakes, generator=seeded(7))
    eps = torch.rand(5, generator=seeded(7)).view(5, 1, 1, 1)
    x_hat = eps * reals + (1 - eps) * fakes
    ref = (manual_grads(D, x_hat).norm(dim=1) - 1).pow(2).mean()
    assert_same_penalty_and_param_grads(D, got, ref)


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_dragan_uniform_matches_manual_autograd(batchnorm: bool, train: bool) -> None:
    D = conv_d(batchnorm).train(train)
    reals = batch(3)
    got = L.dragan_penalty(D, reals, generator=seeded(8))  # default: uniform, c = 0.5, k = 1
    # The authors' perturbation: x + 0.5·std(x)·U[0,1], numpy-style (population) std of the batch.
    std = float(reals.numpy().std())
    x_p = reals + 0.5 * std * torch.rand(reals.shape, generator=seeded(8))
    ref = (manual_grads(D, x_p).norm(dim=1) - 1).pow(2).mean()
    assert_same_penalty_and_param_grads(D, got, ref)


@pytest.mark.parametrize("c", [None, 0.04])
def test_dragan_gaussian_matches_manual_autograd(c: float | None) -> None:
    D = conv_d()
    reals = batch(4)
    got = L.dragan_penalty(D, reals, k=0.5, noise="gaussian", c=c, generator=seeded(9))
    variance = 10.0 if c is None else c  # δ ~ N(0, cI), the paper's c = 10 by default
    x_p = reals + math.sqrt(variance) * torch.randn(reals.shape, generator=seeded(9))
    ref = (manual_grads(D, x_p).norm(dim=1) - 0.5).pow(2).mean()
    assert_same_penalty_and_param_grads(D, got, ref)


def test_dragan_explicit_uniform_scale() -> None:
    D = conv_d()
    reals = batch(5)
    got = L.dragan_penalty(D, reals, noise="uniform", c=2.0, generator=seeded(10))
    x_p = reals + 2.0 * reals.std(correction=0) * torch.rand(reals.shape, generator=seeded(10))
    ref = (manual_grads(D, x_p).norm(dim=1) - 1).pow(2).mean()
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_r1_matches_manual_autograd(batchnorm: bool) -> None:
    D = conv_d(batchnorm).train()
    reals = batch(6)
    got = L.r1_penalty(D, reals)
    ref = manual_grads(D, reals).pow(2).sum(dim=1).mean()
    assert_same_penalty_and_param_grads(D, got, ref)


def test_penalties_do_not_backprop_into_inputs() -> None:
    """Reals/fakes that carry a graph (e.g. G's output) are detached: penalties only train D."""
    D = conv_d()
    src = batch(7).requires_grad_(True)
    reals, fakes = src * 1.0, src * 2.0
    total = (
        L.wgan_gp_penalty(D, reals, fakes)
        + L.dragan_penalty(D, reals)
        + L.dragan_penalty(D, reals, noise="gaussian", c=0.01)
        + L.r1_penalty(D, reals)
    )
    total.backward()
    assert src.grad is None
    assert D[0].weight.grad is not None and D[-1].weight.grad is not None


def test_unknown_dragan_noise() -> None:
    with pytest.raises(GanvasError, match="choose from uniform, gaussian"):
        L.dragan_penalty(conv_d(), batch(0), noise="laplace")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Kernel L2
# ---------------------------------------------------------------------------------------------


def l2_model() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ConvTranspose2d(4, 2, 3),
        nn.GroupNorm(1, 2),
        nn.Flatten(),
        nn.Linear(2 * 6 * 6, 1),
    )


def test_kernel_l2_counts_only_conv_and_linear_weights() -> None:
    model = l2_model()
    manual = sum((model[i].weight ** 2).sum() for i in (0, 2, 5))
    torch.testing.assert_close(L.kernel_l2(model), manual)
    with torch.no_grad():  # biases and norm layers' affine parameters do not count
        for i in (0, 2, 5):
            model[i].bias.add_(3.0)
        for i in (1, 3):
            model[i].weight.mul_(5.0)
            model[i].bias.add_(2.0)
    torch.testing.assert_close(L.kernel_l2(model), manual)


def test_kernel_l2_gradient() -> None:
    model = l2_model()
    L.kernel_l2(model).backward()
    for i in (0, 2, 5):
        torch.testing.assert_close(model[i].weight.grad, 2 * model[i].weight.detach())
        assert model[i].bias.grad is None or torch.all(model[i].bias.grad == 0)
    for i in (1, 3):
        assert model[i].weight.grad is None and model[i].bias.grad is None


def test_kernel_l2_spectral_norm_uses_original_weight() -> None:
    torch.manual_seed(2)
    sn = nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 4, 3))
    legacy = nn.utils.spectral_norm(nn.Linear(5, 2))
    model = nn.Sequential(sn, nn.Flatten(), legacy).train()
    original = sn.parametrizations.weight.original
    u_before = sn.parametrizations.weight[0]._u.clone()
    got = L.kernel_l2(model)
    torch.testing.assert_close(got, (original**2).sum() + (legacy.weight_orig**2).sum())
    # Reading the original does not run a power iteration.
    torch.testing.assert_close(sn.parametrizations.weight[0]._u, u_before)
    got.backward()
    torch.testing.assert_close(original.grad, 2 * original.detach())


def test_kernel_l2_without_kernels_is_zero() -> None:
    assert L.kernel_l2(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3))).item() == 0.0


# ---------------------------------------------------------------------------------------------
# No host syncs
# ---------------------------------------------------------------------------------------------


def test_no_host_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every function runs with tensor→host conversions disabled (they would sync a GPU)."""
    D = conv_d(batchnorm=True)
    reals, fakes = batch(1), batch(2)
    g = seeded()
    D_real, D_fake = D(reals), D(fakes)

    def sync(*args: object, **kwargs: object) -> None:
        raise AssertionError("host sync")

    for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    targets = L.discriminator_targets(5, soft_labels=(0.7, 1.0), label_flip=0.1, generator=g)
    for kind in L.LOSSES:
        L.discriminator_loss(kind, D_real, D_fake, *targets)
        L.generator_loss(kind, D_fake, D_real)
    penalty = (
        L.wgan_gp_penalty(D, reals, fakes, g)
        + L.dragan_penalty(D, reals, generator=g)
        + L.dragan_penalty(D, reals, noise="gaussian", generator=g)
        + L.r1_penalty(D, reals)
        + L.kernel_l2(D)
    )
    penalty.backward()
    L.add_instance_noise(reals, L.linear_anneal(0.1, 0.5), g)
