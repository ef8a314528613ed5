"""One way to render: networks from a run, seeds and latents to images, truncation, precision.

Every command that makes images (``generate``, ``interpolate``, ``arithmetic``, ``project``,
``style-mix``, ``evaluate``), the metrics while training, the training loop's sample grids and
the report go through here, so a seed gives the same pixels everywhere:

- :func:`load_generator` / :func:`load_discriminator`: a run folder, checkpoint or ``RUN@<kimg>``;
- :class:`LatentSpace`: seeds to z (or StyleGAN2's w), truncation, interpolation, rendering in
  padded batches, ``.npz`` latents;
- :mod:`ganvas.render.precision`: fp32 by default, bf16/fp16 autocast on request.
"""

from ganvas.render.latents import (DEFAULT_BATCH, NOISE_MODES, LatentSpace, fixed_noise_images,
                                   lerp, load_latents, save_latents, seed_latent, slerp)
from ganvas.render.loading import (generate_images, load_discriminator, load_generator,
                                   parse_seeds)
from ganvas.render.precision import PRECISIONS, resolve_precision

__all__ = ["DEFAULT_BATCH", "NOISE_MODES", "PRECISIONS", "LatentSpace", "fixed_noise_images",
           "generate_images", "lerp", "load_discriminator", "load_generator", "load_latents",
           "parse_seeds", "resolve_precision", "save_latents", "seed_latent", "slerp"]
