"""The options of ``--model lightweight`` (the ``lightweight`` group)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganvas.utils.options import non_negative, opt, positive

ATTENTION_RESOLUTIONS = (8, 16, 32, 64)


def _attention(v: Any) -> str | None:
    try:
        values = [int(x) for x in str(v).split(",") if x.strip()]
    except ValueError:
        return "must be a comma list of resolutions, e.g. 32,64"
    bad = [x for x in values if x not in ATTENTION_RESOLUTIONS]
    return f"has {bad[0]} (choose from {', '.join(map(str, ATTENTION_RESOLUTIONS))})" if bad \
        else None


def attention_resolutions(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in str(text).split(",") if x.strip())


@dataclass
class LightweightOptions:
    """FastGAN's knobs: the width of both networks, attention, the self-supervision weight.

    lightweight-gan's optional zero-centred gradient penalty on reals is the shared ``--r1``
    (with ``--r1-every``).
    """

    z_dim: int | None = opt(None, "Latent size (default: 100 for dcgan, 256 for lightweight; "
                            "from --cfg for stylegan2).", check=positive, section="model")
    width: int = opt(16, "Channels of both networks: width × the reference's factor per "
                         "resolution (16 at 4 px ... 1 at 128 px), at most 512. FastGAN's is "
                         "64; 16 trained best in the same CPU time (docs/benchmarks.md).",
                     check=positive)
    attention: str = opt("", "Self-attention in G and D at these resolutions (any of "
                             "8,16,32,64; '' for none).", check=_attention, metavar="LIST")
    recon_weight: float = opt(1.0, "Weight of D's self-supervised reconstruction loss (pixels "
                                   "and D's own features; 0: off).", check=non_negative)
