"""Exploring a trained generator: interpolation videos, latent arithmetic, projection, export.

Everything here talks to a generator only through :class:`~ganvas.render.LatentSpace`,
so it serves every model family: DCGAN works in z (Gaussian latents), StyleGAN2 in w (when the
generator has ``mapping``/``synthesis``). ``ganvas generate`` lives in
:mod:`ganvas.explore.generate`; rendering itself is :mod:`ganvas.render`'s.
"""

from ganvas.render import LatentSpace, load_latents, save_latents

__all__ = ["LatentSpace", "load_latents", "save_latents"]
