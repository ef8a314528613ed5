"""Kill -9 soak: training killed at random moments, resumed each time, ends where an
uninterrupted run ends.

    python bench/soak.py                       # 10 kills for each of DCGAN and StyleGAN2+ADA
    python bench/soak.py --kills 3 --families dcgan --keep-dir /tmp/soak

For each family a small run (32 px, MNIST's test set, R1, EMA and a snapshot every second or
fourth step) trains once without interruption. The same run is then started with ``ganvas train``,
killed with SIGKILL after a random delay, and continued with ``ganvas train --resume RUN``,
again and again until ``--kills`` kills have landed and the run has finished. After every kill
the soak checks:

- every checkpoint in the run folder loads (``torch.load(..., weights_only=True)``);
- the resume starts (a kill before the first checkpoint starts the run again instead);

and at the end that G, D, G_ema, both optimizers' states and the objective's state (ADA's p,
the path-length mean) equal the uninterrupted run's,
bit for bit (CPU, the same thread count). Prints one line per kill and a verdict; exit 1 on
any failure. Bounded: every process has a timeout, and the kills stop after ``--kills``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

COMMON = ["mnist-test", "--resolution", "32", "--batch", "16", "--z-dim", "16", "--grid", "16",
          "--log-every", "1", "--snapshot-kimg", "0.032", "--keep", "3", "--precision", "fp32",
          "--threads", "1", "--no-report", "--no-progress", "--seed", "3"]
FAMILIES = {
    "dcgan": ["--g-channels", "8", "--d-channels", "8", "--r1", "1", "--r1-every", "2",
              "--ema-kimg", "0.01", "--kimg", "3.2", "--snapshot-kimg", "0.064"],
    "stylegan2": ["--model", "stylegan2", "--cfg", "small", "--channel-base", "256",
                  "--channel-max", "16", "--w-dim", "16", "--map-layers", "2", "--batch", "8",
                  "--aug", "ada", "--ada-kimg", "0.5", "--kimg", "0.64"],
}
TIMEOUT_S = 600


def ganvas(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganvas", "train", *args]


def only_run(outdir: Path) -> Path | None:
    runs = [p for p in outdir.iterdir() if p.is_dir()] if outdir.is_dir() else []
    return runs[0] if len(runs) == 1 else None


def finished(run: Path | None) -> bool:
    """The run logged its end, or was killed after its last checkpoint (whose resume is then
    refused: the budget is reached)."""
    log = run / "log.txt" if run else None
    return bool(log and log.is_file() and "stopped (budget)" in log.read_text()) \
        or done_share(run) >= 1


def unreadable_checkpoints(run: Path) -> list[str]:
    bad = []
    for path in sorted((run / "checkpoints").glob("*.pt")):
        try:
            torch.load(path, weights_only=True, map_location="cpu")
        except Exception as error:  # noqa: BLE001 - any failure to load is the finding
            bad.append(f"{path.name}: {type(error).__name__}: {error}")
    return bad


def rows_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def done_share(run: Path | None) -> float:
    """How much of its budget the run's latest checkpoint has done (0 without one)."""
    latest = run / "checkpoints" / "latest.pt" if run else None
    if not latest or not latest.is_file():
        return 0.0
    state = torch.load(latest, weights_only=True)
    return state["progress"]["nimg"] / (state["config"]["kimg"] * 1000)


