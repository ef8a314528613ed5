"""StyleGAN2 (Karras et al. 2020) in plain PyTorch: networks, configs, options, importer."""

from ganvas.models.stylegan2.configs import CFG_NAMES, StyleGAN2Preset, resolve_cfg
from ganvas.models.stylegan2.discriminator import Discriminator
from ganvas.models.stylegan2.family import StyleGAN2Family
from ganvas.models.stylegan2.importer import import_network_pickle
from ganvas.models.stylegan2.networks import Generator
from ganvas.models.stylegan2.options import StyleGAN2Options

__all__ = ["CFG_NAMES", "Discriminator", "Generator", "StyleGAN2Family", "StyleGAN2Options",
           "StyleGAN2Preset", "import_network_pickle", "resolve_cfg"]
