"""How fast the studio draws a 4x4 seed grid, against ``ganvas generate`` in the same run; and
whether an idle studio slows training beside it.

    python bench/studio_render.py                 # 64 px (DCGAN) and 256 px (lightweight)
    python bench/studio_render.py --beside-training

For each resolution's plain default family it trains one step on a synthetic pack (the
networks' real sizes; what they draw does not change the cost), then prints:

- ``warm grid``: the studio's 4x4 render with its generator kept loaded (median of repeats),
  and with the PNG encoding the page sends;
- ``generate``: ``ganvas generate RUN --seeds 0-15`` as a user runs it (a new process that
  loads the checkpoint), per image and per 16 images;
- the ratio of the two, and the issue's target (150 ms at 64 px, 1 s at 256 px).

``--beside-training`` trains a 64 px DCGAN for a few kimg alone, then again while
``ganvas studio`` serves the run folder with nobody on the page, and prints the ratio of the
median images/s (target: at least 0.90).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

import ganvas
from ganvas.studio.warm import WarmGenerators

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_rate import synthetic_pack  # noqa: E402

TARGETS_MS = {64: 150.0, 256: 1000.0}
GANVAS = str(Path(sys.executable).with_name("ganvas"))


def one_step_run(resolution: int, workdir: Path) -> Path:
    """A run of the plain default family at ``resolution``, trained for one batch."""
    pack = synthetic_pack(workdir / f"pack{resolution}", resolution, images=64)
    result = ganvas.train(str(pack), resolution=resolution, kimg=0.001, snapshot_kimg=1e6,
                          outdir=str(workdir / "runs"), progress=False, report=False, grid=4,
                          mirror=False)
    return result.run_dir


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def render_case(resolution: int, workdir: Path, repeats: int) -> None:
    run = one_step_run(resolution, workdir)
    model = json.loads((run / "config.json").read_text())["model"]
    warm = WarmGenerators()
    seeds = list(range(16))
    grid = timed(lambda: warm.seeds(run, seeds), repeats)

    def with_png() -> None:
        for image in warm.seeds(run, seeds):
            Image.fromarray(image).save(io.BytesIO(), format="PNG")
    shown = timed(with_png, repeats)
    out = workdir / f"generated{resolution}"
    command = [GANVAS, "generate", str(run), "--seeds", "0-15", "--out", str(out)]
    generate = timed(lambda: subprocess.run(command, check=True, capture_output=True),
                     max(2, repeats // 4))
    target = TARGETS_MS[resolution]
    print(f"{resolution:>4} px {model:<12} warm 4x4 grid {grid * 1e3:7.1f} ms, with PNG "
          f"{shown * 1e3:7.1f} ms (target {target:.0f} ms: "
          f"{'met' if shown * 1e3 < target else 'NOT met'}) | ganvas generate "
          f"{generate * 1e3 / 16:7.1f} ms/image, {generate:6.2f} s/16 | generate / studio "
          f"{generate / shown:5.1f}x", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def training_rate(pack: Path, workdir: Path, label: str, kimg: float) -> float:
    result = ganvas.train(str(pack), resolution=64, kimg=kimg, log_every=5, snapshot_kimg=1e6,
                          outdir=str(workdir / label), progress=False, report=False, grid=4,
                          mirror=False)
    rows = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text()
            .splitlines()]
    return statistics.median(r["img_per_s"] for r in rows[len(rows) // 3:])


def beside_training(workdir: Path, kimg: float) -> None:
    pack = synthetic_pack(workdir / "pack64", 64, images=512)
    alone = training_rate(pack, workdir, "alone", kimg)
    port = free_port()
    studio = subprocess.Popen([GANVAS, "studio", str(workdir / "alone"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        beside = training_rate(pack, workdir, "beside", kimg)
    finally:
        studio.terminate()
        studio.wait(timeout=30)
    print(f"64 px DCGAN training: alone {alone:.1f} img/s, beside an idle studio "
          f"{beside:.1f} img/s: ratio {beside / alone:.3f} (target >= 0.90)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolutions", default="64,256")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--beside-training", action="store_true")
    parser.add_argument("--kimg", type=float, default=6.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ganvas-studio-bench-") as tmp:
        if args.beside_training:
            beside_training(Path(tmp), args.kimg)
            return
        for resolution in (int(r) for r in args.resolutions.split(",")):
            render_case(resolution, Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
