"""The run folders a studio was given, and the only way a request names a file in them.

A request carries a run's id (``<root>/<run>``, as listed) and a path relative to that run.
:func:`inside` refuses absolute paths, ``..`` and symlinks that lead out of the folder, so the
studio never reads, let alone serves, a file outside the folders named on its command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from ganvas.errors import GanvasError
from ganvas.report.run_data import is_run_folder


def inside(root: Path, relative: str | os.PathLike) -> Path:
    """``root / relative`` once it is checked to stay inside ``root`` (symlinks resolved)."""
    text = os.fspath(relative)
    if not text or "\x00" in text:
        raise GanvasError(f"{text!r}: not a file name")
    parts = PurePosixPath(text.replace("\\", "/"))
    if parts.is_absolute() or Path(text).is_absolute() or ".." in parts.parts:
        raise GanvasError(f"{text}: only paths inside the run folder are served")
    base = root.resolve()
    target = (base / parts).resolve()
    if target != base and base not in target.parents:
        raise GanvasError(f"{text}: leads outside the run folder")
    return target


@dataclass(frozen=True)
class RunRef:
    """One run: the id a page uses for it and its folder."""

    id: str
    path: Path


class RunFolders:
    """The folders given to ``ganvas studio``: each a run folder or a folder of runs (a sweep's
    runs one level further down count too)."""

    def __init__(self, roots: Sequence[str | os.PathLike]):
        self.roots: list[Path] = []
        for root in roots:
            path = Path(root)
            if not path.is_dir():
                raise GanvasError(f"{root}: no such folder of runs")
            self.roots.append(path.resolve())
        names = [r.name for r in self.roots]
        self.labels = [name if names.count(name) == 1 else f"{name}~{i}"
                       for i, name in enumerate(names)]

    def runs(self) -> list[RunRef]:
        """Every run under the roots, newest folder name last, each found once."""
        found: list[RunRef] = []
        for label, root in zip(self.labels, self.roots):
            for path in self._run_folders(root):
                rel = path.relative_to(root).as_posix()
                found.append(RunRef(label if rel == "." else f"{label}/{rel}", path))
        return found

    @staticmethod
    def _run_folders(root: Path) -> list[Path]:
        if is_run_folder(root):
            return [root]
        runs: list[Path] = []
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            if child.is_symlink() and root not in child.resolve().parents:
                continue  # a link out of the folder is not one of its runs
            if is_run_folder(child):
                runs.append(child)
            else:
                runs.extend(g for g in sorted(child.iterdir())
                            if g.is_dir() and not g.is_symlink() and is_run_folder(g))
        return runs

    def run(self, run_id: str) -> Path:
        """The folder of a listed run; anything else is refused."""
        for ref in self.runs():
            if ref.id == run_id:
                return ref.path
        raise GanvasError(f"{run_id}: not one of the studio's runs")

    def file(self, run_id: str, relative: str | os.PathLike) -> Path:
        """A file of a listed run, checked by :func:`inside`."""
        return inside(self.run(run_id), relative)
