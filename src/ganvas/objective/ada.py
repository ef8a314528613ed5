"""Adaptive discriminator augmentation (ADA).

Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data": every image D
sees (real and fake alike) goes through :class:`AugmentPipe`, where each augmentation fires with
probability ``p``. Because the ops are differentiable and applied to both kinds of images, G
learns the clean distribution as long as ``p`` stays below the point where augmentations "leak";
:class:`AdaController` raises ``p`` while D overfits (its outputs on reals are too often
positive) and lowers it otherwise.

Semantics, constants and the order of the ops follow NVlabs/stylegan2-ada-pytorch
(``training/augment.py``, ``training/training_loop.py``); this is an independent rewrite that
applies all geometric ops as one bilinear ``grid_sample`` with reflection padding (instead of the
reference's wavelet-filtered 2x upsampling), draws all randomness from an explicit
``torch.Generator`` and never syncs with the host.

Images are float N×C×H×W in [-1, 1] with C = 1 or 3. Geometry works in pixel units with the
origin at the image centre; ``pixel_inverse`` matrices map an *output* pixel to the input pixel it
samples. Colour matrices are 4×4 homogeneous maps acting on (r, g, b, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganvas.errors import GanvasError

BLIT_OPS = ("xflip", "rotate90", "xint")
GEOMETRIC_OPS = ("scale", "rotate", "aniso", "xfrac")
COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
ALL_OPS = BLIT_OPS + GEOMETRIC_OPS + COLOR_OPS

PIPELINES: dict[str, tuple[str, ...]] = {
    "blit": BLIT_OPS,
    "geom": GEOMETRIC_OPS,
    "color": COLOR_OPS,
    "bg": BLIT_OPS + GEOMETRIC_OPS,
    "bgc": BLIT_OPS + GEOMETRIC_OPS + COLOR_OPS,
    "b": BLIT_OPS,
    "g": GEOMETRIC_OPS,
    "c": COLOR_OPS,
}

# Strengths of the reference (relative to the image size where they are distances; "_std" of a
# scale factor is the std of its log2; angles are fractions of a half turn each way).
XINT_MAX = 0.125
SCALE_STD = 0.2
ROTATE_MAX = 1.0
ANISO_STD = 0.2
XFRAC_STD = 0.125
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
HUE_MAX = 1.0
SATURATION_STD = 1.0


def parse_augpipe(spec: str) -> tuple[str, ...]:
    """The op names of a pipeline: a named one (``bgc``, ``bg``, ``blit``, ...) or a
    comma-separated list of ops such as ``"xflip,rotate90"``. Ops always run in the reference's
    order, whatever order they are listed in."""
    if spec in PIPELINES:
        return PIPELINES[spec]
    names = {part.strip() for part in spec.split(",") if part.strip()}
    if not names or not names <= set(ALL_OPS):
        raise GanvasError(
            f"--augpipe: unknown pipeline {spec!r} (choose from {', '.join(PIPELINES)}, "
            f"or a comma-separated list of {', '.join(ALL_OPS)})"
        )
    return tuple(op for op in ALL_OPS if op in names)


# ---------------------------------------------------------------------------------------------
# Transformation matrices, one per image, from (N,) parameter tensors
# ---------------------------------------------------------------------------------------------


def _batch_matrix(rows: list[list[Tensor | float]], like: Tensor) -> Tensor:
    """(N, R, C) matrices whose entries are (N,) tensors or constants shared by all images."""
    entries = [
        entry if isinstance(entry, Tensor) else torch.full_like(like, entry)
        for row in rows
        for entry in row
    ]
    return torch.stack(entries, dim=-1).reshape(like.shape[0], len(rows), len(rows[0]))


def translate2d(tx: Tensor, ty: Tensor) -> Tensor:
    return _batch_matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def scale2d(sx: Tensor, sy: Tensor) -> Tensor:
    return _batch_matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def rotate2d(theta: Tensor) -> Tensor:
    """Rotation by ``theta`` radians. Used as a pixel inverse (y pointing down, as in images),
    ``rotate2d(pi / 2)`` gives ``torch.rot90(images, k=1, dims=(2, 3))``."""
    cos, sin = torch.cos(theta), torch.sin(theta)
    return _batch_matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], theta)


def _quarter_turns(turns: Tensor) -> Tensor:
    """``rotate2d(turns * pi / 2)`` with exact 0/±1 entries, so pixels land on pixel centres."""
    index = turns.long() % 4
    cos = turns.new_tensor([1.0, 0.0, -1.0, 0.0])[index]
    sin = turns.new_tensor([0.0, 1.0, 0.0, -1.0])[index]
    return _batch_matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], cos)


def _luma_projector(like: Tensor) -> Tensor:
    """v vᵀ for the luma axis v = (1, 1, 1)/√3, as a 3×3 matrix."""
    return torch.full((3, 3), 1 / 3, dtype=like.dtype, device=like.device)


def _color_affine(linear: Tensor, offset: Tensor) -> Tensor:
    """(N, 4, 4) homogeneous colour matrices from (N, 3, 3) linear parts and (N, 3) offsets."""
    top = torch.cat([linear, offset[:, :, None]], dim=2)
    bottom = top.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(top.shape[0], 1, 4)
    return torch.cat([top, bottom], dim=1)


def _eye3(like: Tensor) -> Tensor:
    return torch.eye(3, dtype=like.dtype, device=like.device).expand(like.shape[0], 3, 3)


def brightness_matrix(b: Tensor) -> Tensor:
    """Add ``b`` to every channel."""
    return _color_affine(_eye3(b), b[:, None].expand(-1, 3))


def contrast_matrix(c: Tensor) -> Tensor:
    """Scale every channel by ``c`` (about 0, the middle of [-1, 1])."""
    return _color_affine(_eye3(c) * c[:, None, None], torch.zeros_like(c)[:, None].expand(-1, 3))


def luma_flip_matrix(flip: Tensor) -> Tensor:
    """Where ``flip`` is 1, negate the luma component (a Householder reflection); 0 is identity."""
    linear = _eye3(flip) - 2 * _luma_projector(flip) * flip[:, None, None]
    return _color_affine(linear, torch.zeros_like(flip)[:, None].expand(-1, 3))


def hue_rotation_matrix(theta: Tensor) -> Tensor:
    """Rotate colours about the luma axis by ``theta`` (Rodrigues' formula)."""
    v = 1 / math.sqrt(3)
    cross = theta.new_tensor([[0, -v, v], [v, 0, -v], [-v, v, 0]])  # w ↦ v × w
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    linear = cos * _eye3(theta) + sin * cross + (1 - cos) * _luma_projector(theta)
    return _color_affine(linear, torch.zeros_like(theta)[:, None].expand(-1, 3))


def saturation_matrix(s: Tensor) -> Tensor:
    """Scale the chroma (the part orthogonal to the luma axis) by ``s``; 0 gives grey."""
    luma = _luma_projector(s)
    linear = luma + (_eye3(s) - luma) * s[:, None, None]
    return _color_affine(linear, torch.zeros_like(s)[:, None].expand(-1, 3))


# ---------------------------------------------------------------------------------------------
# Applying the matrices
# ---------------------------------------------------------------------------------------------


def warp(images: Tensor, pixel_inverse: Tensor) -> Tensor:
    """Resample each image through its (N, 3, 3) output→input pixel map: bilinear, reflection.

    With ``align_corners=False`` a normalised coordinate times W/2 (or H/2) is the pixel
    coordinate measured from the image centre, so the pixel-space matrix is conjugated by that
    scaling. Linear in ``images``, hence differentiable w.r.t. them.
    """
    n, _, height, width = images.shape
    to_pixels = torch.diag(images.new_tensor([width / 2, height / 2, 1.0]))
    to_normalised = torch.diag(images.new_tensor([2 / width, 2 / height, 1.0]))
    theta = to_normalised @ pixel_inverse.to(images.dtype) @ to_pixels
    grid = F.affine_grid(theta[:, :2, :], [n, 1, height, width], align_corners=False)
    return F.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


def recolor(images: Tensor, color: Tensor) -> Tensor:
    """Apply (N, 4, 4) colour matrices. A 1-channel image is treated as (g, g, g) and the three
    resulting channels are averaged, as in the reference."""
    n, channels, height, width = images.shape
    linear, offset = color[:, :3, :3].to(images.dtype), color[:, :3, 3].to(images.dtype)
    if channels == 3:
        out = linear @ images.reshape(n, 3, height * width) + offset[:, :, None]
        return out.reshape(images.shape)
    if channels == 1:
        gain, shift = linear.sum(dim=2).mean(dim=1), offset.mean(dim=1)
        return images * gain[:, None, None, None] + shift[:, None, None, None]
    raise ValueError(f"ADA needs 1- or 3-channel images, got {channels} channels")


def _unless_identity(images: Tensor, transformed: Tensor, matrices: Tensor) -> Tensor:
    """Keep each image bit-exact where its matrix is the identity (no op fired): no resampling
    blur, no rounding, and p = 0 returns the input itself."""
    eye = torch.eye(matrices.shape[-1], dtype=matrices.dtype, device=matrices.device)
    changed = (matrices != eye).flatten(1).any(dim=1)
    return torch.where(changed[:, None, None, None], transformed, images)


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------


class _Draws:
    """Per-image random draws from one generator, in the compute dtype on the images' device."""

    def __init__(self, n: int, like: Tensor, generator: torch.Generator | None) -> None:
        self.n, self.like, self.generator = n, like, generator

    def uniform(self, *shape: int) -> Tensor:
        options = {"dtype": self.like.dtype, "device": self.like.device}
        return torch.rand(self.n, *shape, generator=self.generator, **options)

    def normal(self, *shape: int) -> Tensor:
        options = {"dtype": self.like.dtype, "device": self.like.device}
        return torch.randn(self.n, *shape, generator=self.generator, **options)

    def integers(self, high: int) -> Tensor:
        return torch.floor(self.uniform() * high)

    def fires(self, probability: Tensor, *shape: int) -> Tensor:
        """Boolean mask: which images get the op."""
        return self.uniform(*shape) < probability


class AugmentPipe(nn.Module):
    """ADA's augmentations for D's inputs; each op fires per image with probability ``p``.

    ``p`` is a 0-dim buffer, so it travels with ``state_dict()`` and ``.to(device)``; the
    :class:`AdaController` adjusts it in place on the device.
    """

    def __init__(self, groups: str = "bgc", p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise GanvasError(f"--p: {p} is not a probability in [0, 1]")
        self.ops = parse_augpipe(groups)
        self.register_buffer("p", torch.tensor(float(p)))

    def extra_repr(self) -> str:
        return f"ops={','.join(self.ops)}"

    def forward(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a batch; differentiable w.r.t. ``images``, returned in their dtype.

        Matrices and resampling run in float32 (float64 for float64 input) with autocast off:
        bfloat16 sampling grids would be off by a fraction of a pixel.
        """
        n, channels, height, width = images.shape
        if channels not in (1, 3):
            raise ValueError(f"ADA needs 1- or 3-channel images, got {channels} channels")
        compute_dtype = torch.promote_types(images.dtype, torch.float32)
        with torch.autocast(images.device.type, enabled=False):
            x = images.to(compute_dtype)
            draws = _Draws(n, x, generator)
            p = self.p.to(compute_dtype)
            if any(op in self.ops for op in BLIT_OPS + GEOMETRIC_OPS):
                pixel_inverse = self._pixel_inverse(draws, p, width, height)
                x = _unless_identity(x, warp(x, pixel_inverse), pixel_inverse)
            if any(op in self.ops for op in COLOR_OPS):
                color = self._color_matrix(draws, p, channels)
                x = _unless_identity(x, recolor(x, color), color)
        return x.to(images.dtype)

    def _pixel_inverse(self, draws: _Draws, p: Tensor, width: int, height: int) -> Tensor:
        """Blit and general geometric ops composed into one output→input pixel map per image."""
        ops, zero = self.ops, draws.like.new_zeros(draws.n)
        inverse = _eye3(zero)
        if "xflip" in ops:  # a fair coin, flipped with probability p: mirrors p/2 of the images
            coin = draws.integers(2)
            flip = torch.where(draws.fires(p), coin, zero)
            inverse = inverse @ scale2d(1 - 2 * flip, 1 - zero)
        if "rotate90" in ops:
            turns = draws.integers(4)
            inverse = inverse @ _quarter_turns(torch.where(draws.fires(p), turns, zero))
        if "xint" in ops:
            shift = (draws.uniform(2) * 2 - 1) * XINT_MAX
            shift = torch.where(draws.fires(p, 1), shift, 0)
            pixels = torch.round(shift * shift.new_tensor([width, height]))
            inverse = inverse @ translate2d(-pixels[:, 0], -pixels[:, 1])
        if "scale" in ops:  # log2-normal, isotropic
            s = torch.where(draws.fires(p), torch.exp2(draws.normal() * SCALE_STD), 1)
            inverse = inverse @ scale2d(1 / s, 1 / s)
        # Rotation has two chances (before and after the anisotropic scaling), each with
        # probability 1 - sqrt(1 - p), so that at least one of them fires with probability p.
        rotate_probability = 1 - torch.sqrt((1 - p).clamp(0, 1))
        if "rotate" in ops:
            inverse = inverse @ rotate2d(self._rotation(draws, rotate_probability))
        if "aniso" in ops:
            s = torch.where(draws.fires(p), torch.exp2(draws.normal() * ANISO_STD), 1)
            inverse = inverse @ scale2d(1 / s, s)
        if "rotate" in ops:
            inverse = inverse @ rotate2d(self._rotation(draws, rotate_probability))
        if "xfrac" in ops:
            shift = torch.where(draws.fires(p, 1), draws.normal(2) * XFRAC_STD, 0)
            inverse = inverse @ translate2d(-shift[:, 0] * width, -shift[:, 1] * height)
        return inverse

    @staticmethod
    def _rotation(draws: _Draws, probability: Tensor) -> Tensor:
        theta = (draws.uniform() * 2 - 1) * math.pi * ROTATE_MAX
        return torch.where(draws.fires(probability), theta, 0)

    def _color_matrix(self, draws: _Draws, p: Tensor, channels: int) -> Tensor:
        """Colour ops composed into one 4×4 matrix per image. Hue and saturation are skipped for
        grey images (they leave (g, g, g) unchanged anyway); luma flip still negates them."""
        ops, zero = self.ops, draws.like.new_zeros(draws.n)
        color = _color_affine(_eye3(zero), zero[:, None].expand(-1, 3))
        if "brightness" in ops:
            b = torch.where(draws.fires(p), draws.normal() * BRIGHTNESS_STD, 0)
            color = brightness_matrix(b) @ color
        if "contrast" in ops:
            c = torch.where(draws.fires(p), torch.exp2(draws.normal() * CONTRAST_STD), 1)
            color = contrast_matrix(c) @ color
        if "lumaflip" in ops:
            flip = draws.integers(2)
            color = luma_flip_matrix(torch.where(draws.fires(p), flip, zero)) @ color
        if "hue" in ops and channels > 1:
            theta = (draws.uniform() * 2 - 1) * math.pi * HUE_MAX
            color = hue_rotation_matrix(torch.where(draws.fires(p), theta, zero)) @ color
        if "saturation" in ops and channels > 1:
            s = torch.where(draws.fires(p), torch.exp2(draws.normal() * SATURATION_STD), 1)
            color = saturation_matrix(s) @ color
        return color


# ---------------------------------------------------------------------------------------------
# The controller
# ---------------------------------------------------------------------------------------------


class AdaController:
    """Adjusts ``AugmentPipe.p`` so that r_t = E[sign(D(real))] stays near ``target``.

    Per D step the loop calls :meth:`accumulate` with the real logits of the main D loss (not
    the R1 pass) and then :meth:`update`. Every ``interval`` updates, p moves by
    ``sign(r_t - target) * batch * interval / (speed_kimg * 1000)`` (so p can sweep 0→1 in
    ``speed_kimg`` thousand images) and is clamped to [0, 1]. All of it stays on the device.

    Under DDP, pass ``all_reduce=torch.distributed.all_reduce`` to :meth:`update`: it sums
    :attr:`sign_stats` over ranks (only on the steps that adjust p), so every rank moves p alike.
    ``batch`` is the global batch (all ranks together).
    """

    def __init__(
        self,
        *,
        batch: int,
        target: float = 0.6,
        interval: int = 4,
        speed_kimg: float = 500.0,
        device: torch.device | str = "cpu",
    ) -> None:
        if batch < 1:
            raise GanvasError(f"--batch: must be at least 1, got {batch}")
        if interval < 1:
            raise GanvasError(f"ADA interval: must be at least 1 D step, got {interval}")
        if speed_kimg <= 0:
            raise GanvasError(f"--ada-kimg: must be positive, got {speed_kimg}")
        self.target, self.interval = float(target), int(interval)
        self.step_size = batch * interval / (speed_kimg * 1000)
        self.sign_stats = torch.zeros(2, device=device)  # [sum of sign(D(real)), count of logits]
        self.last_rt = torch.zeros((), device=device)  # r_t of the latest adjustment, for logging
        self.updates = 0  # update() calls so far (host counter: deciding when needs no sync)

    def accumulate(self, real_logits: Tensor) -> None:
        signs = real_logits.detach().float().sign()
        self.sign_stats[0].add_(signs.sum())
        self.sign_stats[1].add_(signs.numel())

    def update(
        self, pipe: AugmentPipe, all_reduce: Callable[[Tensor], object] | None = None
    ) -> None:
        """Call once per D step; every ``interval``-th call adjusts ``pipe.p`` and starts a new
        interval. An interval with no accumulated logits leaves p (and last_rt) as they are."""
        self.updates += 1
        if self.updates % self.interval:
            return
        if all_reduce is not None:
            all_reduce(self.sign_stats)
        total, count = self.sign_stats.unbind()
        seen = count > 0
        rt = total / count.clamp(min=1)
        adjust = torch.where(seen, torch.sign(rt - self.target) * self.step_size, 0)
        pipe.p.copy_((pipe.p + adjust).clamp(0, 1))
        self.last_rt = torch.where(seen, rt, self.last_rt)
        self.sign_stats.zero_()

    def state_dict(self) -> dict[str, Tensor | int]:
        """The accumulator, r_t and the step counter; p itself is in ``pipe.state_dict()``."""
        return {
            "sign_stats": self.sign_stats.clone(),
            "last_rt": self.last_rt.clone(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Tensor | int]) -> None:
        self.sign_stats.copy_(state["sign_stats"])
        self.last_rt = torch.as_tensor(state["last_rt"]).to(self.sign_stats.device).clone()
        self.updates = int(state["updates"])
