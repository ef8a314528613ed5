"""StyleGAN2 (Karras et al. 2020) in plain PyTorch: networks, configs, regularisers, importer.

Everything the training loop needs is re-exported here.
"""

from ganvas.models.stylegan2.configs import CFG_NAMES, StyleGAN2Spec, resolve_cfg
from ganvas.models.stylegan2.discriminator import Discriminator
from ganvas.models.stylegan2.importer import import_network_pickle
from ganvas.models.stylegan2.networks import Generator, mix_styles
from ganvas.models.stylegan2.regularizers import PathLengthPenalty, path_lengths

__all__ = ["CFG_NAMES", "Discriminator", "Generator", "PathLengthPenalty", "StyleGAN2Spec",
           "import_network_pickle", "mix_styles", "path_lengths", "resolve_cfg"]
