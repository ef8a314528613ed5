"""Tests for ganvas.augment: each DiffAugment op checked for its effect, plus random_flip."""

from __future__ import annotations

import pytest
import torch

from ganvas.data.loader import random_flip
from ganvas.objective.augment import AUGMENTATIONS, diff_augment, parse_policy
from ganvas.errors import GanvasError


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Random images in [0.5, 1.5]: no pixel is 0, so zeroed pixels are easy to find."""
    return torch.rand(n, c, h, w, generator=seeded(seed)) + 0.5


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------


def test_parse_policy() -> None:
    assert parse_policy("color,translation,cutout") == ("color", "translation", "cutout")
    assert parse_policy(" cutout , color ") == ("cutout", "color")
    assert parse_policy("") == ()
    assert AUGMENTATIONS == ("color", "translation", "cutout")


@pytest.mark.parametrize("policy", ["color,foo", ["color", "foo"]])
def test_unknown_augmentation(policy: str | list[str]) -> None:
    message = "--diffaugment: unknown augmentation 'foo' (choose from color, translation, cutout)"
    with pytest.raises(GanvasError) as info:
        diff_augment(images(2, 3, 8, 8), policy)
    assert str(info.value) == message


def test_empty_policy_is_identity() -> None:
    x = images(2, 3, 8, 8)
    assert diff_augment(x, "") is x
    assert diff_augment(x, []) is x


# ---------------------------------------------------------------------------------------------
# color
# ---------------------------------------------------------------------------------------------


def test_color_matches_stated_formula() -> None:
    """Brightness +U[-.5,.5), saturation ×U[0,2) about the channel mean, contrast ×U[.5,1.5)."""
    x = images(6, 3, 5, 5) - 1
    out = diff_augment(x, "color", seeded(1))
    g = seeded(1)  # same draws, in the documented order
    b, s, c = (torch.rand(6, 1, 1, 1, generator=g) for _ in range(3))
    y = x + b - 0.5
    y = (y - y.mean(1, keepdim=True)) * 2 * s + y.mean(1, keepdim=True)
    y = (y - y.mean((1, 2, 3), keepdim=True)) * (c + 0.5) + y.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(out, y)


def test_color_per_image_statistics_in_range() -> None:
    n = 2000
    gray = images(n, 1, 6, 6) - 1
    out = diff_augment(gray, "color", seeded(2))
    # Saturation and contrast keep the image mean: the mean moves by the brightness only.
    shift = out.mean((1, 2, 3)) - gray.mean((1, 2, 3))
    assert shift.min() >= -0.5 - 1e-5 and shift.max() < 0.5 + 1e-5
    assert shift.min() < -0.45 and shift.max() > 0.45  # the whole range is used
    # One channel: saturation is a no-op, contrast scales the spread by [0.5, 1.5).
    ratio = out.std((1, 2, 3)) / gray.std((1, 2, 3))
    assert ratio.min() >= 0.5 - 1e-4 and ratio.max() < 1.5 + 1e-4
    assert ratio.min() < 0.55 and ratio.max() > 1.45

    rgb = images(n, 3, 6, 6) - 1
    out = diff_augment(rgb, "color", seeded(3))
    # Colourfulness (deviation from the per-pixel grey) is scaled by 2·U[0,1)·U[0.5,1.5) ∈ [0, 3).
    chroma_in = (rgb - rgb.mean(1, keepdim=True)).flatten(1).norm(dim=1)
    chroma_out = (out - out.mean(1, keepdim=True)).flatten(1).norm(dim=1)
    factor = chroma_out / chroma_in
    assert factor.min() >= 0 and factor.max() < 3 + 1e-4
    assert factor.min() < 0.05 and factor.max() > 2.0


# ---------------------------------------------------------------------------------------------
# translation
# ---------------------------------------------------------------------------------------------


def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """img with content moved down dy and right dx pixels, zero-filled."""
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


@pytest.mark.parametrize(("c", "h", "w"), [(3, 16, 16), (1, 16, 24)])
def test_translation_moves_by_whole_pixels_with_zero_padding(c: int, h: int, w: int) -> None:
    x = images(64, c, h, w)
    out = diff_augment(x, "translation", seeded(4))
    seen = set()
    for img, res in zip(x, out):
        matches = [
            (dy, dx)
            for dy in range(-(h // 8), h // 8 + 1)  # at most 1/8 of the size each way
            for dx in range(-(w // 8), w // 8 + 1)
            if torch.equal(res, shifted(img, dy, dx))
        ]
        assert len(matches) == 1
        seen.add(matches[0])
        dy, dx = matches[0]
        assert (res == 0).sum() == c * (h * w - (h - abs(dy)) * (w - abs(dx)))
    assert len(seen) > 10  # per-sample shifts, in both directions
    assert {s[0] for s in seen} == set(range(-(h // 8), h // 8 + 1))


def test_small_images_are_not_translated() -> None:
    x = images(4, 3, 7, 7)  # 7 // 8 == 0
    assert torch.equal(diff_augment(x, "translation", seeded()), x)


# ---------------------------------------------------------------------------------------------
# cutout
# ---------------------------------------------------------------------------------------------


def run_extent(flags: torch.Tensor) -> tuple[int, int]:
    """(first, length) of the single run of True in a 1-D boolean tensor."""
    idx = torch.nonzero(flags).flatten()
    first, length = int(idx[0]), len(idx)
    assert int(idx[-1]) == first + length - 1, "cut-out rows/columns are contiguous"
    return first, length


@pytest.mark.parametrize(("c", "h", "w"), [(3, 16, 16), (1, 12, 20), (3, 7, 9)])
def test_cutout_zeros_a_half_size_square(c: int, h: int, w: int) -> None:
    x = images(300, c, h, w)
    out = diff_augment(x, "cutout", seeded(5))
    zero = out == 0
    # Everything else is untouched, and every channel is cut the same way.
    assert torch.equal(out[~zero], x[~zero])
    assert torch.all(zero == zero[:, :1])
    full = 0
    for mask in zero[:, 0]:
        rows, cols = mask.any(1), mask.any(0)
        assert torch.equal(mask, rows[:, None] & cols[None, :]), "the cut is a rectangle"
        for flags, size in ((rows, h), (cols, w)):
            first, length = run_extent(flags)
            # A run of size//2 whose centre is uniform over the image: clipped only at a border,
            # and at least half of it stays inside.
            run = size // 2
            touches_border = first == 0 or first + length == size
            assert length == run or (touches_border and run - run // 2 <= length < run)
        full += int(mask.sum()) == (h // 2) * (w // 2)
    # Full squares occur as often as a uniform centre predicts (official DiffAugment semantics).
    assert full / len(x) == pytest.approx(full_square_rate(h) * full_square_rate(w), abs=0.08)


def full_square_rate(size: int) -> float:
    """P(a run of size//2 centred uniformly on one of the official centres fits inside)."""
    run = size // 2
    return (size - run + 1) / (size + 1 - run % 2)


# ---------------------------------------------------------------------------------------------
# Whole pipeline
# ---------------------------------------------------------------------------------------------

POLICY = "color,translation,cutout"


@pytest.mark.parametrize("c", [1, 3])
def test_gradient_flows_to_x(c: int) -> None:
    x = images(4, c, 16, 16).requires_grad_(True)
    diff_augment(x, POLICY, seeded(6)).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_geometric_ops_gradient_is_the_kept_pixels() -> None:
    x = images(8, 3, 16, 16).requires_grad_(True)
    out = diff_augment(x, "cutout", seeded(7))
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out != 0).float())
    x.grad = None
    out = diff_augment(x, "translation", seeded(7))
    out.sum().backward()
    # Each kept pixel lands somewhere exactly once; the ones shifted out get no gradient.
    assert torch.all((x.grad == 0) | (x.grad == 1))
    torch.testing.assert_close(x.grad.sum((1, 2, 3)), (out != 0).float().sum((1, 2, 3)))


def test_deterministic_with_seeded_generator() -> None:
    x = images(8, 3, 16, 16)
    a = diff_augment(x, POLICY, seeded(8))
    b = diff_augment(x, list(parse_policy(POLICY)), seeded(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, POLICY, seeded(9)))


# ---------------------------------------------------------------------------------------------
# random_flip
# ---------------------------------------------------------------------------------------------


def test_random_flip() -> None:
    x = images(2000, 3, 4, 5)
    out = random_flip(x, seeded(10))
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same ^ flipped)  # each output is exactly x or its mirror image
    assert flipped.float().mean().item() == pytest.approx(0.5, abs=0.05)
    assert torch.equal(random_flip(x, seeded(10)), out)
    xg = x[:4].clone().requires_grad_(True)
    random_flip(xg, seeded(11)).sum().backward()
    torch.testing.assert_close(xg.grad, torch.ones_like(xg))
