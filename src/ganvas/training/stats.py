"""Training statistics, accumulated on the device and read only at log intervals.

Adding a step's numbers is a tensor add (no host synchronisation); :meth:`StatsAccumulator.read`
moves all means to the host in one transfer.
"""

from __future__ import annotations

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
