"""DCGAN (Radford et al. 2016) at 32-512 px: networks, options and the family."""

from ganvas.models.dcgan.family import DCGANFamily
from ganvas.models.dcgan.networks import (DCGANSpec, Discriminator, Generator, count_layers)
from ganvas.models.dcgan.options import DCGANOptions

__all__ = ["DCGANFamily", "DCGANOptions", "DCGANSpec", "Discriminator", "Generator",
           "count_layers"]
