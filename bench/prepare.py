"""Benchmark ``ganvas prepare``: images per second for the 6,000 CelebA originals (178×218 jpg)
to 64 px, with centre crop and with face crop, on 1 and 2 worker processes.

    PYTHONPATH=src .venv/bin/python bench/prepare.py [--source TAR] [--max-images N]

Times are end to end (listing the tar, decoding, transforming, writing images.npy, statistics,
preview), as a user sees them, from a warm page cache (one untimed pass reads the tar first).
CPU seconds (this process and its workers) are printed too: on a shared machine wall time depends
on what else runs, CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ganvas.data.prepare import PrepareOptions, prepare

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_aligned_6k.tar"


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(source: Path, crop: str, workers: int, max_images: int | None
        ) -> tuple[int, float, float, int]:
    """Prepare once; return images kept, wall seconds, CPU seconds, face fallbacks."""
    with tempfile.TemporaryDirectory() as tmp:
        options = PrepareOptions(resolution=64, crop=crop, workers=workers, max_images=max_images)
        started, cpu = time.perf_counter(), cpu_seconds()
        report = prepare(source, Path(tmp) / "out", options, progress=False)
        return (report.kept, time.perf_counter() - started, cpu_seconds() - cpu,
                report.face_fallbacks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--crops", default="center,face")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    if not args.source.exists():
        sys.exit(f"bench: {args.source} not found (needs ../shared/data)")
    args.source.read_bytes()  # warm the page cache so the first timed run is not penalised
    print(f"source: {args.source.name}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, resolution 64")
    print(f"{'crop':<8}{'workers':>8}{'images':>8}{'seconds':>9}{'img/s':>9}{'CPU s':>8}"
          f"{'img/CPU s':>11}  notes")
    for crop in args.crops.split(","):
        rates: dict[int, float] = {}
        for workers in (int(w) for w in args.workers.split(",")):
            kept, seconds, cpu, fallbacks = run(args.source, crop, workers, args.max_images)
            rates[workers] = kept / seconds
            note = f"{fallbacks} face fallbacks" if crop == "face" else ""
            print(f"{crop:<8}{workers:>8}{kept:>8}{seconds:>9.1f}{rates[workers]:>9.0f}"
                  f"{cpu:>8.1f}{kept / cpu:>11.0f}  {note}", flush=True)
        if 1 in rates and len(rates) > 1:
            most = max(rates)
            print(f"{crop:<8} wall-time speedup of {most} workers over 1: "
                  f"{rates[most] / rates[1]:.2f}×")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
