"""User-facing errors.

Anything the user can fix (a bad option, a missing folder, a broken checkpoint) is raised as a
:class:`GanvasError`; the CLI prints it as one line and exits with code 2. Everything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class GanvasError(Exception):
    """An error caused by the user's input, reported as one clear line (exit code 2)."""

    exit_code = 2
