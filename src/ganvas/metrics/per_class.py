"""Intra-class FID and KID (``ganvas evaluate DATA RUN --per-class``), as PyTorch-StudioGAN
reports them: each class's samples against the real images of that class, averaged over the
classes. A generator that draws good images of the wrong class scores well on FID and badly
here.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ganvas.data import ImageSet
from ganvas.metrics.agreement import conditional_pair
from ganvas.metrics.evaluation import _defaults, _model, evaluate
from ganvas.metrics.inception import InceptionV3FID
from ganvas.metrics.sources import ArraySide, GeneratorSide


def per_class_scores(data: str | ImageSet, generator: Any, n: int = 1000, kid: bool = True,
                     batch_size: int | None = None,
                     inception: str | InceptionV3FID | None = None,
                     device: str | torch.device | None = None,
                     progress: bool = False) -> dict[str, Any]:
    """FID (and KID) of ``n`` samples of each class against up to ``n`` real images of it:
    ``{"fid": mean, "kid_mean": mean, "classes": {name: {...}}, "protocol": ...}``."""
    batch_size, device = _defaults(n, batch_size, device)
    G, real = conditional_pair(data, generator, device, "--per-class")
    names = list(real.classes or [])
    model = _model(inception, device)
    labels = np.asarray(real.labels)
    per_class: dict[str, dict[str, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small-n bias: said in the protocol
        for k, name in enumerate(names):
            chosen = np.flatnonzero(labels == k)[:n]
            reals = ArraySide(np.ascontiguousarray(real.images[chosen]),
                              f"{real.name} class {name}")
            scores = evaluate(reals, GeneratorSide(G, "generator", cls=k), fid=True, kid=kid,
                              n=len(chosen), n_b=n, batch_size=batch_size, inception=model,
                              cache=False, device=device, progress=progress)
            per_class[name] = {key: scores[key] for key in ("fid", "kid_mean", "n_a")
                               if key in scores}
    result: dict[str, Any] = {"fid": float(np.mean([v["fid"] for v in per_class.values()])),
                              "classes": per_class}
    if kid:
        result["kid_mean"] = float(np.mean([v["kid_mean"] for v in per_class.values()]))
    result["protocol"] = (f"intra-class FID{'/KID' if kid else ''}: per class, {n} samples of "
                          f"that class against up to {n} real images of it from {real.name}, "
                          f"averaged over {len(names)} classes; weights {model.weights_id}")
    return result
