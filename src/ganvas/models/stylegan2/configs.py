"""Named StyleGAN2 training configurations (the ``--cfg`` of stylegan2-ada-pytorch's train.py).

The paper configs keep the reference's values; ``auto`` derives them from the resolution and
GPU count with the reference's heuristics; ``small`` is ganvas's own narrow network, sized to
train visibly on a few CPU cores at 32-64 px.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ganvas.errors import GanvasError
from ganvas.models.stylegan2.discriminator import Discriminator
from ganvas.models.stylegan2.networks import Generator

CFG_NAMES = ("auto", "small", "cifar", "paper256", "paper512")


@dataclass(frozen=True)
class StyleGAN2Preset:
    """What a named ``--cfg`` sets at a resolution: network sizes and the optimisation
    hyper-parameters (the reference's ``cfg_specs``). A run's options are completed from it;
    "spec" in ganvas means a resolved network architecture (``DCGANSpec``)."""

    name: str
    resolution: int
    channel_base: int
    channel_max: int
    map_layers: int
    mbstd_group: int
    batch: int
    lr: float
    gamma: float  # R1 weight γ (the penalty is multiplied by γ/2)
    ema_kimg: float  # half-life of G's EMA, in thousands of images
    ema_rampup: float | None  # EMA half-life ≤ this fraction of the images seen so far
    betas: tuple[float, float] = (0.0, 0.99)
    z_dim: int = 512
    w_dim: int = 512
    style_mixing: float = 0.9  # probability of style-mixing regularisation
    pl_weight: float = 2.0  # path-length regularisation weight (0 = off)
    d_architecture: str = "resnet"
    conv_clamp: float | None = None  # the published networks clamp activations at 256

    def generator_kwargs(self, img_channels: int) -> dict:
        return dict(z_dim=self.z_dim, w_dim=self.w_dim, resolution=self.resolution,
                    img_channels=img_channels, channel_base=self.channel_base,
                    channel_max=self.channel_max, map_layers=self.map_layers,
                    conv_clamp=self.conv_clamp)

    def discriminator_kwargs(self, img_channels: int) -> dict:
        return dict(resolution=self.resolution, img_channels=img_channels,
                    channel_base=self.channel_base, channel_max=self.channel_max,
                    mbstd_group=self.mbstd_group, architecture=self.d_architecture,
                    conv_clamp=self.conv_clamp)

    def build(self, img_channels: int) -> tuple[Generator, Discriminator]:
        """A freshly initialised (G, D) pair for images with ``img_channels`` channels."""
        return (Generator(**self.generator_kwargs(img_channels)),
                Discriminator(**self.discriminator_kwargs(img_channels)))

    def to_dict(self) -> dict:
        return asdict(self)


# The reference's fixed configs (train.py cfg_specs): fmaps × 32768 = channel_base.
_PAPER = {
    "paper256": dict(batch=64, mbstd_group=8, fmaps=0.5, lr=0.0025, gamma=1.0, ema_kimg=20.0,
                     ema_rampup=None, map_layers=8),
    "paper512": dict(batch=64, mbstd_group=8, fmaps=1.0, lr=0.0025, gamma=0.5, ema_kimg=20.0,
                     ema_rampup=None, map_layers=8),
    # CIFAR-10 setup: no path-length regularisation, no style mixing, plain (non-residual) D.
    "cifar": dict(batch=64, mbstd_group=32, fmaps=1.0, lr=0.0025, gamma=0.01, ema_kimg=500.0,
                  ema_rampup=0.05, map_layers=2, pl_weight=0.0, style_mixing=0.0,
                  d_architecture="orig"),
}


def _auto(resolution: int, gpus: int) -> dict:
    """The reference's ``auto`` heuristics (train.py), for ``gpus`` GPUs."""
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return dict(batch=batch, mbstd_group=min(batch // gpus, 4),
                fmaps=1.0 if resolution >= 512 else 0.5,
                lr=0.002 if resolution >= 1024 else 0.0025,
                gamma=0.0002 * resolution**2 / batch, ema_kimg=batch * 10 / 32,
                ema_rampup=0.05, map_layers=2)


def _small(resolution: int) -> dict:
    """32 channels at full resolution, doubling per halving up to 128, w 128: CPU-trainable.

    The full-resolution layers dominate the cost, so they get the fewest channels.
    """
    batch = 32
    return dict(batch=batch, mbstd_group=4, channel_base=32 * resolution, channel_max=128,
                lr=0.0025,
                gamma=0.0002 * resolution**2 / batch, ema_kimg=batch * 10 / 32,
                ema_rampup=0.05, map_layers=2, z_dim=128, w_dim=128)


def resolve_cfg(name: str, resolution: int, batch: int | None = None,
                gpus: int = 1) -> StyleGAN2Preset:
    """The preset for config ``name`` at ``resolution``; ``batch`` overrides the config's batch.

    As in the reference, an explicit batch changes nothing else (γ, EMA and the minibatch-stddev
    group keep the config's values); the per-GPU batch must split into stddev groups.
    """
    if name not in CFG_NAMES:
        raise GanvasError(f"cfg: unknown StyleGAN2 config {name!r} "
                          f"(choose from {', '.join(CFG_NAMES)})")
    if resolution < 8 or resolution & (resolution - 1):
        raise GanvasError(f"resolution: StyleGAN2 needs a power of two >= 8, got {resolution}")
    if gpus < 1:
        raise GanvasError(f"gpus: must be at least 1, got {gpus}")
    if name == "auto":
        values = _auto(resolution, gpus)
    elif name == "small":
        values = _small(resolution)
    else:
        values = dict(_PAPER[name])
    fmaps = values.pop("fmaps", None)
    if fmaps is not None:
        values.update(channel_base=int(fmaps * 32768), channel_max=512)
    if batch is not None:
        values["batch"] = batch
    preset = StyleGAN2Preset(name=name, resolution=resolution, **values)
    per_gpu = preset.batch // gpus
    if preset.batch < 1 or preset.batch % gpus or per_gpu % min(preset.mbstd_group, per_gpu):
        raise GanvasError(f"--batch: {preset.batch} does not split into {gpus} process(es) × "
                          f"groups of {preset.mbstd_group} for the minibatch-stddev layer of cfg "
                          f"{name!r}; use a multiple of {gpus * preset.mbstd_group}")
    return preset
