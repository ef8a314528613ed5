"""``evaluate(a, b)``: FID, KID and precision/recall between two sides, with their protocol.

A score alone can't be compared with another: FID moves with the number of images, the resize
and the network weights. So every result carries a protocol line that states, per side, what it
was and how many images it used, plus the feature network and the preprocessing.

Features of real data are cached in ``cache_dir('metrics')``, keyed by a fingerprint of the data
and the protocol, so re-evaluating a new checkpoint against the same dataset only costs the
generated side.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ganvas.errors import GanvasError
from ganvas.metrics import scores
from ganvas.metrics.inception import FEATURE_DIM, PREPROCESSING, InceptionV3FID
from ganvas.metrics.sources import ImageSide, StatsSide, open_side
from ganvas.metrics.weights import load_inception
from ganvas.utils.cache import cache_dir
from ganvas.utils.io import atomic_open

#: Part of every cache key: bump it when features or their cached form change meaning.
PROTOCOL_VERSION = 1
NETWORK = "Inception-v3 FID (TF 2015-12-05) pool3 2048-d"
KID_SUBSETS, KID_SUBSET_SIZE, PR_K = 100, 1000, 3


@dataclass
class SideStats:
    """What one side contributes: its statistics and how they were obtained."""

    description: str
    n: int | None
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _exact_and_fast() -> Iterator[None]:
    """Every CPU core for the convolutions, and no TF32 on GPUs (it shifts features ~1e-3)."""
    threads = torch.get_num_threads()
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(cores or threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def extract_features(side: Any, n: int, model: InceptionV3FID, batch_size: int = 8,
                     progress: bool = False, label: str = "") -> np.ndarray:
    """float32 N×2048 pool3 features of the first ``n`` images of ``side``, batch by batch.

    ``side`` is an :class:`ImageSide` or anything :func:`open_side` turns into one.
    """
    from tqdm import tqdm

    if not isinstance(side, ImageSide):
        side = open_side(side)
        if not isinstance(side, ImageSide):
            raise GanvasError(f"{side.description}: holds statistics, not images")
    chunks = []
    with _exact_and_fast(), torch.inference_mode(), \
            tqdm(total=side.count(n), disable=not progress, desc=f"{label} features".strip(),
                 unit="img", leave=False) as bar:
        for batch in side.batches(n, batch_size):
            chunks.append(model(torch.from_numpy(batch)).float().cpu().numpy())
            bar.update(len(batch))
    return np.concatenate(chunks) if chunks else np.empty((0, FEATURE_DIM), np.float32)


def _cache_path(side: ImageSide, n: int, model: InceptionV3FID) -> Path | None:
    identity = side.identity(n)
    if identity is None:
        return None
    key = json.dumps([PROTOCOL_VERSION, model.weights_id, PREPROCESSING, identity], default=str)
    return cache_dir("metrics") / f"{hashlib.sha1(key.encode()).hexdigest()}.npz"


def _read_cache(path: Path, description: str) -> SideStats | None:
    """A cached side, or None if absent or unreadable (then it is recomputed and overwritten)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            features = data["features"]
            return SideStats(description, len(features), data["mu"], data["sigma"], features,
                             json.loads(str(data["notes"])))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None


def side_stats(side: ImageSide | StatsSide, n: int, model: InceptionV3FID, batch_size: int,
               label: str, cache: bool = True, progress: bool = False) -> SideStats:
    """Statistics of one side: loaded, taken from the cache, or computed (and cached)."""
    if isinstance(side, StatsSide):
        notes = list(side.notes)
        if not side.preprocessing:
            notes.append("saved by another tool: network and preprocessing unknown")
        elif side.preprocessing != PREPROCESSING:
            notes.append(f"saved with another preprocessing: {side.preprocessing}")
            warnings.warn(f"{label}: {side.description} was saved with another preprocessing; "
                          "scores against it are not comparable", stacklevel=3)
        if side.network and side.network != model.weights_id:
            notes.append(f"saved with weights {side.network}")
        return SideStats(side.description, side.n, side.mu, side.sigma, side.features, notes)
    count = side.count(n)
    if count < 2:
        raise GanvasError(f"{label}: {side.description} has {count} image(s); need at least 2")
    path = _cache_path(side, n, model) if cache else None
    cached = _read_cache(path, side.description) if path is not None else None
    if cached is not None:
        return cached
    try:
        features = extract_features(side, n, model, batch_size, progress, label)
    finally:
        side.close()
    if len(features) < 2:
        raise GanvasError(f"{label}: {side.description} gave {len(features)} readable image(s); "
                          f"need at least 2 ({'; '.join(side.notes) or 'nothing to read'})")
    mu, sigma = scores.feature_stats(features)
    if path is not None:
        with atomic_open(path, "wb") as f:
            np.savez(f, features=features, mu=mu, sigma=sigma, notes=json.dumps(side.notes))
    return SideStats(side.description, len(features), mu, sigma, features, list(side.notes))