def killed_after(command: list[str], delay: float, env: dict[str, str]) -> bool:
    """Run ``command``, SIGKILL it after ``delay`` s; False when it finished first."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: "
                           f"{process.stderr.read()[-2000:]}")
    return False


def same_state(a: dict, b: dict, where: str = "") -> list[str]:
    """Keys where two checkpoint trees differ (tensors compared exactly)."""
    if isinstance(a, torch.Tensor):
        return [] if isinstance(b, torch.Tensor) and torch.equal(a, b) else [where]
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            return [where]
        return [d for k in a for d in same_state(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return [where]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same_state(x, y, f"{where}[{i}]")]
    return []


def soaked_round(command_for_new: list[str], outdir: Path, rng: random.Random,
                 timing: tuple[float, float], env: dict[str, str], kills_left: int,
                 first_kill: int) -> tuple[int, int, bool]:
    """One run, killed at random moments and resumed until it finishes (or, once
    ``kills_left`` kills have landed, resumed without more kills): (kills, restarts, ok).

    ``timing`` is (start-up seconds, training seconds) of the uninterrupted run: a kill lands
    between half the start-up and the end of the training still to do.
    """
    startup, training = timing
    landed, restarts, ok = 0, 0, True
    while not finished(run := only_run(outdir)):
        has_checkpoint = run is not None and (run / "checkpoints" / "latest.pt").is_file()
        if run is not None and not has_checkpoint:
            shutil.rmtree(outdir)  # killed before its first checkpoint: start again
            restarts += 1
        command = ganvas("--resume", str(run), "--no-progress") if has_checkpoint \
            else command_for_new
        if landed >= kills_left:
            subprocess.run(command, env=env, check=True, timeout=TIMEOUT_S,
                           stdout=subprocess.DEVNULL)
            continue
        delay = rng.uniform(startup / 2, startup + training * (1 - done_share(run)))
        if not killed_after(command, delay, env):
            continue
        landed += 1
        run = only_run(outdir)
        bad = unreadable_checkpoints(run) if run else []
        ok &= not bad
        where = ""
        if run and (run / "checkpoints" / "latest.pt").is_file():
            state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
            where = f", latest.pt at {state['progress']['nimg'] / 1000:g} kimg"
        print(f"  kill {first_kill + landed} after {delay:.1f} s{where}"
              + (f"; UNREADABLE: {bad}" if bad else ""), flush=True)
    return landed, restarts, ok


def differences(whole_run: Path, soaked_run: Path) -> list[str]:
    """Where the soaked run's final state differs from the uninterrupted run's."""
    whole = torch.load(whole_run / "checkpoints" / "latest.pt", weights_only=True)
    soaked = torch.load(soaked_run / "checkpoints" / "latest.pt", weights_only=True)
    differ = [d for key in ("G", "D", "G_ema", "opt_G", "opt_D", "objective")
              for d in same_state(whole.get(key), soaked.get(key), key)]
    if whole["progress"]["nimg"] != soaked["progress"]["nimg"]:
        differ.append("progress.nimg")
    return differ


def soak(family: str, kills: int, rng: random.Random, work: Path, env: dict[str, str]) -> bool:
    """Rounds of killed-and-resumed runs until ``kills`` kills have landed in all."""
    options = COMMON + FAMILIES[family]
    start = time.perf_counter()
    subprocess.run(ganvas(*options, "--outdir", str(work / "whole")), env=env, check=True,
                   timeout=TIMEOUT_S, stdout=subprocess.DEVNULL)
    duration = time.perf_counter() - start
    training = rows_of(only_run(work / "whole"))[-1]["time_s"]
    timing = (duration - training, training)
    print(f"{family}: uninterrupted run {duration:.0f} s ({training:.0f} s training)", flush=True)
    landed, restarts, rounds, ok = 0, 0, 0, True
    while landed < kills:
        outdir = work / f"soaked-{rounds}"
        k, r, round_ok = soaked_round(ganvas(*options, "--outdir", str(outdir)), outdir, rng,
                                      timing, env, kills - landed, landed)
        differ = differences(only_run(work / "whole"), only_run(outdir))
        print(f"  round {rounds}: {k} kills; final weights "
              + ("equal the uninterrupted run's" if not differ else f"DIFFER: {differ[:5]}"),
              flush=True)
        landed, restarts, rounds = landed + k, restarts + r, rounds + 1
        ok &= round_ok and not differ
    print(f"{family}: {landed} kills in {rounds} runs ({restarts} killed before a first "
          f"checkpoint and started again): {'pass' if ok else 'FAIL'}", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per family [10]")
    parser.add_argument("--families", default="dcgan,stylegan2")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times [0]")
    parser.add_argument("--keep-dir", type=Path, default=None,
                        help="work here and keep the runs (default: a temporary folder)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep_dir or Path(scratch)
        for family in args.families.split(","):
            work = root / family
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            ok &= soak(family, args.kills, rng, work, env)
    print("soak: PASS" if ok else "soak: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
