"""Run under ``torchrun --nproc_per_node 2``: rank 0's gradient overflows, rank 1's does not.

Each rank takes one ganvas optimizer step with an fp16 GradScaler on CPU and writes what
happened (the scale before and after, whether the weights moved, whether they are finite) to
``OUT/rank<r>.json``. Used by tests/test_fp16.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as torch_dist

from ganvas.training import distributed as dist
from ganvas.training.loop import optimizer_step


def main(out: Path) -> None:
    shard = dist.from_environment()
    dist.setup(shard, torch.device("cpu"))
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 1)
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    # Rank 0's loss is so large that its scaled gradient is inf in fp32; rank 1's is ordinary.
    factor = 1e36 if shard.rank == 0 else 1.0
    loss = net(torch.ones(2, 4)).sum() * factor
    scale_before = scaler.get_scale()
    optimizer_step(opt, net, loss, scaler, shard)
    moved = any(not torch.equal(a, p) for a, p in zip(before, net.parameters()))
    finite = all(bool(p.isfinite().all()) for p in net.parameters())
    (out / f"rank{shard.rank}.json").write_text(json.dumps(
        {"scale_before": scale_before, "scale_after": scaler.get_scale(), "moved": moved,
         "finite": finite}))
    torch_dist.barrier()
    dist.teardown(shard)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