def _describe(label: str, s: SideStats) -> str:
    count = "? images" if s.n is None else f"{s.n} images"
    return f"{label} = {s.description} ({'; '.join([count, *s.notes])})"


def protocol_line(a: SideStats, b: SideStats, weights_id: str, metrics: list[str]) -> str:
    """One line saying exactly what was compared and how (printed with every score)."""
    parts = [_describe("A", a), _describe("B", b),
             f"features: {NETWORK}, weights {weights_id}", f"input: {PREPROCESSING}",
             "statistics float64"]
    if "kid" in metrics:
        m = min(KID_SUBSET_SIZE, len(a.features), len(b.features))
        subsets = f"all {m} per side (std 0)" if m == len(a.features) == len(b.features) else \
            f"{KID_SUBSETS} subsets of {m}"
        parts.append(f"KID: cubic polynomial kernel, {subsets}")
    if "pr" in metrics:
        parts.append(f"P/R: k={PR_K} nearest-neighbour manifolds, precision = B inside A")
    return " | ".join(parts)


def _model(inception: str | os.PathLike | InceptionV3FID | None, device: str) -> InceptionV3FID:
    if isinstance(inception, InceptionV3FID):
        return inception
    return load_inception(inception, device=device)


def _defaults(n: int, batch_size: int | None, device: str | torch.device | None
              ) -> tuple[int, str]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise GanvasError(f"--n: must be an integer of at least 2, got {n!r}")
    device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    batch_size = batch_size or (64 if device.startswith("cuda") else 8)  # 8: fastest on CPU
    if batch_size < 1:
        raise GanvasError(f"--batch-size: must be at least 1, got {batch_size}")
    return batch_size, device


def _needs_features(s: SideStats, label: str, what: str) -> np.ndarray:
    if s.features is None:
        raise GanvasError(f"{label}: {s.description} has no 'features' array; {what} needs them "
                          "(save it again with evaluate --save-stats)")
    return s.features


