"""Declaring options once: a dataclass field carries its default, help, allowed values and check.

Every layer declares its own options group with :func:`opt` (the data, the objective, each
model family, the run); ``ganvas.config`` nests the groups into one config and generates the flat
command line from them. This module knows nothing about any particular option.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import field
from typing import Any, Callable

from ganvas.errors import GanvasError

Check = Callable[[Any], "str | None"]


def opt(default: Any, help: str, *, choices: tuple | None = None, check: Check | None = None,
        section: str | None = None, metavar: str | None = None, resume_ok: bool = False,
        flag: str | None = None) -> Any:
    """Declare one option: its default, help text, allowed values and validity check.

    ``check`` returns an error text (``"must be > 0"``) or None. ``resume_ok`` marks options that
    may change when a run is resumed (budgets, logging); any other change is refused. ``section``
    is the heading it is listed under in ``--help`` (default: its group's). ``flag`` names the
    command-line option when it differs from the field (StyleGAN2's ``config_name`` is ``--cfg``).
    """
    meta = {"help": help, "choices": choices, "check": check, "section": section,
            "metavar": metavar, "resume_ok": resume_ok, "flag": flag}
    return field(default=default, metadata=meta)


def positive(v: Any) -> str | None:
    return None if v is None or v > 0 else "must be > 0"


def non_negative(v: Any) -> str | None:
    return None if v is None or v >= 0 else "must be >= 0"


def probability(v: Any) -> str | None:
    return None if v is None or 0 <= v <= 1 else "must be between 0 and 1"


def half_probability(v: Any) -> str | None:
    return None if 0 <= v < 0.5 else "must be in [0, 0.5)"


def kebab(name: str) -> str:
    return name.replace("_", "-")


def flag_of(f: dataclasses.Field) -> str:
    """``--lr-d`` for the field ``lr_d`` (or the field's own ``flag``)."""
    return "--" + (f.metadata.get("flag") or kebab(f.name))


def base_type(cls: type, name: str) -> type:
    """The non-None type of field ``name`` of dataclass ``cls`` (int, float, str, bool, tuple)."""
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple or (args and typing.get_origin(args[0]) is tuple):
        return tuple
    return args[0] if args and typing.get_origin(hint) is not None else hint


def parse_value(kind: type, raw: Any, label: str) -> Any:
    """Turn a CLI string or TOML value into ``kind``, or raise GanvasError naming ``label``."""
    if raw is None:
        return None
    try:
        if kind is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(float(x) for x in items)
        if kind is bool:
            return _boolean(raw)
        if kind is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw) if not isinstance(raw, str) else int(raw.strip())
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        return str(raw)
    except (TypeError, ValueError):
        kind_name = {tuple: "a comma-separated list of numbers"}.get(kind, kind.__name__)
        raise GanvasError(f"{label}: {raw!r} is not {kind_name}") from None


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError


def check_fields(options: Any) -> None:
    """Check every field of one options dataclass; raise one GanvasError naming the option."""
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        choices, check = f.metadata.get("choices"), f.metadata.get("check")
        if choices is not None and value is not None and value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise GanvasError(f"{flag_of(f)}: {value!r} is not one of {allowed}")
        problem = check(value) if check else None
        if problem:
            raise GanvasError(f"{flag_of(f)}: {value!r} {problem}")


def plain(options: Any) -> dict[str, Any]:
    """An options dataclass as JSON-ready data (lists for tuples)."""
    return {f.name: (list(v) if isinstance(v := getattr(options, f.name), tuple) else v)
            for f in dataclasses.fields(options)}
