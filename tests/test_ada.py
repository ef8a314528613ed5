"""Tests for ganvas.ada: each ADA op against a hand computation, the pipeline's invariants, and
the controller's p updates."""

from __future__ import annotations

import io
import math

import pytest
import torch

from ganvas.objective.ada import (
    ALL_OPS,
    COLOR_OPS,
    AdaController,
    AugmentPipe,
    brightness_matrix,
    contrast_matrix,
    hue_rotation_matrix,
    luma_flip_matrix,
    parse_augpipe,
    recolor,
    rotate2d,
    saturation_matrix,
    scale2d,
    translate2d,
    warp,
)
from ganvas.errors import GanvasError


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int, c: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=seeded(seed)) * 2 - 1


def augment(ops: str, x: torch.Tensor, p: float = 1.0, seed: int = 1) -> torch.Tensor:
    return AugmentPipe(ops, p=p)(x, seeded(seed))


def luma(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel projection onto the luma axis (1, 1, 1)/√3, as the channel mean."""
    return x.mean(dim=1, keepdim=True)


def per_image(condition: torch.Tensor) -> torch.Tensor:
    return condition.flatten(1).all(dim=1)


# ---------------------------------------------------------------------------------------------
# Pipelines by name
# ---------------------------------------------------------------------------------------------


def test_parse_augpipe() -> None:
    assert parse_augpipe("bgc") == ALL_OPS
    assert parse_augpipe("blit") == parse_augpipe("b") == ("xflip", "rotate90", "xint")
    assert parse_augpipe("geom") == ("scale", "rotate", "aniso", "xfrac")
    assert parse_augpipe("color") == COLOR_OPS
    assert parse_augpipe("bg") == parse_augpipe("blit") + parse_augpipe("geom")
    assert parse_augpipe("hue, xflip") == ("xflip", "hue")  # always in the reference's order


@pytest.mark.parametrize("spec", ["bgcx", "", "xflip,cutout"])
def test_unknown_augpipe(spec: str) -> None:
    with pytest.raises(GanvasError, match=r"^--augpipe: unknown pipeline"):
        AugmentPipe(spec)


def test_p_is_a_checked_buffer() -> None:
    assert AugmentPipe("bgc", p=0.25).state_dict()["p"].item() == 0.25
    with pytest.raises(GanvasError, match=r"^--p: "):
        AugmentPipe("bgc", p=1.5)


# ---------------------------------------------------------------------------------------------
# Pipeline invariants
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_p_zero_is_exact_identity(channels: int) -> None:
    x = images(8, channels, size=12)  # at 12 px an identity grid_sample is off by ~1e-7
    assert torch.equal(augment("bgc", x, p=0.0), x)


@pytest.mark.parametrize("group", ["blit", "geom", "color"])
def test_each_group_changes_every_image_at_p_one(group: str) -> None:
    x = images(16)
    changed = (augment(group, x) != x).flatten(1).any(dim=1)
    # x-flip and 90° rotation can both draw identity; the geom and colour ops almost never do.
    assert changed.float().mean() > (0.6 if group == "blit" else 0.99)


def test_geometric_output_stays_within_input_range() -> None:
    x = images(32)
    y = augment("bg", x)
    assert y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6


@pytest.mark.parametrize("channels", [1, 3])
def test_full_pipeline_is_finite_and_keeps_shape(channels: int) -> None:
    y = augment("bgc", images(16, channels))
    assert y.shape == (16, channels, 8, 8) and torch.isfinite(y).all()


def test_same_seed_same_output_other_seed_differs() -> None:
    x = images(8)
    assert torch.equal(augment("bgc", x, seed=3), augment("bgc", x, seed=3))
    assert not torch.equal(augment("bgc", x, seed=3), augment("bgc", x, seed=4))


def test_bfloat16_autocast_matches_float32() -> None:
    x = images(8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = augment("bgc", x, p=0.7)
    assert y.dtype == torch.float32 and torch.equal(y, augment("bgc", x, p=0.7))


def test_differentiable_wrt_images() -> None:
    x = images(2, 3, size=5).double().requires_grad_()
    pipe = AugmentPipe("bgc", p=1.0)
    assert torch.autograd.gradcheck(lambda t: pipe(t, seeded(5)), (x,))


@pytest.mark.parametrize("op", ALL_OPS)
def test_each_op_fires_with_probability_p(op: str) -> None:
    """Fraction of images an op changes at p = 0.4: p, except that x-flip and luma flip then
    flip a fair coin and 90° rotation may draw 0 turns. Rotation's two chances of
    1 - sqrt(1 - p) add up to p."""
    visible = {"xflip": 0.5, "lumaflip": 0.5, "rotate90": 0.75, "xint": 1 - 0.5**2}.get(op, 1.0)
    x = images(4000, size=8)
    changed = (augment(op, x, p=0.4) != x).flatten(1).any(dim=1).float().mean()
    assert changed.item() == pytest.approx(0.4 * visible, abs=0.03)


# ---------------------------------------------------------------------------------------------
# Blit ops: exact pixel moves
# ---------------------------------------------------------------------------------------------


def test_xflip_mirrors_or_keeps() -> None:
    x = images(32, size=12)
    y = augment("xflip", x)
    flipped = per_image((y - x.flip(-1)).abs() < 1e-5)
    kept = per_image(y == x)
    assert (flipped | kept).all() and flipped.any() and kept.any()


def test_rotate90_is_rot90() -> None:
    x = images(64)
    y = augment("rotate90", x)
    matches = torch.stack(
        [per_image((y - torch.rot90(x, k, dims=(2, 3))).abs() < 1e-5) for k in range(4)]
    )
    assert (matches.sum(dim=0) == 1).all() and matches.any(dim=1).all()


def test_integer_translation_shifts_pixels() -> None:
    """16 px: shifts are round(U(-1/8, 1/8) * 16), so within ±2 px; compare away from borders."""
    x = images(32, size=16)
    y = augment("xint", x)
    found = []
    for out, source in zip(y, x):
        inner = out[:, 2:-2, 2:-2]
        shifts = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if (inner - source[:, 2 - dy : 14 - dy, 2 - dx : 14 - dx]).abs().max() < 1e-5
        ]
        assert len(shifts) == 1
        found.append(shifts[0])
    assert len(set(found)) > 5


def test_warp_by_hand() -> None:
    x = images(3)
    ones = torch.ones(3)
    assert torch.equal(warp(x, scale2d(-ones, ones)), x.flip(-1))
    torch.testing.assert_close(warp(x, rotate2d(ones * math.pi / 2)), torch.rot90(x, 1, (2, 3)))
    moved = warp(x, translate2d(-2 * ones, 1 * ones))  # content 2 px right and 1 px up
    torch.testing.assert_close(moved[:, :, 1:6, 3:8], x[:, :, 2:7, 1:6])


# ---------------------------------------------------------------------------------------------
# General geometric ops: bilinear sampling reproduces a linear ramp exactly
# ---------------------------------------------------------------------------------------------


def ramp(n: int, size: int = 16) -> torch.Tensor:
    """Image value = x - cx + 2 (y - cy) in centred pixel coordinates."""
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    return (coords[None, :] + 2 * coords[:, None]).expand(n, 1, size, size).clone()


def centre_gradients(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """d/dx and d/dy of each image at its centre (exact for an affine image)."""
    c = y.shape[-1] // 2
    return y[:, 0, c, c] - y[:, 0, c, c - 1], y[:, 0, c, c] - y[:, 0, c - 1, c]


def test_affine_matrix_by_hand() -> None:
    """Output pixel u samples the input at M u: for the ramp r(x, y) = x + 2y that is r(M u)."""
    theta = torch.tensor([0.3])
    matrix = translate2d(torch.tensor([0.4]), torch.tensor([-0.7])) @ rotate2d(theta)
    matrix = matrix @ scale2d(torch.tensor([0.8]), torch.tensor([1.25]))
    y = warp(ramp(1), matrix)
    coords = torch.arange(16, dtype=torch.float32) - 7.5
    u = torch.stack(torch.meshgrid(coords, coords, indexing="xy") + (torch.ones(16, 16),))
    sampled = torch.einsum("ij,jhw->ihw", matrix[0], u)
    expected = sampled[0] + 2 * sampled[1]
    torch.testing.assert_close(y[0, 0, 5:11, 5:11], expected[5:11, 5:11])


@pytest.mark.parametrize("op, log2_std", [("scale", 0.2), ("aniso", 0.2)])
def test_scalings_are_log2_normal(op: str, log2_std: float) -> None:
    """Isotropic scaling by s divides both gradients by s; anisotropic by (s, 1/s)."""
    gx, gy = centre_gradients(augment(op, ramp(2000)))
    log2_sx, log2_sy = -torch.log2(gx), -torch.log2(gy / 2)
    expected_sy = log2_sx if op == "scale" else -log2_sx
    torch.testing.assert_close(log2_sy, expected_sy, atol=1e-4, rtol=0)
    assert log2_sx.mean().abs() < 0.02 and log2_sx.std().item() == pytest.approx(log2_std, rel=0.1)


def test_rotation_covers_the_full_circle() -> None:
    """At p = 1 both rotations fire; their sum of two uniform angles covers all directions."""
    gx, gy = centre_gradients(augment("rotate", ramp(2000)))
    assert torch.allclose(torch.hypot(gx, gy), torch.tensor(math.sqrt(5.0)), atol=1e-4)
    angle = torch.atan2(gy, gx)
    assert angle.min() < -3.0 and angle.max() > 3.0


def test_fractional_translation_std() -> None:
    """Translation by (tx, ty) lowers the ramp by tx + 2 ty; std 0.125 of 16 px each way.

    Only the rare shifts beyond 4 px (2 std) reach the reflected border at the central patch."""
    x = ramp(3000)
    offset = augment("xfrac", x)[:, 0, 6:10, 6:10] - x[:, 0, 6:10, 6:10]
    uniform = per_image((offset - offset[:, :1, :1]).abs() < 1e-4)
    assert uniform.float().mean() > 0.85
    expected_std = 0.125 * 16 * math.sqrt(1 + 2**2)
    assert offset[:, 0, 0].std().item() == pytest.approx(expected_std, rel=0.1)


# ---------------------------------------------------------------------------------------------
# Colour ops
# ---------------------------------------------------------------------------------------------


def test_color_matrices_by_hand() -> None:
    x = images(4)
    value = torch.tensor([0.3, -0.5, 0.0, 1.0])
    column = value[:, None, None, None]
    torch.testing.assert_close(recolor(x, brightness_matrix(value)), x + column)
    torch.testing.assert_close(recolor(x, contrast_matrix(value)), x * column)
    flipped = recolor(x, luma_flip_matrix(torch.ones(4)))
    torch.testing.assert_close(flipped, x - 2 * luma(x))  # luma negated, chroma kept
    grey = recolor(x, saturation_matrix(torch.zeros(4)))
    torch.testing.assert_close(grey, luma(x).expand_as(x))
    # A third of a turn about the luma axis cycles the channels: r → g → b → r.
    third = recolor(x, hue_rotation_matrix(torch.full((4,), 2 * math.pi / 3)))
    torch.testing.assert_close(third, x[:, [2, 0, 1]])


def test_grey_images_average_the_colour_channels() -> None:
    """1-channel images act as (g, g, g); luma flip negates them, hue/saturation do nothing."""
    g = images(4, 1)
    flip = luma_flip_matrix(torch.ones(4))
    torch.testing.assert_close(recolor(g, flip), -g)
    both = brightness_matrix(torch.full((4,), 0.2)) @ contrast_matrix(torch.full((4,), 3.0))
    torch.testing.assert_close(recolor(g, both), 3 * g + 0.2)
    assert torch.equal(augment("hue,saturation", g), g)


def test_brightness_and_contrast_strengths() -> None:
    x = images(3000, size=2)
    added = augment("brightness", x) - x
    assert (added - added[:, :1, :1, :1]).abs().max() < 1e-5  # one offset per image
    assert added[:, 0, 0, 0].std().item() == pytest.approx(0.2, rel=0.1)
    factor = augment("contrast", x) / x
    assert (factor - factor[:, :1, :1, :1]).abs().max() < 1e-3
    assert torch.log2(factor[:, 0, 0, 0]).std().item() == pytest.approx(0.5, rel=0.1)


def test_lumaflip_negates_luma_or_keeps() -> None:
    x = images(32)
    y = augment("lumaflip", x)
    flipped = per_image((y - (x - 2 * luma(x))).abs() < 1e-5)
    assert (flipped | per_image(y == x)).all() and 0 < flipped.sum() < 32


def test_hue_and_saturation_keep_luma() -> None:
    x = images(2000, size=2)
    hue, saturated = augment("hue", x), augment("saturation", x)
    torch.testing.assert_close(luma(hue), luma(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(luma(saturated), luma(x), atol=1e-5, rtol=0)
    chroma_norm = (x - luma(x)).norm(dim=1)
    torch.testing.assert_close((hue - luma(hue)).norm(dim=1), chroma_norm, atol=1e-5, rtol=1e-4)
    gain = (saturated - luma(saturated)).norm(dim=1) / chroma_norm
    assert torch.log2(gain[:, 0, 0]).std().item() == pytest.approx(1.0, rel=0.1)


# ---------------------------------------------------------------------------------------------
# The controller
# ---------------------------------------------------------------------------------------------


def step_size(batch: int = 64, interval: int = 4, speed_kimg: float = 500.0) -> float:
    return batch * interval / (speed_kimg * 1000)


def run_updates(ada: AdaController, pipe: AugmentPipe, logits: torch.Tensor, steps: int) -> None:
    for _ in range(steps):
        ada.accumulate(logits)
        ada.update(pipe)


def test_p_moves_one_step_per_interval_by_the_sign_of_rt_minus_target() -> None:
    ada, pipe = AdaController(batch=64), AugmentPipe("bgc")
    overfit = torch.tensor([2.0, 0.5, 1.0, 3.0, -1.0, 0.0, 4.0, 1.0])  # r_t = (6 - 1) / 8
    run_updates(ada, pipe, overfit, 3)
    assert pipe.p.item() == 0.0  # nothing before the interval's 4th step
    run_updates(ada, pipe, overfit, 1)
    assert ada.last_rt.item() == 0.625 and pipe.p.item() == pytest.approx(step_size(), abs=1e-9)
    pipe.p.fill_(0.5)
    run_updates(ada, pipe, torch.tensor([1.0, 1.0, -1.0, 0.0, 1.0]), 4)  # r_t = 0.4
    assert ada.last_rt.item() == pytest.approx(0.4)
    assert pipe.p.item() == pytest.approx(0.5 - step_size(), abs=1e-7)
    balanced = AugmentPipe("bgc", p=0.5)
    run_updates(AdaController(batch=64, target=0.0), balanced, torch.tensor([1.0, -1.0]), 4)
    assert balanced.p.item() == 0.5  # r_t on target: sign 0, p stays


def test_p_clamps_to_zero_and_one() -> None:
    ada, pipe = AdaController(batch=8, interval=1, speed_kimg=0.004), AugmentPipe("bgc", p=0.5)
    assert ada.step_size == 2.0
    run_updates(ada, pipe, torch.ones(8), 1)
    assert pipe.p.item() == 1.0
    run_updates(ada, pipe, -torch.ones(8), 1)
    assert pipe.p.item() == 0.0


def test_interval_without_logits_keeps_p() -> None:
    ada, pipe = AdaController(batch=8, interval=2), AugmentPipe("bgc", p=0.3)
    ada.update(pipe)
    ada.update(pipe)
    assert pipe.p.item() == pytest.approx(0.3) and ada.last_rt.item() == 0.0


def test_all_reduce_runs_once_per_interval_on_the_sign_stats() -> None:
    ada, pipe = AdaController(batch=8, interval=3), AugmentPipe("bgc")
    reduced = []

    def two_identical_ranks(stats: torch.Tensor) -> None:
        reduced.append(stats.clone())
        stats.mul_(2)

    for _ in range(6):
        ada.accumulate(torch.tensor([1.0, 1.0, -1.0, 1.0]))
        ada.update(pipe, all_reduce=two_identical_ranks)
    assert [s.tolist() for s in reduced] == [[6.0, 12.0], [6.0, 12.0]]
    assert ada.last_rt.item() == pytest.approx(0.5)


def checkpoint_round_trip(state: dict) -> dict:
    """Through torch.save and a weights_only load, as the training checkpoints go."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_state_round_trip_resumes_exactly() -> None:
    logits = torch.randn(50, 16, generator=seeded(2)) + 0.9
    ada, pipe = AdaController(batch=16, interval=4, speed_kimg=1), AugmentPipe("bgc")
    for step, row in enumerate(logits):
        if step == 23:  # mid-interval: the accumulator holds 3 steps of signs
            saved = checkpoint_round_trip({"ada": ada.state_dict(), "pipe": pipe.state_dict()})
        run_updates(ada, pipe, row, 1)
    resumed_ada, resumed_pipe = AdaController(batch=16, interval=4, speed_kimg=1), AugmentPipe()
    resumed_ada.load_state_dict(saved["ada"])
    resumed_pipe.load_state_dict(saved["pipe"])
    for row in logits[23:]:
        run_updates(resumed_ada, resumed_pipe, row, 1)
    assert torch.equal(resumed_pipe.p, pipe.p) and pipe.p.item() > 0
    assert torch.equal(resumed_ada.last_rt, ada.last_rt)
    assert torch.equal(resumed_ada.sign_stats, ada.sign_stats)


def memorising_d_logits(augmented: torch.Tensor, reals: torch.Tensor) -> torch.Tensor:
    """A D that has memorised the training set: +1 on an exact training image, -1 otherwise."""
    return torch.where(per_image(augmented == reals), 1.0, -1.0)


@pytest.mark.parametrize("ada_on", [True, False])
def test_memorising_d_drives_p_up_only_with_ada(ada_on: bool) -> None:
    reals, generator = images(32), seeded(7)
    pipe = AugmentPipe("bgc")
    ada = AdaController(batch=32, interval=4, speed_kimg=64) if ada_on else None
    history = []
    for _ in range(200):
        logits = memorising_d_logits(pipe(reals, generator), reals)
        if ada is not None:
            ada.accumulate(logits)
            ada.update(pipe)
        history.append(pipe.p.item())
    if not ada_on:
        assert max(history) == 0.0
        return
    # p climbs step by step while D wins, then hovers where r_t ≈ target: 80 % of reals untouched.
    assert history[:16][3::4] == pytest.approx([0.002 * k for k in range(1, 5)])
    late_rt = []
    for _ in range(100):
        logits = memorising_d_logits(pipe(reals, generator), reals)
        ada.accumulate(logits)
        late_rt.append(logits.mean().item())
        ada.update(pipe)
    assert 0.0 < pipe.p.item() < 0.5
    assert sum(late_rt) / len(late_rt) == pytest.approx(0.6, abs=0.15)
