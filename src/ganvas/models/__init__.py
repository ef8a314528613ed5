"""Model families: each owns its networks, its options and its objective.

The training loop only talks to a :class:`ModelFamily`. Adding a model means adding one package
under ``models/`` (networks, an options dataclass, a family class) and one line in
:data:`FAMILIES`; the config, the command line and the loop pick it up from there.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from ganvas.errors import GanvasError
from ganvas.models.dcgan import DCGANFamily
from ganvas.models.lightweight import LightweightFamily
from ganvas.models.stylegan2 import StyleGAN2Family
from ganvas.objective.options import ObjectiveOptions


class ModelFamily(Protocol):
    """What the config and the training loop need from a model family."""

    name: str
    options_class: type  # its options group (a dataclass of ``ganvas.utils.options.opt`` fields)
    channels_last: bool  # whether its networks run faster in channels-last memory format
    replaced: dict[str, str]  # shared objective options it replaces: name -> what it uses
    default_aug: str  # what ``--aug auto`` means for it: "ada" or "none"

    def complete(self, options: Any, resolution: int | None, batch: int | None,
                 processes: int) -> Any:
        """Its options with every unset value that the resolution and batch decide filled in."""
        ...

    def defaults(self, options: Any, *, resolution: int | None, batch: int | None, aug: str,
                 processes: int) -> dict[str, Any]:
        """Defaults of shared options (batch, learning rates, EMA...) that depend on the family,
        by option name; only the unset ones are applied."""
        ...

    def build(self, options: Any, resolution: int, channels: int,
              num_classes: int = 0) -> tuple[nn.Module, nn.Module]:
        """Return (G, D) for images of ``resolution`` px with ``channels`` channels, conditioned
        on ``num_classes`` classes (0: unconditional): ``G(z, c)`` and ``D(x, c)``."""
        ...

    def objective(self, options: Any, objective: ObjectiveOptions, G: nn.Module, D: nn.Module,
                  rng: torch.Generator, **fast: Any) -> Any:
        """The losses of each phase (see ``ganvas.objective.adversarial.AdversarialObjective``)."""
        ...

    def frozen_parameters(self, D: nn.Module, blocks: int) -> list[nn.Parameter]:
        """``--freeze-d N``: the parameters of D's first N blocks from the image side."""
        ...


FAMILIES: dict[str, ModelFamily] = {"dcgan": DCGANFamily(), "stylegan2": StyleGAN2Family(),
                                    "lightweight": LightweightFamily()}


def get_family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise GanvasError(f"--model: unknown model {name!r} (choose from "
                          f"{', '.join(FAMILIES)})") from None
