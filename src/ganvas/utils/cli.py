"""Shared pieces of the sub-commands: one way to report user errors, the training options."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from ganvas import config as config_mod
from ganvas.errors import GanvasError


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a GanvasError as one line and exit 2; Ctrl-C exits 130 with a note.

    ``SystemExit`` rather than click's ``Exit``: a non-standalone ``main()`` (as
    ``ganvas.cli.run`` calls it) returns the latter's code instead of raising it.
    """
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GanvasError as exc:
            click.echo(f"ganvas: error: {exc}", err=True)
            raise SystemExit(exc.exit_code) from None
        except KeyboardInterrupt:
            click.echo("ganvas: interrupted; nothing was written", err=True)
            raise SystemExit(130) from None
    return wrapper


def config_options(func: Callable) -> Callable:
    """Add one ``--option`` per TrainConfig field (values are parsed and checked by config)."""
    for name, f in reversed(list(config_mod.FIELDS.items())):
        if name == "data":
            continue
        meta = f.metadata
        default = f.default
        default_text = "" if default is None else f" [default: {default}]"
        if isinstance(default, tuple):
            default_text = f" [default: {','.join(str(x) for x in default)}]"
        help_text = meta["help"]
        if meta["choices"]:
            help_text += f" ({'|'.join(str(c) for c in meta['choices'])})"
        opt_name = config_mod.option_name(name)
        if config_mod.base_type(name) is bool:
            decl = f"{opt_name}/--no-{opt_name[2:]}"
            func = click.option(decl, name, default=None, help=help_text + default_text)(func)
        else:
            func = click.option(opt_name, name, default=None, metavar=meta["metavar"] or "VALUE",
                                help=help_text + default_text)(func)
    return func


SECTION_TITLES = {
    "data": "Data", "model": "Model", "dcgan": "DCGAN (--model dcgan)",
    "stylegan2": "StyleGAN2 (--model stylegan2)", "loss": "Loss and regularisation",
    "augment": "Augmentation of what D sees (any model)", "optim": "Optimisation",
    "transfer": "Transfer learning", "budget": "Budget", "output": "Output",
    "speed": "Devices and speed", "metrics": "Metrics while training",
}


class SectionedCommand(click.Command):
    """``--help`` lists the training options in their config groups, each under a heading."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                field = config_mod.FIELDS.get(param.name or "")
                group = field.metadata["group"] if field is not None else "command"
                sections.setdefault(group, []).append(record)
        for group, rows in sections.items():
            with formatter.section(SECTION_TITLES.get(group, "Options")):
                formatter.write_dl(rows)
