"""Training throughput: ganvas against the textbook DCGAN loop, in one process and one run.

    python bench/throughput.py                      # anime faces 64 px, batch 64, CPU
    python bench/throughput.py --device cuda        # on a GPU
    python bench/throughput.py --memory             # also: peak memory on a 200,000-image pack

Measured on the same JPEG folder, architecture (the DCGAN of Radford et al. at 64 px) and batch:
  (a) the textbook loop, written here plainly as pytorch/examples/dcgan does it: PIL decoding
      and resizing every epoch in a DataLoader with 2 workers, fp32, D ending in a Sigmoid
      with BCELoss, ``.item()`` every step;
  (b) ``ganvas train`` on the packed dataset with its default precision (the fast path);
  (c) ``ganvas train`` with ``--precision fp32``.
plus fp32 and bf16 matrix-multiply rates, the FLOPs of a ganvas step
(``torch.utils.flop_counter``), generation throughput at batch 256 and peak resident memory.
Images/s of (b) and (c) come from ganvas's own ``stats.jsonl`` (training time only).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import ganvas
from ganvas.config import resolve
from ganvas.data.packed import finish_packed
from ganvas.data.prepare import PrepareOptions, prepare_cached
from ganvas.models import get_family
from ganvas.training.fastpath import FastPath, channels_last

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "anime_faces_64.tar"


# --- (a) the textbook loop, as pytorch/examples/dcgan/main.py ----------------------------------

class JpegFolder(torch.utils.data.Dataset):
    """Decode, resize, centre-crop and normalise every image at every visit (no torchvision)."""

    def __init__(self, folder: Path, size: int) -> None:
        self.paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = Image.open(self.paths[i]).convert("RGB")
        w, h = image.size
        scale = self.size / min(w, h)
        image = image.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))),
                             Image.BILINEAR)
        w, h = image.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        image = image.crop((left, top, left + self.size, top + self.size))
        x = torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1)
        return (x - 0.5) / 0.5


def textbook_networks(nz: int = 100, ngf: int = 64, ndf: int = 64) -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    for m in [*G.modules(), *D.modules()]:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return G, D


def textbook_rate(folder: Path, batch: int, steps: int, warmup: int, device: str) -> float:
    """Images/s of the pytorch/examples DCGAN loop, timed after ``warmup`` steps."""
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(JpegFolder(folder, 64), batch_size=batch, shuffle=True,
                                         num_workers=2, drop_last=True, persistent_workers=True)
    netG, netD = (net.to(device) for net in textbook_networks())
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    done, started = 0, 0.0
    while done < warmup + steps:
        for data in loader:
            if done == warmup:
                started = time.perf_counter()
            real = data.to(device)
            n = real.size(0)
            netD.zero_grad()
            label = torch.full((n,), 1.0, device=device)
            errD_real = criterion(netD(real).view(-1), label)
            errD_real.backward()
            fake = netG(torch.randn(n, 100, 1, 1, device=device))
            label.fill_(0.0)
            errD_fake = criterion(netD(fake.detach()).view(-1), label)
            errD_fake.backward()
            optD.step()
            netG.zero_grad()
            label.fill_(1.0)
            errG = criterion(netD(fake).view(-1), label)
            errG.backward()
            optG.step()
            _ = (errD_real + errD_fake).item(), errG.item()  # the example prints these every step
            done += 1
            if done >= warmup + steps:
                break
    return steps * batch / (time.perf_counter() - started)


# --- (b), (c): ganvas ---------------------------------------------------------------------------

def ganvas_rate(packed: Path, precision: str, batch: int, steps: int, warmup: int,
                device: str, outdir: str) -> float:
    """Images/s that ganvas logs for its training steps (median over log intervals)."""
    log_every = 5
    result = ganvas.train(str(packed), resolution=64, batch=batch, precision=precision,
                          device=device, kimg=(warmup + steps) * batch / 1000,
                          log_every=log_every, snapshot_kimg=1e6, outdir=outdir, progress=False)
    rows = [json.loads(line) for line in
            (result.run_dir / "stats.jsonl").read_text().splitlines()]
    rates = [r["img_per_s"] for r in rows if r["step"] > warmup]
    return statistics.median(rates)


def step_flops(batch: int, device: str) -> int:
    """FLOPs of one ganvas DCGAN step (D on reals and fakes, G), counted by PyTorch."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = resolve({"resolution": 64, "precision": "fp32"})
    G, D = (net.to(device) for net in get_family("dcgan").build(cfg.family, 64, 3))
    objective = get_family("dcgan").objective(cfg.family, cfg.objective, G, D,
                                              torch.Generator(device).manual_seed(0),
                                              batch=cfg.optim.batch, device=torch.device(device))
    reals = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1
    with FlopCounterMode(display=False) as counter:
        loss, _ = objective.discriminator_step(reals, 0.0)
        loss.backward()
        loss, _ = objective.generator_step(batch, torch.device(device), 0.0)
        loss.backward()
    return counter.get_total_flops()