def evaluate(a: Any, b: Any, fid: bool = True, kid: bool = False, pr: bool = False,
             n: int = 10000, n_b: int | None = None, batch_size: int | None = None,
             inception: str | os.PathLike | InceptionV3FID | None = None, cache: bool = True,
             device: str | torch.device | None = None, progress: bool = False) -> dict[str, Any]:
    """Compare side ``a`` (the reference, e.g. real data) with side ``b`` (e.g. a generator).

    Each side may be anything :func:`ganvas.metrics.sources.open_side` accepts; up to ``n``
    images are used per side (``n_b``, when given, for side B: e.g. 5,000 generated against
    10,000 real). Returns a flat dict: ``fid``, ``kid_mean``, ``kid_std``,
    ``precision``, ``recall`` (those asked for), ``n_a``, ``n_b``, ``a``, ``b`` (descriptions),
    ``network``, ``preprocessing``, ``protocol`` (one line with all of it) and ``seconds``.
    """
    start = time.perf_counter()
    batch_size, device = _defaults(n, batch_size, device)
    metrics = [name for name, on in (("fid", fid), ("kid", kid), ("pr", pr)) if on]
    if not metrics:
        raise GanvasError("evaluate: no metric selected (use --fid, --kid and/or --pr)")
    side_a, side_b = open_side(a, device), open_side(b, device)
    model = _model(inception, device)
    sa = side_stats(side_a, n, model, batch_size, "A", cache, progress)
    sb = side_stats(side_b, n_b or n, model, batch_size, "B", cache, progress)
    result: dict[str, Any] = {}
    if fid:
        small = [f"{label} has {s.n}" for label, s in (("A", sa), ("B", sb))
                 if s.n is not None and s.n < scores.FID_MIN_SAMPLES]
        if small:
            warnings.warn(f"FID with few images ({', '.join(small)}; < {scores.FID_MIN_SAMPLES}) "
                          "is biased upward: compare it only with FIDs at the same n",
                          stacklevel=2)
        if sa.features is not None and sb.features is not None and \
                min(len(sa.features), len(sb.features)) < FEATURE_DIM:  # the low-rank route
            result["fid"] = scores.fid_from_features(sa.features, sb.features, warn=False)
        else:
            result["fid"] = scores.fid_from_stats(sa.mu, sa.sigma, sb.mu, sb.sigma)
    if kid:
        fa, fb = _needs_features(sa, "A", "KID"), _needs_features(sb, "B", "KID")
        result["kid_mean"], result["kid_std"] = scores.kid(fa, fb, KID_SUBSETS, KID_SUBSET_SIZE)
    if pr:
        fa, fb = _needs_features(sa, "A", "precision/recall"), _needs_features(sb, "B", "P/R")
        if min(len(fa), len(fb)) <= PR_K:
            raise GanvasError(f"precision/recall: need more than {PR_K} images per side, got "
                              f"{len(fa)} and {len(fb)}")
        result["precision"], result["recall"] = scores.precision_recall(fa, fb, PR_K)
    result.update(n_a=sa.n, n_b=sb.n, a=sa.description, b=sb.description,
                  network=f"{NETWORK}, weights {model.weights_id}", preprocessing=PREPROCESSING,
                  protocol=protocol_line(sa, sb, model.weights_id, metrics),
                  seconds=round(time.perf_counter() - start, 2))
    return result


def score_items(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, formatted value) for each score in an :func:`evaluate` result, for display."""
    items = []
    if "fid" in result:
        items.append(("fid", f"{result['fid']:.4f}"))
    if "kid_mean" in result:
        items.append(("kid", f"{result['kid_mean']:.6f} ± {result['kid_std']:.6f}"))
    if "precision" in result:
        items += [("precision", f"{result['precision']:.4f}"),
                  ("recall", f"{result['recall']:.4f}")]
    if "agreement" in result:
        items.append(("agreement", f"{result['agreement']:.4f} (real "
                                   f"{result['probe_accuracy']:.4f})"))
    return items


def save_stats(data: Any, out: str | os.PathLike, n: int = 10000, batch_size: int | None = None,
               inception: str | os.PathLike | InceptionV3FID | None = None,
               features: bool = True, cache: bool = True,
               device: str | torch.device | None = None, progress: bool = False
               ) -> dict[str, Any]:
    """Write ``mu``, ``sigma`` (float64), ``features`` (float32) and the protocol to ``out``.

    The file is a plain ``.npz`` that pytorch-fid and clean-fid can read too (``mu``/``sigma``).
    Features take 8 KB per image (80 MB at n = 10,000); without them the file (32 MB of μ, Σ)
    is only good for FID.
    """
    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise GanvasError(f"{out}: the statistics file must end in .npz")
    batch_size, device = _defaults(n, batch_size, device)
    side = open_side(data, device)
    if isinstance(side, StatsSide):
        raise GanvasError(f"{data}: is already a statistics file")
    model = _model(inception, device)
    s = side_stats(side, n, model, batch_size, "DATA", cache, progress)
    source = _describe("DATA", s).removeprefix("DATA = ")
    protocol = f"{source} | features: {NETWORK}, weights {model.weights_id} | " \
               f"input: {PREPROCESSING}"
    arrays = {"mu": s.mu, "sigma": s.sigma, "n": np.int64(s.n), "source": np.str_(source),
              "network": np.str_(model.weights_id), "preprocessing": np.str_(PREPROCESSING),
              "protocol": np.str_(protocol)}
    if features:
        arrays["features"] = s.features
    with atomic_open(out, "wb") as f:
        np.savez(f, **arrays)
    return {"n": s.n, "out": str(out), "protocol": protocol}
