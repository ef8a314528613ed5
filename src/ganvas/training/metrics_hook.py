"""FID/KID/precision-recall while training, on the EMA generator (or G).

Evaluations run every ``--metric-every`` kimg and at the end, against the training images (their
Inception statistics are computed once and cached). Each appends a line to ``metrics.jsonl``,
redraws ``plots/fid.png``, and says how long it took; the training clock does not count it. The
checkpoint with the best FID so far is kept as ``checkpoints/best.pt``.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ganvas.config import TrainConfig, parse_metric_list
from ganvas.data import ImageSet
from ganvas.errors import GanvasError
from ganvas.metrics import evaluate, load_inception
from ganvas.metrics.agreement import REAL_IMAGES, ClassProbe, agreement_of, fit_class_probe
from ganvas.metrics.evaluation import score_items
from ganvas.metrics.sources import ArraySide
from ganvas.runs.records import append_jsonl, read_jsonl
from ganvas.training.plots import line_plot

REFERENCE_SEED = 0  # which training images form the real side of in-training metrics
PROBE_BATCH = 8  # Inception batch on the CPU (the evaluate default)


class TrainingMetrics:
    """Decides when to evaluate, evaluates, records, and tracks the best FID."""

    def __init__(self, cfg: TrainConfig, data: ImageSet, run_dir: Path, device: str) -> None:
        self.names = tuple(parse_metric_list(cfg.run.metrics))
        self.every_nimg = int(cfg.run.metric_every * 1000)
        self.n = cfg.run.metric_n
        self.data, self.run_dir, self.device = data, run_dir, device
        self.records = read_jsonl(run_dir / "metrics.jsonl")
        self.best_fid = min((r["fid"] for r in self.records if r.get("fid") is not None),
                            default=float("inf"))
        self.index = 0
        self._model: Any = None
        self._reference: ArraySide | None = None
        self._probe: ClassProbe | None = None
        if "agreement" in self.names and not cfg.data.cond:
            raise GanvasError("--metrics agreement: measures a class-conditional run; add --cond")

    @property
    def enabled(self) -> bool:
        return bool(self.names)

    def due(self, nimg: int, final: bool) -> bool:
        """True at each ``--metric-every`` boundary crossed, and at the end of training."""
        if not self.enabled:
            return False
        index = nimg // self.every_nimg
        if index > self.index or final:
            self.index = index
            return True
        return False

    def evaluate(self, G: nn.Module, step: int, nimg: int) -> dict[str, Any]:
        """Score G against the training images; record and plot. Returns the record."""
        if self._model is None:
            self._model = load_inception(device=self.device)
        started = time.perf_counter()
        with warnings.catch_warnings():
            # The small-sample bias warning would repeat at every evaluation; the protocol line
            # in metrics.jsonl records n, and docs/metrics.md explains the bias.
            warnings.simplefilter("ignore", UserWarning)
            scores: dict[str, Any] = {}
            if {"fid", "kid", "pr"} & set(self.names):
                scores = evaluate(self.reference(), G, fid="fid" in self.names,
                                  kid="kid" in self.names, pr="pr" in self.names,
                                  n=self.n, inception=self._model, device=self.device)
        protocols = [scores["protocol"]] if scores else []
        if "agreement" in self.names:
            found = self.agreement(G)
            scores.update(agreement=found["agreement"], probe_accuracy=found["probe_accuracy"])
            protocols.append(found["protocol"])
        record = {"step": step, "kimg": round(nimg / 1000, 3),
                  **{k: scores[k] for k in ("fid", "kid_mean", "kid_std", "precision", "recall",
                                            "agreement", "probe_accuracy") if k in scores},
                  "seconds": round(time.perf_counter() - started, 1),
                  "protocol": " || ".join(protocols)}
        self.records.append(record)
        append_jsonl(self.run_dir / "metrics.jsonl", record)
        keys = [k for k in ("fid", "kid_mean", "precision", "recall", "agreement") if k in record]
        line_plot(self.run_dir / "plots" / "fid.png", self.records, keys[:1],
                  "FID (lower is better)" if "fid" in keys else keys[0],
                  "FID" if "fid" in keys else keys[0])
        return record

    def agreement(self, G: nn.Module) -> dict[str, Any]:
        """Class agreement of G's samples; the probe is fitted once, on the first call, with 4
        real images per sample scored (up to the metric's own cap)."""
        if self._probe is None:
            self._probe = fit_class_probe(self.data, self._model, PROBE_BATCH,
                                          real_images=min(REAL_IMAGES, 4 * self.n))
        return agreement_of(self._probe, G, self.n, self._model, PROBE_BATCH)

    def reference(self) -> ArraySide:
        """The real side: a fixed random subset of the training images (seeded, so the same at
        every evaluation and after resume; the first N in path order would be skewed towards
        the first class folders)."""
        if self._reference is None:
            count = min(self.n, len(self.data))
            order = np.random.default_rng(REFERENCE_SEED).permutation(len(self.data))
            chosen = np.sort(order[:count])  # sorted: sequential reads from a memory map
            self._reference = ArraySide(
                np.ascontiguousarray(self.data.images[chosen]),
                f"{self.data.name}: {count} of {len(self.data)} training images, random subset "
                f"(seed {REFERENCE_SEED})")
        return self._reference

    def is_best(self, record: dict[str, Any]) -> bool:
        fid = record.get("fid")
        if fid is None or not math.isfinite(fid) or fid >= self.best_fid:
            return False
        self.best_fid = fid
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"index": self.index, "best_fid": self.best_fid}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.index, self.best_fid = int(state["index"]), float(state["best_fid"])


def describe(record: dict[str, Any]) -> str:
    """``fid 43.2100, kid 0.012300 ± 0.000400 (51.0 s)`` for logs."""
    scores = ", ".join(f"{name} {value}" for name, value in score_items(record))
    return f"{scores} ({record['seconds']:.1f} s)"
