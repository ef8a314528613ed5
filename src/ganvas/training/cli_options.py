"""The training options on the command line: one flat ``--option`` per config option,
generated from the nested groups (``ganvas train`` and ``ganvas sweep`` share them)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import click

from ganvas.config import OPTIONS, describe, option_name

SECTION_TITLES = {
    "data": "Data", "model": "Model", "dcgan": "DCGAN (--model dcgan)",
    "stylegan2": "StyleGAN2 (--model stylegan2)",
    "lightweight": "FastGAN, for a few hundred pictures (--model lightweight)",
    "loss": "Loss and regularisation",
    "augment": "Augmentation of what D sees (any model)", "ema": "EMA of the generator",
    "optim": "Optimisation", "transfer": "Transfer learning", "budget": "Budget",
    "output": "Output", "speed": "Devices and speed", "metrics": "Metrics while training",
}


def config_options(func: Callable) -> Callable:
    """Add one ``--option`` per flat config option (values are parsed and checked by config)."""
    for name in reversed(list(OPTIONS)):
        if name == "data":
            continue
        option = describe(name)
        meta, default = option.meta, option.field.default
        default_text = "" if default in (None, dataclasses.MISSING) else f" [default: {default}]"
        if isinstance(default, tuple):
            default_text = f" [default: {','.join(str(x) for x in default)}]"
        help_text = meta["help"]
        if meta["choices"]:
            help_text += f" ({'|'.join(str(c) for c in meta['choices'])})"
        flag = option_name(name)
        if option.kind is bool:
            decl = f"{flag}/--no-{flag[2:]}"
            func = click.option(decl, name, default=None, help=help_text + default_text)(func)
        else:
            func = click.option(flag, name, default=None, metavar=meta["metavar"] or "VALUE",
                                help=help_text + default_text)(func)
    return func


class SectionedCommand(click.Command):
    """``--help`` lists the training options in their sections, each under a heading."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                section = describe(param.name).section \
                    if param.name in OPTIONS else "command"
                sections.setdefault(section, []).append(record)
        for section, rows in sections.items():
            with formatter.section(SECTION_TITLES.get(section, "Options")):
                formatter.write_dl(rows)
