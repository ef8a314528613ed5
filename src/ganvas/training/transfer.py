"""Transfer learning: start a new run from another run's (or an imported) G, D and G_ema.

The portrait report's best images came from fine-tuning NVIDIA's FFHQ network on 4,400
portraits; ``--init-from`` does that for any ganvas checkpoint, and ``ganvas import`` turns
NVIDIA's network pickles into one. With ``--freeze-d N`` the first N discriminator blocks keep
their pre-trained weights (Freeze-D, Mo et al. 2020).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ganvas.config import TrainConfig
from ganvas.errors import GanvasError
from ganvas.runs import checkpoint as ckpt


def load_initial_weights(path: str, cfg: TrainConfig, resolution: int, G: nn.Module,
                         D: nn.Module) -> dict[str, Any] | None:
    """Load G and D from ``path``; return its G_ema state (or None) for the caller's G_ema."""
    state = ckpt.load_checkpoint(ckpt.find_checkpoint(path))
    source = state.get("data", {}).get("resolution")
    if source != resolution:
        raise GanvasError(f"--init-from {path}: its networks are {source} px but this run "
                          f"trains at {resolution} px; give --resolution {source} or start "
                          "from a run of the same size")
    model = state.get("config", {}).get("model")
    if model != cfg.model:
        raise GanvasError(f"--init-from {path}: it holds a {model} model, this run trains "
                          f"--model {cfg.model}")
    for name, net in (("G", G), ("D", D)):
        if state.get(name) is None:
            raise GanvasError(f"--init-from {path}: the checkpoint has no {name}")
        try:
            net.load_state_dict(state[name])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise GanvasError(f"--init-from {path}: its {name} has another architecture "
                              f"(give the same --cfg and channel options): {first[:160]}") \
                from None
    return state.get("G_ema")
