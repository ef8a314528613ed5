"""Run folders, numbered like stylegan2-ada-pytorch: ``runs/00000-<data>-<model>[-desc]/``."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TextIO

from ganvas.utils.io import writable_folder
from ganvas.utils.lock import file_lock


def next_run_dir(outdir: str | os.PathLike, name: str) -> Path:
    """Create and return ``outdir/NNNNN-name`` with the next free number.

    The number is claimed under a lock on ``outdir``: two runs started at the same moment,
    whatever their names, get different numbers.
    """
    outdir = writable_folder(outdir, "--outdir")
    with file_lock(outdir):
        ids = [int(m.group(1)) for entry in outdir.iterdir()
               if entry.is_dir() and (m := re.match(r"^(\d+)-", entry.name))]
        run_dir = outdir / f"{max(ids, default=-1) + 1:05d}-{name}"
        run_dir.mkdir()
        return run_dir


class RunLog:
    """Appends timestamped lines to ``log.txt`` (the console shows a progress bar instead).

    With ``path=None`` (the other ranks under torchrun) it writes nothing.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._file: TextIO | None = open(path, "a", encoding="utf-8") if path else None

    def write(self, line: str) -> None:
        if self._file is not None:
            self._file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {line}\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
