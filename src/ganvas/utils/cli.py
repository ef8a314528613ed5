"""Shared piece of the sub-commands: one way to report user errors."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

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
