"""What a checkpoint holds, and how a resumed run gets it back.

Everything besides the weights that an exact continuation needs: optimizer state, the loader's
place, pending statistics, the loop's random streams (one per process under torchrun), the
objective's state (ADA's p, the path-length mean). Bit-exact resume holds on the same device
type; a run moved between CPU and CUDA continues with a fresh random stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganvas.errors import GanvasError


@dataclass
class Progress:
    """Where training is."""

    step: int = 0
    d_step: int = 0
    nimg: int = 0
    train_seconds: float = 0.0
    snapshot_index: int = 0
    finished: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainingState:
    """The live objects of a run, gathered so they save and restore as one."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    rng: torch.Generator
    z_rng: torch.Generator
    loader: Any
    stats: Any
    watch: Any
    objective: Any
    progress: Progress
    scalers: dict[str, Any] = field(default_factory=dict)  # fp16's GradScalers, by network

    def state_dict(self, rng_states: list[torch.Tensor]) -> dict[str, Any]:
        """State dicts and plain data; ``rng_states`` are every rank's loop generator states."""
        return {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "progress": self.progress.as_dict(), "loader": self.loader.state_dict(),
            "stats": self.stats.state_dict(), "watch": self.watch.state_dict(),
            "objective": self.objective.state_dict(),
            "scalers": {name: s.state_dict() for name, s in self.scalers.items()},
            "rng": {"device": self.rng.device.type, "loop": rng_states[0],
                    "ranks": rng_states, "z": self.z_rng.get_state(),
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }

    def load_state_dict(self, state: dict[str, Any], rank: int = 0) -> str | None:
        """Restore a checkpoint; returns a note when the continuation cannot be bit-exact."""
        device = next(self.G.parameters()).device
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None and state.get("G_ema") is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.loader.load_state_dict(state["loader"])
        self.stats.load_state_dict(state["stats"], device)
        self.watch.load_state_dict(state["watch"])
        self.objective.load_state_dict(state.get("objective") or {})
        for name, saved in (state.get("scalers") or {}).items():
            if name in self.scalers and saved:  # fp16 now and then: the scale goes on
                self.scalers[name].load_state_dict(saved)
        self.progress.__dict__.update(state["progress"])
        self.progress.finished = False
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        return self._restore_streams(state["rng"], rank)

    def _restore_streams(self, rng: dict[str, Any], rank: int) -> str | None:
        saved_device = rng.get("device", "cpu")  # checkpoints before 0.2 came from CPUs only
        ranks = rng.get("ranks") or [rng["loop"]]
        if saved_device != self.rng.device.type or rank >= len(ranks):
            # A generator's state is specific to its device type (and process count): start a
            # new stream, derived from the step so that it is still reproducible.
            seed = int(torch.randint(0, 2**62, (1,)).item()) ^ (self.progress.step * 7919 + rank)
            self.rng.manual_seed(seed)
            self.z_rng.manual_seed(seed ^ 0x5DEECE66D)
            return (f"checkpoint written on {saved_device} with {len(ranks)} process(es); "
                    f"continuing on {self.rng.device.type} with a new random stream (the run "
                    "continues, but not bit-exactly)")
        try:
            self.rng.set_state(ranks[rank])
            if self.z_rng is not self.rng:
                self.z_rng.set_state(rng.get("z", ranks[0]))
        except (RuntimeError, TypeError) as exc:
            raise GanvasError(f"--resume: the checkpoint's random state does not fit this "
                              f"device ({exc})") from None
        return None
