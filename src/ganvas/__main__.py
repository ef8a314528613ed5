"""``python -m ganvas`` runs the CLI."""

from ganvas.cli import entry

entry()
