"""Which recipe trains best in a fixed wall-clock budget? Trains each preset (or option set) for
the same minutes on a real dataset and prints FID and KID per run in one table.

    python bench/quality.py                                  # CelebA 64 px, 20 min each
    python bench/quality.py --minutes 5 --presets faces-dcgan,default
    python bench/quality.py --runs "base=;dragan=dragan=10;hinge=loss=hinge"

The data defaults to ``../shared/data/celeba_aligned_6k.tar``, prepared once (centre crop,
64 px) into ganvas's cache. FID/KID use the standard Inception weights, ``--n`` generated images
against the whole prepared set, and are written with their protocol. Runs go to
``--outdir`` (default ``runs/bench-quality``) so their samples can be looked at afterwards.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ganvas
from ganvas.data.prepare import PrepareOptions, prepare_cached
from ganvas.metrics import evaluate
from ganvas.presets import PRESETS

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_aligned_6k.tar"


def parse_runs(text: str) -> dict[str, dict[str, str]]:
    """``"name=key=value,key=value;name2="`` -> {name: {key: value}}."""
    runs = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, rest = item.partition("=")
        options = dict(pair.split("=", 1) for pair in rest.split(",") if pair)
        runs[name] = options
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--runs", default=None, help="option sets instead of presets")
    parser.add_argument("--n", type=int, default=2000, help="generated images for FID/KID")
    parser.add_argument("--outdir", default="runs/bench-quality")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    packed = prepare_cached(args.data, PrepareOptions(resolution=args.resolution, crop="center"))
    if args.runs:
        runs = {name: {"options": opts} for name, opts in parse_runs(args.runs).items()}
    else:
        runs = {name: {"preset": name, "options": {}} for name in args.presets.split(",")}

    results = []
    for name, spec in runs.items():
        options = {"resolution": args.resolution, **spec["options"]}
        started = time.time()
        result = ganvas.train(str(packed), preset=spec.get("preset"), minutes=args.minutes,
                              outdir=args.outdir, desc=name, progress=False, **options)
        scores = evaluate(result.run_dir, str(packed), fid=True, kid=True, n=args.n)
        row = {"run": name, "kimg": round(result.progress.nimg / 1000, 1),
               "fid": scores["fid"], "kid_x1000": scores["kid_mean"] * 1000,
               "stopped": result.stopped, "run_dir": str(result.run_dir),
               "protocol": scores.get("protocol"), "wall_min": (time.time() - started) / 60}
        results.append(row)
        print(f"{name:16s} {row['kimg']:8.1f} kimg   FID {row['fid']:8.2f}   "
              f"KID×1000 {row['kid_x1000']:7.2f}", flush=True)

    print()
    print(f"| run | kimg in {args.minutes:g} min | FID | KID×1000 |")
    print("| --- | --- | --- | --- |")
    for row in sorted(results, key=lambda r: r["fid"]):
        print(f"| {row['run']} | {row['kimg']} | {row['fid']:.2f} | {row['kid_x1000']:.2f} |")
    if results:
        print(f"\nprotocol: {results[0]['protocol']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
