"""Training statistics, accumulated on the device and read only at log intervals.

Adding a step's numbers is a tensor add (no host synchronisation); :meth:`StatsAccumulator.read`
moves all means to the host in one transfer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import torch


class StatsAccumulator:
    """Running sums of scalar tensors, keyed by name."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for name, value in stats.items():
            value = value.detach().float()
            if name in self.sums:
                self.sums[name] += value
            else:
                self.sums[name] = value.clone()
            self.counts[name] = self.counts.get(name, 0) + 1

    def read(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None
             ) -> dict[str, float]:
        """Means since the last read (one host transfer), then reset.

        ``reduce`` combines the stacked sums across processes (an all-reduce mean) first.
        """
        if not self.sums:
            return {}
        names = sorted(self.sums)  # the same order on every rank
        stacked = torch.stack([self.sums[n] for n in names])
        values = (reduce(stacked) if reduce else stacked).cpu().tolist()
        means = {n: v / self.counts[n] for n, v in zip(names, values)}
        self.sums, self.counts = {}, {}
        return means

    def state_dict(self) -> dict[str, Any]:
        """Pending sums, so a resumed run logs the interval it was in exactly."""
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.counts = {k: int(v) for k, v in state["counts"].items()}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a ``.jsonl`` file (a torn last line, from a crash, is ignored)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line; non-finite numbers are written as null."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in record.items()}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(clean) + "\n")


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Keep only records up to ``max_step`` (used on resume, so nothing is logged twice)."""
    from ganvas.utils.io import atomic_open

    if not path.exists():
        return
    records = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
    with atomic_open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
