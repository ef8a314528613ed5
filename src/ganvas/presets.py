"""Named configurations: the setups of the reports ganvas grew from, plus a tuned default.

A preset is only a few overrides of :class:`ganvas.config.TrainConfig`; options given on the
command line or in a TOML file still win. ``docs/presets.md`` says where each setting comes from.
"""

from __future__ import annotations

from typing import Any

from ganvas.errors import GanvasError

_PORTRAIT = {"resolution": 64, "z_dim": 128, "lr_d": 2e-4, "lr_g": 1e-4, "betas": (0.5, 0.99),
             "batch": 64, "loss": "bce"}

PRESETS: dict[str, dict[str, Any]] = {
    # Portraits report: DCGAN at 64 px, separate learning rates, beta2 0.99.
    "portrait-dcgan": dict(_PORTRAIT),
    # The same with DRAGAN's gradient penalty (lambda 10, k 1).
    "portrait-dragan": {**_PORTRAIT, "dragan": 10.0},
    # Anime report: no conv biases, D slower than G, weight decay 5e-4, soft real labels,
    # noisy labels for D only.
    "anime-dcgan": {"resolution": 64, "z_dim": 128, "conv_bias": False, "lr_d": 1e-4,
                    "lr_g": 2e-4, "betas": (0.5, 0.999), "weight_decay": 5e-4,
                    "soft_labels": (0.8, 1.0), "label_flip": 0.05},
    # CelebA 32 px report: the best of its batch-size / lr / beta1 / activation grid.
    "celeba32-dcgan": {"resolution": 32, "lr_d": 1e-4, "lr_g": 1e-4, "batch": 128,
                       "betas": (0.5, 0.999), "g_activation": "leaky", "d_activation": "leaky"},
    # Paintings report (Keras): dense first layer and head, 5x5 kernels, Glorot init, biases,
    # D lr 2e-3 > G lr 1.5e-4, noisy labels, kernel L2 1e-7, horizontal flips.
    "art-dense": {"arch": "dense", "kernel_size": 5, "init": "glorot", "conv_bias": True,
                  "lr_g": 1.5e-4, "lr_d": 2e-3, "label_flip": 0.05, "kernel_l2": 1e-7,
                  "mirror": True},
    # The textbook DCGAN (Radford et al. 2016; the PyTorch tutorial).
    "faces-dcgan": {"resolution": 64, "z_dim": 100, "lr_d": 2e-4, "lr_g": 2e-4,
                    "betas": (0.5, 0.999)},
    # The same, spelled out so that it stays the paper's recipe whatever the defaults become:
    # BCE, BatchNorm in G and D, Adam 2e-4 (0.5, 0.999), batch 64, no flips, no EMA, no
    # augmentation.
    "dcgan-paper": {"model": "dcgan", "arch": "dcgan", "z_dim": 100, "loss": "bce",
                    "g_norm": "batch", "d_norm": "batch", "lr_d": 2e-4, "lr_g": 2e-4,
                    "betas": (0.5, 0.999), "batch": 64, "mirror": False, "ema_kimg": 0.0,
                    "diffaugment": "", "aug": "none", "r1": 0.0},
    # ganvas's defaults as they are (x-flips for your pictures, EMA of G): the best recipe
    # measured; see docs/benchmarks.md. Kept as a name for configs that mention it.
    "default": {},
}


def preset_overrides(name: str) -> dict[str, Any]:
    """The overrides of preset ``name``, or a GanvasError listing the known presets."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise GanvasError(f"--preset: unknown preset {name!r} (choose from "
                          f"{', '.join(PRESETS)})") from None
