"""``bench/step_rate.py --ceiling``: the replayed convolutions and matmuls are the step's own."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_step_rate() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # step_rate imports its sibling throughput
    try:
        return importlib.import_module("step_rate")
    finally:
        sys.path.remove(str(BENCH))


def test_the_replayed_calls_carry_the_steps_flops() -> None:
    """Two convolutions with the same operands but different strides, a broadcast (stride-0)
    operand in a matmul, a channels-last input, forward and backward: replayed alone, their
    FLOPs add up to what FlopCounterMode counts for the step itself."""
    step_rate = load_step_rate()
    x = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    rows = torch.randn(1, 5, 8).expand(3, 5, 8)
    cols = torch.randn(3, 8, 6, requires_grad=True)

    def step() -> None:
        y = F.conv2d(x, weight, padding=1).sum() + F.conv2d(x, weight, stride=2).sum()
        (y + torch.bmm(rows, cols).sum()).backward()

    with FlopCounterMode(display=False) as counter:
        step()
    calls = step_rate.replay_heavy(step)
    names = {key.split()[0] for key in calls}
    assert names == {"convolution.default", "convolution_backward.default", "bmm.default"}
    assert len(calls) == 6  # each conv's forward and backward under its own key; bmm's two
    replayed = sum(flops for timings in calls.values() for _, flops in timings)
    assert replayed == counter.get_total_flops() > 0
    assert all(seconds > 0 for timings in calls.values() for seconds, _ in timings)
