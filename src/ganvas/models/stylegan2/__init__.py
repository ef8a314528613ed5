"""StyleGAN2 (Karras et al. 2020) in plain PyTorch: networks, configs, regularisers, importer.

Everything the training loop needs is re-exported here.
"""

from ganvas.models.stylegan2.discriminator import Discriminator
from ganvas.models.stylegan2.networks import Generator, mix_styles

__all__ = ["Discriminator", "Generator", "mix_styles"]
