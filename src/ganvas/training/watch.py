"""Divergence watch: notice the known ways GAN training fails, and say so plainly.

Two failures are watched at each log interval: a loss that became NaN or infinite (training
stops; the last good checkpoint is kept, since it was written before the bad step), and a
discriminator that has won outright (D(G(z)) near 0 and accuracy near 1 for a sustained
stretch), after which the generator gets almost no gradient. That one is a warning, given once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DOMINANCE_SCORE = 0.05      # D(G(z)) below this ...
DOMINANCE_ACCURACY = 0.95   # ... and accuracy above this ...
DOMINANCE_PATIENCE = 10     # ... for this many log intervals in a row.

WON_ADVICE = ("try a slower discriminator (--lr-d below --lr-g), --label-smoothing 0.1, "
              "--instance-noise 0.1, --dragan 10, or --diffaugment color,translation,cutout")
NAN_ADVICE = ("the last good checkpoint is kept; try lower learning rates, --loss hinge, "
              "or a gradient penalty (--dragan 10 or --r1 1)")


@dataclass
class Verdict:
    message: str | None = None
    stop: bool = False


class DivergenceWatch:
    """Reads the interval means; returns a Verdict with a message when something is wrong."""

    def __init__(self, patience: int = DOMINANCE_PATIENCE) -> None:
        self.patience = patience
        self.streak = 0
        self.warned = False

    def observe(self, means: dict[str, float]) -> Verdict:
        bad = sorted(k for k, v in means.items() if k.startswith(("loss", "penalty"))
                     and not math.isfinite(v))
        if bad:
            return Verdict(f"{', '.join(bad)} became NaN or infinite; training stopped. "
                           f"{NAN_ADVICE}", stop=True)
        fake, accuracy = means.get("D_fake"), means.get("D_accuracy")
        if fake is not None and accuracy is not None and fake < DOMINANCE_SCORE \
                and accuracy > DOMINANCE_ACCURACY:
            self.streak += 1
        else:
            self.streak = 0
        if self.streak >= self.patience and not self.warned:
            self.warned = True
            return Verdict(f"the discriminator has won: D(G(z)) = {fake:.3f} and accuracy = "
                           f"{accuracy:.2f} for {self.streak} log intervals, so the generator "
                           f"gets almost no gradient; {WON_ADVICE}")
        return Verdict()

    def state_dict(self) -> dict[str, Any]:
        return {"streak": self.streak, "warned": self.warned}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak, self.warned = int(state["streak"]), bool(state["warned"])
