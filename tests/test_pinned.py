"""DCGAN's first steps are pinned to the losses the loop gave before the model-family frame.

The values were logged by the loop as it was before families supplied their own objective and
before the fast path (plain fp32, contiguous tensors, for-loop Adam); on fp32 the refactored loop
must reproduce them to float rounding.
"""

from __future__ import annotations

import json

import pytest

import ganvas
from tests.helpers import TINY

PINNED = [  # step, loss_D, loss_G
    (1, 1.5256011486053467, 0.6441873908042908),
    (2, 1.4312678575515747, 0.6657105088233948),
    (3, 1.3346927165985107, 0.6367241740226746),
    (4, 1.4022557735443115, 0.7422274351119995),
]


def test_dcgan_losses_match_the_loop_before_the_family_frame(tmp_path) -> None:
    result = ganvas.train(outdir=str(tmp_path), kimg=0.064, progress=False, precision="fp32",
                          **dict(TINY, mirror=True, label_smoothing=0.1))
    records = [json.loads(line) for line in
               (result.run_dir / "stats.jsonl").read_text().splitlines()]
    got = [(r["step"], r["loss_D"], r["loss_G"]) for r in records]
    assert [g[0] for g in got] == [p[0] for p in PINNED]
    for (_, d, g), (_, d_ref, g_ref) in zip(got, PINNED):
        assert d == pytest.approx(d_ref, rel=1e-5) and g == pytest.approx(g_ref, rel=1e-5)
