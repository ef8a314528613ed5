"""FastGAN (``--model lightweight``): networks, options and the family."""

from ganvas.models.lightweight.family import LightweightFamily
from ganvas.models.lightweight.networks import Discriminator, Generator
from ganvas.models.lightweight.options import LightweightOptions

__all__ = ["Discriminator", "Generator", "LightweightFamily", "LightweightOptions"]
