"""Is it copying my pictures? Nearest training images of generated samples, and a memorisation
score (``ganvas evaluate DATA RUN --nearest``).

Distances are Euclidean between Inception pool features, the network FID uses. A sample counts
as *memorised* when it is closer to its nearest training image than nearly every real image not
trained on would be: below the 5th percentile of a reference distribution of nearest-neighbour
distances. The reference is held-out real images' distances to the training set when given
(``held_out``), and otherwise the training images' own leave-one-out nearest-neighbour distances
(an unseen image of the same kind lands about as far from the set). An independent generator
scores about 0.05 by construction; one that returns its training images scores 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganvas.errors import GanvasError
from ganvas.metrics.evaluation import NETWORK, _defaults, _model, side_stats
from ganvas.metrics.inception import PREPROCESSING, InceptionV3FID
from ganvas.metrics.sources import ImageSide, open_side
from ganvas.utils.grid import make_grid
from ganvas.utils.io import save_image, write_json

QUANTILE = 0.05  # "nearly every": the reference's 5th percentile
NEIGHBOURS = 3
SHOWN = 8  # samples in the figure


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a_i - b_j|² for every pair (float64, clipped at 0 against rounding)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def nearest(queries: np.ndarray, items: np.ndarray, k: int,
            exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Indices (Q×k) of each query's ``k`` nearest items and their distances, nearest first;
    ``exclude_self`` for queries that are the items (leave-one-out)."""
    d = squared_distances(queries, items)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1)[:, :k]
    return order, np.sqrt(np.take_along_axis(d, order, axis=1))


def memorisation(sample_distances: np.ndarray, reference_distances: np.ndarray,
                 quantile: float = QUANTILE) -> tuple[float, float]:
    """(share of samples nearer than the reference's ``quantile``, that threshold)."""
    threshold = float(np.quantile(reference_distances, quantile))
    return float(np.mean(sample_distances < threshold)), threshold


def images_at(side: ImageSide, indices: np.ndarray, n: int, batch_size: int) -> np.ndarray:
    """The uint8 images of ``side`` at ``indices`` (one sequential pass, as sides stream)."""
    wanted = {int(i): None for i in np.unique(indices)}
    start = 0
    for batch in side.batches(n, batch_size):
        for offset in range(len(batch)):
            if start + offset in wanted:
                wanted[start + offset] = batch[offset]
        start += len(batch)
    side.close()
    return np.stack([wanted[int(i)] for i in indices])


def as_tiles(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 N×3×size×size: grey made RGB, resized (area) when the sides differ in size."""
    if images.shape[1] == 1:
        images = images.repeat(3, axis=1)
    if images.shape[-1] != size:
        resized = torch.nn.functional.interpolate(torch.from_numpy(images).float(),
                                                  size=(size, size), mode="area")
        images = resized.round().clamp(0, 255).to(torch.uint8).numpy()
    return images


def figure(samples: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """One row per sample: the sample, then its nearest training images (N×k×C×H×W)."""
    size = samples.shape[-1]
    tiles = [as_tiles(samples, size)[:, None],
             as_tiles(neighbours.reshape(-1, *neighbours.shape[2:]), size)
             .reshape(len(samples), neighbours.shape[1], 3, size, size)]
    rows = np.concatenate(tiles, axis=1)
    return make_grid(rows.reshape(-1, *rows.shape[2:]), columns=rows.shape[1])


def nearest_report(data: Any, generator: Any, n: int = 1000, held_out: Any = None,
                   out: str | Path | None = None, batch_size: int | None = None,
                   inception: str | Path | InceptionV3FID | None = None, cache: bool = True,
                   device: str | torch.device | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """Score memorisation of ``generator``'s ``n`` samples against the training images
    ``data``, and draw each of the first samples beside its 3 nearest training images.

    Writes ``out`` (a PNG; default ``RUN/nearest.png`` for a run folder, else ``nearest.png``)
    and, for a run folder, ``RUN/nearest.json`` for the report. Returns the result.
    """
    batch_size, device = _defaults(n, batch_size, device)
    model = _model(inception, device)
    train_side, sample_side = open_side(data, device), open_side(generator, device)
    if not isinstance(train_side, ImageSide) or not isinstance(sample_side, ImageSide):
        raise GanvasError("--nearest: needs images on both sides (not saved statistics)")
    train_count = train_side.count(10 ** 9)
    train = side_stats(train_side, 10 ** 9, model, batch_size, "DATA", cache, progress)
    samples = side_stats(sample_side, n, model, batch_size, "RUN", False, progress)
    if train.features is None or len(train.features) < 2:
        raise GanvasError(f"--nearest: {train.description} has too few images")
    index, dist = nearest(samples.features, train.features, NEIGHBOURS)
    if held_out is not None:
        held = side_stats(open_side(held_out, device), 10 ** 9, model, batch_size, "HELD-OUT",
                          cache, progress)
        reference = nearest(held.features, train.features, 1)[1][:, 0]
        against = f"{held.description}: its {len(reference)} images' distances to DATA"
    else:
        reference = nearest(train.features, train.features, 1, exclude_self=True)[1][:, 0]
        against = f"DATA's own leave-one-out nearest-neighbour distances ({len(reference)})"
    share, threshold = memorisation(dist[:, 0], reference)
    shown = min(SHOWN, len(index))
    sample_images = images_at(open_side(generator, device), np.arange(shown), n, batch_size)
    neighbour_images = images_at(open_side(data, device), index[:shown].reshape(-1),
                                 train_count, batch_size)
    neighbour_images = neighbour_images.reshape(shown, NEIGHBOURS, *neighbour_images.shape[1:])
    run_dir = Path(generator) if isinstance(generator, (str, Path)) and Path(generator).is_dir() \
        else None
    out = Path(out) if out is not None else (run_dir or Path(".")) / "nearest.png"
    save_image(out, figure(sample_images, neighbour_images))
    protocol = (f"{samples.n} samples of {samples.description} against {train.description} "
                f"({train.n} images) | memorisation: share of samples nearer their nearest "
                f"training image than {QUANTILE:.0%} of the reference, {against} "
                f"(threshold {threshold:.4g}) | features: {NETWORK}, weights "
                f"{model.weights_id} | input: {PREPROCESSING}")
    result = {"memorisation": share, "threshold": threshold, "n": samples.n,
              "median_distance": float(np.median(dist[:, 0])),
              "reference_median": float(np.median(reference)), "figure": str(out),
              "protocol": protocol}
    if run_dir is not None:
        write_json(run_dir / "nearest.json", result)
    return result
