"""``ganvas import NETWORK.pkl OUT.pt``: NVIDIA's published networks as ganvas checkpoints.

The pickle is read by :func:`import_network_pickle` without running any of its code; the
result is an ordinary ganvas checkpoint (state dicts plus a config), so ``ganvas generate``,
``--init-from`` and every exploration command take it like any run.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ganvas import config as config_mod
from ganvas.config import TrainConfig
from ganvas.errors import GanvasError
from ganvas.models.stylegan2.importer import import_network_pickle
from ganvas.models.stylegan2.networks import Generator
from ganvas.runs.checkpoint import save_checkpoint


def imported_config(kwargs: dict) -> TrainConfig:
    """A config whose StyleGAN2 options rebuild exactly the imported architecture."""
    g, d = kwargs["G"], kwargs["D"]
    cfg = config_mod.build({
        "model": "stylegan2", "data": "imported", "resolution": g["resolution"],
        "channels": g["img_channels"],
        "cfg": "cifar" if d.get("architecture") == "orig" else "auto",
        "z_dim": g["z_dim"], "w_dim": g["w_dim"], "channel_base": g["channel_base"],
        "channel_max": g["channel_max"], "map_layers": g["map_layers"],
        "conv_clamp": g["conv_clamp"], "mbstd_group": d.get("mbstd_group"),
        "d_architecture": d.get("architecture"), "cond": bool(g.get("c_dim"))})
    return config_mod.validate(config_mod.with_model_defaults(cfg))


def import_checkpoint(pickle_path: str | Path, out: str | Path) -> Path:
    """Convert a stylegan2-ada-pytorch network pickle into the ganvas checkpoint ``out``."""
    out = Path(out)
    if out.suffix != ".pt":
        raise GanvasError(f"{out}: the checkpoint name must end in .pt")
    networks = import_network_pickle(pickle_path)
    cfg = imported_config(networks["kwargs"])
    Generator(**networks["kwargs"]["G"]).load_state_dict(networks["G_ema"])  # checked here
    state = {"config": cfg.to_dict(),
             "data": {"name": f"imported {Path(pickle_path).name}",
                      "resolution": cfg.data.resolution, "channels": cfg.data.channels,
                      "size": 0,
                      # a published conditional network names its classes by index only
                      "classes": [str(k) for k in
                                  range(networks["kwargs"]["G"].get("c_dim", 0))] or None},
             "G": networks["G"], "D": networks["D"], "G_ema": networks["G_ema"],
             "imported_from": str(pickle_path),
             # plain JSON data only: checkpoints must load with weights_only=True
             "training_set": json.loads(json.dumps(networks["training_set_kwargs"] or {},
                                                   default=str))}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanvasError(f"{out}: cannot create its folder ({exc.strerror or exc})") from None
    save_checkpoint(out, state)
    return out


@click.command("import")
@click.argument("network", metavar="NETWORK.pkl")
@click.argument("out", metavar="OUT.pt")
def import_command(network: str, out: str) -> None:
    """Convert a StyleGAN2-ADA network pickle (NVIDIA's) into a ganvas checkpoint, safely."""
    path = import_checkpoint(network, out)
    click.echo(f"wrote {path}: sample it with 'ganvas generate {path}', fine-tune it with "
               f"'ganvas train DATA --init-from {path}'")
