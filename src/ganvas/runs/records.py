"""The records a run folder keeps: ``stats.jsonl`` and ``metrics.jsonl``, one JSON object per
line, appended as training goes and read defensively (a torn last line is skipped)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ganvas.utils.io import atomic_open


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a ``.jsonl`` file (a torn last line, from a crash, is ignored)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line; non-finite numbers are written as null."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in record.items()}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(clean) + "\n")


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Keep only records up to ``max_step`` (used on resume, so nothing is logged twice)."""
    if not path.exists():
        return
    records = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
    with atomic_open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
