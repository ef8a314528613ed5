"""Style-mixing grids (StyleGAN2 paper, Figure 3): rows' images with some layers' styles from
the columns' seeds.

The top row shows the column seeds' images, the left column the row seeds' images; each cell
takes the row seed's w everywhere except the ``layers`` (coarse ones by default: pose, face
shape), which come from the column seed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganvas.errors import GanvasError
from ganvas.render import LatentSpace, parse_seeds
from ganvas.utils.grid import make_grid

DEFAULT_LAYERS = "0-6"


def parse_layers(text: str, num_ws: int) -> list[int]:
    """``'0-6'`` or ``'0,1,4-5'`` -> layer indices, checked against the generator's."""
    try:
        layers = parse_seeds(text)
    except GanvasError:
        raise GanvasError(f"--mix-layers: {text!r} is not a list of layers like 0-6") from None
    bad = [i for i in layers if i >= num_ws]
    if bad:
        raise GanvasError(f"--mix-layers: layer {bad[0]} does not exist (this generator has "
                          f"{num_ws} style inputs, 0-{num_ws - 1})")
    return layers


def mix_styles(rows: torch.Tensor, columns: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """Every row w (R×num_ws×w_dim) with ``layers`` taken from every column w (C×…):
    R·C latents, row by row."""
    mixed = rows[:, None].repeat(1, len(columns), 1, 1)
    mixed[:, :, layers] = columns[None, :, layers]
    return mixed.reshape(-1, *rows.shape[1:])


def style_mixing_grid(G: nn.Module, row_seeds: list[int], col_seeds: list[int],
                      layers: str = DEFAULT_LAYERS, truncation_psi: float | None = None,
                      noise_mode: str | None = None, precision: str = "fp32") -> np.ndarray:
    """The uint8 H×W×C grid: (rows + 1) × (columns + 1) cells, the corner left blank."""
    space = LatentSpace(G, truncation_psi=truncation_psi, noise_mode=noise_mode,
                        precision=precision)
    if space.space != "w":
        raise GanvasError("--style-mix: needs a generator with a mapping network and per-layer "
                          f"styles (StyleGAN2); this one ({type(G).__name__}) has one latent")
    chosen = parse_layers(layers, int(G.num_ws))
    rows, cols = space.from_seeds(row_seeds), space.from_seeds(col_seeds)
    images = space.render(torch.cat([cols, rows, mix_styles(rows, cols, chosen)]))
    blank = np.zeros_like(images[0])
    cells = [blank, *images[:len(col_seeds)]]
    body = images[len(col_seeds) + len(row_seeds):]
    for r in range(len(row_seeds)):
        cells += [images[len(col_seeds) + r], *body[r * len(col_seeds):(r + 1) * len(col_seeds)]]
    return make_grid(np.stack(cells), columns=len(col_seeds) + 1)