def matmul_rate(dtype: torch.dtype, device: str, size: int = 4096, repeats: int = 5) -> float:
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * size ** 3 / min(times)


def generation_rate(device: str, batch: int = 256, repeats: int = 5) -> float:
    cfg = resolve({"resolution": 64})
    G = channels_last(get_family("dcgan").build(cfg.family, 64, 3)[0].to(device).eval())
    fast = FastPath.create("auto", torch.device(device))
    z = torch.randn(batch, 100, device=device)
    times = []
    with torch.inference_mode(), fast.autocast():
        G(z)
        for _ in range(repeats):
            sync(device)
            t = time.perf_counter()
            G(z)
            sync(device)
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# --- memory on a large pack ---------------------------------------------------------------------

def memory_check(images: int, steps: int, device: str) -> float:
    """Peak RSS (GiB) of a fresh process training 64 px on a synthetic ``images``-image pack."""
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "synthetic"
        pack.mkdir()
        array = np.lib.format.open_memmap(pack / "images.npy", "w+", np.uint8,
                                          (images, 3, 64, 64))
        rng = np.random.default_rng(0)
        for start in range(0, images, 10_000):
            stop = min(images, start + 10_000)
            array[start:stop] = rng.integers(0, 256, (stop - start, 3, 64, 64), np.uint8)
        finish_packed(pack, array, None, {"source": "synthetic noise"})
        del array
        # VmHWM, not ru_maxrss: ru_maxrss survives fork+exec, so the child would report this
        # process's peak (it has just written the whole pack through a memory map).
        code = ("import ganvas, sys; ganvas.train(sys.argv[1], resolution=64, "
                f"kimg={steps * 64 / 1000}, log_every=5, snapshot_kimg=1e6, device='{device}', "
                "outdir=sys.argv[2], progress=False); "
                "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])")
        out = subprocess.run([sys.executable, "-c", code, str(pack), str(Path(tmp) / "runs")],
                             capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a tar or folder of jpgs")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory", action="store_true", help="also the 200,000-image check")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ganvas-throughput-"))
    folder = args.data
    if args.data.suffix == ".tar":
        with tarfile.open(args.data) as tar:
            tar.extractall(workdir / "jpgs", filter="data")
        folder = workdir / "jpgs"
    packed = prepare_cached(folder, PrepareOptions(resolution=64, crop="center"))
    precision = FastPath.create("auto", torch.device(args.device)).precision
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"batch {args.batch}, 64 px, default precision {precision}")

    fp32_mm = matmul_rate(torch.float32, args.device)
    bf16_mm = matmul_rate(torch.bfloat16, args.device)
    a = textbook_rate(folder, args.batch, args.steps, args.warmup, args.device)
    b = ganvas_rate(packed, "auto", args.batch, args.steps, args.warmup, args.device,
                    str(workdir / "runs"))
    c = ganvas_rate(packed, "fp32", args.batch, args.steps, args.warmup, args.device,
                    str(workdir / "runs"))
    flops = step_flops(args.batch, args.device) / args.batch
    gen = generation_rate(args.device)

    print(f"matmul 4096²       fp32 {fp32_mm / 1e9:8.0f} GFLOP/s   bf16 {bf16_mm / 1e9:8.0f} GFLOP/s")
    print(f"(a) textbook loop  {a:8.1f} img/s   (JPEG decoding, fp32, Sigmoid+BCELoss, .item())")
    print(f"(b) ganvas {precision:<7s} {b:8.1f} img/s   ratio (b)/(a) {b / a:5.2f}")
    print(f"(c) ganvas fp32    {c:8.1f} img/s   ratio (c)/(a) {c / a:5.2f}")
    print(f"ganvas step        {flops / 1e9:8.2f} GFLOP per image (torch.utils.flop_counter)")
    achieved = b * flops
    print(f"(b) achieves       {achieved / 1e9:8.0f} GFLOP/s = {achieved / bf16_mm:5.1%} of bf16 "
          f"matmul, {achieved / fp32_mm:5.1%} of fp32 matmul")
    print(f"generation         {gen:8.1f} img/s at batch 256 ({precision})")
    print(f"peak RSS           {peak_rss_gib():8.2f} GiB (this process)")
    if args.memory:
        print(f"200,000-image pack {memory_check(200_000, 20, args.device):8.2f} GiB peak RSS "
              "(64 px training, memory-mapped; target < 2 GiB)")


if __name__ == "__main__":
    main()
